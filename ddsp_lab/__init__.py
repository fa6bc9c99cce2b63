"""ddsp_lab."""
