"""Workflows: the jobs behind the command line, callable from Python."""
