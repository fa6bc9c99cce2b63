"""DX7 voice data: operators, voices, their byte formats and parameter ranges.

A :class:`Voice` holds one DX7 patch as the integers the instrument stores,
with named fields. Two byte layouts exist:

* **VCED** (155 bytes, "unpacked"): one byte per parameter, used by the
  single-voice sysex dump.
* **Packed** (128 bytes, "VMEM"): bit fields, 32 of them make a cartridge /
  32-voice bank dump.

**Operator order.** ``Voice.operators[0]`` is OP1 and ``Voice.operators[5]`` is
OP6, as numbered on the DX7 panel and in the algorithm diagrams. Both byte
layouts store the OP6 block first (offset 0) and OP1 last; the conversion
functions reorder. ``voice.operator(n)`` returns OPn.

**Algorithm numbering.** ``Voice.algorithm`` is 1..32, as shown on the DX7.
The byte formats store it as 0..31 (algorithm - 1).

**Ranges and clamping.** :data:`PARAMETER_RANGES` lists every parameter's
documented range (the values the DX7 front panel can set) and the largest
value its bank bit field can store. Some factory cartridges hold values
outside the documented range (an EG level of 127, a fine frequency of 100);
the DX7 and Dexed play them as stored. The policy here:

* Reading (:meth:`Voice.from_vced`, :meth:`Voice.from_packed`,
  :meth:`Voice.from_dict`) keeps such values as stored, so a read-then-write
  round trip is byte-exact, and emits one :class:`DX7RangeWarning` per value
  naming the parameter. Pass ``clamp=True`` to clamp them into range instead.
* :meth:`Voice.clamped` returns a copy with every value clamped into its
  documented range (again one warning per changed value). Use it before
  writing voices made by an optimiser or by hand.
* Writing (:meth:`Voice.to_vced`, :meth:`Voice.to_packed`) warns about values
  outside the documented range and writes them unchanged when the bit field
  can hold them. A value the field cannot hold (negative, a coarse of 40, an
  algorithm of 0) is always clamped into the documented range, with a warning.

**Don't-care bits.** The packed format leaves some bits unused and some
cartridges (the factory ROM 3A/3B) carry junk in them. Unpacking masks them
exactly as Dexed's ``Cartridge::unpackProgram`` does: operator byte 11 with
0x0F, 12 with 0x7F, 13 with 0x1F, 15 with 0x3F; voice byte 110 (algorithm)
with 0x1F, 111 (feedback / key sync) with 0x0F; everything else with 0x7F.
Packing writes zeros there. (Dexed also rescales out-of-range pitch-EG bytes
by v/255*99; here they are kept as stored, like every other byte.)
"""

from __future__ import annotations

import copy
import operator as _operator
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .algorithms import Algorithm, get_algorithm

VCED_SIZE = 155
PACKED_SIZE = 128
NAME_LENGTH = 10
NUM_OPERATORS = 6

LFO_WAVEFORMS = ("triangle", "saw down", "saw up", "square", "sine", "sample and hold")
SCALING_CURVES = ("-LIN", "-EXP", "+EXP", "+LIN")


class DX7RangeWarning(UserWarning):
    """A DX7 parameter value lies outside its documented range (or was clamped)."""


@dataclass(frozen=True)
class ParameterRange:
    """Range of one DX7 parameter.

    Attributes:
        low: smallest documented value.
        high: largest documented value (the front-panel maximum).
        storable_high: largest value the packed (bank) bit field can hold;
            values in ``high < v <= storable_high`` can be written unchanged.
        scope: ``"operator"`` (one per operator) or ``"voice"``.
        count: number of entries (4 for envelope lists, else 1).
        description: meaning and units.
    """

    low: int
    high: int
    storable_high: int
    scope: str
    count: int
    description: str


PARAMETER_RANGES: Dict[str, ParameterRange] = {
    # Operator parameters (one set per operator).
    "eg_rates": ParameterRange(0, 99, 127, "operator", 4, "EG rates R1..R4; 99 is fastest"),
    "eg_levels": ParameterRange(0, 99, 127, "operator", 4, "EG levels L1..L4; 99 is loudest, about 0.75 dB per step"),
    "breakpoint": ParameterRange(0, 99, 127, "operator", 1, "level-scaling break point; MIDI note = value + 21 (0 = A-1, 39 = C3 = MIDI 60)"),
    "left_depth": ParameterRange(0, 99, 127, "operator", 1, "level-scaling depth below the break point"),
    "right_depth": ParameterRange(0, 99, 127, "operator", 1, "level-scaling depth above the break point"),
    "left_curve": ParameterRange(0, 3, 3, "operator", 1, "level-scaling curve below the break point: 0 -LIN, 1 -EXP, 2 +EXP, 3 +LIN"),
    "right_curve": ParameterRange(0, 3, 3, "operator", 1, "level-scaling curve above the break point: 0 -LIN, 1 -EXP, 2 +EXP, 3 +LIN"),
    "rate_scaling": ParameterRange(0, 7, 7, "operator", 1, "keyboard rate scaling: higher notes run the EG faster"),
    "amp_mod_sensitivity": ParameterRange(0, 3, 3, "operator", 1, "sensitivity to LFO amplitude modulation"),
    "velocity_sensitivity": ParameterRange(0, 7, 7, "operator", 1, "key-velocity sensitivity of the operator level"),
    "output_level": ParameterRange(0, 99, 127, "operator", 1, "operator output level; 99 is loudest, 0.75 dB per step from 20 up"),
    "fixed_frequency": ParameterRange(0, 1, 1, "operator", 1, "oscillator mode: False = ratio to the note, True = fixed frequency"),
    "coarse": ParameterRange(0, 31, 31, "operator", 1, "ratio mode: multiple 0 (= 0.5), 1..31; fixed mode: decade 10^(coarse mod 4) Hz"),
    "fine": ParameterRange(0, 99, 127, "operator", 1, "ratio mode: multiply by 1 + fine/100; fixed mode: multiply by 10^(fine/100)"),
    "detune": ParameterRange(0, 14, 15, "operator", 1, "detune; 7 = none, steps of about 1-2 cents"),
    # Voice parameters.
    "pitch_eg_rates": ParameterRange(0, 99, 127, "voice", 4, "pitch EG rates R1..R4"),
    "pitch_eg_levels": ParameterRange(0, 99, 127, "voice", 4, "pitch EG levels L1..L4; 50 = no pitch change"),
    "algorithm": ParameterRange(1, 32, 32, "voice", 1, "algorithm number as on the DX7 (stored as 0..31)"),
    "feedback": ParameterRange(0, 7, 7, "voice", 1, "feedback amount of the algorithm's feedback operator; 0 = none"),
    "osc_key_sync": ParameterRange(0, 1, 1, "voice", 1, "reset oscillator phases at note-on"),
    "lfo_speed": ParameterRange(0, 99, 127, "voice", 1, "LFO speed; about 0.06 Hz (0) to 50 Hz (99)"),
    "lfo_delay": ParameterRange(0, 99, 127, "voice", 1, "LFO delay after note-on; 0 = none"),
    "lfo_pitch_mod_depth": ParameterRange(0, 99, 127, "voice", 1, "LFO pitch-modulation depth"),
    "lfo_amp_mod_depth": ParameterRange(0, 99, 127, "voice", 1, "LFO amplitude-modulation depth"),
    "lfo_key_sync": ParameterRange(0, 1, 1, "voice", 1, "restart the LFO at note-on"),
    "lfo_waveform": ParameterRange(0, 5, 7, "voice", 1, "0 triangle, 1 saw down, 2 saw up, 3 square, 4 sine, 5 sample and hold"),
    "pitch_mod_sensitivity": ParameterRange(0, 7, 7, "voice", 1, "sensitivity to LFO pitch modulation"),
    "transpose": ParameterRange(0, 48, 127, "voice", 1, "key transpose in semitones + 24; 24 = none (12 = C2 on the panel)"),
}

_BOOL_PARAMETERS = frozenset({"fixed_frequency", "osc_key_sync", "lfo_key_sync"})
# The byte formats store algorithm - 1.
_STORED_OFFSET = {"algorithm": 1}

# VCED byte order inside one 21-byte operator block: (field, list index).
_OPERATOR_LAYOUT: Tuple[Tuple[str, Optional[int]], ...] = (
    ("eg_rates", 0), ("eg_rates", 1), ("eg_rates", 2), ("eg_rates", 3),
    ("eg_levels", 0), ("eg_levels", 1), ("eg_levels", 2), ("eg_levels", 3),
    ("breakpoint", None), ("left_depth", None), ("right_depth", None),
    ("left_curve", None), ("right_curve", None), ("rate_scaling", None),
    ("amp_mod_sensitivity", None), ("velocity_sensitivity", None),
    ("output_level", None), ("fixed_frequency", None), ("coarse", None),
    ("fine", None), ("detune", None),
)
_OPERATOR_BLOCK = len(_OPERATOR_LAYOUT)
# VCED bytes 126..144.
_VOICE_LAYOUT: Tuple[Tuple[str, Optional[int]], ...] = (
    ("pitch_eg_rates", 0), ("pitch_eg_rates", 1), ("pitch_eg_rates", 2), ("pitch_eg_rates", 3),
    ("pitch_eg_levels", 0), ("pitch_eg_levels", 1), ("pitch_eg_levels", 2), ("pitch_eg_levels", 3),
    ("algorithm", None), ("feedback", None), ("osc_key_sync", None),
    ("lfo_speed", None), ("lfo_delay", None), ("lfo_pitch_mod_depth", None),
    ("lfo_amp_mod_depth", None), ("lfo_key_sync", None), ("lfo_waveform", None),
    ("pitch_mod_sensitivity", None), ("transpose", None),
)
_VOICE_OFFSET = NUM_OPERATORS * _OPERATOR_BLOCK  # 126
_NAME_OFFSET = _VOICE_OFFSET + len(_VOICE_LAYOUT)  # 145


@dataclass(frozen=True)
class _Slot:
    """One VCED byte position: which operator (1..6, or None) and field."""

    position: int
    op: Optional[int]
    name: str
    index: Optional[int]

    @property
    def label(self) -> str:
        text = self.name if self.index is None else f"{self.name}[{self.index}]"
        return text if self.op is None else f"OP{self.op} {text}"


def _build_slots() -> Tuple[_Slot, ...]:
    slots = []
    for block in range(NUM_OPERATORS):
        op = NUM_OPERATORS - block  # OP6 block first
        for offset, (name, index) in enumerate(_OPERATOR_LAYOUT):
            slots.append(_Slot(block * _OPERATOR_BLOCK + offset, op, name, index))
    for offset, (name, index) in enumerate(_VOICE_LAYOUT):
        slots.append(_Slot(_VOICE_OFFSET + offset, None, name, index))
    return tuple(slots)


_SLOTS = _build_slots()

# Dexed's initialised voice ("INIT VOICE"): a plain sine on OP1.
_INIT_NAME = "INIT VOICE"


@dataclass
class Operator:
    """One DX7 operator (oscillator + envelope + scaling), as stored in a patch.

    All fields are integers in the DX7's own units; see
    :data:`PARAMETER_RANGES` for ranges and meaning. The defaults are those of
    an operator of the initialised voice (silent: output level 0, ratio 1).

    Attributes:
        eg_rates: EG rates R1..R4, 0..99.
        eg_levels: EG levels L1..L4, 0..99.
        breakpoint: level-scaling break point, 0..99 (MIDI note = value + 21).
        left_depth, right_depth: level-scaling depths, 0..99.
        left_curve, right_curve: 0 -LIN, 1 -EXP, 2 +EXP, 3 +LIN.
        rate_scaling: 0..7.
        amp_mod_sensitivity: 0..3.
        velocity_sensitivity: 0..7.
        output_level: 0..99.
        fixed_frequency: oscillator mode; False = ratio, True = fixed (Hz).
        coarse: 0..31 (ratio 0 means 0.5).
        fine: 0..99.
        detune: 0..14, 7 = centre.
    """

    eg_rates: List[int] = field(default_factory=lambda: [99, 99, 99, 99])
    eg_levels: List[int] = field(default_factory=lambda: [99, 99, 99, 0])
    breakpoint: int = 0
    left_depth: int = 0
    right_depth: int = 0
    left_curve: int = 0
    right_curve: int = 0
    rate_scaling: int = 0
    amp_mod_sensitivity: int = 0
    velocity_sensitivity: int = 0
    output_level: int = 0
    fixed_frequency: bool = False
    coarse: int = 1
    fine: int = 0
    detune: int = 7

    @property
    def frequency_ratio(self) -> float:
        """Ratio-mode frequency as a multiple of the note frequency (no detune).

        ``(coarse or 0.5) * (1 + fine / 100)``; only used when
        ``fixed_frequency`` is False.
        """
        return (0.5 if self.coarse == 0 else float(self.coarse)) * (1.0 + self.fine / 100.0)

    @property
    def fixed_frequency_hz(self) -> float:
        """Fixed-mode frequency in Hz: ``10 ** ((coarse mod 4) + fine / 100)``.

        Ranges over 1..9.77 Hz, 10..97.7, 100..977 and 1000..9772 Hz; only used
        when ``fixed_frequency`` is True.
        """
        return 10.0 ** ((self.coarse % 4) + self.fine / 100.0)

    def frequency_hz(self, note_hz: float) -> float:
        """Oscillator frequency in Hz for a note of ``note_hz`` Hz, ignoring detune."""
        return self.fixed_frequency_hz if self.fixed_frequency else note_hz * self.frequency_ratio

    @property
    def detune_steps(self) -> int:
        """Detune relative to centre, -7..+7."""
        return self.detune - 7

    @property
    def breakpoint_note(self) -> int:
        """Level-scaling break point as a MIDI note number (39 -> 60, middle C)."""
        return self.breakpoint + 21


def _init_operators() -> List[Operator]:
    return [Operator(output_level=99)] + [Operator() for _ in range(NUM_OPERATORS - 1)]


@dataclass
class Voice:
    """One DX7 voice (patch).

    The defaults reproduce the DX7 / Dexed initialised voice: algorithm 1, a
    plain sine on OP1 at full output level, everything else silent.

    Attributes:
        operators: six :class:`Operator`, **OP1 first**: ``operators[0]`` is
            OP1, ``operators[5]`` is OP6 (the sysex data stores OP6 first).
        pitch_eg_rates: pitch EG rates R1..R4, 0..99.
        pitch_eg_levels: pitch EG levels L1..L4, 0..99, 50 = no shift.
        algorithm: algorithm number **1..32** as on the DX7 (stored as 0..31).
        feedback: 0..7.
        osc_key_sync: reset oscillator phases at note-on.
        lfo_speed, lfo_delay, lfo_pitch_mod_depth, lfo_amp_mod_depth: 0..99.
        lfo_key_sync: restart the LFO at note-on.
        lfo_waveform: 0..5, see :data:`LFO_WAVEFORMS`.
        pitch_mod_sensitivity: 0..7.
        transpose: 0..48 semitones, 24 = no transpose.
        name: 10 ASCII characters as stored, space padded (shorter names
            are padded when assigned; see :attr:`display_name`).
    """

    operators: List[Operator] = field(default_factory=_init_operators)
    pitch_eg_rates: List[int] = field(default_factory=lambda: [99, 99, 99, 99])
    pitch_eg_levels: List[int] = field(default_factory=lambda: [50, 50, 50, 50])
    algorithm: int = 1
    feedback: int = 0
    osc_key_sync: bool = True
    lfo_speed: int = 35
    lfo_delay: int = 0
    lfo_pitch_mod_depth: int = 0
    lfo_amp_mod_depth: int = 0
    lfo_key_sync: bool = True
    lfo_waveform: int = 0
    pitch_mod_sensitivity: int = 3
    transpose: int = 24
    name: str = _INIT_NAME

    def __setattr__(self, key: str, value) -> None:
        # Stored names are always 10 characters; padding shorter names on
        # assignment keeps a voice equal to itself after a write/read round trip.
        if key == "name" and isinstance(value, str) and len(value) < NAME_LENGTH:
            value = value.ljust(NAME_LENGTH)
        object.__setattr__(self, key, value)

    # ------------------------------------------------------------------ helpers
    def operator(self, number: int) -> Operator:
        """Operator OP``number`` (1..6); ``voice.operator(1)`` is ``operators[0]``."""
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"number must be an operator number 1..6, got {type(number).__name__}")
        if not 1 <= number <= NUM_OPERATORS:
            raise ValueError(f"number must be an operator number 1..6, got {number}")
        return self.operators[number - 1]

    @property
    def display_name(self) -> str:
        """The name without trailing padding."""
        return self.name.rstrip(" \x00")

    @property
    def routing(self) -> Algorithm:
        """Routing table of this voice's algorithm (see :mod:`ddsp_lab.dx7.algorithms`)."""
        return get_algorithm(self.algorithm)

    @property
    def transpose_semitones(self) -> int:
        """Transpose relative to no transpose, -24..+24 semitones."""
        return self.transpose - 24

    def copy(self) -> "Voice":
        """An independent deep copy (editing it leaves this voice untouched)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------ validation
    def range_violations(self) -> List[Tuple[str, int, ParameterRange]]:
        """Parameters outside their documented range.

        Returns:
            ``(label, value, range)`` for each offending value, labels such as
            ``"OP5 eg_levels[3]"`` or ``"transpose"``. Empty when valid.

        Raises:
            TypeError / ValueError: a field has the wrong type or list length.
        """
        values = _collect(self)
        out = []
        for slot in _SLOTS:
            rng = PARAMETER_RANGES[slot.name]
            value = values[slot.position]
            if not rng.low <= value <= rng.high:
                out.append((slot.label, value, rng))
        return out

    def clamped(self) -> "Voice":
        """A copy with every parameter clamped into its documented range.

        Emits one :class:`DX7RangeWarning` per changed value, naming it. A
        name longer than 10 characters is truncated and non-ASCII characters
        replaced by spaces, also with a warning.
        """
        values = _collect(self)
        context = _context("", self.name)
        for slot in _SLOTS:
            values[slot.position] = _resolve(values[slot.position], slot, True, "clamp", context)
        return _from_values(values, _normalize_name(self.name, context))

    # ------------------------------------------------------------ VCED bytes
    @classmethod
    def from_vced(cls, data, *, clamp: bool = False, source: str = "") -> "Voice":
        """Decode 155 unpacked (VCED) bytes, the payload of a single-voice dump.

        Args:
            data: 155 bytes (``bytes``, ``bytearray``, ``memoryview`` or a
                sequence of ints 0..255). Bit 7 of each byte is a MIDI
                don't-care bit and is ignored.
            clamp: clamp values outside their documented range (else they
                are kept, with a warning; see the module docstring).
            source: where the data came from, prefixed to warning messages
                (e.g. ``"bank.syx voice 3"``).

        Raises:
            TypeError: ``data`` is not bytes-like or a sequence of ints.
            ValueError: ``data`` does not hold exactly 155 bytes.
        """
        raw = _as_byte_list(data, VCED_SIZE, "data", "VCED voice")
        raw = [b & 0x7F for b in raw]
        name = "".join(chr(b) for b in raw[_NAME_OFFSET:_NAME_OFFSET + NAME_LENGTH])
        context = _context(source, name)
        values = list(raw[:_NAME_OFFSET])
        for slot in _SLOTS:
            values[slot.position] += _STORED_OFFSET.get(slot.name, 0)
            values[slot.position] = _resolve(values[slot.position], slot, clamp, "read", context)
        return _from_values(values, name)

    def to_vced(self) -> bytes:
        """Encode as 155 unpacked (VCED) bytes, OP6 block first.

        Values outside their documented range are written unchanged when a
        bank could store them, otherwise clamped; both with a
        :class:`DX7RangeWarning`. Use :meth:`clamped` first for strictly valid
        data.

        Raises:
            TypeError / ValueError: a field has the wrong type or list length.
        """
        values = self._storable_values()
        name = _encode_name(self.name, _context("", self.name))
        return bytes(values[:_NAME_OFFSET]) + name

    # ---------------------------------------------------------- packed bytes
    @classmethod
    def from_packed(cls, data, *, clamp: bool = False, source: str = "") -> "Voice":
        """Decode one 128-byte packed voice (one slot of a 32-voice bank).

        Don't-care bits are masked as Dexed does (see the module docstring).

        Args:
            data: 128 bytes (bytes-like or a sequence of ints 0..255).
            clamp: clamp values outside their documented range (else they
                are kept, with a warning).
            source: prefix for warning messages.

        Raises:
            TypeError: ``data`` is not bytes-like or a sequence of ints.
            ValueError: ``data`` does not hold exactly 128 bytes.
        """
        packed = [b & 0x7F for b in _as_byte_list(data, PACKED_SIZE, "data", "packed voice")]
        return cls.from_vced(_unpack(packed), clamp=clamp, source=source)

    def to_packed(self) -> bytes:
        """Encode as one 128-byte packed voice (bank format), don't-care bits 0.

        Range handling as in :meth:`to_vced`.
        """
        return bytes(_pack(self.to_vced()))

    # ---------------------------------------------------------- dictionaries
    def to_dict(self) -> Dict[str, Any]:
        """Readable, JSON-serialisable dictionary with named fields.

        Operators are listed OP1 first, each with an ``"op"`` key (1..6);
        ``algorithm`` is 1..32. :meth:`from_dict` reverses it.
        """
        out: Dict[str, Any] = {"name": self.name}
        for f in fields(self):
            if f.name in ("operators", "name"):
                continue
            out[f.name] = _plain(getattr(self, f.name))
        ops = []
        for number, op in enumerate(self.operators, start=1):
            entry: Dict[str, Any] = {"op": number}
            for f in fields(op):
                entry[f.name] = _plain(getattr(op, f.name))
            ops.append(entry)
        out["operators"] = ops
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any], *, clamp: bool = False, source: str = "") -> "Voice":
        """Build a voice from a dictionary in the :meth:`to_dict` layout.

        Every key must be present (``"op"`` in operator entries is optional
        but, when given, must number the operators 1..6 in order); unknown
        keys are rejected so that typos do not pass silently. Ranges are
        handled as when reading bytes: out-of-range values warn and are kept
        (or clamped with ``clamp=True``); values no bank can store are
        clamped.

        Raises:
            TypeError: ``data`` or a field has the wrong type.
            ValueError: missing or unknown keys, wrong list lengths.
        """
        if not isinstance(data, dict):
            raise TypeError(f"data must be a dict, got {type(data).__name__}")
        voice_keys = [f.name for f in fields(cls)]
        _check_keys(data, voice_keys, (), "voice dict")
        ops_data = data["operators"]
        if not isinstance(ops_data, (list, tuple)) or len(ops_data) != NUM_OPERATORS:
            raise ValueError(f"voice dict 'operators' must be a list of 6 operator dicts (OP1 first), got {ops_data!r:.80}")
        op_keys = [f.name for f in fields(Operator)]
        operators = []
        for position, entry in enumerate(ops_data):
            where = f"voice dict operators[{position}]"
            if not isinstance(entry, dict):
                raise TypeError(f"{where} must be a dict, got {type(entry).__name__}")
            _check_keys(entry, op_keys, ("op",), where)
            if "op" in entry and entry["op"] != position + 1:
                raise ValueError(
                    f"{where} has op = {entry['op']!r}, expected {position + 1} (operators are listed OP1 first)"
                )
            operators.append(Operator(**{k: _copy_list(entry[k]) for k in op_keys}))
        voice = cls(operators=operators, **{k: _copy_list(data[k]) for k in voice_keys if k != "operators"})
        if not isinstance(voice.name, str):
            raise TypeError(f"voice dict 'name' must be a str, got {type(voice.name).__name__}")
        values = _collect(voice)
        context = _context(source, voice.name)
        for slot in _SLOTS:
            values[slot.position] = _resolve(values[slot.position], slot, clamp, "read", context)
        return _from_values(values, _normalize_name(voice.name, context))

    # ------------------------------------------------------------- internals
    def _storable_values(self) -> List[int]:
        """VCED values 0..144 (stored form, algorithm 0-based), range-handled for writing."""
        values = _collect(self)
        context = _context("", self.name)
        for slot in _SLOTS:
            value = _resolve(values[slot.position], slot, False, "write", context)
            values[slot.position] = value - _STORED_OFFSET.get(slot.name, 0)
        return values


# ---------------------------------------------------------------- internals


def _plain(value):
    return list(value) if isinstance(value, list) else value


def _copy_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _check_keys(data: Dict[str, Any], required: Sequence[str], optional: Sequence[str], where: str) -> None:
    missing = [k for k in required if k not in data]
    unknown = [k for k in data if k not in required and k not in optional]
    if missing:
        raise ValueError(f"{where} is missing keys {missing}")
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; expected {list(required)}")


def _context(source: str, name) -> str:
    label = f"voice {str(name).rstrip()!r}"
    return f"{source} ({label})" if source else label


def _as_byte_list(data, size: int, argname: str, what: str) -> List[int]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = list(bytes(data))
    elif isinstance(data, (list, tuple)):
        raw = []
        for i, b in enumerate(data):
            if isinstance(b, bool):
                raise TypeError(f"{argname}[{i}] must be an int byte, got bool")
            try:
                b = _operator.index(b)
            except TypeError:
                raise TypeError(f"{argname}[{i}] must be an int byte, got {type(b).__name__}") from None
            if not 0 <= b <= 255:
                raise ValueError(f"{argname}[{i}] = {b} is not a byte (0..255)")
            raw.append(b)
    else:
        raise TypeError(f"{argname} must be bytes or a sequence of ints, got {type(data).__name__}")
    if len(raw) != size:
        raise ValueError(f"{argname} must hold {size} bytes for a {what}, got {len(raw)}")
    return raw


def _checked_int(value, label: str, boolean: bool) -> int:
    if isinstance(value, bool):
        return int(value)
    try:
        return _operator.index(value)
    except TypeError:
        kind = "a bool or 0/1" if boolean else "an int"
        raise TypeError(f"{label} must be {kind}, got {type(value).__name__} {value!r}") from None


def _collect(voice: Voice) -> List[int]:
    """Voice fields as a 145-entry list in VCED order (algorithm still 1-based)."""
    if not isinstance(voice.operators, (list, tuple)) or len(voice.operators) != NUM_OPERATORS:
        raise ValueError(f"operators must be a list of 6 Operator (OP1 first), got {voice.operators!r:.80}")
    for i, op in enumerate(voice.operators):
        if not isinstance(op, Operator):
            raise TypeError(f"operators[{i}] (OP{i + 1}) must be an Operator, got {type(op).__name__}")
    values = [0] * _NAME_OFFSET
    for slot in _SLOTS:
        owner = voice if slot.op is None else voice.operators[slot.op - 1]
        value = getattr(owner, slot.name)
        if slot.index is not None:
            rng = PARAMETER_RANGES[slot.name]
            if not isinstance(value, (list, tuple)) or len(value) != rng.count:
                where = slot.name if slot.op is None else f"OP{slot.op} {slot.name}"
                raise ValueError(f"{where} must be a list of {rng.count} ints, got {value!r:.80}")
            value = value[slot.index]
        values[slot.position] = _checked_int(value, slot.label, slot.name in _BOOL_PARAMETERS)
    return values


def _resolve(value: int, slot: _Slot, clamp: bool, mode: str, context: str) -> int:
    """Apply the range policy to one value; warn when it is out of range."""
    rng = PARAMETER_RANGES[slot.name]
    if rng.low <= value <= rng.high:
        return value
    bounded = min(max(value, rng.low), rng.high)
    storable = rng.low <= value <= rng.storable_high
    where = f"{context}: {slot.label} = {value} is outside {rng.low}..{rng.high}"
    if clamp or not storable:
        reason = "" if clamp else " (a DX7 bank cannot store it)"
        warnings.warn(f"{where}; clamped to {bounded}{reason}", DX7RangeWarning, stacklevel=4)
        return bounded
    action = "written as is" if mode == "write" else "kept as stored (Voice.clamped() clamps it)"
    warnings.warn(f"{where}; {action}", DX7RangeWarning, stacklevel=4)
    return value


def _from_values(values: Sequence[int], name: str) -> Voice:
    """Build a Voice from 145 user-unit values in VCED order and a name."""
    voice = Voice(name=name)
    voice.operators = [Operator() for _ in range(NUM_OPERATORS)]
    for slot in _SLOTS:
        owner = voice if slot.op is None else voice.operators[slot.op - 1]
        value = values[slot.position]
        if slot.name in _BOOL_PARAMETERS:
            value = bool(value)
        if slot.index is None:
            setattr(owner, slot.name, value)
        else:
            getattr(owner, slot.name)[slot.index] = value
    return voice


def _normalize_name(name, context: str) -> str:
    return _encode_name(name, context).decode("ascii")


def _encode_name(name, context: str) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if len(name) > NAME_LENGTH:
        warnings.warn(
            f"{context}: name {name!r} is longer than {NAME_LENGTH} characters; truncated",
            DX7RangeWarning,
            stacklevel=4,
        )
        name = name[:NAME_LENGTH]
    if any(ord(c) > 127 for c in name):
        warnings.warn(
            f"{context}: name {name!r} has non-ASCII characters; replaced by spaces",
            DX7RangeWarning,
            stacklevel=4,
        )
        name = "".join(c if ord(c) <= 127 else " " for c in name)
    return name.ljust(NAME_LENGTH).encode("ascii")


def _unpack(packed: Sequence[int]) -> List[int]:
    """128 packed bytes -> 155 VCED bytes (Dexed's Cartridge::unpackProgram)."""
    out = [0] * VCED_SIZE
    for block in range(NUM_OPERATORS):
        p, u = block * 17, block * _OPERATOR_BLOCK
        out[u:u + 11] = packed[p:p + 11]
        curves = packed[p + 11] & 0x0F
        out[u + 11] = curves & 3
        out[u + 12] = (curves >> 2) & 3
        detune_rs = packed[p + 12] & 0x7F
        out[u + 13] = detune_rs & 7
        kvs_ams = packed[p + 13] & 0x1F
        out[u + 14] = kvs_ams & 3
        out[u + 15] = (kvs_ams >> 2) & 7
        out[u + 16] = packed[p + 14] & 0x7F
        coarse_mode = packed[p + 15] & 0x3F
        out[u + 17] = coarse_mode & 1
        out[u + 18] = (coarse_mode >> 1) & 0x1F
        out[u + 19] = packed[p + 16] & 0x7F
        out[u + 20] = detune_rs >> 3
    out[126:134] = packed[102:110]
    out[134] = packed[110] & 0x1F
    oks_fb = packed[111] & 0x0F
    out[135] = oks_fb & 7
    out[136] = oks_fb >> 3
    out[137:141] = packed[112:116]
    lfo = packed[116] & 0x7F
    out[141] = lfo & 1
    out[142] = (lfo >> 1) & 7
    out[143] = lfo >> 4
    out[144] = packed[117]
    out[145:155] = packed[118:128]
    return out


def _pack(vced: Sequence[int]) -> List[int]:
    """155 VCED bytes (within their bit widths) -> 128 packed bytes (Dexed's packProgram)."""
    out = [0] * PACKED_SIZE
    for block in range(NUM_OPERATORS):
        p, u = block * 17, block * _OPERATOR_BLOCK
        out[p:p + 11] = vced[u:u + 11]
        out[p + 11] = vced[u + 11] | (vced[u + 12] << 2)
        out[p + 12] = vced[u + 13] | (vced[u + 20] << 3)
        out[p + 13] = vced[u + 14] | (vced[u + 15] << 2)
        out[p + 14] = vced[u + 16]
        out[p + 15] = vced[u + 17] | (vced[u + 18] << 1)
        out[p + 16] = vced[u + 19]
    out[102:110] = vced[126:134]
    out[110] = vced[134]
    out[111] = vced[135] | (vced[136] << 3)
    out[112:116] = vced[137:141]
    out[116] = vced[141] | (vced[142] << 1) | (vced[143] << 4)
    out[117] = vced[144]
    out[118:128] = vced[145:155]
    return out

