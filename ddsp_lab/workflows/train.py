"""Training a voice on a prepared dataset (``ddsp-lab train DATASET_DIR --out RUN_DIR``).

:func:`train` fits a :class:`~ddsp_lab.models.DDSPVoice`,
:class:`~ddsp_lab.models.FMVoice` or :class:`~ddsp_lab.models.GraphVoice`
to recordings with Adam, an exponentially
decaying learning rate, gradient clipping and the multi-scale spectral loss.
It runs on the GPU when there is one, on the CPU otherwise, and on several
GPUs (or CPU processes) when launched with ``torchrun``. A run folder holds::

    RUN_DIR/
        config.json                 every setting in effect (readable JSON)
        train_log.csv               step, loss (and per FFT size), gradient norm, learning rate, s/step
        validation_log.csv          step, validation loss (and per FFT size)
        checkpoints/step_NNNNNN.pt  the newest ``keep_checkpoints`` checkpoints
        last.pt                     a copy of the newest checkpoint
        validation/step_NNNNNN/     example_K_target.wav, example_K_model.wav, spectrograms.png
        tensorboard/                the same scalars, when TensorBoard is installed

Reproducibility: the data order, the random crops and the synthesiser noise
of every step are derived from ``(seed, step)`` (and the example's position
in the data stream), never from state carried between steps, so a run that
is interrupted and resumed from a checkpoint takes exactly the steps an
uninterrupted run takes: on the CPU the parameters end bitwise equal.

Safety: checkpoints are written to a temporary file and renamed, read back
and checked against a SHA-256 digest of their contents before older ones are
deleted. Resuming picks the newest checkpoint that reads back intact; a
damaged one is reported and left in place. Ctrl-C (or SIGTERM) finishes the
current step, writes a checkpoint and returns; a second Ctrl-C stops at once.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import math
import os
import random
import re
import shutil
import signal
import threading
import time
import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..io import write_atomic
from ..losses import MultiScaleSpectralLoss
from ..metrics import DEFAULT_CONFIDENCE_THRESHOLD
from ..models import Autoencoder, Config, LossConfig, build_model
from ..pretrained import BUNDLED_MODELS, bundled_model_path

PathLike = Union[str, os.PathLike]

CHECKPOINT_FORMAT = "ddsp_lab.checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_FOLDER = "checkpoints"
LAST_CHECKPOINT = "last.pt"
CONFIG_NAME = "config.json"
TRAIN_LOG = "train_log.csv"
VALIDATION_LOG = "validation_log.csv"
VALIDATION_FOLDER = "validation"
TENSORBOARD_FOLDER = "tensorboard"
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.pt$")
_REQUIRED_KEYS = ("step", "config", "model", "optimizer", "scheduler")

# Settings a resumed run may change; any other difference from the
# checkpoint's settings would make the resumed run a different experiment.
_RESUMABLE_TRAINING_SETTINGS = frozenset(
    {"steps", "checkpoint_interval", "keep_checkpoints", "validation_interval", "validation_batches",
     "validation_examples", "log_interval", "num_workers"}
)
# Tags that keep the random streams of different purposes apart.
_STEP_STREAM, _ITEM_STREAM, _ORDER_STREAM, _VALIDATION_STREAM = 1, 2, 3, 4
# Items read to estimate the loudness statistics when a dataset does not give them.
_STATISTICS_ITEMS = 256
# Below this, a loudness deviation means constant loudness; 1 dB keeps the scale sane.
_MIN_LOUDNESS_STD_DB = 1.0


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, truncated, corrupted or not a checkpoint."""


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        run_dir: the run folder.
        step: optimiser steps completed (over the whole run, resumes included).
        steps: the step count this call trained towards (``max_steps`` or
            ``config.training.steps``).
        interrupted: ``True`` when Ctrl-C or SIGTERM stopped the run early
            (a checkpoint of the last completed step was written).
        resumed_from: the step this call resumed from, ``None`` for a fresh start.
        checkpoint: the newest checkpoint written by this call (or resumed from).
        train_loss: mean training loss of the last logged row.
        validation_loss: loss of the last validation (``None`` without one).
        history: the training log rows written by this call.
        config: every setting in effect (sample rate, hop and loudness
            statistics filled in).
        model: the trained model (unwrapped, on the training device).
    """

    run_dir: str
    step: int
    steps: int
    interrupted: bool
    resumed_from: Optional[int]
    checkpoint: Optional[str]
    train_loss: Optional[float]
    validation_loss: Optional[float]
    history: List[Dict[str, float]]
    config: Config
    model: Autoencoder


# -- loss ---------------------------------------------------------------------


class SpectralLoss(nn.Module):
    """The multi-scale spectral loss of a :class:`~ddsp_lab.models.LossConfig`, term by term.

    One :class:`~ddsp_lab.MultiScaleSpectralLoss` per FFT size, each with the
    ``eps`` of :meth:`~ddsp_lab.models.LossConfig.log_eps` for its size; the
    total is the sum of the terms (the same cost as one multi-size loss).

    Shapes:
        ``forward(pred [B, T], target [B, T]) -> (total [], {"loss_N": [] for each FFT size N})``
    """

    def __init__(self, config: LossConfig, sample_rate: int):
        super().__init__()
        config.validate()
        self.fft_sizes = tuple(config.resolved_fft_sizes(sample_rate))
        self.terms = nn.ModuleList(
            MultiScaleSpectralLoss(
                fft_sizes=(n,), overlap=config.overlap, linear_weight=config.linear_weight,
                log_weight=config.log_weight, eps=config.log_eps(n),
            )
            for n in self.fft_sizes
        )

    @property
    def term_names(self) -> List[str]:
        """``["loss_2048", "loss_1024", ...]``."""
        return [f"loss_{n}" for n in self.fft_sizes]

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Total loss and the term of every FFT size."""
        terms = {name: term(pred, target) for name, term in zip(self.term_names, self.terms)}
        return torch.stack(list(terms.values())).sum(), terms


# -- data ---------------------------------------------------------------------


def _mix_seed(*values: int) -> int:
    """A 63-bit seed from integers, well mixed (``numpy.random.SeedSequence``)."""
    state = np.random.SeedSequence([int(v) for v in values]).generate_state(1, np.uint64)[0]
    return int(state) & (2 ** 63 - 1)


class BatchSchedule:
    """Which examples every step trains on: a seeded stream of epochs, cut into global batches.

    The stream is the concatenation of random permutations of the dataset
    (epoch ``e`` uses a permutation seeded by ``(seed, e)``); step ``s`` takes
    positions ``s * batch_size .. (s + 1) * batch_size - 1`` of it, so batches
    run across epoch ends and any step can be produced without the ones
    before it (a resumed run starts right at its step). With ``world_size``
    processes, process ``rank`` takes the ``rank``-th contiguous slice of each
    global batch: the global batch is the same for any number of processes.
    Every example also gets a seed from its stream position, which seeds its
    random crop.

    Args:
        dataset_size: examples in the dataset, ``>= 1``.
        batch_size: global batch size, a multiple of ``world_size``.
        seed: the run's seed.
        rank, world_size: this process and the number of processes.
        start_step, end_step: iterate steps ``start_step .. end_step - 1``.

    Iterating yields, per step, this process's ``[(index, item_seed), ...]``.
    """

    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
        end_step: int = 0,
    ):
        if dataset_size < 1:
            raise ValueError("the training dataset is empty")
        if batch_size < 1 or batch_size % world_size:
            raise ValueError(
                f"batch_size ({batch_size}) must be a positive multiple of the number of processes ({world_size})"
            )
        self.dataset_size = int(dataset_size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank, self.world_size = int(rank), int(world_size)
        self.start_step, self.end_step = int(start_step), int(end_step)
        self._epoch = -1
        self._permutation: Optional[torch.Tensor] = None

    def _index(self, position: int) -> int:
        epoch, offset = divmod(position, self.dataset_size)
        if epoch != self._epoch:
            generator = torch.Generator().manual_seed(_mix_seed(self.seed, _ORDER_STREAM, epoch))
            self._permutation = torch.randperm(self.dataset_size, generator=generator)
            self._epoch = epoch
        return int(self._permutation[offset])

    def global_batch(self, step: int) -> List[Tuple[int, int]]:
        """``[(index, item_seed), ...]`` of the whole batch of ``step`` (all processes)."""
        first = step * self.batch_size
        return [
            (self._index(position), _mix_seed(self.seed, _ITEM_STREAM, position))
            for position in range(first, first + self.batch_size)
        ]

    def local_batch(self, step: int) -> List[Tuple[int, int]]:
        """This process's slice of :meth:`global_batch`."""
        share = self.batch_size // self.world_size
        return self.global_batch(step)[self.rank * share:(self.rank + 1) * share]

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        for step in range(self.start_step, self.end_step):
            yield self.local_batch(step)

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)


class _SeededItems(torch.utils.data.Dataset):
    """``dataset[index]`` drawn with torch's, numpy's and Python's generators seeded by ``item_seed``.

    Keys are ``(index, item_seed)``. The generators are restored afterwards,
    so a dataset's random crop depends on the item's seed only, not on which
    process or worker loads it or on what was drawn before.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, item_seed = key
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(item_seed)
                np.random.seed(item_seed % 2 ** 32)
                random.seed(item_seed)
                return self.dataset[index]
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


_ITEM_KEYS = ("audio", "f0_hz", "loudness_db")


def _as_float_tensor(value, name: str, number: int) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"dataset item {number}: {name!r} must be a tensor or array, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"dataset item {number}: {name!r} must be floating point, got dtype {value.dtype}")
    return value.to(torch.float32)


def collate_items(items: Sequence[Mapping[str, Any]], hop_length: int) -> Dict[str, torch.Tensor]:
    """Stack dataset items into a batch, checking that they are what training needs.

    Args:
        items: dicts with ``"audio"`` ``[T]``, ``"f0_hz"`` ``[F]`` and
            ``"loudness_db"`` ``[F]`` (tensors or arrays; other keys are ignored),
            ``T = F * hop_length``, the same ``F`` for every item.
        hop_length: samples per frame.

    Returns:
        ``{"audio": [B, T], "f0_hz": [B, F], "loudness_db": [B, F]}`` float32.

    Raises:
        TypeError: an item is not a dict, or a value is not a tensor/array.
        ValueError: a key is missing, a shape is wrong, the audio length is
            not ``F * hop_length``, or the items differ in length.
    """
    batch: Dict[str, List[torch.Tensor]] = {key: [] for key in _ITEM_KEYS}
    for number, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise TypeError(f"dataset items must be dicts with {_ITEM_KEYS}, item {number} is {type(item).__name__}")
        missing = [key for key in _ITEM_KEYS if key not in item]
        if missing:
            raise ValueError(f"dataset item {number} lacks {missing}; items need {list(_ITEM_KEYS)}")
        audio = _as_float_tensor(item["audio"], "audio", number)
        f0_hz = _as_float_tensor(item["f0_hz"], "f0_hz", number)
        loudness_db = _as_float_tensor(item["loudness_db"], "loudness_db", number)
        for name, value in (("audio", audio), ("f0_hz", f0_hz), ("loudness_db", loudness_db)):
            if value.dim() != 1:
                raise ValueError(f"dataset item {number}: {name!r} must be 1-D, got shape {tuple(value.shape)}")
        frames = f0_hz.shape[0]
        if loudness_db.shape[0] != frames:
            raise ValueError(
                f"dataset item {number}: f0_hz has {frames} frames but loudness_db has {loudness_db.shape[0]}"
            )
        if frames == 0 or audio.shape[0] != frames * hop_length:
            raise ValueError(
                f"dataset item {number}: audio has {audio.shape[0]} samples but {frames} frames of "
                f"{hop_length} samples need {frames * hop_length}"
            )
        batch["audio"].append(audio)
        batch["f0_hz"].append(f0_hz)
        batch["loudness_db"].append(loudness_db)
    lengths = {value.shape[0] for value in batch["f0_hz"]}
    if len(lengths) > 1:
        raise ValueError(f"the items of a batch must have the same number of frames, got {sorted(lengths)}")
    return {key: torch.stack(values) for key, values in batch.items()}


def _resolve_datasets(source, example_seconds: Optional[float]):
    """``(train, validation or None, info)`` from a dataset folder, a pair or a single dataset."""
    if isinstance(source, (str, os.PathLike)):
        return _prepared_datasets(os.fspath(source), example_seconds)
    if example_seconds is not None:
        warnings.warn(
            "training.example_seconds only applies to a prepared dataset folder; the given datasets' items "
            "are used as they are", stacklevel=3,
        )
    if isinstance(source, (tuple, list)):
        if len(source) != 2:
            raise ValueError(
                f"dataset_dir_or_datasets as a sequence must be (train, validation), got {len(source)} entries"
            )
        train_set, validation_set = source
    else:
        train_set, validation_set = source, None
    for name, dataset in (("train", train_set), ("validation", validation_set)):
        if dataset is not None and not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(f"the {name} dataset must be a map-style Dataset (__getitem__ and __len__)")
    if len(train_set) == 0:
        raise ValueError("the training dataset is empty")
    if validation_set is not None and len(validation_set) == 0:
        validation_set = None
    return train_set, validation_set, _dataset_info(train_set)


def _dataset_info(dataset) -> Dict[str, Any]:
    info: Dict[str, Any] = {}
    for name in ("sample_rate", "hop_length"):
        value = getattr(dataset, name, None)
        if value is not None:
            info[name] = int(value)
    statistics = getattr(dataset, "statistics", None)
    if isinstance(statistics, Mapping) and "loudness_db_mean" in statistics and "loudness_db_std" in statistics:
        info["loudness_db_mean"] = float(statistics["loudness_db_mean"])
        info["loudness_db_std"] = float(statistics["loudness_db_std"])
    return info


def _prepared_datasets(dataset_dir: str, example_seconds: Optional[float]):
    try:
        from ..data import PreparedDataset
    except ImportError as error:
        raise RuntimeError(
            "training from a dataset folder needs ddsp_lab.data (dataset preparation), which could not be "
            f"imported ({error}); pass Dataset objects to train() instead"
        ) from error
    if not os.path.isdir(dataset_dir):
        raise FileNotFoundError(f"dataset folder not found: {dataset_dir} (prepare one with ddsp-lab prepare)")
    train_set = PreparedDataset(dataset_dir, "train", crop_seconds=example_seconds)
    totals = train_set.manifest.get("totals", {}).get("validation", {})
    validation_set = None
    if totals.get("examples", 0):
        validation_set = PreparedDataset(dataset_dir, "validation")
    else:
        warnings.warn(f"{dataset_dir} has no validation split: training runs without validation", stacklevel=3)
    return train_set, validation_set, _dataset_info(train_set)


def _estimate_statistics(dataset, seed: int) -> Dict[str, float]:
    """Loudness mean and deviation, and the median f0 of confident frames, over up to 256 evenly spaced items.

    Deterministic. Frames count as confident where the item's ``confidence``
    is at least ``DEFAULT_CONFIDENCE_THRESHOLD`` (0.85) (every frame with ``f0_hz > 0`` when
    items carry no confidence); ``f0_hz_median`` is absent when no frame is.
    """
    count = min(len(dataset), _STATISTICS_ITEMS)
    items = _SeededItems(dataset)
    loudness, pitches = [], []
    for number in range(count):
        index = number * len(dataset) // count
        item = items[(index, _mix_seed(seed, _VALIDATION_STREAM, index))]
        if not isinstance(item, Mapping) or "loudness_db" not in item:
            raise ValueError("dataset items must be dicts with 'audio', 'f0_hz' and 'loudness_db'")
        loudness.append(torch.as_tensor(item["loudness_db"], dtype=torch.float64).reshape(-1))
        f0_hz = torch.as_tensor(item["f0_hz"], dtype=torch.float64).reshape(-1)
        confident = f0_hz > 0
        if "confidence" in item:
            confident &= torch.as_tensor(item["confidence"]).reshape(-1) >= DEFAULT_CONFIDENCE_THRESHOLD
        pitches.append(f0_hz[confident])
    frames = torch.cat(loudness)
    if not bool(torch.isfinite(frames).all()):
        raise ValueError("the training dataset has NaN or infinite loudness_db values")
    statistics = {
        "loudness_db_mean": float(frames.mean()),
        "loudness_db_std": max(float(frames.std(unbiased=False)), _MIN_LOUDNESS_STD_DB),
    }
    pitches = torch.cat(pitches)
    if pitches.numel():
        statistics["f0_hz_median"] = float(pitches.median())
    return statistics


# -- configuration ------------------------------------------------------------


def _as_config(config) -> Optional[Config]:
    if config is None or isinstance(config, Config):
        return None if config is None else config.copy()
    if isinstance(config, (str, os.PathLike)):
        return Config.load(config)
    if isinstance(config, Mapping):
        return Config.from_dict(config)
    raise TypeError(f"config must be a Config, a dict, a JSON file path or None, got {type(config).__name__}")


def _fill_from_data(config: Config, info: Mapping[str, Any], train_set) -> None:
    """Set the sample rate, hop and loudness statistics the config leaves open (or check them)."""
    model = config.model
    for name in ("sample_rate", "hop_length"):
        given, found = getattr(model, name), info.get(name)
        if given is None:
            if found is None:
                raise ValueError(
                    f"model.{name} must be set in the config: the training dataset does not say its {name}"
                )
            setattr(model, name, found)
        elif found is not None and given != found:
            raise ValueError(
                f"model.{name} is {given} in the config but the dataset was prepared with {name}={found}; "
                f"leave model.{name} unset (null) to use the dataset's"
            )
    needs_loudness = model.loudness_mean_db is None or model.loudness_std_db is None
    estimated: Dict[str, float] = {}
    if model.f0_hz_median is None or (needs_loudness and "loudness_db_mean" not in info):
        estimated = _estimate_statistics(train_set, config.training.seed)
    if needs_loudness:
        if "loudness_db_mean" in info:
            mean, std = info["loudness_db_mean"], max(info["loudness_db_std"], _MIN_LOUDNESS_STD_DB)
        else:
            mean, std = estimated["loudness_db_mean"], estimated["loudness_db_std"]
        if model.loudness_mean_db is None:
            model.loudness_mean_db = mean
        if model.loudness_std_db is None:
            model.loudness_std_db = std
    if model.f0_hz_median is None:
        model.f0_hz_median = estimated.get("f0_hz_median")
    config.validate()


def _merge_with_checkpoint(given: Optional[Config], saved: Config) -> Config:
    """The config of a resumed run: the checkpoint's, with the settings a resume may change taken from ``given``."""
    if given is None:
        return saved
    for name, value in dataclasses.asdict(saved.model).items():
        if getattr(given.model, name) is None:
            setattr(given.model, name, value)
    differences = []
    for section in ("model", "loss", "training"):
        old, new = dataclasses.asdict(getattr(saved, section)), dataclasses.asdict(getattr(given, section))
        for name in old:
            if section == "training" and name in _RESUMABLE_TRAINING_SETTINGS:
                continue
            if _normalise(old[name]) != _normalise(new[name]):
                differences.append(f"{section}.{name}: {old[name]!r} in the checkpoint, {new[name]!r} now")
    if differences:
        raise ValueError(
            "the config differs from the one the run was started with, in settings a resumed run cannot "
            "change (" + "; ".join(differences) + "); train into a new run folder, or leave these settings "
            "as they were"
        )
    return given


def _normalise(value):
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- checkpoints --------------------------------------------------------------


def _feed_digest(digest, value) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu").contiguous()
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value.keys(), key=repr):
            _feed_digest(digest, key)
            _feed_digest(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[" if isinstance(value, list) else b"(")
        for item in value:
            _feed_digest(digest, item)
        digest.update(b"]")
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def checkpoint_digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a checkpoint's contents (every entry but ``"digest"``), tensors by their bytes."""
    digest = hashlib.sha256()
    _feed_digest(digest, {key: value for key, value in payload.items() if key != "digest"})
    return digest.hexdigest()


def load_checkpoint(path: PathLike, map_location="cpu") -> Dict[str, Any]:
    """Read and verify a training checkpoint.

    Args:
        path: a ``.pt`` file written by :func:`train`.
        map_location: where tensors are loaded (default CPU).

    Returns:
        ``{"format", "version", "step", "config" (a dict), "model" (state
        dict), "optimizer", "scheduler", "rng", "world_size", "digest"}``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is not readable by ``torch.load`` (truncated,
            overwritten), is not a ddsp_lab checkpoint, is from a newer
            version, or its contents do not match the digest stored in it
            (corrupted on disk).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        reason = str(error).splitlines()[0] if str(error) else ""
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(error).__name__}: {reason}); the file is damaged or truncated"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a ddsp_lab training checkpoint")
    version = payload.get("version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"checkpoint {path} has version {version!r}, newer than this ddsp_lab reads")
    missing = [key for key in _REQUIRED_KEYS + ("digest",) if key not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing}")
    if checkpoint_digest(payload) != payload["digest"]:
        raise CheckpointError(f"checkpoint {path} does not match its stored SHA-256 digest: its contents are corrupted")
    return payload


def load_run(path: PathLike, device=None) -> Tuple[str, Dict[str, Any], Config, Autoencoder]:
    """Checkpoint path, payload, config and model (in eval mode) of a checkpoint or run folder.

    Args:
        path: a checkpoint ``.pt``, a run folder (its newest intact
            checkpoint, ``last.pt`` included) or the name of a bundled model
            (``"violin"``, see :mod:`ddsp_lab.pretrained`) where no such file exists.
        device: where to put the model (default CPU).

    Raises:
        FileNotFoundError: no checkpoint there (the message lists damaged ones).
        CheckpointError: the checkpoint (or every checkpoint of the folder) is damaged.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        if path in BUNDLED_MODELS:
            path = bundled_model_path(path)
        else:
            raise FileNotFoundError(
                f"no run folder or checkpoint at {os.path.abspath(path)} (bundled models: {', '.join(BUNDLED_MODELS)})"
            )
    if os.path.isdir(path):
        found, problems = find_latest_checkpoint(path)
        if found is None:
            detail = ": " + " | ".join(problems) if problems else ""
            raise FileNotFoundError(f"no intact checkpoint in {path}{detail}")
        path, payload = found
    else:
        payload = load_checkpoint(path)
    config = Config.from_dict(payload["config"])
    model = build_model(config.model)
    model.load_state_dict(payload["model"])
    model = model.to(torch.device(device) if device is not None else torch.device("cpu")).eval()
    return path, payload, config, model


def load_trained_model(path: PathLike, device=None) -> Autoencoder:
    """The model of a checkpoint or run folder, in eval mode (see :func:`load_run`)."""
    return load_run(path, device)[3]


def _checkpoint_files(run_dir: str) -> List[Tuple[int, str]]:
    """``[(step, path), ...]`` of ``checkpoints/step_N.pt``, newest first."""
    folder = os.path.join(run_dir, CHECKPOINT_FOLDER)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        match = _CHECKPOINT_NAME.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(folder, name)))
    return sorted(found, reverse=True)


def find_latest_checkpoint(run_dir: PathLike) -> Tuple[Optional[Tuple[str, Dict[str, Any]]], List[str]]:
    """The newest intact checkpoint of a run folder.

    Candidates are ``checkpoints/step_N.pt`` (newest first) and ``last.pt``;
    the intact one with the highest step wins.

    Returns:
        ``((path, payload) or None, problems)``: ``problems`` holds one
        message per damaged file met on the way (the files are left in place).
    """
    run_dir = os.fspath(run_dir)
    problems: List[str] = []
    best: Optional[Tuple[str, Dict[str, Any]]] = None
    for _, path in _checkpoint_files(run_dir):
        try:
            best = (path, load_checkpoint(path))
            break
        except CheckpointError as error:
            problems.append(str(error))
    last = os.path.join(run_dir, LAST_CHECKPOINT)
    if os.path.isfile(last):
        try:
            payload = load_checkpoint(last)
            if best is None or payload["step"] > best[1]["step"]:
                best = (last, payload)
        except CheckpointError as error:
            problems.append(str(error))
    return best, problems


def _durable(write: Callable[[str], None]) -> Callable[[str], None]:
    """``write`` followed by an fsync, so a power cut after the rename cannot leave an empty file."""

    def write_and_sync(temporary: str) -> None:
        write(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())

    return write_and_sync


def _rng_states() -> Dict[str, Any]:
    numpy_state = np.random.get_state()
    states: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng_states(states: Mapping[str, Any]) -> None:
    if not states:
        return
    torch.set_rng_state(states["torch"])
    numpy_state = states["numpy"]
    np.random.set_state((
        "MT19937", numpy_state["key"].numpy().astype(np.uint32), numpy_state["pos"],
        numpy_state["has_gauss"], numpy_state["cached_gaussian"],
    ))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def _save_checkpoint(run_dir: str, payload: Dict[str, Any], keep: int) -> str:
    """Write ``checkpoints/step_N.pt`` atomically, read it back, copy it to ``last.pt``, prune old ones."""
    step = payload["step"]
    path = os.path.join(run_dir, CHECKPOINT_FOLDER, f"step_{step:06d}.pt")
    payload["digest"] = checkpoint_digest(payload)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, _durable(lambda temporary: torch.save(payload, temporary)))
    try:
        load_checkpoint(path)
    except CheckpointError as error:
        raise RuntimeError(
            f"the checkpoint just written does not read back ({error}); the earlier checkpoints were kept. "
            "Check the disk (space, errors) and run again to resume."
        ) from error
    write_atomic(os.path.join(run_dir, LAST_CHECKPOINT), _durable(lambda temporary: shutil.copyfile(path, temporary)))
    older = [(number, old) for number, old in _checkpoint_files(run_dir) if number < step]
    for _, old in older[max(0, keep - 1):]:
        os.remove(old)
    return path


# -- logs ---------------------------------------------------------------------


class _CsvLog:
    """A CSV file of scalars; rows beyond the resumed step are dropped when a run resumes."""

    def __init__(self, path: str, columns: Sequence[str], keep_until_step: int):
        self.path = path
        self.columns = list(columns)
        rows = []
        if os.path.isfile(path):
            with open(path, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    try:
                        if int(row.get("step", "")) <= keep_until_step:
                            rows.append(row)
                    except ValueError:
                        continue

        def write(temporary: str) -> None:
            with open(temporary, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, self.columns, restval="", extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

        write_atomic(path, write)
        self._handle = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, self.columns, restval="", extrasaction="ignore")

    def write(self, row: Mapping[str, Any]) -> None:
        self._writer.writerow({key: _format_value(value) for key, value in row.items()})
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.8g}"
    return value


def _tensorboard(run_dir: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # TensorBoard is optional; any import failure means "not installed"
        return None
    return SummaryWriter(os.path.join(run_dir, TENSORBOARD_FOLDER))


# -- distributed --------------------------------------------------------------


@dataclasses.dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device) -> Tuple[_Distributed, torch.device]:
    """Join (or create, under ``torchrun``) the process group and pick this process's device."""
    import torch.distributed as dist

    state = _Distributed()
    environment_world = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        state.rank, state.world_size = dist.get_rank(), dist.get_world_size()
    elif environment_world > 1:
        state.rank, state.world_size = int(os.environ.get("RANK", "0")), environment_world
    state.local_rank = int(os.environ.get("LOCAL_RANK", str(state.rank)))
    if device is None:
        if torch.cuda.is_available():
            device = torch.device("cuda", state.local_rank % torch.cuda.device_count())
        else:
            device = torch.device("cpu")
    else:
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", state.local_rank % torch.cuda.device_count())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if state.world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        state.owns_group = True
    return state, device


def _broadcast(state: _Distributed, value):
    """``value`` of rank 0 on every rank (any picklable object)."""
    if not state.enabled:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# -- interruption -------------------------------------------------------------


class _StopRequest:
    """Turns the first Ctrl-C / SIGTERM into a request to stop after the current step."""

    def __init__(self, notify: Callable[[str], None]):
        self.requested = False
        self._notify = notify
        self._previous: Dict[int, Any] = {}

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.getsignal(number)
                signal.signal(number, self._handle)
        return self

    def _handle(self, number, frame) -> None:
        if self.requested:
            self._restore()
            raise KeyboardInterrupt
        self.requested = True
        self._notify("stopping after this step and writing a checkpoint (press Ctrl-C again to stop at once)")

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc) -> None:
        self._restore()


# -- validation ---------------------------------------------------------------


def _batch_loss(network: nn.Module, loss_fn, batch: Mapping[str, torch.Tensor], autoregressive: bool):
    """``(loss, terms, rendered audio or None)`` of one batch.

    Voices render the audio from the conditioning and are scored by the
    spectral loss; the autoregressive baselines predict every sample from the
    samples before it (teacher forcing) and are scored by their negative
    log-likelihood, with nothing rendered.
    """
    audio = batch["audio"]
    model = network.module if hasattr(network, "module") else network
    if autoregressive:
        return model.nll(network(audio, batch["f0_hz"], batch["loudness_db"]), audio), {}, None
    prediction = network(batch["f0_hz"], batch["loudness_db"], audio if model.z_size else None)
    loss, terms = loss_fn(prediction, audio)
    return loss, terms, prediction


def _validate(model, loss_fn, dataset, config: Config, device, step: int, run_dir: str, hop_length: int):
    """Loss on the validation split, plus WAVs and a spectrogram sheet of the first examples."""
    from ..io import save_audio
    from ..plotting import save_spectrograms

    training = config.training
    items = _SeededItems(dataset)
    count = len(dataset)
    batch_size = training.batch_size
    if training.validation_batches is not None:
        count = min(count, training.validation_batches * batch_size)
    totals: Dict[str, float] = {}
    weight = 0
    examples: List[Tuple[torch.Tensor, torch.Tensor]] = []
    was_training = model.training
    model.eval()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(_mix_seed(training.seed, _VALIDATION_STREAM, 0))
        for start in range(0, count, batch_size):
            keys = [(index, _mix_seed(training.seed, _VALIDATION_STREAM, index))
                    for index in range(start, min(count, start + batch_size))]
            batch = collate_items([items[key] for key in keys], hop_length)
            batch = {key: value.to(device) for key, value in batch.items()}
            audio = batch["audio"]
            loss, terms, prediction = _batch_loss(model, loss_fn, batch, config.model.autoregressive)
            size = audio.shape[0]
            for name, value in [("validation_loss", loss)] + [(f"validation_{k}", v) for k, v in terms.items()]:
                totals[name] = totals.get(name, 0.0) + float(value) * size
            weight += size
            for row in range(size):
                if len(examples) < training.validation_examples:
                    if prediction is None:
                        # Sample by sample: a second of each example keeps validation affordable on a CPU.
                        frames = min(batch["f0_hz"].shape[1], max(1, model.sample_rate // hop_length))
                        generated = model.generate(batch["f0_hz"][row:row + 1, :frames],
                                                   batch["loudness_db"][row:row + 1, :frames])
                        examples.append((audio[row, :frames * hop_length].cpu(), generated[0].cpu()))
                    else:
                        examples.append((audio[row].cpu(), prediction[row].cpu()))
    model.train(was_training)
    scalars = {name: value / weight for name, value in totals.items()}
    if examples:
        folder = os.path.join(run_dir, VALIDATION_FOLDER, f"step_{step:06d}")
        os.makedirs(folder, exist_ok=True)
        signals, titles = [], []
        for number, (target, prediction) in enumerate(examples):
            save_audio(os.path.join(folder, f"example_{number}_target.wav"), target, model.sample_rate)
            save_audio(os.path.join(folder, f"example_{number}_model.wav"), prediction, model.sample_rate)
            signals += [target, prediction]
            titles += [f"example {number}: target", f"example {number}: model (step {step})"]
        save_spectrograms(os.path.join(folder, "spectrograms.png"), signals, model.sample_rate, titles)
    return scalars


# -- the training job ---------------------------------------------------------


def train(
    dataset_dir_or_datasets,
    run_dir: PathLike,
    config=None,
    device=None,
    resume: bool = True,
    progress: bool = True,
    max_steps: Optional[int] = None,
    max_seconds: Optional[float] = None,
) -> TrainResult:
    """Train a voice; resumable, reproducible, and multi-process under ``torchrun``.

    Args:
        dataset_dir_or_datasets: a folder written by
            :func:`ddsp_lab.data.prepare_dataset` (its training split, and its
            validation split when it has one), or ``(train_dataset,
            validation_dataset_or_None)``, or a single training dataset. A
            dataset is any map-style ``torch.utils.data.Dataset`` whose items
            are dicts with ``"audio"`` ``[T]``, ``"f0_hz"`` ``[F]`` and
            ``"loudness_db"`` ``[F]`` (``T = F * hop_length``, all items the
            same length; other keys such as ``"confidence"`` are ignored). Its
            ``sample_rate``, ``hop_length`` and ``statistics`` attributes are
            used when present.
        run_dir: the run folder (created if needed).
        config: a :class:`~ddsp_lab.models.Config`, a dict of settings, a JSON
            file, or ``None``: the defaults for a fresh run, the checkpoint's
            settings for a resumed one. When resuming, a given config may
            change only the settings listed in ``docs/training.md``
            (``steps``, intervals, counts, workers).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``; default
            CUDA when available (under ``torchrun``: ``cuda:LOCAL_RANK``), else CPU.
        resume: continue from the newest intact checkpoint in ``run_dir``.
            With ``False`` the run folder must hold no checkpoints (nothing
            trained is ever overwritten).
        progress: show a progress bar (tqdm, on stderr; rank 0 only).
        max_steps: train until this many steps are done in all, instead of
            ``config.training.steps`` (a checkpoint and a validation are
            written there). The learning-rate schedule does not depend on
            it, so stopping early and calling again continues exactly.
        max_seconds: wall-clock budget of this call in seconds: the step
            that ends after it is the last (a checkpoint and a validation
            are written there). ``None``: no limit.

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: bad settings or data (the message names them), a config
            that contradicts the dataset or the checkpoint being resumed.
        CheckpointError: every checkpoint of ``run_dir`` is damaged (each is
            named; none is deleted).
        FloatingPointError: the loss or the gradient became NaN or infinite
            (the checkpoints already written are intact).
        RuntimeError: training from a folder without ``ddsp_lab.data``.
    """
    state, device = _setup_distributed(device)
    try:
        return _train(dataset_dir_or_datasets, os.path.abspath(os.fspath(run_dir)), config, device, resume,
                      progress, max_steps, max_seconds, state)
    finally:
        if state.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _find_resume_point(run_dir: str, resume: bool, state: _Distributed):
    """Rank 0 looks for the checkpoint to resume from; every rank gets ``(path, error message)``."""
    found, message = None, None
    if state.is_main:
        if not resume:
            if _checkpoint_files(run_dir) or os.path.isfile(os.path.join(run_dir, LAST_CHECKPOINT)):
                message = (
                    f"{run_dir} holds checkpoints of an earlier run and resume is off; train into another "
                    "folder, or resume the run"
                )
        else:
            best, problems = find_latest_checkpoint(run_dir)
            for problem in problems:
                text = f"{problem}; it is skipped (and left in place)"
                if best is not None:
                    text += f"; resuming from {best[0]} (step {best[1]['step']})"
                warnings.warn(text, stacklevel=4)
            if best is None and problems:
                message = (
                    f"no intact checkpoint in {run_dir}: " + " | ".join(problems)
                    + ". Nothing was deleted; move the damaged files away to start over in this folder, or "
                    "train into another folder"
                )
            found = None if best is None else best[0]
    found, message = _broadcast(state, (found, message))
    if message is not None:
        if resume:
            raise CheckpointError(message)
        raise ValueError(message)
    return found


def _train(source, run_dir, config, device, resume, progress, max_steps, max_seconds,
           state: _Distributed) -> TrainResult:
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps must be a positive integer or None, got {max_steps!r}")
    if max_seconds is not None and (isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float))
                                    or not 0 < max_seconds < math.inf):
        raise ValueError(f"max_seconds must be a positive number of seconds or None, got {max_seconds!r}")
    given = _as_config(config)
    resume_path = _find_resume_point(run_dir, resume, state)
    payload = load_checkpoint(resume_path) if resume_path is not None else None
    if payload is not None:
        config = _merge_with_checkpoint(given, Config.from_dict(payload["config"]))
    else:
        config = given if given is not None else Config()
    training = config.training
    train_set, validation_set, info = _resolve_datasets(source, training.example_seconds)
    _fill_from_data(config, info, train_set)
    end_step = training.steps if max_steps is None else max_steps
    if training.batch_size % state.world_size:
        raise ValueError(
            f"training.batch_size ({training.batch_size}) must be a multiple of the number of processes "
            f"({state.world_size})"
        )

    torch.manual_seed(training.seed)
    model = build_model(config.model).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=training.learning_rate, betas=tuple(training.adam_betas), eps=training.adam_eps
    )
    decay_rate, decay_steps = training.lr_decay_rate, training.lr_decay_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: decay_rate ** (step / decay_steps))
    loss_fn = SpectralLoss(config.loss, config.model.sample_rate).to(device)
    step = 0
    if payload is not None:
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        _restore_rng_states(payload.get("rng", {}))
        step = int(payload["step"])
    resumed_from = step if payload is not None else None
    del payload

    hop_length = config.model.hop_length
    writes = state.is_main
    autoregressive = config.model.autoregressive
    term_names = [] if autoregressive else loss_fn.term_names
    columns = ["step", "loss"] + term_names + ["grad_norm", "learning_rate", "seconds_per_step"]
    train_log = validation_log = board = None
    if writes:
        os.makedirs(run_dir, exist_ok=True)
        config.save(os.path.join(run_dir, CONFIG_NAME))
        train_log = _CsvLog(os.path.join(run_dir, TRAIN_LOG), columns, step)
        validation_log = _CsvLog(
            os.path.join(run_dir, VALIDATION_LOG),
            ["step", "validation_loss"] + [f"validation_{name}" for name in term_names], step,
        )
        board = _tensorboard(run_dir)

    network: nn.Module = model
    if state.enabled:
        from torch.nn.parallel import DistributedDataParallel

        network = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False
        )

    schedule = BatchSchedule(
        len(train_set), training.batch_size, training.seed, state.rank, state.world_size, step, end_step
    )
    loader = torch.utils.data.DataLoader(
        _SeededItems(train_set), batch_sampler=schedule, num_workers=training.num_workers,
        collate_fn=functools.partial(collate_items, hop_length=hop_length), pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(training.seed),
    )
    bar = None
    if progress and writes:
        from tqdm.auto import tqdm

        bar = tqdm(total=end_step, initial=step, desc="train", unit="step", dynamic_ncols=True)
    notify = (bar.write if bar is not None else print) if writes else (lambda text: None)

    history: List[Dict[str, float]] = []
    sums: Dict[str, float] = {}
    summed_steps = 0
    last_checkpoint: Optional[str] = resume_path
    last_validation: Optional[float] = None
    interrupted = False
    saved_step = step if resumed_from is not None else -1

    def checkpoint() -> None:
        nonlocal last_checkpoint, saved_step
        if writes and saved_step != step:
            last_checkpoint = _save_checkpoint(run_dir, {
                "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": step,
                "config": config.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "rng": _rng_states(), "world_size": state.world_size,
            }, training.keep_checkpoints)
        saved_step = step

    model.train()
    run_started = time.perf_counter()
    try:
        with _StopRequest(notify) as stop:
            batches = iter(loader)
            while step < end_step:
                started = time.perf_counter()
                batch = next(batches)
                torch.manual_seed(_mix_seed(training.seed, _STEP_STREAM, step, state.rank))
                batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
                loss, terms, _ = _batch_loss(network, loss_fn, batch, autoregressive)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), training.grad_clip_norm)
                out_of_time = max_seconds is not None and time.perf_counter() - run_started >= max_seconds
                flags = [float(stop.requested), float(out_of_time)]
                scalars = torch.cat([
                    torch.stack([loss.detach(), *[t.detach() for t in terms.values()],
                                 grad_norm.detach().to(loss.dtype)]),
                    torch.tensor(flags, dtype=loss.dtype, device=loss.device),
                ])
                if state.enabled:
                    import torch.distributed as dist

                    dist.all_reduce(scalars)
                    # The loss terms differ per process; the gradient norm is the same everywhere (DDP
                    # averages gradients), so averaging keeps it; a flag raised anywhere stays raised.
                    scalars[:-2] /= state.world_size
                flags = scalars[-2:].tolist()
                values = scalars[:-1].tolist()
                if flags[1] > 0 and step + 1 < end_step:
                    end_step = step + 1  # the time budget is spent: this step is the last
                if not all(math.isfinite(v) for v in values[:-1]):
                    raise FloatingPointError(
                        f"the loss or the gradient is not finite at step {step + 1} (loss {values[0]}, gradient "
                        f"norm {values[-2]}); the checkpoints already written are intact. Try a lower "
                        "training.learning_rate or grad_clip_norm."
                    )
                learning_rate = optimizer.param_groups[0]["lr"]
                optimizer.step()
                if not autoregressive:
                    model.project_parameters()
                scheduler.step()
                step += 1
                elapsed = time.perf_counter() - started
                for name, value in zip(["loss"] + term_names + ["grad_norm"], values[:-1]):
                    sums[name] = sums.get(name, 0.0) + value
                sums["seconds_per_step"] = sums.get("seconds_per_step", 0.0) + elapsed
                summed_steps += 1
                stop_now = values[-1] > 0
                if step % training.log_interval == 0 or step == end_step or stop_now:
                    row = {"step": step, **{k: v / summed_steps for k, v in sums.items()},
                           "learning_rate": learning_rate}
                    history.append(row)
                    sums, summed_steps = {}, 0
                    if writes:
                        train_log.write(row)
                        if board is not None:
                            for name, value in row.items():
                                if name != "step":
                                    board.add_scalar(f"train/{name}", value, step)
                if bar is not None:
                    bar.set_postfix(loss=f"{values[0]:.3f}", lr=f"{learning_rate:.2e}", refresh=False)
                    bar.update(1)
                if stop_now:
                    interrupted = True
                    break
                if step % training.checkpoint_interval == 0 or step == end_step:
                    checkpoint()
                validate_now = training.validation_interval and (
                    step % training.validation_interval == 0 or step == end_step
                )
                if writes and validation_set is not None and validate_now:
                    scores = _validate(model, loss_fn, validation_set, config, device, step, run_dir, hop_length)
                    last_validation = scores["validation_loss"]
                    validation_log.write({"step": step, **scores})
                    if board is not None:
                        for name, value in scores.items():
                            board.add_scalar(f"validation/{name}", value, step)
                    notify(f"step {step}: validation loss {last_validation:.4f}")
            if interrupted:
                checkpoint()
                notify(f"stopped at step {step}; checkpoint written, run again to resume")
    finally:
        if bar is not None:
            bar.close()
        for log in (train_log, validation_log):
            if log is not None:
                log.close()
        if board is not None:
            board.close()

    return TrainResult(
        run_dir=run_dir, step=step, steps=end_step, interrupted=interrupted, resumed_from=resumed_from,
        checkpoint=last_checkpoint, train_loss=history[-1]["loss"] if history else None,
        validation_loss=last_validation, history=history, config=config, model=model,
    )
