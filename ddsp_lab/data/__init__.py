"""Training data: preparing folders of recordings and reading them back.

:func:`prepare_dataset` turns a folder of recordings into a cached dataset
(audio at the model's rate, CREPE f0 and confidence, loudness, MFCCs,
examples, a train/validation split by recording, a manifest and a report of
every skipped file); :class:`PreparedDataset` serves its examples to a
``DataLoader``. See ``docs/prepare.md``.
"""

from .dataset import PreparedDataset
from .prepare import (
    PreparedFile,
    PrepareReport,
    SkippedFile,
    SplitTotals,
    analyse_recording,
    load_manifest,
    prepare_dataset,
    read_cache,
)

__all__ = [
    "PrepareReport",
    "PreparedDataset",
    "PreparedFile",
    "SkippedFile",
    "SplitTotals",
    "analyse_recording",
    "load_manifest",
    "prepare_dataset",
    "read_cache",
]
