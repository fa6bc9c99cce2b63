"""Preparing a folder of recordings for training (``ddsp-lab prepare``).

:func:`prepare_dataset` walks a folder of recordings, resamples every
readable file to the model's rate, computes CREPE pitch with confidence,
A-weighted loudness and (optionally) MFCCs once per file, caches them, cuts
each file into training examples and assigns whole files to a training or a
validation split. The result is a folder::

    DATASET_DIR/
        dataset.json            manifest: settings, files, examples, splits, skipped files
        files/<id>.npz          one cache per recording: audio and features

Resuming: a recording whose cache exists, was made with the same feature
settings and whose source file still has the same SHA-256 is not analysed
again, so an interrupted run loses at most the file it was working on.
Example length, overlap, silence threshold and the split only depend on the
cached audio and can change between runs without recomputing anything.
Every cache and the manifest are written to a temporary file that then
replaces the destination, so a reader never sees half a file.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import math
import os
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile
import torch
from tqdm.auto import tqdm

from ..core.checks import check_hop_length, check_positive, check_sample_rate
from ..core.resample import resampled_length
from ..features import compute_f0, compute_loudness, compute_mfcc, frame_count
from ..features.pitch import CREPE_SAMPLE_RATE
from ..io import load_audio, write_atomic

PathLike = Union[str, os.PathLike]

MANIFEST_NAME = "dataset.json"
CACHE_FOLDER = "files"
MANIFEST_FORMAT = "ddsp_lab.prepared_dataset"
MANIFEST_VERSION = 1
# Bumped whenever the way features are computed changes, so that caches made
# by an older ddsp_lab are recognised as made with other settings.
FEATURE_VERSION = 1
SPLITS = ("train", "validation")
SKIP_REASONS = ("not audio", "unreadable", "empty", "silent", "too short", "duplicate")

# Files longer than this are analysed in chunks so that CREPE's salience
# ([frames, 360] float64, about 3 kB per frame) never has to be held for a
# whole hour of audio; each chunk sees this much audio on either side, so the
# frames kept do not depend on the chunk edges (loudness and CREPE windows
# reach 32 ms; five seconds also lets the Viterbi pitch path settle).
ANALYSIS_CHUNK_SECONDS = 600.0
ANALYSIS_CONTEXT_SECONDS = 5.0

# Extensions of formats libsndfile decodes: a file with one of these that does
# not open is reported as "unreadable" (corrupt); any other file that does not
# open is "not audio" (a text file, a picture, annotations).
_AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd",
     ".caf", ".w64", ".rf64", ".wavex", ".voc", ".sd2", ".nist", ".sph", ".ircam", ".sf", ".avr", ".htk",
     ".mat", ".mpc", ".paf", ".pvf", ".sds", ".svx", ".xi", ".wve"}
)
_DECODE_ERRORS = (soundfile.LibsndfileError, RuntimeError, TypeError, OSError)


@dataclasses.dataclass
class SkippedFile:
    """A file of the audio folder that is not part of the dataset.

    Attributes:
        source: path relative to the audio folder, with ``/`` separators.
        reason: one of ``"not audio"`` (not a format libsndfile knows),
            ``"unreadable"`` (an audio extension that fails to decode: a
            corrupt or truncated file), ``"empty"`` (0 bytes or no samples),
            ``"silent"`` (RMS level, or that of every example, below
            ``min_rms_db``), ``"too short"`` (shorter than one example) and
            ``"duplicate"`` (same bytes as a file earlier in the order, kept
            out so the two copies cannot land in different splits).
        detail: a sentence with the numbers or the decoder's message.
    """

    source: str
    reason: str
    detail: str


@dataclasses.dataclass
class PreparedFile:
    """One recording of the dataset.

    Attributes:
        id: stable identifier; the cache is ``files/<id>.npz``.
        source: path relative to the audio folder, with ``/`` separators.
        split: ``"train"`` or ``"validation"``.
        seconds: duration after resampling.
        examples: examples cut from it (silent ones excluded).
        silent_examples: examples left out because their RMS level is below
            ``min_rms_db``.
        reused: ``True`` when its features came from the cache of an
            earlier run, ``False`` when they were computed by this run.
    """

    id: str
    source: str
    split: str
    seconds: float
    examples: int
    silent_examples: int
    reused: bool


@dataclasses.dataclass
class SplitTotals:
    """Totals of one split: files, examples and minutes of audio (whole files)."""

    files: int = 0
    examples: int = 0
    minutes: float = 0.0


@dataclasses.dataclass
class PrepareReport:
    """What :func:`prepare_dataset` did. ``str(report)`` is a printable table.

    Attributes:
        dataset_dir: the prepared folder.
        manifest_path: its ``dataset.json``.
        files: the recordings in the dataset, in scan order.
        skipped: every file left out, with the reason.
        splits: ``{"train": SplitTotals, "validation": SplitTotals}``.
        computed: recordings analysed by this run.
        reused: recordings whose features came from the cache.
        example_seconds: length of one example (a whole number of frames).
        stale_caches: cache files in ``files/`` (their ids) that no longer
            belong to a recording of the audio folder; they are kept, never
            deleted without ``overwrite=True``.
        removed_caches: caches deleted by ``overwrite=True``: those of
            recordings no longer in the folder or made with other settings
            that were not recomputed (the recording is skipped now).
    """

    dataset_dir: str
    manifest_path: str
    files: List[PreparedFile]
    skipped: List[SkippedFile]
    splits: Dict[str, SplitTotals]
    computed: int
    reused: int
    example_seconds: float
    stale_caches: List[str] = dataclasses.field(default_factory=list)
    removed_caches: List[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        """The report as plain JSON-serialisable data."""
        return dataclasses.asdict(self)

    def format_table(self) -> str:
        """The report as a text table: split totals, then every skipped file with its reason."""
        lines = [
            f"Prepared {len(self.files)} recordings into {self.dataset_dir} "
            f"({self.computed} analysed, {self.reused} from cache); "
            f"examples of {self.example_seconds:.3f} s",
            "",
        ]
        rows = [("split", "files", "examples", "minutes")]
        for name in SPLITS:
            totals = self.splits[name]
            rows.append((name, str(totals.files), str(totals.examples), f"{totals.minutes:.2f}"))
        lines += _table(rows, right_aligned=(1, 2, 3))
        if self.skipped:
            lines += ["", f"Skipped {len(self.skipped)} files:"]
            rows = [("reason", "file", "detail")] + [(s.reason, s.source, s.detail) for s in self.skipped]
            lines += _table(rows)
        else:
            lines += ["", "Skipped no files."]
        if self.stale_caches:
            lines += [
                "",
                f"{len(self.stale_caches)} cached recordings are no longer in the audio folder; their caches "
                f"were kept in {os.path.join(self.dataset_dir, CACHE_FOLDER)} (prepare with overwrite to remove them).",
            ]
        if self.removed_caches:
            lines += ["", f"Removed {len(self.removed_caches)} caches of recordings no longer prepared (overwrite)."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format_table()


@dataclasses.dataclass
class _Candidate:
    source: str
    path: str
    sha256: str
    frames: int  # samples at the file's own rate, from the header
    file_rate: int


def prepare_dataset(
    audio_dir: PathLike,
    dataset_dir: PathLike,
    sample_rate: int = 16000,
    hop_length: int = 64,
    example_seconds: float = 4.0,
    hop_seconds: Optional[float] = None,
    validation_fraction: float = 0.1,
    validation_files: Optional[Sequence[str]] = None,
    seed: int = 0,
    crepe_model: str = "full",
    device=None,
    min_rms_db: float = -60.0,
    normalize: bool = False,
    mfcc_coefficients: Optional[int] = 30,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Prepare a folder of recordings as a training dataset in ``dataset_dir``.

    Every file under ``audio_dir`` (recursively; names starting with ``.``
    are ignored) is opened with libsndfile in sorted path order. Readable
    recordings are mixed to mono and resampled to ``sample_rate``; CREPE
    f0 and confidence, A-weighted loudness and MFCCs are computed on the
    whole recording with ``hop_length`` and cached in ``files/<id>.npz``.
    Each recording is then cut into examples of ``example_seconds`` starting
    every ``hop_seconds``, and whole recordings are assigned to the training
    or the validation split. See ``docs/prepare.md``.

    Args:
        audio_dir: folder of recordings, any format and sample rate libsndfile
            reads (WAV, FLAC, OGG/Vorbis, Opus, MP3, AIFF, ...).
        dataset_dir: output folder, created if needed; must not be
            ``audio_dir`` itself (a folder inside it is skipped by the scan).
        sample_rate: the model's rate in Hz.
        hop_length: samples between feature frames (64 at 16 kHz is 250
            frames per second).
        example_seconds: length of one training example in seconds, rounded
            to a whole number of frames (``> 0``).
        hop_seconds: seconds between the starts of consecutive examples,
            rounded to whole frames; default ``example_seconds`` (no overlap).
            Smaller values give overlapping examples.
        validation_fraction: share of the recordings (by count, in
            ``[0, 1)``) held out for validation, chosen by a hash of
            ``seed`` and each file's path: at least one recording when the
            fraction is above 0 and there are two or more, never all of them.
            Ignored when ``validation_files`` is given.
        validation_files: glob patterns (``fnmatch``, case-sensitive) matched
            against each file's relative path, file name and stem, e.g.
            ``["*bwv1002_mov8*"]``; matching recordings form the validation
            split. A pattern matching no file is an error (a typo would
            otherwise silently leave validation empty).
        seed: integer mixed into the hash that picks validation recordings.
        crepe_model: ``"full"`` (most accurate) or ``"tiny"`` (about 40
            times cheaper).
        device: where CREPE runs (``"cpu"``, ``"cuda"``, a ``torch.device``);
            default CUDA when available, else CPU.
        min_rms_db: silence threshold in dB relative to full scale (RMS; a
            full-scale sine is -3 dB), typically -80 to -40. Recordings below
            it are skipped as silent, and so are examples below it.
        normalize: scale each recording so that its peak is 1.0 (0 dBFS).
            Off by default: levels stay as recorded so that loudness is
            comparable between recordings; audio is stored as float32, so
            MP3s that peak above full scale are kept unclipped either way.
        mfcc_coefficients: MFCCs per frame to cache (for models with an MFCC
            latent), ``None`` for none.
        overwrite: allow ``dataset_dir`` to hold data prepared with other
            feature settings (sample rate, hop, CREPE model, normalisation,
            MFCCs): every recording is analysed again with the new settings
            (its cache replaced when done, so an interrupted overwrite resumes
            too) and, once the run succeeds, caches that belong to no
            recording of the new manifest are deleted.
        progress: show a progress bar (tqdm, on stderr) with the current file.

    Returns:
        A :class:`PrepareReport`; the same information is in ``dataset.json``.

    Raises:
        ValueError: bad arguments; ``audio_dir`` missing, not a folder or
            without readable audio; every file skipped (the message lists
            each file and reason); a validation pattern matching no file;
            nothing left for training; ``dataset_dir`` holding data prepared
            with other feature settings (without ``overwrite``). An error
            never removes a cache or the manifest of an earlier run.
    """
    sample_rate = check_sample_rate(sample_rate)
    hop_length = check_hop_length(hop_length)
    example_frames = _frames_for(example_seconds, "example_seconds", sample_rate, hop_length)
    stride_frames = example_frames if hop_seconds is None else _frames_for(
        hop_seconds, "hop_seconds", sample_rate, hop_length
    )
    if validation_files is None:
        validation_fraction = check_positive(validation_fraction, "validation_fraction", allow_zero=True)
        if validation_fraction >= 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    else:
        validation_files = _check_patterns(validation_files)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if crepe_model not in ("full", "tiny"):
        raise ValueError(f"crepe_model must be 'full' or 'tiny', got {crepe_model!r}")
    if isinstance(min_rms_db, bool) or not isinstance(min_rms_db, (int, float)) or not math.isfinite(min_rms_db):
        raise ValueError(f"min_rms_db must be a finite number of dB, got {min_rms_db!r}")
    if mfcc_coefficients is not None and (
        isinstance(mfcc_coefficients, bool) or not isinstance(mfcc_coefficients, int) or mfcc_coefficients < 1
    ):
        raise ValueError(f"mfcc_coefficients must be a positive integer or None, got {mfcc_coefficients!r}")
    device = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu"
    )

    audio_root, dataset_root = _check_folders(audio_dir, dataset_dir)
    features = {
        "feature_version": FEATURE_VERSION,
        "sample_rate": sample_rate,
        "hop_length": hop_length,
        "crepe_model": crepe_model,
        "normalize": bool(normalize),
        "mfcc_coefficients": mfcc_coefficients,
    }
    example_samples = example_frames * hop_length
    slicing = {
        "example_seconds": example_samples / sample_rate,
        "example_frames": example_frames,
        "example_samples": example_samples,
        "hop_seconds": stride_frames * hop_length / sample_rate,
        "hop_frames": stride_frames,
        "min_rms_db": float(min_rms_db),
    }
    split_settings = {
        "validation_fraction": None if validation_files is not None else validation_fraction,
        "validation_files": validation_files,
        "seed": seed,
    }

    sources = _scan(audio_root, exclude=dataset_root)
    if not sources:
        raise ValueError(f"audio_dir {audio_root} contains no files")
    if validation_files is not None:
        _check_patterns_match(validation_files, sources, audio_root)
    candidates, skipped = _probe_all(audio_root, sources)
    if not candidates:
        raise ValueError(
            f"audio_dir {audio_root} contains no readable audio ({len(skipped)} files skipped):\n"
            + "\n".join(_table([(s.reason, s.source, s.detail) for s in skipped]))
        )
    if validation_files is not None and all(_matches(validation_files, c.source) for c in candidates):
        raise ValueError(
            f"validation_files {validation_files} match every readable recording; nothing would be left for training"
        )

    cache_root = os.path.join(dataset_root, CACHE_FOLDER)
    if not overwrite:
        _check_existing(dataset_root, features)
    os.makedirs(cache_root, exist_ok=True)
    _remove_temporary_files(dataset_root)

    entries: List[dict] = []
    loudness_sums: List[Tuple[float, float, int]] = []
    computed = reused = 0
    bar = tqdm(candidates, desc="prepare", unit="file", disable=not progress, dynamic_ncols=True)
    with bar:
        for candidate in bar:
            bar.set_postfix_str(candidate.source)
            file_id = _file_id(candidate.source)
            cache_path = os.path.join(cache_root, f"{file_id}.npz")
            arrays = _reusable_cache(cache_path, candidate.sha256, features)
            was_reused = arrays is not None
            if arrays is None:
                outcome = _analyse_file(
                    candidate, cache_path, features, example_frames, stride_frames, min_rms_db, device, audio_root
                )
                if isinstance(outcome, SkippedFile):
                    skipped.append(outcome)
                    continue
                arrays = outcome
            meta = arrays["meta"]
            seconds = arrays["audio"].shape[-1] / sample_rate
            if meta["rms_db"] < min_rms_db:
                # Cached by a run with a lower threshold: the recording now counts as silent.
                skipped.append(_silent_file(candidate.source, meta["rms_db"], min_rms_db))
                continue
            # The threshold applies to the recorded level, before normalisation.
            starts, silent = _example_starts(
                arrays["audio"], hop_length, example_frames, stride_frames, min_rms_db + meta["gain_db"]
            )
            if not starts:
                skipped.append(
                    _no_examples(candidate.source, seconds, example_samples / sample_rate, silent, min_rms_db)
                )
                continue
            reused += was_reused
            computed += not was_reused
            entries.append({
                "id": file_id,
                "source": candidate.source,
                "cache": f"{CACHE_FOLDER}/{file_id}.npz",
                "sha256": candidate.sha256,
                "samples": int(arrays["audio"].shape[-1]),
                "frames": int(arrays["f0_hz"].shape[-1]),
                "seconds": seconds,
                "original_sample_rate": candidate.file_rate,
                "peak_db": float(meta["peak_db"]),
                "rms_db": float(meta["rms_db"]),
                "gain_db": float(meta["gain_db"]),
                "example_starts": starts,
                "silent_examples": silent,
                "reused": was_reused,
            })
            example_loudness = np.concatenate(
                [arrays["loudness_db"][start:start + example_frames] for start in starts]
            ).astype(np.float64)
            loudness_sums.append(
                (float(example_loudness.sum()), float(np.square(example_loudness).sum()), example_loudness.size)
            )

    if not entries:
        raise ValueError(
            f"every file in {audio_root} was skipped, nothing to prepare:\n"
            + "\n".join(_table([(s.reason, s.source, s.detail) for s in skipped]))
        )
    skipped.sort(key=lambda item: item.source)
    splits = _assign_splits([entry["source"] for entry in entries], validation_fraction, validation_files, seed)
    for entry in entries:
        entry["split"] = splits[entry["source"]]
    if not any(entry["split"] == "train" for entry in entries):
        raise ValueError(
            "no recording is left for training: every usable recording matched validation_files "
            f"{validation_files}; the caches in {cache_root} are kept"
        )
    totals, statistics = _split_totals(entries, loudness_sums)

    # Caches of recordings that are gone (or were made with other settings,
    # which only overwrite lets through) are kept unless overwrite is set.
    used_ids = {entry["id"] for entry in entries} | {_file_id(item.source) for item in skipped}
    stale, removed = [], []
    for name in sorted(os.listdir(cache_root)):
        if not name.endswith(".npz") or name.startswith("."):
            continue
        meta = _cache_meta(os.path.join(cache_root, name))
        if name[:-4] in used_ids and meta is not None and meta.get("features") == features:
            continue
        if overwrite:
            os.remove(os.path.join(cache_root, name))
            removed.append(name[:-4])
        else:
            stale.append(name[:-4])

    from .. import __version__

    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "created_by": f"ddsp_lab {__version__}",
        "audio_dir": audio_root,
        "features": features,
        "examples": slicing,
        "split": split_settings,
        "totals": {name: dataclasses.asdict(totals[name]) for name in SPLITS},
        "statistics": statistics,
        "files": entries,
        "skipped": [dataclasses.asdict(item) for item in skipped],
        "stale_caches": stale,
    }
    manifest_path = os.path.join(dataset_root, MANIFEST_NAME)
    _write_atomic(manifest_path, lambda handle: handle.write(
        (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    ))

    return PrepareReport(
        dataset_dir=dataset_root,
        manifest_path=manifest_path,
        files=[
            PreparedFile(
                id=entry["id"], source=entry["source"], split=entry["split"], seconds=entry["seconds"],
                examples=len(entry["example_starts"]), silent_examples=entry["silent_examples"],
                reused=entry["reused"],
            )
            for entry in entries
        ],
        skipped=skipped,
        splits=totals,
        computed=computed,
        reused=reused,
        example_seconds=slicing["example_seconds"],
        stale_caches=stale,
        removed_caches=removed,
    )


def load_manifest(dataset_dir: PathLike) -> dict:
    """Read and check ``dataset_dir/dataset.json`` written by :func:`prepare_dataset`.

    Returns:
        The manifest as a dict (see ``docs/prepare.md`` for its fields).

    Raises:
        ValueError: the folder has no manifest, or it is not valid JSON, not
            a ddsp_lab dataset manifest, or of a newer version.
    """
    path = os.path.join(os.fspath(dataset_dir), MANIFEST_NAME)
    if not os.path.isfile(path):
        raise ValueError(
            f"{os.fspath(dataset_dir)} is not a prepared dataset (no {MANIFEST_NAME}); "
            "run `ddsp-lab prepare AUDIO_DIR DATASET_DIR` first"
        )
    try:
        with open(path, "r", encoding="utf-8") as stream:
            manifest = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not a ddsp_lab dataset manifest (format {MANIFEST_FORMAT!r})")
    version = manifest.get("version")
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise ValueError(
            f"{path} has manifest version {version!r}; this ddsp_lab reads version {MANIFEST_VERSION} or older"
        )
    return manifest


def read_cache(path: PathLike) -> Dict[str, object]:
    """Read one cached recording ``files/<id>.npz``.

    Returns:
        ``{"audio": float32 [T], "f0_hz": float32 [F], "confidence":
        float32 [F], "loudness_db": float32 [F], "mfcc": float32
        [F, n_mfcc] (when cached), "meta": dict}`` with
        ``F = ceil(T / hop_length)``; ``meta`` holds the source path, its
        SHA-256, the feature settings, peak and RMS level and the gain
        applied by normalisation, in dB.

    Raises:
        ValueError: the file is missing, not a readable cache or inconsistent.
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise ValueError(f"{path} is not a readable dataset cache: {error}") from error
    for name in ("audio", "f0_hz", "confidence", "loudness_db"):
        if name not in arrays:
            raise ValueError(f"{path} is not a complete dataset cache: {name} is missing")
    try:
        hop_length = check_hop_length(meta["features"]["hop_length"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a complete dataset cache: no valid hop_length in its settings") from error
    frames = frame_count(arrays["audio"].shape[-1], hop_length)
    for name in ("f0_hz", "confidence", "loudness_db", "mfcc"):
        if name in arrays and arrays[name].shape[0] != frames:
            raise ValueError(f"{path} is inconsistent: {name} has {arrays[name].shape[0]} frames, expected {frames}")
    arrays["meta"] = meta
    return arrays


# ----------------------------------------------------------------------------- arguments and folders


def _frames_for(seconds, name: str, sample_rate: int, hop_length: int) -> int:
    seconds = check_positive(seconds, name)
    frames = int(round(seconds * sample_rate / hop_length))
    if frames < 1:
        raise ValueError(
            f"{name}={seconds} s is shorter than one frame ({hop_length} samples at {sample_rate} Hz)"
        )
    return frames


def _check_patterns(patterns) -> List[str]:
    if isinstance(patterns, (str, bytes)) or not isinstance(patterns, (list, tuple)):
        raise TypeError(f"validation_files must be a list of glob patterns, got {type(patterns).__name__}")
    if not patterns:
        raise ValueError("validation_files is empty; pass None to use validation_fraction instead")
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f"validation_files must hold non-empty strings, got {pattern!r}")
    return list(patterns)


def _matches(patterns: Sequence[str], source: str) -> bool:
    name = source.rsplit("/", 1)[-1]
    stem = os.path.splitext(name)[0]
    return any(
        fnmatch.fnmatchcase(source, pattern) or fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(stem, pattern)
        for pattern in patterns
    )


def _check_patterns_match(patterns: Sequence[str], sources: Sequence[str], audio_root: str) -> None:
    unmatched = [pattern for pattern in patterns if not any(_matches([pattern], source) for source in sources)]
    if unmatched:
        raise ValueError(f"validation_files patterns {unmatched} match no file in {audio_root}")


def _check_folders(audio_dir, dataset_dir) -> Tuple[str, str]:
    if not isinstance(audio_dir, (str, os.PathLike)):
        raise TypeError(f"audio_dir must be a path, got {type(audio_dir).__name__}")
    if not isinstance(dataset_dir, (str, os.PathLike)):
        raise TypeError(f"dataset_dir must be a path, got {type(dataset_dir).__name__}")
    audio_root = os.path.realpath(os.fspath(audio_dir))
    dataset_root = os.path.realpath(os.fspath(dataset_dir))
    if not os.path.exists(audio_root):
        raise ValueError(f"audio_dir {os.fspath(audio_dir)} does not exist")
    if not os.path.isdir(audio_root):
        raise ValueError(f"audio_dir {os.fspath(audio_dir)} is not a folder")
    if os.path.exists(dataset_root) and not os.path.isdir(dataset_root):
        raise ValueError(f"dataset_dir {os.fspath(dataset_dir)} exists and is not a folder")
    if dataset_root == audio_root:
        raise ValueError("dataset_dir must not be audio_dir itself; use a new folder (a subfolder works)")
    return audio_root, dataset_root


def _scan(audio_root: str, exclude: str) -> List[str]:
    """Relative paths (``/``-separated, sorted) of every file under ``audio_root``."""
    sources = []
    for folder, subfolders, names in os.walk(audio_root):
        subfolders[:] = [
            name for name in subfolders
            if not name.startswith(".") and os.path.realpath(os.path.join(folder, name)) != exclude
        ]
        for name in names:
            path = os.path.join(folder, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            sources.append(os.path.relpath(path, audio_root).replace(os.sep, "/"))
    return sorted(sources)


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _probe_all(audio_root: str, sources: Sequence[str]) -> Tuple[List[_Candidate], List[SkippedFile]]:
    """Open every file's header; readable ones become candidates, duplicates are skipped."""
    candidates, skipped = [], []
    first_with_hash: Dict[str, str] = {}
    for source in sources:
        path = os.path.join(audio_root, *source.split("/"))
        extension = os.path.splitext(source)[1].lower()
        try:
            size = os.path.getsize(path)
            if size == 0:
                skipped.append(SkippedFile(source, "empty", "0 bytes"))
                continue
            info = soundfile.info(path)
        except _DECODE_ERRORS as error:
            reason = "unreadable" if extension in _AUDIO_EXTENSIONS else "not audio"
            message = re.sub(r"^Error opening .*?: ", "", _one_line(error).replace(path, source))
            skipped.append(SkippedFile(source, reason, f"libsndfile cannot open it: {message}"))
            continue
        if info.frames <= 0:
            skipped.append(SkippedFile(source, "empty", f"{info.format} file with no samples"))
            continue
        digest = _sha256(path)
        if digest in first_with_hash:
            skipped.append(SkippedFile(source, "duplicate", f"same bytes as {first_with_hash[digest]}"))
            continue
        first_with_hash[digest] = source
        candidates.append(_Candidate(source, path, digest, int(info.frames), int(info.samplerate)))
    return candidates, skipped


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _file_id(source: str) -> str:
    """Readable, unique cache name for a relative path: ``sub__name-<hash>``."""
    stem = os.path.splitext(source)[0].replace("/", "__")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "file"
    return f"{stem}-{hashlib.sha1(source.encode('utf-8')).hexdigest()[:10]}"


def _remove_temporary_files(dataset_root: str) -> None:
    """Delete temporary files left by a run that was killed while writing (never a finished file)."""
    for folder, suffix in ((dataset_root, ".json"), (os.path.join(dataset_root, CACHE_FOLDER), ".npz")):
        for name in os.listdir(folder):
            if name.startswith(".tmp-") and name.endswith(suffix):
                os.remove(os.path.join(folder, name))


def _check_existing(dataset_root: str, features: dict) -> None:
    """Refuse to mix caches made with other feature settings into ``dataset_root``."""
    hint = "pass overwrite=True (ddsp-lab prepare --overwrite) to recompute everything, or use another dataset_dir"
    manifest_path = os.path.join(dataset_root, MANIFEST_NAME)
    if os.path.isfile(manifest_path):
        manifest = load_manifest(dataset_root)
        differences = _differences(manifest.get("features", {}), features)
        if differences:
            raise ValueError(f"{dataset_root} was prepared with other settings ({differences}); {hint}")
    cache_root = os.path.join(dataset_root, CACHE_FOLDER)
    if not os.path.isdir(cache_root):
        return
    for name in sorted(os.listdir(cache_root)):
        if not name.endswith(".npz") or name.startswith("."):
            continue
        meta = _cache_meta(os.path.join(cache_root, name))
        if meta is None:
            continue  # unreadable leftovers are simply recomputed
        differences = _differences(meta.get("features", {}), features)
        if differences:
            raise ValueError(
                f"{dataset_root} holds caches prepared with other settings "
                f"({CACHE_FOLDER}/{name}: {differences}); {hint}"
            )


def _differences(existing: dict, requested: dict) -> str:
    keys = sorted(set(existing) | set(requested))
    return ", ".join(
        f"{key}={existing.get(key)!r} there, {requested.get(key)!r} requested"
        for key in keys if existing.get(key) != requested.get(key)
    )


# ----------------------------------------------------------------------------- caches


def _cache_meta(path: str) -> Optional[dict]:
    """The ``meta`` record of a cache, or ``None`` when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return json.loads(str(stored["meta"]))
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _reusable_cache(path: str, sha256: str, features: dict) -> Optional[dict]:
    if not os.path.isfile(path):
        return None
    meta = _cache_meta(path)
    if meta is None or meta.get("sha256") != sha256 or meta.get("features") != features:
        return None
    try:
        return read_cache(path)
    except ValueError:
        return None


def _write_atomic(path: str, write: Callable) -> None:
    """Write a file through ``write(binary_handle)`` atomically (:func:`ddsp_lab.io.write_atomic`)."""

    def through_handle(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            write(stream)

    write_atomic(path, through_handle)


# ----------------------------------------------------------------------------- analysis


def _analyse_file(
    candidate: _Candidate,
    cache_path: str,
    features: dict,
    example_frames: int,
    stride_frames: int,
    min_rms_db: float,
    device: torch.device,
    audio_root: str,
) -> Union[dict, SkippedFile]:
    """Decode, check and analyse one recording and write its cache; or say why it is skipped."""
    sample_rate = features["sample_rate"]
    hop_length = features["hop_length"]
    example_samples = example_frames * hop_length
    example_seconds = example_samples / sample_rate
    # The header's length decides "too short" without decoding (and without
    # resampling a few samples, which cannot give a single output sample).
    expected = resampled_length(candidate.frames, candidate.file_rate, sample_rate)
    if expected < example_samples:
        return _too_short(candidate.source, expected / sample_rate, example_seconds)
    try:
        audio, _ = load_audio(candidate.path, sample_rate=sample_rate, mono=True)
    except ValueError as error:
        return SkippedFile(candidate.source, "unreadable", _one_line(error).replace(candidate.path, candidate.source))
    except _DECODE_ERRORS as error:
        return SkippedFile(candidate.source, "unreadable", f"decoding failed: {_one_line(error)}")
    if audio.shape[-1] < example_samples:
        return _too_short(candidate.source, audio.shape[-1] / sample_rate, example_seconds)

    samples = audio[0].double()
    peak = float(samples.abs().max())
    rms = float(torch.sqrt(torch.mean(samples * samples)))
    rms_db = _db(rms)
    if rms_db < min_rms_db:
        return _silent_file(candidate.source, rms_db, min_rms_db)
    gain_db = 0.0
    if features["normalize"]:
        gain_db = -_db(peak)
        audio = audio / peak
    # Examples are cut before the expensive analysis: a recording whose every
    # example is silent is skipped without running CREPE on it.
    starts, silent = _example_starts(audio[0].numpy(), hop_length, example_frames, stride_frames, min_rms_db + gain_db)
    if not starts:
        return _no_examples(candidate.source, audio.shape[-1] / sample_rate, example_seconds, silent, min_rms_db)

    analysis = analyse_recording(
        audio, sample_rate, hop_length, crepe_model=features["crepe_model"], device=device,
        mfcc_coefficients=features["mfcc_coefficients"],
    )
    meta = {
        "source": candidate.source,
        "audio_dir": audio_root,
        "sha256": candidate.sha256,
        "features": features,
        "original_sample_rate": candidate.file_rate,
        "peak_db": _db(peak),
        "rms_db": rms_db,
        "gain_db": gain_db,
    }
    arrays = {"audio": audio[0].numpy().astype(np.float32)}
    arrays.update({name: value[0].cpu().numpy().astype(np.float32) for name, value in analysis.items()})
    _write_atomic(
        cache_path,
        lambda handle: np.savez(handle, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays),
    )
    arrays["meta"] = meta
    return arrays


def analyse_recording(
    audio: torch.Tensor,
    sample_rate: int,
    hop_length: int,
    crepe_model: str = "full",
    device=None,
    mfcc_coefficients: Optional[int] = 30,
) -> Dict[str, torch.Tensor]:
    """The cached features of one recording, computed on the whole recording.

    Recordings longer than ``ANALYSIS_CHUNK_SECONDS`` (10 minutes) are
    analysed in chunks that each see ``ANALYSIS_CONTEXT_SECONDS`` (5 s) of
    audio on either side, so memory stays bounded (both are rounded up to
    frames that fall on whole samples of CREPE's 16 kHz grid); the frames
    kept match the whole-recording analysis except where the Viterbi pitch
    path would only settle more than 5 s away. Shorter recordings are
    analysed in one piece, which gives exactly :func:`~ddsp_lab.features.compute_f0`,
    :func:`~ddsp_lab.features.compute_loudness` and
    :func:`~ddsp_lab.features.compute_mfcc` of the whole recording.

    Args:
        audio: ``[1, samples]`` at ``sample_rate``.
        sample_rate: Hz.
        hop_length: samples between frames.
        crepe_model: ``"full"`` or ``"tiny"``.
        device: where CREPE runs; default the audio's device.
        mfcc_coefficients: MFCCs per frame, or ``None`` for none.

    Returns:
        ``{"f0_hz": [1, F] Hz, "confidence": [1, F] 0..1, "loudness_db":
        [1, F] dB, "mfcc": [1, F, n] (when requested)}`` with
        ``F = ceil(samples / hop_length)``.
    """
    total = audio.shape[-1]
    frames = frame_count(total, hop_length)
    # Chunks start on frames that fall on a whole 16 kHz sample, so CREPE
    # sees a chunk on the same 16 kHz grid as the whole recording (441 frames
    # at 44.1 kHz with a hop of 64, every frame at 16 kHz).
    grid = sample_rate // math.gcd(sample_rate, hop_length * CREPE_SAMPLE_RATE)
    chunk_frames = grid * max(1, math.ceil(ANALYSIS_CHUNK_SECONDS * sample_rate / hop_length / grid))
    if frames <= chunk_frames:
        return _features(audio, sample_rate, hop_length, crepe_model, device, mfcc_coefficients)
    context = grid * math.ceil(ANALYSIS_CONTEXT_SECONDS * sample_rate / hop_length / grid)
    pieces: Dict[str, List[torch.Tensor]] = {}
    for first in range(0, frames, chunk_frames):
        last = min(first + chunk_frames, frames)
        # Chunk edges fall on frame boundaries, so frame j of a chunk starting
        # at frame `begin` is frame begin + j of the recording.
        begin, end = max(0, first - context), min(frames, last + context)
        segment = audio[:, begin * hop_length:min(total, end * hop_length)]
        result = _features(segment, sample_rate, hop_length, crepe_model, device, mfcc_coefficients)
        for name, value in result.items():
            pieces.setdefault(name, []).append(value[:, first - begin:last - begin])
    return {name: torch.cat(values, dim=1) for name, values in pieces.items()}


def _features(audio, sample_rate, hop_length, crepe_model, device, mfcc_coefficients) -> Dict[str, torch.Tensor]:
    f0_hz, confidence = compute_f0(audio, sample_rate, hop_length=hop_length, model=crepe_model, device=device)
    result = {
        "f0_hz": f0_hz,
        "confidence": confidence,
        "loudness_db": compute_loudness(audio, sample_rate, hop_length=hop_length),
    }
    if mfcc_coefficients is not None:
        result["mfcc"] = compute_mfcc(audio, sample_rate, hop_length=hop_length, n_mfcc=mfcc_coefficients)
    return result


def _example_starts(
    audio: np.ndarray, hop_length: int, example_frames: int, stride_frames: int, threshold_db: float
) -> Tuple[List[int], int]:
    """Start frames of the examples whose RMS level reaches ``threshold_db``, and how many were silent.

    Example ``k`` covers frames ``[s, s + example_frames)`` and samples
    ``[s * hop, (s + example_frames) * hop)`` with ``s = k * stride_frames``;
    only examples that lie entirely inside the recording are cut.
    """
    example_samples = example_frames * hop_length
    last_start = audio.shape[-1] // hop_length - example_frames
    if last_start < 0:
        return [], 0
    starts = np.arange(0, last_start + 1, stride_frames)
    energy = np.concatenate([[0.0], np.cumsum(np.square(audio.astype(np.float64)))])
    first = starts * hop_length
    mean_square = (energy[first + example_samples] - energy[first]) / example_samples
    # Cumulative sums can leave a tiny negative difference on digital silence.
    levels = 10.0 * np.log10(np.maximum(mean_square, 1e-30))
    loud = levels >= threshold_db
    return [int(s) for s in starts[loud]], int((~loud).sum())


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def _format_db(value: float) -> str:
    return "-inf" if value == -math.inf else f"{value:.1f}"


def _silent_file(source: str, rms_db: float, min_rms_db: float) -> SkippedFile:
    return SkippedFile(source, "silent", f"RMS level {_format_db(rms_db)} dBFS is below min_rms_db={min_rms_db:g} dB")


def _too_short(source: str, seconds: float, example_seconds: float) -> SkippedFile:
    return SkippedFile(source, "too short", f"{seconds:.3f} s is shorter than one example ({example_seconds:.3f} s)")


def _no_examples(source: str, seconds: float, example_seconds: float, silent: int, min_rms_db: float) -> SkippedFile:
    if silent:
        return SkippedFile(
            source, "silent", f"all {silent} examples are below min_rms_db={min_rms_db:g} dB"
        )
    return _too_short(source, seconds, example_seconds)


# ----------------------------------------------------------------------------- splits


def _assign_splits(
    sources: Sequence[str], validation_fraction: Optional[float], validation_files: Optional[Sequence[str]], seed: int
) -> Dict[str, str]:
    """``{source: "train" | "validation"}``: by pattern, or the files ranking first by a seeded hash."""
    if validation_files is not None:
        return {source: "validation" if _matches(validation_files, source) else "train" for source in sources}
    count = len(sources)
    held_out = int(round(validation_fraction * count))
    if validation_fraction > 0 and count >= 2:
        held_out = min(max(held_out, 1), count - 1)
    else:
        held_out = 0
    # A hash of the path (not of the position) keeps a recording's split when
    # other recordings are added or removed, apart from the one that may move
    # across the cut.
    ranked = sorted(sources, key=lambda source: hashlib.sha256(f"{seed}\0{source}".encode("utf-8")).hexdigest())
    validation = set(ranked[:held_out])
    return {source: "validation" if source in validation else "train" for source in sources}


def _split_totals(
    entries: Sequence[dict], loudness_sums: Sequence[Tuple[float, float, int]]
) -> Tuple[Dict[str, SplitTotals], Dict[str, Dict[str, float]]]:
    """Files, examples and minutes per split, and loudness mean and deviation over each split's example frames."""
    totals, statistics = {}, {}
    for name in SPLITS:
        chosen = [index for index, entry in enumerate(entries) if entry["split"] == name]
        totals[name] = SplitTotals(
            files=len(chosen),
            examples=sum(len(entries[index]["example_starts"]) for index in chosen),
            minutes=sum(entries[index]["seconds"] for index in chosen) / 60.0,
        )
        count = sum(loudness_sums[index][2] for index in chosen)
        if count:
            mean = sum(loudness_sums[index][0] for index in chosen) / count
            mean_square = sum(loudness_sums[index][1] for index in chosen) / count
            statistics[name] = {
                "loudness_db_mean": mean,
                "loudness_db_std": math.sqrt(max(mean_square - mean * mean, 0.0)),
            }
    return totals, statistics


def _table(rows: Sequence[Sequence[str]], right_aligned: Sequence[int] = ()) -> List[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines
