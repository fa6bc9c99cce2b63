"""A torch ``Dataset`` over a folder prepared by :func:`~ddsp_lab.data.prepare_dataset`.

Each item is one example of one recording: its audio and the frame-rate
features cut from the features cached for the whole recording, so that the
``F`` frames of an item describe exactly its ``F * hop_length`` samples
(frame ``n`` is centred on sample ``n * hop_length`` of the item).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from ..core.checks import check_positive
from .prepare import CACHE_FOLDER, SPLITS, load_manifest, read_cache

PathLike = Union[str, os.PathLike]


class PreparedDataset(torch.utils.data.Dataset):
    """Examples of the training or validation split of a prepared dataset.

    Items are dicts of float32 tensors:

    * ``"audio"``: ``[T]`` samples at ``sample_rate``, ``T = F * hop_length``;
    * ``"f0_hz"``: ``[F]`` CREPE fundamental frequency in Hz;
    * ``"confidence"``: ``[F]`` CREPE confidence, 0..1;
    * ``"loudness_db"``: ``[F]`` A-weighted loudness in dB;
    * ``"mfcc"``: ``[F, n_mfcc]``, only with ``include_mfcc=True``.

    ``F`` is the example length in frames (``example_frames``) or, with
    ``crop_seconds``, the crop length (``crop_frames``); items stack into
    batches with the default ``DataLoader`` collation (``[B, T]``,
    ``[B, F]``). Training items are random crops, validation items are the
    full examples, always the same.

    Every recording of the split is loaded into memory when the dataset is
    made: 4 bytes per sample plus 12 bytes per frame (4 more per MFCC when
    cached), about 240 MB per hour at 16 kHz and hop 64, 350 MB with 30
    MFCCs. ``DataLoader`` workers share the arrays by forking.

    Args:
        dataset_dir: a folder written by :func:`~ddsp_lab.data.prepare_dataset`.
        split: ``"train"`` or ``"validation"``.
        crop_seconds: length of the items in seconds, rounded to whole frames,
            at most the example length; default the whole example.
        random_crop: where crops start: uniformly at random on a frame
            boundary inside the example (torch's global random generator,
            which ``DataLoader`` seeds per worker) or at the start of the
            example. Default random for ``"train"``, at the start for
            ``"validation"``.
        include_mfcc: add ``"mfcc"`` to the items; the dataset must have been
            prepared with MFCCs.

    Raises:
        ValueError: no manifest, an unknown split, a split without examples,
            a crop longer than the examples, MFCCs requested but not cached,
            or a cache that does not match the manifest (a ``prepare`` run was
            interrupted after changing a recording: run it again).
    """

    def __init__(
        self,
        dataset_dir: PathLike,
        split: str = "train",
        crop_seconds: Optional[float] = None,
        random_crop: Optional[bool] = None,
        include_mfcc: bool = False,
    ) -> None:
        super().__init__()
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'validation', got {split!r}")
        self.dataset_dir = os.fspath(dataset_dir)
        self.manifest = load_manifest(self.dataset_dir)
        self.split = split
        features = self.manifest["features"]
        slicing = self.manifest["examples"]
        self.sample_rate: int = int(features["sample_rate"])
        self.hop_length: int = int(features["hop_length"])
        self.example_frames: int = int(slicing["example_frames"])
        self.mfcc_coefficients: Optional[int] = features.get("mfcc_coefficients")
        if include_mfcc and not self.mfcc_coefficients:
            raise ValueError(
                f"include_mfcc=True but {self.dataset_dir} was prepared without MFCCs (mfcc_coefficients=None)"
            )
        self.include_mfcc = bool(include_mfcc)

        if crop_seconds is None:
            self.crop_frames = self.example_frames
        else:
            crop_seconds = check_positive(crop_seconds, "crop_seconds")
            self.crop_frames = int(round(crop_seconds * self.sample_rate / self.hop_length))
            if self.crop_frames < 1:
                raise ValueError(f"crop_seconds={crop_seconds} s is shorter than one frame")
            if self.crop_frames > self.example_frames:
                raise ValueError(
                    f"crop_seconds={crop_seconds} s is longer than the examples "
                    f"({slicing['example_seconds']:.3f} s); prepare the dataset with a longer example_seconds"
                )
        self.random_crop = (split == "train") if random_crop is None else bool(random_crop)

        self._recordings: List[Dict[str, np.ndarray]] = []
        self._sources: List[str] = []
        self._index: List[Tuple[int, int]] = []
        for entry in self.manifest["files"]:
            if entry["split"] != split:
                continue
            arrays = self._load(entry)
            number = len(self._recordings)
            self._recordings.append(arrays)
            self._sources.append(entry["source"])
            self._index.extend((number, int(start)) for start in entry["example_starts"])
        if not self._index:
            hint = "; prepare it with validation_fraction > 0 or validation_files" if split == "validation" else ""
            raise ValueError(f"{self.dataset_dir} has no {split} examples{hint}")

    @property
    def item_samples(self) -> int:
        """Samples of audio in every item: ``crop_frames * hop_length``."""
        return self.crop_frames * self.hop_length

    @property
    def statistics(self) -> Dict[str, float]:
        """Mean and standard deviation of ``loudness_db`` (dB) over this split's example frames."""
        return dict(self.manifest.get("statistics", {}).get(self.split, {}))

    def __len__(self) -> int:
        return len(self._index)

    def describe(self, index: int) -> Dict[str, object]:
        """Where item ``index`` comes from: ``{"source", "start_frame", "start_sample", "frames"}``.

        For random crops the start is that of the example the crop is taken from.
        """
        recording, start = self._index[index]
        return {
            "source": self._sources[recording],
            "start_frame": start,
            "start_sample": start * self.hop_length,
            "frames": self.example_frames,
        }

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        recording, start = self._index[index]
        spare = self.example_frames - self.crop_frames
        if self.random_crop and spare > 0:
            start += int(torch.randint(0, spare + 1, ()).item())
        stop = start + self.crop_frames
        arrays = self._recordings[recording]
        item = {
            "audio": torch.from_numpy(arrays["audio"][start * self.hop_length:stop * self.hop_length].copy()),
            "f0_hz": torch.from_numpy(arrays["f0_hz"][start:stop].copy()),
            "confidence": torch.from_numpy(arrays["confidence"][start:stop].copy()),
            "loudness_db": torch.from_numpy(arrays["loudness_db"][start:stop].copy()),
        }
        if self.include_mfcc:
            item["mfcc"] = torch.from_numpy(arrays["mfcc"][start:stop].copy())
        return item

    def _load(self, entry: dict) -> Dict[str, np.ndarray]:
        path = os.path.join(self.dataset_dir, *entry["cache"].split("/"))
        if not os.path.isfile(path):
            raise ValueError(
                f"cache {CACHE_FOLDER}/{os.path.basename(path)} of {entry['source']} is missing from "
                f"{self.dataset_dir}; run prepare again"
            )
        arrays = read_cache(path)
        meta = arrays.pop("meta")
        if meta.get("sha256") != entry["sha256"] or arrays["audio"].shape[-1] != entry["samples"]:
            raise ValueError(
                f"cache of {entry['source']} does not match {self.dataset_dir}/dataset.json (the recording "
                "changed and a later prepare run did not finish); run prepare again"
            )
        if self.include_mfcc and "mfcc" not in arrays:
            raise ValueError(f"cache of {entry['source']} holds no MFCCs")
        return arrays
