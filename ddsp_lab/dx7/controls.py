"""Control stage of the DX7 voice engine: everything that changes once per 64-sample block.

:func:`voice_controls` turns a :class:`~ddsp_lab.dx7.voice.Voice`, a note and
a velocity into :class:`VoiceControls`: per block and per operator the
envelope level, the linear gain it becomes after amplitude modulation, and
the phase increment after pitch EG and LFO pitch modulation, plus the voice's
routing and feedback. The audio stage (:mod:`ddsp_lab.dx7.engine`) only
interpolates these gains and runs the six sine operators.

The arithmetic is the integer arithmetic of Dexed's msfa engine ("modern"
core) as described in ``shared/reference/dx7/DX7_ENGINE.md``: Q24 log
levels, qrate increments, the hold ("static") table, keyboard level and rate
scaling, the velocity table, the pitch EG tables, the LFO speed table, the
LFO delay accumulator and the amplitude-modulation cut, which also lowers
every operator with a non-zero amp-mod sensitivity by 1.18 % of its log
level when there is no modulation at all. The per-block state machines run
in a compiled (numba) loop.

What the engine does per block ``b`` (0-based, block ``b`` covers samples
``64 b .. 64 b + 63``):

1. at the first block whose start is at or after the gate
   (``round(gate_s * sample_rate)`` samples), the key goes up: every EG and
   the pitch EG enter their last stage from wherever they are;
2. the LFO advances one step and the LFO delay ramp one step;
3. the pitch EG advances; pitch modulation = pitch EG + LFO x depth x delay;
4. each operator's EG advances; amplitude modulation cuts its log level;
   the level becomes a Q24 gain by table; the log frequency (base + pitch
   modulation, ratio mode only) becomes a phase increment by table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numba
import numpy as np

from .algorithms import Algorithm, get_algorithm
from .tables import (
    AMP_MOD_SENSITIVITY,
    BLOCK_SIZE,
    EG_STATICS,
    OUTPUT_LEVEL_LOW,
    PITCH_EG_LEVELS,
    PITCH_EG_RATES,
    PITCH_MOD_SENSITIVITY,
    Q24,
    exp2_table,
    frequency_table,
    lfo_delay_increments,
    lfo_phase_increment,
    normalize_pitch_eg_value,
    operator_logfreq,
    operator_outlevel,
    pitch_eg_unit,
    rate_scaling,
    sample_rate_multiplier,
    sine_table,
)
from .voice import NUM_OPERATORS, PARAMETER_RANGES, Voice

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000

_OPERATOR_FIELDS = (
    "breakpoint", "left_depth", "right_depth", "left_curve", "right_curve", "rate_scaling",
    "amp_mod_sensitivity", "velocity_sensitivity", "output_level", "coarse", "fine", "detune",
)
_VOICE_FIELDS = (
    "algorithm", "feedback", "lfo_speed", "lfo_delay", "lfo_pitch_mod_depth", "lfo_amp_mod_depth",
    "lfo_waveform", "pitch_mod_sensitivity", "transpose",
)

_STATICS = np.array(EG_STATICS, dtype=np.int64)
_OUTPUT_LEVEL_LOW = np.array(OUTPUT_LEVEL_LOW, dtype=np.int64)
_PITCH_EG_RATES = np.array(PITCH_EG_RATES, dtype=np.int64)
_PITCH_EG_LEVELS = np.array(PITCH_EG_LEVELS, dtype=np.int64)

_U32 = 0xFFFFFFFF


@dataclass(frozen=True, eq=False)
class VoiceControls:
    """Per-block controls of one DX7 note, as the engine computes them.

    Operator axes are ordered **OP1 first** (index 0 is OP1, index 5 is OP6),
    like :attr:`Voice.operators` and the tensors of
    :mod:`ddsp_lab.dx7.algorithms`. Block ``b`` covers samples
    ``64 b .. 64 b + 63``; ``num_blocks = ceil(num_samples / 64)``.

    Integer fields are the engine's own fixed-point values (see
    :mod:`ddsp_lab.dx7.tables`); the properties give them in physical units.

    Attributes:
        sample_rate: Hz.
        num_samples: length of the note in samples.
        note: MIDI note as played (before the voice's transpose).
        velocity: MIDI velocity 1..127.
        note_off_block: first block rendered with the key up
            (``num_blocks`` or more when the key never goes up).
        algorithm: routing (carriers, modulation edges, flag bytes).
        feedback: the voice's feedback 0..7 (0 = none).
        eg_level: int64 ``[blocks, 6]``, each operator's EG output after the
            block's step: Q24 log2 amplitude (``level / 2**24 - 14`` is
            ``log2(gain)``), including output level, keyboard level scaling
            and velocity.
        level: int64 ``[blocks, 6]``, ``eg_level`` after LFO amplitude
            modulation (and the engine's 1.18 % cut for AMS > 0).
        gain_q24: int64 ``[blocks, 6]``, Q24 linear gain reached at the end
            of each block (``2**24`` = 1.0); inside block ``b`` the gain ramps
            linearly from ``gain_q24[b - 1]`` (0 for ``b = 0``).
        phase_increment: int64 ``[blocks, 6]``, phase advance per sample
            during each block, ``2**24`` per cycle.
        pitch_eg: int64 ``[blocks]``, pitch EG in Q24 octaves.
        pitch_mod: int64 ``[blocks]``, pitch EG plus LFO pitch modulation,
            Q24 octaves (applied to ratio-mode operators only).
        lfo_value: int64 ``[blocks]``, LFO output in Q24 (0 .. 2**24).
        lfo_delay: int64 ``[blocks]``, LFO delay ramp in Q24 (0 .. 2**24).
    """

    sample_rate: int
    num_samples: int
    note: int
    velocity: int
    note_off_block: int
    algorithm: Algorithm
    feedback: int
    eg_level: np.ndarray
    level: np.ndarray
    gain_q24: np.ndarray
    phase_increment: np.ndarray
    pitch_eg: np.ndarray
    pitch_mod: np.ndarray
    lfo_value: np.ndarray
    lfo_delay: np.ndarray

    @property
    def num_blocks(self) -> int:
        """Number of 64-sample blocks."""
        return int(self.gain_q24.shape[0])

    @property
    def block_size(self) -> int:
        """Samples per control block (64)."""
        return BLOCK_SIZE

    @property
    def feedback_shift(self) -> int:
        """The engine's feedback shift: ``8 - feedback``, or 16 for no feedback."""
        return 8 - self.feedback if self.feedback else 16

    @property
    def block_end_times_s(self) -> np.ndarray:
        """float64 ``[blocks]``: time in seconds at which each block's gain is reached (its last sample)."""
        return (np.arange(1, self.num_blocks + 1) * BLOCK_SIZE - 1) / self.sample_rate

    @property
    def gain(self) -> np.ndarray:
        """float64 ``[blocks, 6]``: linear gain at the end of each block.

        A modulator of gain ``g`` adds ``g * sin`` cycles to its target's phase
        (peak index ``2 pi g`` radians); a carrier adds ``g * sin / 16`` to the
        output. Full scale (L = 99, OL = 99) is 2.0.
        """
        return self.gain_q24 / float(Q24)

    @property
    def level_db(self) -> np.ndarray:
        """float64 ``[blocks, 6]``: :attr:`level` in dB relative to full scale (gain 2.0)."""
        return (self.level / float(Q24) - 15.0) * (20.0 * np.log10(2.0))

    @property
    def frequency_hz(self) -> np.ndarray:
        """float64 ``[blocks, 6]``: each operator's frequency in Hz during each block."""
        return self.phase_increment * (self.sample_rate / float(Q24))

    @property
    def pitch_mod_cents(self) -> np.ndarray:
        """float64 ``[blocks]``: :attr:`pitch_mod` in cents."""
        return self.pitch_mod * (1200.0 / Q24)


# --------------------------------------------------------------------- inputs


def _check_int(value, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")
    return int(value)


def _check_seconds(value, name: str, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound} seconds, got {value}")
    return value


def check_note_arguments(note, velocity, gate_s, duration_s, sample_rate) -> Tuple[int, int, float, float, int]:
    """Validate the arguments of a note and return them normalised.

    Args:
        note: MIDI note 0..127 (60 = middle C, 261.6 Hz).
        velocity: MIDI velocity 1..127.
        gate_s: seconds from note-on to note-off, >= 0.
        duration_s: seconds rendered, > 0.
        sample_rate: Hz, an integer in 8000..192000.

    Raises:
        TypeError: a non-integer note, velocity or sample rate, or a
            non-numeric time.
        ValueError: a value out of range, NaN or infinite, or a duration
            shorter than one sample.
    """
    note = _check_int(note, "note", 0, 127)
    velocity = _check_int(velocity, "velocity", 1, 127)
    gate_s = _check_seconds(gate_s, "gate_s", allow_zero=True)
    duration_s = _check_seconds(duration_s, "duration_s", allow_zero=False)
    if isinstance(sample_rate, float) and sample_rate.is_integer():
        sample_rate = int(sample_rate)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise TypeError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(f"sample_rate must be {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz, got {sample_rate}")
    sample_rate = int(sample_rate)
    if round(duration_s * sample_rate) < 1:
        raise ValueError(f"duration_s={duration_s} is shorter than one sample at {sample_rate} Hz")
    return note, velocity, gate_s, duration_s, sample_rate


def _voice_value(value, label: str, name: str) -> int:
    rng = PARAMETER_RANGES[name]
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise TypeError(f"voice {label} must be an int, got {type(value).__name__}")
    if not rng.low <= value <= rng.storable_high:
        raise ValueError(f"voice {label} = {value} is outside {rng.low}..{rng.storable_high} ({rng.description})")
    return int(value)


def _check_voice(voice) -> None:
    if not isinstance(voice, Voice):
        raise TypeError(f"voice must be a ddsp_lab.dx7.Voice, got {type(voice).__name__}")
    if len(voice.operators) != NUM_OPERATORS:
        raise ValueError(f"voice must have 6 operators, got {len(voice.operators)}")
    for number, op in enumerate(voice.operators, start=1):
        for name in ("eg_rates", "eg_levels"):
            values = getattr(op, name)
            if len(values) != 4:
                raise ValueError(f"voice OP{number} {name} must hold 4 values, got {len(values)}")
            for i, value in enumerate(values):
                _voice_value(value, f"OP{number} {name}[{i}]", name)
        for name in _OPERATOR_FIELDS:
            _voice_value(getattr(op, name), f"OP{number} {name}", name)
    for name in ("pitch_eg_rates", "pitch_eg_levels"):
        values = getattr(voice, name)
        if len(values) != 4:
            raise ValueError(f"voice {name} must hold 4 values, got {len(values)}")
        for i, value in enumerate(values):
            _voice_value(value, f"{name}[{i}]", name)
    for name in _VOICE_FIELDS:
        _voice_value(getattr(voice, name), name, name)


# --------------------------------------------------------------------- the block loop


@numba.njit(cache=True)
def _eg_advance(k, stage, ix, level, target, rising, inc, hold, rates, levels, outlevel, rscale, srm):
    ix[k] = stage
    if stage >= 4:
        return
    new_level = levels[k, stage]
    scaled = new_level + 28 if new_level >= 20 else _OUTPUT_LEVEL_LOW[new_level]
    actual = ((scaled >> 1) << 6) + outlevel[k] - 4256
    if actual < 16:
        actual = 16
    target[k] = actual << 16
    rising[k] = target[k] > level[k]
    qrate = ((rates[k, stage] * 41) >> 6) + rscale[k]
    if qrate > 63:
        qrate = 63
    silent_attack = stage == 0 and new_level == 0
    if target[k] == level[k] or silent_attack:
        static_rate = rates[k, stage] + rscale[k]
        if static_rate > 99:
            static_rate = 99
        if static_rate < 77:
            count = _STATICS[static_rate]
            if silent_attack:
                count //= 20
        else:
            count = 20 * (99 - static_rate)
        hold[k] = (count * srm) >> 24
    else:
        hold[k] = 0
    inc[k] = (((4 + (qrate & 3)) << (8 + (qrate >> 2))) * srm) >> 24


@numba.njit(cache=True)
def _eg_step(k, down, ix, level, target, rising, inc, hold, rates, levels, outlevel, rscale, srm):
    if hold[k] != 0:
        hold[k] -= 64
        if hold[k] <= 0:
            hold[k] = 0
            _eg_advance(k, ix[k] + 1, ix, level, target, rising, inc, hold, rates, levels, outlevel, rscale, srm)
    if ix[k] < 3 or (ix[k] < 4 and not down):
        if hold[k] != 0:
            pass
        elif rising[k]:
            jump = 1716 << 16
            if level[k] < jump:
                level[k] = jump
            level[k] += (((17 << 24) - level[k]) >> 24) * inc[k]
            if level[k] >= target[k]:
                level[k] = target[k]
                _eg_advance(k, ix[k] + 1, ix, level, target, rising, inc, hold, rates, levels, outlevel, rscale, srm)
        else:
            level[k] -= inc[k]
            if level[k] <= target[k]:
                level[k] = target[k]
                _eg_advance(k, ix[k] + 1, ix, level, target, rising, inc, hold, rates, levels, outlevel, rscale, srm)
    return level[k]


@numba.njit(cache=True)
def _pitch_target(pitch_levels, stage):
    return _PITCH_EG_LEVELS[pitch_levels[stage]] << 19


@numba.njit(cache=True)
def _table_lookup(table, x):
    """Linear interpolation in a (delta, value) pair table of 1024 points over 2**24 units of ``x``."""
    index = (x >> 13) & 2046
    return table[index + 1] + ((table[index] * (x & 0x3FFF)) >> 14)


@numba.njit(cache=True)
def _frequency_lookup(freq_table, logfreq):
    index = (logfreq & 0xFFFFFF) >> 14
    y0 = freq_table[index]
    y = y0 + (((freq_table[index + 1] - y0) * (logfreq & 0x3FFF)) >> 14)
    shift = 20 - (logfreq >> 24)
    if shift < 0:
        return y << (-shift)
    if shift > 31:
        return 0
    return y >> shift


@numba.njit(cache=True)
def _control_blocks(
    num_blocks, note_off_block, srm,
    eg_rates, eg_levels, outlevel, rscale, base_logfreq, fixed, amp_sens,
    pitch_rates, pitch_levels, pitch_unit,
    lfo_delta, lfo_delay_first, lfo_delay_second, lfo_waveform, lfo_phase,
    pitch_depth, pitch_sens, amp_depth,
    sin_table, exp2_table, freq_table,
):
    n_ops = 6
    eg_out = np.zeros((num_blocks, n_ops), np.int64)
    level_out = np.zeros((num_blocks, n_ops), np.int64)
    gain_out = np.zeros((num_blocks, n_ops), np.int64)
    freq_out = np.zeros((num_blocks, n_ops), np.int64)
    pitch_eg_out = np.zeros(num_blocks, np.int64)
    pitch_mod_out = np.zeros(num_blocks, np.int64)
    lfo_out = np.zeros(num_blocks, np.int64)
    delay_out = np.zeros(num_blocks, np.int64)

    ix = np.zeros(n_ops, np.int64)
    level = np.zeros(n_ops, np.int64)
    target = np.zeros(n_ops, np.int64)
    rising = np.zeros(n_ops, np.bool_)
    inc = np.zeros(n_ops, np.int64)
    hold = np.zeros(n_ops, np.int64)
    for k in range(n_ops):
        _eg_advance(k, 0, ix, level, target, rising, inc, hold, eg_rates, eg_levels, outlevel, rscale, srm)

    # Pitch EG: starts at L4's value, heads for L1.
    p_level = _pitch_target(pitch_levels, 3)
    p_ix = 0
    p_target = _pitch_target(pitch_levels, 0)
    p_rising = p_target > p_level
    p_inc = _PITCH_EG_RATES[pitch_rates[0]] * pitch_unit

    down = True
    delay_state = 0
    rand_state = 0
    for b in range(num_blocks):
        if b == note_off_block and down:
            down = False
            for k in range(n_ops):
                _eg_advance(k, 3, ix, level, target, rising, inc, hold, eg_rates, eg_levels, outlevel, rscale, srm)
            p_ix = 3
            p_target = _pitch_target(pitch_levels, 3)
            p_rising = p_target > p_level
            p_inc = _PITCH_EG_RATES[pitch_rates[3]] * pitch_unit

        # LFO, one sample per block (uint32 phase, 2**32 per cycle).
        lfo_phase = (lfo_phase + lfo_delta) & _U32
        if lfo_waveform == 0:
            x = lfo_phase >> 7
            if lfo_phase >> 31:
                x = ~x
            lfo_val = x & (Q24 - 1)
        elif lfo_waveform == 1:
            lfo_val = ((~lfo_phase & _U32) ^ (1 << 31)) >> 8
        elif lfo_waveform == 2:
            lfo_val = (lfo_phase ^ (1 << 31)) >> 8
        elif lfo_waveform == 3:
            lfo_val = ((~lfo_phase & _U32) >> 7) & (1 << 24)
        elif lfo_waveform == 4:
            lfo_val = (1 << 23) + (_table_lookup(sin_table, lfo_phase >> 8) >> 1)
        elif lfo_waveform == 5:
            if lfo_phase < lfo_delta:
                rand_state = (rand_state * 179 + 17) & 0xFF
            lfo_val = ((rand_state ^ 0x80) + 1) << 16
        else:
            lfo_val = 1 << 23

        # LFO delay: 0 until the accumulator passes 2**31, then a ramp to 1.
        step = lfo_delay_first if delay_state < (1 << 31) else lfo_delay_second
        d = delay_state + step
        if d > _U32:
            delay = Q24
        else:
            delay_state = d
            delay = 0 if d < (1 << 31) else (d >> 7) & (Q24 - 1)
        lfo_out[b] = lfo_val
        delay_out[b] = delay

        # Pitch EG: linear in octaves, no hold.
        if p_ix < 3 or (p_ix < 4 and not down):
            if p_rising:
                p_level += p_inc
                reached = p_level >= p_target
            else:
                p_level -= p_inc
                reached = p_level <= p_target
            if reached:
                p_level = p_target
                p_ix += 1
                if p_ix < 4:
                    p_target = _pitch_target(pitch_levels, p_ix)
                    p_rising = p_target > p_level
                    p_inc = _PITCH_EG_RATES[pitch_rates[p_ix]] * pitch_unit
        pitch_eg_out[b] = p_level

        depth_delay = (pitch_depth * delay) & _U32
        sens_lfo = pitch_sens * (lfo_val - (1 << 23))
        pitch_lfo = abs((depth_delay * sens_lfo) >> 39)
        if sens_lfo < 0:
            pitch_lfo = -pitch_lfo
        pitch_mod = p_level + pitch_lfo
        pitch_mod_out[b] = pitch_mod

        amp_mod = ((amp_depth * delay) >> 8) & _U32
        amp_mod = ((amp_mod * (Q24 - lfo_val)) >> 24) & _U32

        for k in range(n_ops):
            logfreq = base_logfreq[k] if fixed[k] else base_logfreq[k] + pitch_mod
            freq_out[b, k] = _frequency_lookup(freq_table, logfreq)
            lev = _eg_step(k, down, ix, level, target, rising, inc, hold, eg_rates, eg_levels, outlevel, rscale, srm)
            eg_out[b, k] = lev
            if amp_sens[k] != 0:
                sens_amp = (amp_mod * amp_sens[k]) >> 24
                # The engine evaluates this exponential in single-then-double precision.
                exponent = np.float32(sens_amp) / np.float32(262144.0)
                cut = np.int64(np.exp(np.float64(exponent) * 0.07 + 12.2))
                lev -= (lev * (cut << 4)) >> 28
            level_out[b, k] = lev
            x = lev - 14 * Q24
            shift = 6 - (x >> 24)
            y = _table_lookup(exp2_table, x)
            gain_out[b, k] = y >> shift if shift >= 0 else y << (-shift)
    return eg_out, level_out, gain_out, freq_out, pitch_eg_out, pitch_mod_out, lfo_out, delay_out


# --------------------------------------------------------------------- public


def note_off_block(gate_s: float, sample_rate: int) -> int:
    """Index of the first 64-sample block whose start is at or after ``round(gate_s * sample_rate)``."""
    gate_samples = int(round(gate_s * sample_rate))
    return -(-gate_samples // BLOCK_SIZE)


def voice_controls(
    voice: Voice,
    note: int = 60,
    velocity: int = 100,
    gate_s: float = 1.0,
    duration_s: float = 2.0,
    sample_rate: int = 44100,
) -> VoiceControls:
    """Per-block controls of one note of ``voice`` (the engine's control stage).

    The note starts at sample 0 with all oscillator phases, feedback history,
    the LFO phase (unless LFO key sync puts it at the half cycle) and its
    sample-and-hold state at zero; the key goes up at the first 64-sample
    block starting at or after ``round(gate_s * sample_rate)``.

    Args:
        voice: the patch; values outside the documented ranges that the sysex
            format can still store (e.g. an EG level of 127) are played as
            Dexed plays them.
        note: MIDI note 0..127 (the voice's transpose is added on top).
        velocity: MIDI velocity 1..127.
        gate_s: seconds from note-on to note-off, >= 0 (past the end: no
            note-off).
        duration_s: seconds rendered, > 0; ``round(duration_s * sample_rate)``
            samples.
        sample_rate: Hz, an integer in 8000..192000.

    Returns:
        :class:`VoiceControls` with ``ceil(samples / 64)`` blocks.

    Raises:
        TypeError / ValueError: bad arguments (see :func:`check_note_arguments`)
            or a voice value that no DX7 byte can hold.
    """
    note, velocity, gate_s, duration_s, sample_rate = check_note_arguments(
        note, velocity, gate_s, duration_s, sample_rate
    )
    _check_voice(voice)
    num_samples = int(round(duration_s * sample_rate))
    num_blocks = -(-num_samples // BLOCK_SIZE)
    played = note + voice.transpose - 24

    eg_rates = np.zeros((NUM_OPERATORS, 4), np.int64)
    eg_levels = np.zeros((NUM_OPERATORS, 4), np.int64)
    outlevel = np.zeros(NUM_OPERATORS, np.int64)
    rscale = np.zeros(NUM_OPERATORS, np.int64)
    base_logfreq = np.zeros(NUM_OPERATORS, np.int64)
    fixed = np.zeros(NUM_OPERATORS, np.bool_)
    amp_sens = np.zeros(NUM_OPERATORS, np.int64)
    for k, op in enumerate(voice.operators):
        eg_rates[k] = op.eg_rates
        eg_levels[k] = op.eg_levels
        outlevel[k] = operator_outlevel(
            op.output_level, played, velocity, op.breakpoint, op.left_depth, op.right_depth,
            op.left_curve, op.right_curve, op.velocity_sensitivity,
        )
        rscale[k] = rate_scaling(played, op.rate_scaling)
        fixed[k] = bool(op.fixed_frequency)
        base_logfreq[k] = operator_logfreq(played, fixed[k], op.coarse, op.fine, op.detune)
        amp_sens[k] = AMP_MOD_SENSITIVITY[op.amp_mod_sensitivity & 3]

    pitch_rates = np.array([normalize_pitch_eg_value(r) for r in voice.pitch_eg_rates], np.int64)
    pitch_levels = np.array([normalize_pitch_eg_value(v) for v in voice.pitch_eg_levels], np.int64)
    delay_first, delay_second = lfo_delay_increments(voice.lfo_delay, sample_rate)
    off_block = note_off_block(gate_s, sample_rate)

    results = _control_blocks(
        num_blocks, off_block, sample_rate_multiplier(sample_rate),
        eg_rates, eg_levels, outlevel, rscale, base_logfreq, fixed, amp_sens,
        pitch_rates, pitch_levels, pitch_eg_unit(sample_rate),
        lfo_phase_increment(voice.lfo_speed, sample_rate), delay_first, delay_second,
        voice.lfo_waveform, (1 << 31) - 1 if voice.lfo_key_sync else 0,
        (voice.lfo_pitch_mod_depth * 165) >> 6, PITCH_MOD_SENSITIVITY[voice.pitch_mod_sensitivity & 7],
        (voice.lfo_amp_mod_depth * 165) >> 6,
        sine_table(), exp2_table(), frequency_table(sample_rate),
    )
    eg_level, level, gain_q24, phase_increment, pitch_eg, pitch_mod, lfo_value, lfo_delay = results
    return VoiceControls(
        sample_rate=sample_rate,
        num_samples=num_samples,
        note=note,
        velocity=velocity,
        note_off_block=off_block,
        algorithm=get_algorithm(voice.algorithm),
        feedback=voice.feedback,
        eg_level=eg_level,
        level=level,
        gain_q24=gain_q24,
        phase_increment=phase_increment,
        pitch_eg=pitch_eg,
        pitch_mod=pitch_mod,
        lfo_value=lfo_value,
        lfo_delay=lfo_delay,
    )
