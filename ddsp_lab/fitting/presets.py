"""The nearest-preset baseline: the factory voice that already sounds closest to a target note.

A fitted patch is only worth having if it beats what a DX7 owner gets by
scrolling through the factory voices. :func:`nearest_preset` renders every
voice of a pool (by default the 256 voices of the eight factory ROM
cartridges, :func:`factory_voices`) at the target's note, length and sample
rate with the DX7 engine (:func:`~ddsp_lab.dx7.engine.render_voice`), scores
every render with a distance (default
:func:`~ddsp_lab.fitting.distance.spectral_distance`) and returns the
closest, with the whole ranking.

Rendering is cheap (the engine runs about 2000 times faster than real
time), so the renders are made and scored in chunks and only the winner is
kept: memory stays flat whatever the pool size and note length.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import torch
from tqdm.auto import tqdm

from ..core.checks import check_audio, check_sample_rate
from ..dx7.engine import render_voice
from ..dx7.sysex import read_syx
from ..dx7.voice import DX7RangeWarning, Voice
from .distance import CHUNK_SAMPLES, Distance, spectral_distance

PathLike = Union[str, os.PathLike]


# The eight factory cartridges ship with the package (ddsp_lab/pretrained/dx7, see its ATTRIBUTION.md).
DEFAULT_FACTORY_ROM = Path(__file__).resolve().parents[1] / "pretrained" / "dx7"


@dataclasses.dataclass
class PresetMatch:
    """The voice of a pool closest to a target (see :func:`nearest_preset`).

    Attributes:
        name: the winner's name in the pool (e.g. ``"rom1a/08 PIANO 1"``).
        voice: the winning :class:`~ddsp_lab.dx7.voice.Voice` (a copy).
        distance: its distance to the target.
        audio: its render ``[1, T]``, the target's length, dtype and device.
        ranking: ``(name, distance)`` for every candidate, closest first
            (ties keep pool order; a candidate whose distance is NaN ranks last
            as ``inf``).
    """

    name: str
    voice: Voice
    distance: float
    audio: torch.Tensor
    ranking: List[Tuple[str, float]]


def _bank_files(paths) -> List[Path]:
    if paths is None:
        if not DEFAULT_FACTORY_ROM.is_dir():
            raise FileNotFoundError(
                f"no DX7 factory banks found: the default folder {DEFAULT_FACTORY_ROM} does not exist; "
                "pass paths= with .syx files or a folder holding them"
            )
        paths = [DEFAULT_FACTORY_ROM]
    elif isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    elif not isinstance(paths, Sequence) or isinstance(paths, (bytes, bytearray)):
        raise TypeError(f"paths must be a path or a sequence of paths, got {type(paths).__name__}")
    files: List[Path] = []
    for entry in paths:
        if not isinstance(entry, (str, os.PathLike)):
            raise TypeError(f"paths must hold str or os.PathLike entries, got {type(entry).__name__}")
        path = Path(entry)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".syx" and p.is_file())
            if not found:
                raise FileNotFoundError(f"no DX7 bank (.syx file) found in folder {path}")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"DX7 bank not found: {path}")
    return files


def factory_voices(paths: Union[None, PathLike, Sequence[PathLike]] = None) -> List[Tuple[str, Voice]]:
    """Named voices of DX7 banks, in bank and file order.

    Args:
        paths: ``.syx`` files and/or folders (every ``*.syx`` inside, sorted
            by name). Default: the eight factory ROM cartridges in
            :data:`DEFAULT_FACTORY_ROM` (the bundled copy in ``ddsp_lab/pretrained/dx7``).

    Returns:
        ``[(name, voice), ...]``; ``name`` is ``"<file stem>/<NN> <voice
        name>"`` with ``NN`` the 1-based slot, e.g. ``"rom1a/11 E.PIANO 1"``
        (256 voices for the factory set).

    Raises:
        FileNotFoundError: the default folder is missing, a given file or
            folder does not exist, or a folder holds no ``.syx`` file.
        ~ddsp_lab.dx7.sysex.SysexError: a file is not a valid DX7 dump.
    """
    voices: List[Tuple[str, Voice]] = []
    for path in _bank_files(paths):
        # Factory banks hold a few values outside the panel ranges; the engine
        # plays them as stored, as Dexed does, so the warnings are not news here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DX7RangeWarning)
            bank = read_syx(path)
        voices.extend((f"{path.stem}/{slot:02d} {voice.display_name}", voice) for slot, voice in enumerate(bank, 1))
    return voices


def _named_pool(voices) -> List[Tuple[str, Voice]]:
    if isinstance(voices, Voice) or not isinstance(voices, Sequence):
        raise TypeError("voices must be a sequence of (name, Voice) pairs (see factory_voices) or of Voices")
    pool = []
    for index, item in enumerate(voices):
        if isinstance(item, Voice):
            pool.append((f"{index + 1:02d} {item.display_name}", item))
        elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
              and isinstance(item[1], Voice)):
            pool.append(item)
        else:
            raise TypeError(f"voices[{index}] must be a (name, Voice) pair or a Voice, got {type(item).__name__}")
    names = [name for name, _ in pool]
    if len(set(names)) != len(names):
        duplicates = sorted({name for name in names if names.count(name) > 1})
        raise ValueError(f"voice names must be unique, repeated: {duplicates}")
    return pool


def _render(voice: Voice, note: int, velocity: int, gate_s: float, num_samples: int, sample_rate: int) -> torch.Tensor:
    audio = render_voice(voice, note=note, velocity=velocity, gate_s=gate_s,
                         duration_s=num_samples / sample_rate, sample_rate=sample_rate)[0]
    # The engine renders round(duration * rate) samples; guard against a rounding difference.
    if audio.shape[-1] >= num_samples:
        return audio[:num_samples]
    return torch.nn.functional.pad(audio, (0, num_samples - audio.shape[-1]))


def nearest_preset(
    target: torch.Tensor,
    sample_rate: int,
    note: int,
    voices: Sequence,
    exclude: Sequence[str] = (),
    gate_s: Optional[float] = None,
    velocity: int = 100,
    distance: Distance = spectral_distance,
    progress: bool = False,
) -> PresetMatch:
    """The voice whose render at ``note`` is closest to ``target``.

    Every voice is rendered from note-on at sample 0 for the target's
    length, the key held for ``gate_s`` seconds, and scored with
    ``distance(renders [B, T], target [1, T], sample_rate)``. The render is
    the engine's raw output (a full-scale carrier peaks at 0.125): with the
    default distance, level counts; pass e.g.
    ``functools.partial(spectral_distance, normalize=True)`` to compare
    timbres only.

    Args:
        target: the note, ``[samples]`` or ``[1, samples]``, full scale ±1.
        sample_rate: Hz, 8000..192000 (the engine's range).
        note: MIDI key 0..127 to play (each voice adds its own transpose, as
            on the instrument).
        voices: ``(name, Voice)`` pairs (:func:`factory_voices`), or Voices
            (named ``"NN <voice name>"`` by position).
        exclude: names to leave out of the pool (e.g. the voice a synthetic
            target was rendered from); each must be in the pool.
        gate_s: seconds the key is held, >= 0; default the whole target
            (pass the analysed ``release_start_s`` of
            :func:`~ddsp_lab.fitting.analysis.analyze_note`).
        velocity: MIDI velocity 1..127.
        distance: the scoring function, ``[B]`` distances, lower is closer.
        progress: show a progress bar (tqdm, on stderr), counted in voices.

    Returns:
        A :class:`PresetMatch`.

    Raises:
        TypeError, ValueError: bad target, rate, note, velocity, gate, pool
            (empty after ``exclude``, duplicate names, unknown excluded name)
            or a distance that does not return ``[B]`` values.
    """
    target = check_audio(target, "target", allow_1d=True)
    if target.shape[0] != 1:
        raise ValueError(f"target must be one note, [samples] or [1, samples], got shape {tuple(target.shape)}")
    sample_rate = check_sample_rate(sample_rate)
    if isinstance(note, bool) or not isinstance(note, int) or not 0 <= note <= 127:
        raise ValueError(f"note must be a MIDI note number 0..127, got {note!r}")
    num_samples = target.shape[-1]
    duration_s = num_samples / sample_rate
    if gate_s is None:
        gate_s = duration_s
    elif isinstance(gate_s, bool) or not isinstance(gate_s, (int, float)) or not 0.0 <= gate_s < math.inf:
        raise ValueError(f"gate_s must be a finite number of seconds >= 0, got {gate_s!r}")
    excluded = {exclude} if isinstance(exclude, str) else set(exclude)
    pool = _named_pool(voices)
    unknown = sorted(excluded - {name for name, _ in pool}, key=str)
    if unknown:
        raise ValueError(f"exclude names voices that are not in the pool: {unknown}")
    pool = [(name, voice) for name, voice in pool if name not in excluded]
    if not pool:
        raise ValueError("no voice left to compare: the pool is empty" + (" after exclude" if excluded else ""))

    per_chunk = max(1, CHUNK_SAMPLES // num_samples)
    scores: List[float] = []
    bar = tqdm(total=len(pool), disable=not progress, desc="nearest preset", unit="voice", dynamic_ncols=True)
    try:
        for start in range(0, len(pool), per_chunk):
            chunk = pool[start:start + per_chunk]
            renders = torch.stack([
                _render(voice, note, velocity, float(gate_s), num_samples, sample_rate) for _, voice in chunk
            ]).to(device=target.device, dtype=target.dtype)
            values = distance(renders, target, sample_rate)
            if not isinstance(values, torch.Tensor) or tuple(values.shape) != (len(chunk),):
                shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
                raise ValueError(f"distance must return a tensor of shape ({len(chunk)},), got {shape}")
            scores.extend(value if math.isfinite(value) else math.inf for value in values.detach().double().tolist())
            bar.update(len(chunk))
    finally:
        bar.close()

    order = sorted(range(len(pool)), key=lambda index: scores[index])
    best = order[0]
    name, voice = pool[best]
    audio = _render(voice, note, velocity, float(gate_s), num_samples, sample_rate)
    return PresetMatch(
        name=name,
        voice=voice.copy(),
        distance=scores[best],
        audio=audio[None].to(device=target.device, dtype=target.dtype),
        ranking=[(pool[index][0], scores[index]) for index in order],
    )


__all__ = ["DEFAULT_FACTORY_ROM", "PresetMatch", "factory_voices", "nearest_preset"]
