"""Constants and integer formulas of the DX7 voice engine (Dexed's msfa engine).

Everything here is integer arithmetic in the engine's fixed-point units, as
described in ``shared/reference/dx7/DX7_ENGINE.md`` (section numbers below
refer to it):

* **log level**: Q24 doublings, ``level / 2**24 = log2(amplitude)``; the DX7
  resolution unit, the *microstep*, is 1/256 doubling (about 0.0235 dB), so a
  level of ``m`` microsteps is ``m << 16``;
* **log frequency**: Q24 ``log2(Hz)``;
* **phase**: ``2**24`` units per cycle; a phase increment is in these units
  per sample;
* **gain**: Q24 linear, ``2**24`` = 1.0 (a modulator of gain ``g`` adds
  ``g * sin`` *cycles* to its target's phase).

The functions are used once per note (operator levels, keyboard scaling,
velocity, frequencies); :mod:`ddsp_lab.dx7.controls` runs the per-block state
machines and :mod:`ddsp_lab.dx7.engine` the per-sample operators. The lookup
tables (sine, exp2, frequency) are rebuilt here with the same integer and
double-precision steps as the engine builds them, so the rendering is
bit-compatible with it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Tuple

import numpy as np

BLOCK_SIZE = 64  # samples per control block (LG_N = 6)
LOG_BLOCK_SIZE = 6
Q24 = 1 << 24
PHASE_MASK = Q24 - 1

# Silence skip: an operator whose gain is below this at both ends of a block
# is not computed (its phase still advances).
LEVEL_THRESHOLD = 1120

# ------------------------------------------------------------------ §4 levels

# scaleoutlevel for values below 20; from 20 up it is 28 + value.
OUTPUT_LEVEL_LOW = (0, 5, 9, 13, 17, 20, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 42, 43, 45, 46)


def scale_output_level(value: int) -> int:
    """DX7 output level or EG level (0..127 as stored) to the engine's 0..155 scale.

    ``28 + value`` from 20 up, a table below (``scaleoutlevel``, §4). One unit
    of the result is 32 microsteps (0.75 dB) for an output level.
    """
    return 28 + value if value >= 20 else OUTPUT_LEVEL_LOW[value]


def eg_target_microsteps(eg_level: int, outlevel: int) -> int:
    """EG target level in microsteps for EG level ``eg_level`` (0..99) and operator ``outlevel`` (§4).

    ``64 * (scale_output_level(eg_level) >> 1) + outlevel - 4256``, floored at
    16 microsteps.
    """
    return max(16, ((scale_output_level(eg_level) >> 1) << 6) + outlevel - 4256)


# ------------------------------------------------------------------ §5 envelope

# Hold ("static") times in samples at 44.1 kHz for rates 0..76.
EG_STATICS = (
    1764000, 1764000, 1411200, 1411200, 1190700, 1014300, 992250, 882000, 705600, 705600,
    584325, 507150, 502740, 441000, 418950, 352800, 308700, 286650, 253575, 220500,
    220500, 176400, 145530, 145530, 125685, 110250, 110250, 88200, 88200, 74970,
    61740, 61740, 55125, 48510, 44100, 37485, 31311, 30870, 27562, 27562,
    22050, 18522, 17640, 15435, 14112, 13230, 11025, 9261, 9261, 7717,
    6615, 6615, 5512, 5512, 4410, 3969, 3969, 3439, 2866, 2690,
    2249, 1984, 1896, 1808, 1411, 1367, 1234, 1146, 926, 837,
    837, 705, 573, 573, 529, 441, 441,
)
EG_JUMP_MICROSTEPS = 1716  # rising segments start no lower than this


def sample_rate_multiplier(sample_rate: int) -> int:
    """``floor(2**24 * 44100 / sample_rate)``: scales 44.1 kHz increments and hold times (§5)."""
    return int((44100.0 / sample_rate) * Q24)


def eg_qrate(rate: int, rate_scaling: int) -> int:
    """Envelope rate (0..99, as stored) plus keyboard rate scaling, in the 0..63 "qrate" scale (§5)."""
    return min(63, ((rate * 41) >> 6) + rate_scaling)


def eg_increment(qrate: int, sample_rate: int = 44100) -> int:
    """Q24 level change per 64-sample block for ``qrate`` 0..63 at ``sample_rate`` Hz (§5).

    ``(4 + qrate % 4) * 2**(8 + qrate // 4)``, scaled by
    :func:`sample_rate_multiplier`. Decays subtract it once per block; attacks
    add it times ``floor(17 - level / 2**24)``.
    """
    increment = (4 + (qrate & 3)) << (2 + LOG_BLOCK_SIZE + (qrate >> 2))
    return (increment * sample_rate_multiplier(sample_rate)) >> 24


def eg_hold_samples(rate: int, rate_scaling: int, first_stage_silent: bool, sample_rate: int = 44100) -> int:
    """Samples a stage holds when its target equals the current level (§5).

    Args:
        rate: the stage's EG rate as stored (0..99).
        rate_scaling: keyboard rate scaling in qrate units (added as is).
        first_stage_silent: the stage is stage 1 with L1 = 0 (its hold is 20
            times shorter below rate 77).
        sample_rate: Hz.
    """
    static_rate = min(99, rate + rate_scaling)
    hold = EG_STATICS[static_rate] if static_rate < 77 else 20 * (99 - static_rate)
    if static_rate < 77 and first_stage_silent:
        hold //= 20
    return (hold * sample_rate_multiplier(sample_rate)) >> 24


# ------------------------------------------------------------------ §6 keyboard scaling

EXP_SCALING = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 14, 16, 19, 23, 27, 33, 39, 47, 56, 66,
    80, 94, 110, 126, 142, 158, 174, 190, 206, 222, 238, 250,
)


def _c_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as C does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def rate_scaling(note: int, sensitivity: int) -> int:
    """Keyboard rate scaling in qrate units for (transposed) MIDI ``note`` and RS 0..7 (§6)."""
    x = min(31, max(0, _c_div(note, 3) - 7))
    return (sensitivity * x) >> 3


def scale_curve(group: int, depth: int, curve: int) -> int:
    """Level-scaling amount in output-level units for a key ``group`` on ``curve`` 0..3 (§6)."""
    if curve == 0 or curve == 3:
        value = (group * depth * 329) >> 12
    else:
        value = (EXP_SCALING[min(group, len(EXP_SCALING) - 1)] * depth * 329) >> 15
    return -value if curve < 2 else value


def level_scaling(
    note: int, breakpoint: int, left_depth: int, right_depth: int, left_curve: int, right_curve: int
) -> int:
    """Keyboard level scaling in output-level units for (transposed) MIDI ``note`` (§6)."""
    offset = note - breakpoint - 17
    if offset >= 0:
        return scale_curve((offset + 1) // 3, right_depth, right_curve)
    return scale_curve((1 - offset) // 3, left_depth, left_curve)


# ------------------------------------------------------------------ §7 velocity

VELOCITY_CURVE = (
    0, 70, 86, 97, 106, 114, 121, 126, 132, 138, 142, 148, 152, 156, 160, 163,
    166, 170, 173, 174, 178, 181, 184, 186, 189, 190, 194, 196, 198, 200, 202,
    205, 206, 209, 211, 214, 216, 218, 220, 222, 224, 225, 227, 229, 230, 232,
    233, 235, 237, 238, 240, 241, 242, 243, 244, 246, 246, 248, 249, 250, 251,
    252, 253, 254,
)


def velocity_offset(velocity: int, sensitivity: int) -> int:
    """Operator level change in microsteps for MIDI ``velocity`` and KVS 0..7 (§7).

    Examples for KVS 7: velocity 127 -> +224, 100 -> +16, 64 -> -448.
    """
    value = VELOCITY_CURVE[max(0, min(127, velocity)) >> 1] - 239
    return ((sensitivity * value + 7) >> 3) << 4


def operator_outlevel(
    output_level: int, note: int, velocity: int, breakpoint: int, left_depth: int, right_depth: int,
    left_curve: int, right_curve: int, velocity_sensitivity: int,
) -> int:
    """Operator output level in microsteps after keyboard level scaling and velocity (§4).

    ``32 * min(127, scale_output_level(OL) + KLS) + VEL``, floored at 0.
    """
    scaled = scale_output_level(output_level)
    scaled += level_scaling(note, breakpoint, left_depth, right_depth, left_curve, right_curve)
    outlevel = min(127, scaled) << 5
    outlevel += velocity_offset(velocity, velocity_sensitivity)
    return max(0, outlevel)


# ------------------------------------------------------------------ §9 pitch

NOTE_LOGFREQ_BASE = 50857777  # 2**24 * log2(440 * 2**(-69/12))
NOTE_LOGFREQ_STEP = Q24 // 12
FIXED_LOGFREQ_STEP = 4458616  # 8 * 2**24 * log2(10) / 100
FIXED_DETUNE_STEP = 13457


def note_logfreq(note: int) -> int:
    """Q24 log2(Hz) of MIDI ``note`` in equal temperament, A4 = 440 Hz (§9)."""
    return NOTE_LOGFREQ_BASE + NOTE_LOGFREQ_STEP * note


def coarse_logfreq(coarse: int) -> int:
    """Q24 log2 of the ratio-mode multiplier ``coarse`` (0 means 0.5)."""
    return -Q24 if coarse == 0 else int(math.floor(Q24 * math.log2(coarse) + 0.5))


def operator_logfreq(note: int, fixed: bool, coarse: int, fine: int, detune: int) -> int:
    """Q24 log2(Hz) of an operator before pitch EG and LFO (§9).

    Ratio mode: the note's log frequency, Dexed's measured detune fit (about
    2.0 / 1.2 / 0.68 cents per step at 65 / 262 / 1047 Hz), the coarse
    multiplier (0 = 0.5) and ``log2(1 + fine / 100)``. Fixed mode:
    ``10 ** ((coarse mod 4) + fine / 100)`` Hz, plus 0.96 cent per detune step
    above 7.
    """
    if not fixed:
        logfreq = note_logfreq(note)
        # The engine converts the log frequency to single precision before the
        # exponential, and truncates the detuned sum back to an integer.
        octave = float(np.float32(logfreq) / np.float32(Q24))
        detune_ratio = 0.0209 * math.exp(-0.396 * octave) / 7
        logfreq = int(logfreq + detune_ratio * logfreq * (detune - 7))
        logfreq += coarse_logfreq(coarse & 31)
        if fine:
            logfreq += int(math.floor(24204406.323123 * math.log(1 + 0.01 * fine) + 0.5))
        return logfreq
    logfreq = (FIXED_LOGFREQ_STEP * ((coarse & 3) * 100 + fine)) >> 3
    if detune > 7:
        logfreq += FIXED_DETUNE_STEP * (detune - 7)
    return logfreq


# ------------------------------------------------------------------ §10 pitch EG, LFO

PITCH_EG_RATES = (
    1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 16, 16,
    17, 18, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 30, 31, 33, 34, 36, 37, 38, 39, 41, 42, 44, 46,
    47, 49, 51, 53, 54, 56, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76, 79, 82, 85, 88, 91, 94, 98, 102,
    106, 110, 115, 120, 125, 130, 135, 141, 147, 153, 159, 165, 171, 178, 185, 193, 202, 211, 232, 243,
    254, 255,
)
PITCH_EG_LEVELS = (
    (-128, -116, -104, -95, -85, -76, -68, -61, -56, -52, -49, -46, -43, -41, -39, -37, -35, -33, -32, -31)
    + tuple(range(-30, 0))
    + (0,)
    + tuple(range(1, 36))
    + (38, 40, 43, 46, 49, 53, 58, 65, 73, 82, 92, 103, 115, 127)
)

LFO_SPEEDS = (
    0.062541, 0.125031, 0.312393, 0.437120, 0.624610, 0.750694, 0.936330, 1.125302, 1.249609, 1.436782,
    1.560915, 1.752081, 1.875117, 2.062494, 2.247191, 2.374451, 2.560492, 2.686728, 2.873976, 2.998950,
    3.188013, 3.369840, 3.500175, 3.682224, 3.812065, 4.000800, 4.186202, 4.310716, 4.501260, 4.623209,
    4.814636, 4.930480, 5.121901, 5.315191, 5.434783, 5.617346, 5.750431, 5.946717, 6.062811, 6.248438,
    6.431695, 6.564264, 6.749460, 6.868132, 7.052186, 7.250580, 7.375719, 7.556294, 7.687577, 7.877738,
    7.993605, 8.181967, 8.372405, 8.504848, 8.685079, 8.810573, 8.986341, 9.122423, 9.300595, 9.500285,
    9.607994, 9.798158, 9.950249, 10.117361, 11.251125, 11.384335, 12.562814, 13.676149, 13.904338, 15.092062,
    16.366612, 16.638935, 17.869907, 19.193858, 19.425019, 20.833333, 21.034918, 22.502250, 24.003841, 24.260068,
    25.746653, 27.173913, 27.578599, 29.052876, 30.693677, 31.191516, 32.658393, 34.317090, 34.674064, 36.416606,
    38.197097, 38.550501, 40.387722, 40.749796, 42.625746, 44.326241, 44.883303, 46.772685, 48.590865, 49.261084,
)
LFO_PHASE_RATIO = 4437500000  # LFO phase units (2**32 per cycle) per second per unit of LFO_SPEEDS
LFO_DELAY_UNIT = 25190424
PITCH_MOD_SENSITIVITY = (0, 10, 20, 33, 55, 92, 153, 255)
AMP_MOD_SENSITIVITY = (0, 4342338, 7171437, 16777216)


def pitch_eg_unit(sample_rate: int) -> int:
    """Pitch-EG step per block per unit of :data:`PITCH_EG_RATES`, Q24 octaves (§10)."""
    return int(BLOCK_SIZE * Q24 / (21.3 * sample_rate) + 0.5)


def lfo_frequency_hz(speed: int) -> float:
    """LFO frequency in Hz for LFO speed 0..99 (about 0.065 Hz to 50.9 Hz, §10)."""
    return LFO_SPEEDS[min(99, speed)] * LFO_PHASE_RATIO / 2.0 ** 32


def lfo_phase_increment(speed: int, sample_rate: int) -> int:
    """uint32 LFO phase increment per 64-sample block (2**32 per cycle) for LFO speed 0..99."""
    ratio = int(LFO_PHASE_RATIO * BLOCK_SIZE / sample_rate)
    return int(LFO_SPEEDS[min(99, speed)] * ratio) & 0xFFFFFFFF


def lfo_delay_increments(delay: int, sample_rate: int) -> Tuple[int, int]:
    """uint32 increments of the LFO delay accumulator per block, before and after it passes 2**31 (§10)."""
    a = 99 - min(99, delay)
    if a == 99:
        return 0xFFFFFFFF, 0xFFFFFFFF
    unit = int(BLOCK_SIZE * LFO_DELAY_UNIT / sample_rate + 0.5)
    a = (16 + (a & 15)) << (1 + (a >> 4))
    first = (unit * a) & 0xFFFFFFFF
    second = (unit * max(0x80, a & 0xFF80)) & 0xFFFFFFFF
    return first, second


def normalize_pitch_eg_value(value: int) -> int:
    """Pitch-EG bytes above 99 rescaled as the engine does on load: ``trunc(value / 255 * 99)`` in single precision."""
    if value <= 99:
        return value
    return int(np.float32(np.float32(value) / np.float32(255.0)) * np.float32(99.0))


# ------------------------------------------------------------------ lookup tables


@lru_cache(maxsize=1)
def sine_table() -> np.ndarray:
    """The engine's 1024-point sine table, int64 ``[2048]`` of ``(delta, value)`` pairs.

    Values are Q24 (``2**24`` = 1.0), computed by the same integer rotation
    recurrence as the engine (``Sin::init``); see :func:`sine_lookup`.
    """
    points = 1024
    step = 2 * math.pi / points
    c = int(math.floor(math.cos(step) * (1 << 30) + 0.5))
    s = int(math.floor(math.sin(step) * (1 << 30) + 0.5))
    u, v, rounding = 1 << 30, 0, 1 << 29
    table = [0] * (2 * points)
    half = points // 2
    for i in range(half):
        table[2 * i + 1] = (v + 32) >> 6
        table[2 * (i + half) + 1] = -((v + 32) >> 6)
        u, v = (u * c - v * s + rounding) >> 30, (u * s + v * c + rounding) >> 30
    for i in range(points - 1):
        table[2 * i] = table[2 * i + 3] - table[2 * i + 1]
    table[2 * points - 2] = -table[2 * points - 1]
    return np.array(table, dtype=np.int64)


def sine_lookup(phase: int) -> int:
    """Q24 sine of a Q24 phase (``2**24`` per cycle), linearly interpolated in :func:`sine_table`."""
    table = sine_table()
    index = (phase >> 13) & 2046
    return int(table[index + 1]) + ((int(table[index]) * (phase & 0x3FFF)) >> 14)


@lru_cache(maxsize=1)
def exp2_table() -> np.ndarray:
    """The engine's 1024-point ``2**x`` table, int64 ``[2048]`` of ``(delta, value)`` pairs (Q30 values)."""
    points = 1024
    factor = 2.0 ** (1.0 / points)
    y = float(1 << 30)
    table = [0] * (2 * points)
    for i in range(points):
        table[2 * i + 1] = int(math.floor(y + 0.5))
        y *= factor
    for i in range(points - 1):
        table[2 * i] = table[2 * i + 3] - table[2 * i + 1]
    table[2 * points - 2] = (1 << 31) - table[2 * points - 1]
    return np.array(table, dtype=np.int64)


def level_to_gain(level: int) -> int:
    """Q24 linear gain ``2**(level / 2**24 - 14)`` of a Q24 log level, by table (``Exp2::lookup``).

    A level of 3840 microsteps (``3840 << 16``, L = 99 and OL = 99) gives
    about ``2 * 2**24``, i.e. a gain of 2.0.
    """
    table = exp2_table()
    x = level - 14 * Q24
    index = (x >> 13) & 2046
    y = int(table[index + 1]) + ((int(table[index]) * (x & 0x3FFF)) >> 14)
    return y >> (6 - (x >> 24))


@lru_cache(maxsize=16)
def frequency_table(sample_rate: int) -> np.ndarray:
    """int64 ``[1025]``: ``2**(44 + i / 1024) / sample_rate`` rounded, the engine's ``Freqlut`` (64-bit).

    Kept in 64 bits: the engine's 32-bit table overflows below 16384 Hz.
    """
    y = float(1 << 44) / sample_rate
    factor = math.pow(2.0, 1.0 / 1024)
    values = []
    for _ in range(1025):
        values.append(int(math.floor(y + 0.5)))
        y *= factor
    return np.array(values, dtype=np.int64)


def logfreq_to_phase_increment(logfreq: int, sample_rate: int) -> int:
    """Phase increment per sample (``2**24`` per cycle) for a Q24 log2(Hz), ≈ ``2**24 * f / sample_rate``."""
    table = frequency_table(sample_rate)
    index = (logfreq & PHASE_MASK) >> 14
    low = logfreq & 0x3FFF
    y = int(table[index]) + (((int(table[index + 1]) - int(table[index])) * low) >> 14)
    shift = 20 - (logfreq >> 24)
    if shift < 0:
        return y << -shift
    if shift > 31:
        return 0
    return y >> shift
