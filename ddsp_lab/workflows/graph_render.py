"""``ddsp-lab graph render``: play one note through a graph preset and write the audio.

The work behind ``ddsp-lab graph render PRESET.json --note 60 --duration 2
-o out.wav``: load the preset (optionally rebuilt at another sample rate),
turn one note event into the controls ``f0_hz``, ``pitch``, ``velocity`` and
``gate``, render, and write WAV or FLAC atomically.
"""

from __future__ import annotations

import math
import os
from typing import Optional, Union

import torch

from ..core.checks import check_positive
from ..graph import Note, load_preset
from ..io import save_audio

PathLike = Union[str, os.PathLike]


def render_preset(
    preset_path: PathLike,
    note: float = 60,
    velocity: float = 100,
    duration_s: float = 2.0,
    gate_s: Optional[float] = 1.0,
    sample_rate: Optional[int] = None,
    out_path: PathLike = "out.wav",
) -> str:
    """Render one note through a graph preset to an audio file.

    Args:
        preset_path: a JSON graph preset (see :mod:`ddsp_lab.graph.presets`).
        note: MIDI note number in ``[0, 127]`` (60 is middle C).
        velocity: MIDI velocity in ``[0, 127]``.
        duration_s: seconds rendered (``> 0``; rounded up to whole frames).
        gate_s: seconds from note-on to note-off (``> 0``); ``None`` holds
            the note to the end. A gate longer than ``duration_s`` simply
            holds the note throughout.
        sample_rate: Hz to render at; default the preset's (every preset
            value is physical, so any rate works; the hop is scaled to keep
            the frame duration).
        out_path: ``.wav`` (32-bit float) or ``.flac`` (24-bit PCM; the
            audio must then stay within ±1).

    Returns:
        ``out_path`` as a string.

    Raises:
        FileNotFoundError: missing preset or output folder.
        ValueError: a bad note, velocity, duration or gate, an invalid
            preset (:class:`~ddsp_lab.graph.GraphError`), or audio that a
            PCM file cannot hold.
    """
    duration_s = check_positive(duration_s, "duration_s")
    if gate_s is not None:
        gate_s = check_positive(gate_s, "gate_s")
    for name, value in (("note", note), ("velocity", velocity)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a number, got {value!r}")
    out_path = os.fspath(out_path)
    extension = os.path.splitext(out_path)[1].lower()
    if extension not in (".wav", ".flac"):
        raise ValueError(f"out_path must end in .wav or .flac, got {out_path!r}")
    graph = load_preset(preset_path, sample_rate=sample_rate)
    event = Note(pitch=float(note), velocity=float(velocity), start_s=0.0, duration_s=gate_s)
    with torch.no_grad():
        audio = graph.render_notes(event, duration_s)
    samples = max(1, round(duration_s * graph.sample_rate))
    save_audio(out_path, audio[0, :samples], graph.sample_rate)
    return out_path
