"""Note events and the frame-rate controls they become.

A :class:`Note` has a pitch (MIDI note number), a velocity (0..127) and
note-on/off times in seconds. :func:`notes_to_controls` turns notes into the
controls that graph parameters bind to by default:

====================  ============  ==========================================
control               shape         value
====================  ============  ==========================================
``"f0_hz"``           ``[B, F, 1]`` pitch in Hz (``440 * 2 ** ((pitch - 69) / 12)``)
``"pitch"``           ``[B, F, 1]`` MIDI note number
``"velocity"``        ``[B, F, 1]`` velocity / 127, in ``[0, 1]``
``"gate"``            ``[B, F, 1]`` 1 while a note is held, else 0
====================  ============  ==========================================

Pitch and velocity hold the value of the latest note-on (before the first
note, the first note's), so an oscillator keeps its pitch through a release.
Frame ``n`` (at sample ``n * hop_length``) is on when the note-on sample
``round(start_s * sample_rate) <= n * hop_length`` and ``n * hop_length <
round(end_s * sample_rate)``; a note too short to cover a frame instant still
gets one frame.

Batches: a single note; a list of notes (one per batch item: several notes
render as a batch); or a list of lists (a monophonic sequence of notes per
batch item, sorted by start and not overlapping). Two notes that touch (the
second starting as the first ends) form one unbroken gate, so a gate-driven
envelope plays them legato without a new attack; leave at least one frame
between them to retrigger it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..core.checks import check_hop_length, check_positive, check_sample_rate
from ..core.conversions import midi_to_hz
from .errors import GraphError

MAX_MIDI = 127.0


@dataclass(frozen=True)
class Note:
    """One note event.

    Attributes:
        pitch: MIDI note number in ``[0, 127]`` (fractional values are
            microtonal; 69 is A4 = 440 Hz, 60 is middle C).
        velocity: MIDI velocity in ``[0, 127]`` (default 100).
        start_s: note-on time in seconds ``>= 0``.
        duration_s: seconds until note-off (``> 0``), or ``None`` to hold the
            note to the end of the render (only for an item's last note).
    """

    pitch: float
    velocity: float = 100.0
    start_s: float = 0.0
    duration_s: Optional[float] = None

    def __post_init__(self):
        for name in ("pitch", "velocity", "start_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise GraphError(f"Note.{name} must be a finite number, got {value!r}")
        if not 0.0 <= self.pitch <= MAX_MIDI:
            raise GraphError(f"Note.pitch must be a MIDI note number in [0, 127], got {self.pitch}")
        if not 0.0 <= self.velocity <= MAX_MIDI:
            raise GraphError(f"Note.velocity must be in [0, 127], got {self.velocity}")
        if self.start_s < 0:
            raise GraphError(f"Note.start_s must be >= 0 seconds, got {self.start_s}")
        if self.duration_s is not None:
            value = self.duration_s
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0
            ):
                raise GraphError(f"Note.duration_s must be a positive number of seconds or None, got {value!r}")

    @property
    def end_s(self) -> float:
        """Note-off time in seconds (``inf`` when held to the end)."""
        return math.inf if self.duration_s is None else self.start_s + self.duration_s


NoteBatch = Union[Note, Sequence[Note], Sequence[Sequence[Note]]]


def frames_for_duration(duration_s: float, sample_rate: int, hop_length: int) -> int:
    """Frames covering ``duration_s`` seconds: ``ceil(duration_s * sample_rate / hop_length)``."""
    duration_s = check_positive(duration_s, "duration_s")
    sample_rate = check_sample_rate(sample_rate)
    hop_length = check_hop_length(hop_length)
    # The small slack keeps 2.0 s at 16 kHz / hop 64 at exactly 500 frames despite rounding.
    return max(1, math.ceil(duration_s * sample_rate / hop_length - 1e-9))


def _as_batch(notes: NoteBatch) -> List[List[Note]]:
    if isinstance(notes, Note):
        return [[notes]]
    if not isinstance(notes, (list, tuple)) or len(notes) == 0:
        raise GraphError(f"notes must be a Note, a non-empty list of Notes, or a list of lists of Notes, got {notes!r}")
    if all(isinstance(n, Note) for n in notes):
        return [[n] for n in notes]
    if all(isinstance(n, (list, tuple)) for n in notes):
        batch = []
        for index, item in enumerate(notes):
            if len(item) == 0 or not all(isinstance(n, Note) for n in item):
                raise GraphError(f"notes[{index}] must be a non-empty list of Notes, got {item!r}")
            batch.append(sorted(item, key=lambda n: n.start_s))
        return batch
    raise GraphError("notes must be a Note, a list of Notes (one per batch item) or a list of lists of Notes; "
                     "do not mix Notes and lists")


def notes_to_controls(
    notes: NoteBatch,
    num_frames: int,
    sample_rate: int,
    hop_length: int,
    dtype: Optional[torch.dtype] = None,
    device=None,
) -> Dict[str, torch.Tensor]:
    """Frame-rate controls ``f0_hz``, ``pitch``, ``velocity``, ``gate`` from note events.

    Args:
        notes: a Note, a list of Notes (one per batch item), or a list of
            lists of Notes (a monophonic sequence per item).
        num_frames: ``F``.
        sample_rate: Hz.
        hop_length: samples per frame.
        dtype, device: of the tensors (default float32 on the CPU).

    Returns:
        ``{"f0_hz", "pitch", "velocity", "gate"}``, each ``[B, F, 1]``.

    Raises:
        GraphError: overlapping notes within one item, or a held note
            (``duration_s=None``) that is not its item's last.
    """
    sample_rate = check_sample_rate(sample_rate)
    hop_length = check_hop_length(hop_length)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames <= 0:
        raise GraphError(f"num_frames must be a positive integer, got {num_frames!r}")
    batch = _as_batch(notes)
    frame_samples = np.arange(num_frames, dtype=np.int64) * hop_length
    rows = {"pitch": [], "velocity": [], "gate": []}
    for index, item in enumerate(batch):
        for previous, following in zip(item, item[1:]):
            if following.start_s < previous.end_s:
                raise GraphError(
                    f"notes[{index}] overlap: a note at {following.start_s} s starts before the previous one ends "
                    f"({previous.end_s} s); one item plays one note at a time (put chords in separate items)"
                )
        on = np.array([round(n.start_s * sample_rate) for n in item], dtype=np.int64)
        off = np.array([np.iinfo(np.int64).max if n.duration_s is None else round(n.end_s * sample_rate)
                        for n in item], dtype=np.int64)
        first = -(-on // hop_length)  # first frame at or after each note-on
        # The note sounding at each frame: the latest one whose first frame has passed.
        current = np.searchsorted(first, np.arange(num_frames), side="right") - 1
        note = np.clip(current, 0, None)
        pitches = np.array([n.pitch for n in item])
        velocities = np.array([n.velocity for n in item]) / MAX_MIDI
        gate = (current >= 0) & (frame_samples < off[note])
        # A note too short to reach a frame instant still gets its first frame.
        short = (first < num_frames) & (first * hop_length >= off)
        gate[first[short]] = True
        rows["pitch"].append(pitches[note])
        rows["velocity"].append(velocities[note])
        rows["gate"].append(gate.astype(np.float64))
    dtype = dtype or torch.get_default_dtype()
    controls = {
        key: torch.tensor(np.stack(value), dtype=dtype, device=device).unsqueeze(-1) for key, value in rows.items()
    }
    controls["f0_hz"] = midi_to_hz(controls["pitch"].to(torch.float64)).to(dtype)
    return {"f0_hz": controls["f0_hz"], "pitch": controls["pitch"], "velocity": controls["velocity"],
            "gate": controls["gate"]}
