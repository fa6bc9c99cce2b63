"""``ddsp-lab render`` and ``ddsp-lab syx list``: play and list the voices of DX7 ``.syx`` files.

``render_syx`` renders one note of one voice with the DX7 engine
(:func:`ddsp_lab.dx7.engine.render_voice`, Dexed-compatible) and writes it to
a WAV or FLAC file; ``list_syx`` lists a file's voices with their algorithm
and feedback.
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from pathlib import Path
from typing import List, Union

from ..dx7.engine import render_voice
from ..dx7.sysex import read_syx
from ..dx7.voice import DX7RangeWarning, Voice
from ..io import save_audio

PathLike = Union[str, os.PathLike]


def _load_voices(bank_path: PathLike) -> List[Voice]:
    if not isinstance(bank_path, (str, os.PathLike)):
        raise TypeError(f"bank_path must be a path, got {type(bank_path).__name__}")
    if not os.path.exists(bank_path):
        raise FileNotFoundError(f"sysex file not found: {os.fspath(bank_path)}")
    if os.path.isdir(bank_path):
        raise ValueError(f"{os.fspath(bank_path)} is a directory, not a .syx file")
    # Factory banks hold a few values outside the panel ranges; the engine
    # plays them as stored (as Dexed does), so the warnings are not news here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DX7RangeWarning)
        return read_syx(bank_path)


def _normalized_name(name: str) -> str:
    return re.sub(r"\s+", " ", name.strip()).lower()


def select_voice(voices: List[Voice], voice: Union[int, str], source: str = "the file") -> Voice:
    """Pick a voice by 1-based number or by name.

    Args:
        voices: the voices of a file, in file order.
        voice: 1-based number, or a name compared case-insensitively with
            surrounding spaces stripped (runs of inner spaces count as one, so
            ``"brass 1"`` finds ``"BRASS   1"``); the first voice with that name
            wins.
        source: the file name used in error messages.

    Raises:
        TypeError: ``voice`` is neither an int nor a str.
        ValueError: number out of range, or no voice of that name (the
            message lists close matches).
    """
    if isinstance(voice, bool) or not isinstance(voice, (int, str)):
        raise TypeError(f"voice must be a 1-based voice number or a voice name, got {type(voice).__name__}")
    if isinstance(voice, int):
        if not 1 <= voice <= len(voices):
            raise ValueError(
                f"voice {voice} is out of range: {source} holds {len(voices)} voice(s), numbered 1..{len(voices)}"
            )
        return voices[voice - 1]
    wanted = voice.strip()
    if not wanted:
        raise ValueError("voice name is empty")
    names = [v.display_name.strip() for v in voices]
    for candidates in (
        [i for i, n in enumerate(names) if n.lower() == wanted.lower()],
        [i for i, n in enumerate(names) if _normalized_name(n) == _normalized_name(wanted)],
    ):
        if candidates:
            return voices[candidates[0]]
    close = difflib.get_close_matches(_normalized_name(wanted), [_normalized_name(n) for n in names], n=5, cutoff=0.5)
    shown = [names[[_normalized_name(n) for n in names].index(c)] for c in close]
    hint = f"; close matches: {', '.join(repr(n) for n in shown)}" if shown else ""
    raise ValueError(f"no voice named {wanted!r} in {source}{hint} (use `ddsp-lab syx list` to see all names)")


def render_syx(
    bank_path: PathLike,
    voice: Union[int, str],
    note: int = 60,
    velocity: int = 100,
    gate_s: float = 1.0,
    duration_s: float = 2.0,
    sample_rate: int = 44100,
    out_path: PathLike = "out.wav",
) -> Path:
    """Render one note of one voice of a ``.syx`` file to an audio file.

    Behind ``ddsp-lab render BANK.syx --voice N|NAME --note 60 --velocity 100
    --gate 1.0 --duration 2.0 --sample-rate 44100 -o out.wav``.

    Args:
        bank_path: a DX7 sysex file: 32-voice bank (4104 bytes) or
            single-voice dump (163 bytes), or several dumps back to back.
        voice: 1-based voice number, or voice name (case-insensitive, spaces
            around it ignored); see :func:`select_voice`.
        note: MIDI note 0..127.
        velocity: MIDI velocity 1..127.
        gate_s: seconds until note-off, >= 0.
        duration_s: seconds rendered, > 0.
        sample_rate: Hz, 8000..192000.
        out_path: ``.wav`` (32-bit float) or ``.flac`` (24-bit) file; its
            folder must exist. Written atomically.

    Returns:
        The path written.

    Raises:
        FileNotFoundError: the sysex file or the output folder does not exist.
        ValueError: malformed sysex (``SysexError``), unknown voice, number out
            of range, bad note/velocity/times/sample rate, output extension
            other than .wav/.flac, or (FLAC only) a render beyond ±1.
    """
    voices = _load_voices(bank_path)
    chosen = select_voice(voices, voice, os.fspath(bank_path))
    audio = render_voice(
        chosen, note=note, velocity=velocity, gate_s=gate_s, duration_s=duration_s, sample_rate=sample_rate
    )
    save_audio(out_path, audio, sample_rate)
    return Path(out_path)


def list_syx(bank_path: PathLike) -> List[str]:
    """The voices of a ``.syx`` file, one line each, after a header line.

    Behind ``ddsp-lab syx list BANK.syx``. Each line holds the 1-based voice
    number (what ``render --voice`` takes), the name, the algorithm (1..32)
    and the feedback (0..7)::

          #  name        algorithm  feedback
          1  BRASS   1          22         7

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: malformed sysex (``SysexError``) or a directory.
    """
    voices = _load_voices(bank_path)
    lines = [f"{'#':>3}  {'name':<10}  {'algorithm':>9}  {'feedback':>8}"]
    for number, voice in enumerate(voices, start=1):
        lines.append(f"{number:>3}  {voice.display_name:<10}  {voice.algorithm:>9}  {voice.feedback:>8}")
    return lines
