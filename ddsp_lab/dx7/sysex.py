"""Reading and writing DX7 voice sysex files (``.syx``).

Two Yamaha DX7 bulk dumps are understood:

* **single voice**, 163 bytes: ``F0 43 0n 00 01 1B`` + 155 VCED bytes +
  checksum + ``F7``;
* **32-voice bank** (cartridge), 4104 bytes: ``F0 43 0n 09 20 00`` + 32 x 128
  packed bytes + checksum + ``F7``;

where ``n`` is the MIDI channel - 1. A file may hold several such messages
back to back; :func:`read_syx` returns their voices in file order. The
checksum is ``(-sum(data bytes)) & 0x7F`` over the data bytes only.

A malformed file raises :class:`SysexError` (a ``ValueError``) naming the
file and the problem. A checksum mismatch is an error by default
(``strict=True``); with ``strict=False`` it is reported with a
:class:`SysexChecksumWarning` and the data is used anyway, which recovers
banks whose checksum was damaged by hand editing.

Writing produces the dumps Dexed and the DX7 accept (channel byte 0 unless
another MIDI channel is given) and replaces the target file atomically
(written to a temporary file in the same folder, then renamed).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import List, Sequence, Tuple, Union

from ..io import write_bytes_atomic
from .voice import PACKED_SIZE, VCED_SIZE, Voice

YAMAHA_ID = 0x43
SINGLE_VOICE_FORMAT = 0x00
BANK_FORMAT = 0x09
BANK_VOICES = 32
HEADER_SIZE = 6
SINGLE_VOICE_DUMP_SIZE = HEADER_SIZE + VCED_SIZE + 2  # 163
BANK_DUMP_SIZE = HEADER_SIZE + BANK_VOICES * PACKED_SIZE + 2  # 4104

_FORMATS = {
    SINGLE_VOICE_FORMAT: ("single-voice dump", VCED_SIZE, SINGLE_VOICE_DUMP_SIZE),
    BANK_FORMAT: ("32-voice bank dump", BANK_VOICES * PACKED_SIZE, BANK_DUMP_SIZE),
}
_STATUS_BYTE = re.compile(rb"[\x80-\xff]")

PathLike = Union[str, os.PathLike]


class SysexError(ValueError):
    """A sysex file or message is malformed (the message names file and problem)."""


class SysexChecksumWarning(UserWarning):
    """A dump's checksum does not match its data (only with ``strict=False``)."""


def checksum(data: Union[bytes, bytearray, Sequence[int]]) -> int:
    """DX7 sysex checksum of the data bytes: ``(-sum(data)) & 0x7F``."""
    return (-sum(data)) & 0x7F


# --------------------------------------------------------------------- reading


def read_syx(source: Union[PathLike, bytes, bytearray, memoryview], *, strict: bool = True, clamp: bool = False) -> List[Voice]:
    """Read every DX7 voice from a ``.syx`` file or from its bytes.

    Args:
        source: a path (``str`` or ``os.PathLike``), or the file contents as
            ``bytes``/``bytearray``/``memoryview``.
        strict: raise :class:`SysexError` on a checksum mismatch (default);
            with False, warn with :class:`SysexChecksumWarning` and keep the
            data. Structural errors always raise.
        clamp: clamp parameters outside their documented range into it
            (default: keep them as stored; either way a
            :class:`~ddsp_lab.dx7.voice.DX7RangeWarning` names each one).

    Returns:
        The voices in file order: 32 per bank dump, 1 per single-voice dump.
        Junk in don't-care bits is masked as Dexed does.

    Raises:
        SysexError: empty file, not a sysex file, truncated message, missing
            F0/F7, wrong length, wrong manufacturer id, unknown format, byte
            count that does not match the format, checksum mismatch
            (``strict=True``).
        TypeError: ``source`` is neither a path nor bytes.
        FileNotFoundError / OSError: the file cannot be read.
    """
    data, name = _load(source)
    if not data:
        raise SysexError(f"{name}: file is empty (0 bytes); expected a DX7 sysex dump")
    messages = _split_messages(data, name)
    voices: List[Voice] = []
    for offset, message in messages:
        where = name if len(messages) == 1 else f"{name} message at offset {offset}"
        voices.extend(_parse_message(message, where, strict, clamp))
    return voices


def _load(source) -> Tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return path.read_bytes(), str(path)
    raise TypeError(f"source must be a path or bytes, got {type(source).__name__}")


def _looks_like_text(data: bytes) -> bool:
    head = data[:256]
    return all(32 <= b < 127 or b in (9, 10, 13) for b in head)


def _split_messages(data: bytes, name: str) -> List[Tuple[int, bytes]]:
    """Split a file into ``(offset, message)`` pairs, each ``F0 .. F7``."""
    messages: List[Tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if data[pos] != 0xF0:
            if pos == 0:
                kind = "looks like a text file" if _looks_like_text(data) else f"starts with byte 0x{data[0]:02X}"
                raise SysexError(
                    f"{name}: not a sysex file: it {kind}, but a DX7 dump starts with F0"
                )
            raise SysexError(
                f"{name}: unexpected byte 0x{data[pos]:02X} at offset {pos} after "
                f"{len(messages)} complete sysex message(s); expected F0 (start of a message) or end of file"
            )
        match = _STATUS_BYTE.search(data, pos + 1)
        if match is None:
            raise SysexError(
                f"{name}: truncated: the message starting at offset {pos} has {len(data) - pos} bytes "
                f"and no closing F7{_expected_size_hint(data[pos:])}"
            )
        end = match.start()
        if data[end] != 0xF7:
            raise SysexError(
                f"{name}: the message starting at offset {pos} is missing its closing F7: byte 0x{data[end]:02X} "
                f"at offset {end}{_expected_size_hint(data[pos:])}"
            )
        messages.append((pos, data[pos:end + 1]))
        pos = end + 1
    return messages


def _expected_size_hint(message: bytes) -> str:
    if len(message) >= 4 and message[1] == YAMAHA_ID and message[3] in _FORMATS:
        kind, _, size = _FORMATS[message[3]]
        return f" (a DX7 {kind} has {size} bytes)"
    return ""


def _parse_message(message: bytes, where: str, strict: bool, clamp: bool) -> List[Voice]:
    too_short = SysexError(
        f"{where}: sysex message of {len(message)} bytes is too short to be a DX7 voice dump "
        f"({SINGLE_VOICE_DUMP_SIZE} or {BANK_DUMP_SIZE} bytes)"
    )
    if len(message) < 5:
        raise too_short
    if message[1] != YAMAHA_ID:
        raise SysexError(f"{where}: manufacturer id 0x{message[1]:02X} is not Yamaha (0x43)")
    sub_status = message[2] >> 4
    if sub_status != 0:
        raise SysexError(
            f"{where}: sub-status {sub_status} (byte 2 = 0x{message[2]:02X}) is not a bulk dump (0); "
            "parameter-change messages (1) carry no voice"
        )
    fmt = message[3]
    if fmt not in _FORMATS:
        raise SysexError(
            f"{where}: unknown format byte 0x{fmt:02X}; DX7 voice dumps use 0x00 (single voice) "
            "or 0x09 (32-voice bank)"
        )
    kind, data_size, dump_size = _FORMATS[fmt]
    if len(message) < HEADER_SIZE + 2:
        raise too_short
    byte_count = (message[4] << 7) | message[5]
    if byte_count != data_size:
        raise SysexError(
            f"{where}: header byte count {byte_count} does not match a {kind} ({data_size} data bytes)"
        )
    if len(message) != dump_size:
        raise SysexError(f"{where}: wrong length: {len(message)} bytes, a DX7 {kind} has {dump_size}")
    data = message[HEADER_SIZE:HEADER_SIZE + data_size]
    stored, computed = message[-2], checksum(data)
    if stored != computed:
        text = f"{where}: checksum mismatch: stored 0x{stored:02X}, data sums to 0x{computed:02X}"
        if strict:
            raise SysexError(text + " (pass strict=False to read the data anyway)")
        warnings.warn(text + "; data used anyway", SysexChecksumWarning, stacklevel=3)
    if fmt == SINGLE_VOICE_FORMAT:
        return [Voice.from_vced(data, clamp=clamp, source=where)]
    return [
        Voice.from_packed(data[i * PACKED_SIZE:(i + 1) * PACKED_SIZE], clamp=clamp, source=f"{where} voice index {i}")
        for i in range(BANK_VOICES)
    ]


# --------------------------------------------------------------------- writing


def _check_midi_channel(midi_channel) -> int:
    if isinstance(midi_channel, bool) or not isinstance(midi_channel, int):
        raise TypeError(f"midi_channel must be an int 1..16, got {type(midi_channel).__name__}")
    if not 1 <= midi_channel <= 16:
        raise ValueError(f"midi_channel must be 1..16, got {midi_channel}")
    return midi_channel - 1


def _check_voice(voice, name: str) -> Voice:
    if not isinstance(voice, Voice):
        raise TypeError(f"{name} must be a Voice, got {type(voice).__name__}")
    return voice


def voice_bytes(voice: Voice, *, midi_channel: int = 1, clamp: bool = False) -> bytes:
    """A 163-byte single-voice dump of ``voice``.

    Args:
        voice: the voice to encode.
        midi_channel: MIDI channel 1..16 written into the header (1 gives
            channel byte 0, as Dexed writes).
        clamp: clamp out-of-range parameters first (see :meth:`Voice.clamped`);
            otherwise values a bank can hold are written as they are, with a
            warning.
    """
    channel = _check_midi_channel(midi_channel)
    voice = _check_voice(voice, "voice")
    if clamp:
        voice = voice.clamped()
    data = voice.to_vced()
    header = bytes([0xF0, YAMAHA_ID, channel, SINGLE_VOICE_FORMAT, VCED_SIZE >> 7, VCED_SIZE & 0x7F])
    return header + data + bytes([checksum(data), 0xF7])


def bank_bytes(voices: Sequence[Voice], *, midi_channel: int = 1, clamp: bool = False) -> bytes:
    """A 4104-byte 32-voice bank dump.

    Args:
        voices: up to 32 voices; fewer are padded with initialised voices
            (``Voice()``) to fill the bank.
        midi_channel: MIDI channel 1..16 written into the header.
        clamp: clamp out-of-range parameters first (see :func:`voice_bytes`).

    Raises:
        ValueError: more than 32 voices.
        TypeError: an entry is not a :class:`Voice`.
    """
    channel = _check_midi_channel(midi_channel)
    voices = list(voices)
    if len(voices) > BANK_VOICES:
        raise ValueError(f"voices holds {len(voices)} voices; a DX7 bank holds at most {BANK_VOICES}")
    for i, voice in enumerate(voices):
        _check_voice(voice, f"voices[{i}]")
    voices += [Voice() for _ in range(BANK_VOICES - len(voices))]
    data = b"".join((v.clamped() if clamp else v).to_packed() for v in voices)
    size = BANK_VOICES * PACKED_SIZE
    header = bytes([0xF0, YAMAHA_ID, channel, BANK_FORMAT, size >> 7, size & 0x7F])
    return header + data + bytes([checksum(data), 0xF7])


def _write_atomic(path: PathLike, payload: bytes) -> Path:
    return Path(write_bytes_atomic(path, payload))


def write_voice(path: PathLike, voice: Voice, *, midi_channel: int = 1, clamp: bool = False) -> Path:
    """Write ``voice`` as a 163-byte single-voice ``.syx`` file, atomically.

    Arguments as in :func:`voice_bytes`. Returns the path written.
    """
    return _write_atomic(path, voice_bytes(voice, midi_channel=midi_channel, clamp=clamp))


def write_bank(path: PathLike, voices: Sequence[Voice], *, midi_channel: int = 1, clamp: bool = False) -> Path:
    """Write up to 32 voices as a 4104-byte bank ``.syx`` file, atomically.

    Arguments as in :func:`bank_bytes` (fewer than 32 voices are padded with
    initialised voices). Returns the path written.
    """
    return _write_atomic(path, bank_bytes(voices, midi_channel=midi_channel, clamp=clamp))
