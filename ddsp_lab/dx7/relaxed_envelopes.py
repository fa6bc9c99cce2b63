"""Continuous relaxation of the DX7 operator envelope, in closed form.

The engine's envelope (``shared/reference/dx7/DX7_ENGINE.md`` §4-§6,
:mod:`ddsp_lab.dx7.controls`) is an integer state machine stepped once per
64-sample block. Here the same envelope is a differentiable function of
continuous EG rates, EG levels and output levels, evaluated for all blocks
at once (no loop over blocks):

* **Integer maps become piecewise-linear interpolations** through the
  engine's values at the integer settings: the output-level scale
  (``scaleoutlevel``), the half-resolution EG-level scale
  (``scaleoutlevel(L) >> 1``), the rate-to-qrate map (``R * 41 >> 6``) and
  the hold ("static") tables. The qrate-to-increment law
  ``(4 + q mod 4) * 2**(8 + q div 4)`` is interpolated geometrically
  (linearly in its logarithm). At integer settings every value is the
  engine's. Where the DX7 maps two neighbouring settings to one value (EG
  levels 98 and 99 share a target, rates 66 and 67 a qrate) the
  interpolation is flat and its gradient zero; ``grid_smoothing`` mixes in a
  straight line through those steps so that no setting is flat, at the price
  of moving integer settings slightly off the engine.
* **Decays** fall linearly in log level at the stage's increment per block.
* **Attacks** take the engine's per-block steps
  ``level += increment * floor(17 - level)`` (level in doublings, starting
  from ``max(level, 1716 microsteps)``) with the slope factor linearised to
  ``16.5 - level``: the distance to 16.5 doublings then shrinks by the factor
  ``1 - increment`` per block, a geometric sequence that is evaluated at any
  (fractional) time and inverted in closed form. The linearised factor is
  within 1/2 of the engine's, and the jump to 1716 microsteps is faded in over
  the stage's first block (it is instantaneous in the engine), which keeps the
  level continuous in the stage's start time.
* **Stage boundaries** lie where the level reaches its target, in continuous
  time. The engine snaps to the target at the end of the block in which it
  passes it, so a stage that moves for ``d`` blocks lasts
  ``max(1, ceil(d))`` blocks; the relaxation starts the next stage
  ``max(1, d + 1/2)`` blocks after the stage began (the mean of ``ceil``),
  within half a block of the engine.
* **Holds** (a stage whose target equals the level it starts from, and the
  wait before an attack whose L1 is 0) last ``ceil(h) - 1`` blocks in the
  engine, relaxed to ``h - 1/2`` (and one block of movement for a zero hold).
  They are blended in continuously: the silent-attack hold with weight
  ``1 - L1`` for ``L1`` in ``[0, 1]``, the equal-target hold of stage 2 with
  weight ``1 - |target difference|`` over the last microstep; both weights
  are 0 or 1 at integer settings, where targets are whole microsteps apart.
* **Key-off** enters the release (R4 towards L4) from the level the key-down
  trajectory has at the key-off block, wherever that is.

Levels are in microsteps (1/256 doubling, about 0.0235 dB; the engine's Q24
level divided by ``2**16``); time is counted in blocks of 64 samples. Block
``b`` (0-based) of a note ends with the level after ``b + 1`` engine steps.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from .tables import (
    BLOCK_SIZE,
    EG_JUMP_MICROSTEPS,
    EG_STATICS,
    Q24,
    sample_rate_multiplier,
    scale_output_level,
)

MICROSTEPS_PER_DOUBLING = 256
MIN_EG_TARGET = 16  # microsteps; the engine floors every target here
MAX_PARAMETER = 99

# Engine values at the integer settings 0..99 (0..63 for qrates).
_OUTPUT_LEVEL_SCALE = np.array([scale_output_level(v) for v in range(100)], dtype=np.float64)
_EG_LEVEL_HALF_SCALE = np.array([scale_output_level(v) >> 1 for v in range(100)], dtype=np.float64)
_RATE_TO_QRATE = np.array([(v * 41) >> 6 for v in range(100)], dtype=np.float64)
_LOG2_INCREMENT = np.array([math.log2((4 + (q & 3)) << (8 + (q >> 2))) for q in range(64)], dtype=np.float64)
_HOLD_SAMPLES = np.array(
    [EG_STATICS[r] if r < 77 else 20 * (99 - r) for r in range(100)], dtype=np.float64
)
_SILENT_HOLD_SAMPLES = np.array(
    [EG_STATICS[r] // 20 if r < 77 else 20 * (99 - r) for r in range(100)], dtype=np.float64
)


def _table(values: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def interpolate_table(values: np.ndarray, position: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation of ``values[i]`` at real positions ``i``.

    Args:
        values: ``[n]`` table of the values at ``0, 1, ..., n - 1``.
        position: any shape; clamped to ``[0, n - 1]`` (zero gradient outside).

    Returns:
        Tensor shaped like ``position``, exact at integer positions. At an
        integer position the gradient is the slope of the segment to its
        right (to its left at ``n - 1``).
    """
    table = _table(values, position)
    last = table.shape[0] - 1
    x = position.clamp(0.0, float(last))
    index = torch.floor(x.detach()).clamp(0, last - 1).long()
    low = table[index]
    return low + (x - index.to(x.dtype)) * (table[index + 1] - low)


def output_level_scale(output_level: torch.Tensor) -> torch.Tensor:
    """Output level 0..99 on the engine's 0..127 scale (``scaleoutlevel``; 32 microsteps per unit)."""
    return interpolate_table(_OUTPUT_LEVEL_SCALE, output_level)


def operator_outlevel(
    output_level: torch.Tensor, level_scaling: torch.Tensor, velocity_offset: torch.Tensor
) -> torch.Tensor:
    """Operator level in microsteps: ``32 * min(127, scale(OL) + KLS) + VEL``, floored at 0 (§4).

    Args:
        output_level: continuous output level 0..99, any shape.
        level_scaling: keyboard level scaling in output-level units (§6),
            broadcastable.
        velocity_offset: velocity term in microsteps (§7), broadcastable.
    """
    scaled = torch.clamp(output_level_scale(output_level) + level_scaling, max=127.0)
    return torch.clamp(32.0 * scaled + velocity_offset, min=0.0)


def check_grid_smoothing(smoothing) -> float:
    """Check a ``grid_smoothing`` value (a number in ``[0, 1]``) and return it as float."""
    if isinstance(smoothing, bool) or not isinstance(smoothing, (int, float)):
        raise TypeError(f"grid_smoothing must be a number in [0, 1], got {type(smoothing).__name__}")
    if not 0.0 <= smoothing <= 1.0:
        raise ValueError(f"grid_smoothing must be a number in [0, 1], got {smoothing!r}")
    return float(smoothing)


def eg_level_half_scale(eg_levels: torch.Tensor, grid_smoothing: float = 0.0) -> torch.Tensor:
    """EG level on the engine's half-resolution scale ``scaleoutlevel(L) >> 1`` (64 microsteps per unit).

    With ``grid_smoothing = 0`` the integer values are interpolated linearly:
    exact at integer levels, flat where two levels share a value (98 and 99,
    and every pair ``2k, 2k + 1`` from 20 up). ``grid_smoothing = s`` mixes in
    ``s`` times the straight line through the middle of those steps,
    ``scaleoutlevel(L) / 2 - 1/4``: the slope is then at least ``s / 2`` per
    level everywhere, and integer levels are off by at most ``s / 4`` unit
    (``16 s`` microsteps).
    """
    smoothing = check_grid_smoothing(grid_smoothing)
    stairs = interpolate_table(_EG_LEVEL_HALF_SCALE, eg_levels)
    if smoothing == 0.0:
        return stairs
    line = torch.clamp(output_level_scale(eg_levels) / 2.0 - 0.25, min=0.0)
    return stairs + smoothing * (line - stairs)


def eg_targets(eg_levels: torch.Tensor, outlevel: torch.Tensor, grid_smoothing: float = 0.0) -> torch.Tensor:
    """EG targets in microsteps: ``64 * (scale(L) >> 1) + outlevel - 4256``, floored at 16 (§4).

    Args:
        eg_levels: ``[..., 4]`` continuous EG levels L1..L4 in 0..99.
        outlevel: ``[...]`` operator level in microsteps
            (:func:`operator_outlevel`).
        grid_smoothing: see :func:`eg_level_half_scale`.

    Returns:
        ``[..., 4]`` targets.
    """
    half = eg_level_half_scale(eg_levels, grid_smoothing)
    return torch.clamp(64.0 * half + outlevel.unsqueeze(-1) - 4256.0, min=float(MIN_EG_TARGET))


def eg_qrates(eg_rates: torch.Tensor, rate_scaling: torch.Tensor, grid_smoothing: float = 0.0) -> torch.Tensor:
    """Continuous qrates: ``min(63, (R * 41 >> 6) + RSdelta)`` (§5).

    With ``grid_smoothing = 0`` the integer map ``R * 41 >> 6`` is
    interpolated linearly: exact at integer rates, flat where two rates share
    a qrate (0 and 1, 2 and 3, 5 and 6, ..., about a third of the range).
    ``grid_smoothing = s`` mixes in ``s`` times the line ``41 R / 64 - 1/2``
    through the middle of the steps: the slope is then at least
    ``0.64 s`` per rate unit everywhere, and integer rates are off by at
    most ``s / 2`` qrate (one qrate step changes the rate by at most 25 %,
    so this is at most about ``11 s`` % of the rate).

    Args:
        eg_rates: ``[..., 4]`` continuous rates 0..99.
        rate_scaling: ``[...]`` keyboard rate scaling in qrate units (§6).
        grid_smoothing: see above.
    """
    smoothing = check_grid_smoothing(grid_smoothing)
    base = interpolate_table(_RATE_TO_QRATE, eg_rates)
    if smoothing != 0.0:
        line = torch.clamp(eg_rates.clamp(0.0, float(MAX_PARAMETER)) * (41.0 / 64.0) - 0.5, min=0.0)
        base = base + smoothing * (line - base)
    return torch.clamp(base + rate_scaling.unsqueeze(-1), max=63.0)


def eg_increments(qrates: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Level change per block in microsteps for continuous qrates 0..63 (§5).

    ``(4 + q mod 4) * 2**(8 + q div 4)`` at integer ``q`` (the engine's Q24
    increment at 44.1 kHz), interpolated geometrically between them, times
    the sample-rate multiplier ``floor(2**24 * 44100 / sample_rate) / 2**24``.
    """
    scale = sample_rate_multiplier(sample_rate) / float(Q24) / 65536.0
    return torch.exp2(interpolate_table(_LOG2_INCREMENT, qrates)) * scale


def eg_hold_blocks(
    eg_rates: torch.Tensor, rate_scaling: torch.Tensor, sample_rate: int, silent_attack: bool = False
) -> torch.Tensor:
    """Hold ("static") time in blocks for continuous rates (§5).

    The table is indexed by ``min(99, R + RSdelta)`` (the qrate-unit rate
    scaling is added to the 0..99 rate, as in the engine) and interpolated
    linearly; ``silent_attack`` selects the shorter hold before an attack
    whose L1 is 0. Scaled to the sample rate as the engine scales it (so a
    hold lasts ``(44100 / sample_rate)**2`` times its 44.1 kHz length in
    seconds).

    Args:
        eg_rates: continuous rates, any shape.
        rate_scaling: broadcastable to ``eg_rates``.
    """
    table = _SILENT_HOLD_SAMPLES if silent_attack else _HOLD_SAMPLES
    samples = interpolate_table(table, torch.clamp(eg_rates + rate_scaling, max=99.0))
    return samples * (sample_rate_multiplier(sample_rate) / float(Q24) / BLOCK_SIZE)


# ------------------------------------------------------------------ attacks

# The engine's attack step is ``increment * floor(17 - level)`` (level in
# doublings); ``16.5 - level`` is that factor with its steps averaged out.
ATTACK_CEILING = 16.5 * MICROSTEPS_PER_DOUBLING  # microsteps
_MAX_ATTACK_STEP = 1.0 - 2.0 ** -20


def _attack_log_ratio(increment: torch.Tensor) -> torch.Tensor:
    """``log(1 - increment / 256)``: log of the factor by which an attack's distance to the ceiling shrinks per block.

    The step is clamped below one doubling, so that an attack that would
    overshoot the ceiling within a block finishes in a sliver of one block.
    """
    step = torch.clamp(increment / MICROSTEPS_PER_DOUBLING, max=_MAX_ATTACK_STEP)
    return torch.log1p(-step)


# ------------------------------------------------------------------ stages


def _stage(start: torch.Tensor, target: torch.Tensor, increment: torch.Tensor, elapsed: torch.Tensor):
    """Level of one stage ``elapsed`` blocks after it began, and its movement time in blocks.

    Args:
        start, target, increment: ``[...]`` level at the stage's start and its
            target (microsteps), increment (microsteps per block).
        elapsed: ``[..., T]`` blocks since the stage began (values below 0
            are treated as 0).

    Returns:
        ``(level [..., T], duration [...])``. A rising stage jumps to 1716
        microsteps (faded in over its first block) and follows the attack
        law; a falling one falls linearly; an equal one stays.
    """
    rising = target > start
    falling = target < start
    jump = torch.clamp(start, min=float(EG_JUMP_MICROSTEPS))
    # Attack: the engine's Euler steps with the slope factor 16.5 - level,
    # i.e. the distance to the ceiling shrinks geometrically per block.
    log_ratio = _attack_log_ratio(increment)
    headroom = torch.clamp(ATTACK_CEILING - jump, min=1.0)
    target_headroom = torch.clamp(ATTACK_CEILING - target, min=1.0)
    rise = torch.clamp(torch.log(target_headroom / headroom) / log_ratio, min=0.0)
    fall = torch.clamp(start - target, min=0.0) / increment
    zero = torch.zeros_like(start)
    duration = torch.where(rising, rise, torch.where(falling, fall, zero))

    t = torch.minimum(elapsed.clamp(min=0.0), duration.unsqueeze(-1))
    rise_level = ATTACK_CEILING - headroom.unsqueeze(-1) * torch.exp(t * log_ratio.unsqueeze(-1))
    fall_level = start.unsqueeze(-1) - increment.unsqueeze(-1) * t
    moving = torch.where(rising.unsqueeze(-1), rise_level, fall_level)
    level = torch.where(elapsed >= duration.unsqueeze(-1), target.unsqueeze(-1), moving)
    # The engine jumps to the attack floor within the stage's first block.
    jumped = torch.where(rising, torch.minimum(jump, target) - start, zero)
    level = level - jumped.unsqueeze(-1) * (1.0 - elapsed.clamp(0.0, 1.0))
    return level, duration


def _stage_length(duration: torch.Tensor) -> torch.Tensor:
    """Blocks from a moving stage's start to the next one's: ``max(1, d + 1/2)``, the mean of ``max(1, ceil(d))``."""
    return torch.clamp(duration + 0.5, min=1.0)


def _hold_length(hold_blocks: torch.Tensor) -> torch.Tensor:
    """Blocks a hold delays the next stage.

    The engine's ``ceil(h) - 1`` for ``h > 0``, relaxed to its mean ``h - 1/2``;
    a zero hold is no hold at all, and the stage then takes the one block of a
    movement, hence ``max(h - 1/2, 1 - 2 h)`` (exact at ``h = 0``).
    """
    return torch.maximum(hold_blocks - 0.5, 1.0 - 2.0 * hold_blocks)


def envelope_levels(
    targets: torch.Tensor,
    increments: torch.Tensor,
    hold_blocks: torch.Tensor,
    silent_hold_blocks: torch.Tensor,
    first_level: torch.Tensor,
    num_blocks: int,
    note_off_block: int,
    hold_targets: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Envelope level at the end of every block, in microsteps, for one note.

    Args:
        targets: ``[..., 4]`` stage targets (:func:`eg_targets`).
        increments: ``[..., 4]`` per-block increments (:func:`eg_increments`).
        hold_blocks: ``[..., 4]`` hold times (:func:`eg_hold_blocks`); only
            stage 2's is used (a hold in stages 3 and 4 changes nothing).
        silent_hold_blocks: ``[...]`` stage 1's hold when L1 = 0
            (:func:`eg_hold_blocks` with ``silent_attack=True``).
        first_level: ``[...]`` the continuous L1 (0..99): the silent-attack
            hold is weighted by ``clamp(1 - L1, 0, 1)``.
        num_blocks: blocks to evaluate.
        note_off_block: first block with the key up (``>= num_blocks``: none).
        hold_targets: ``[..., 4]`` targets that decide whether stage 2 holds
            (default ``targets``). With grid smoothing pass the unsmoothed
            targets, so that the DX7's equal-target holds (L1 = 99 with
            L2 = 98, a common idiom) survive the smoothing.

    Returns:
        ``[..., num_blocks]`` levels; gain is ``2**(level / 256 - 14)``
        before amplitude modulation.
    """
    dtype, device = targets.dtype, targets.device
    steps = torch.arange(1, num_blocks + 1, dtype=dtype, device=device)
    releasing = 0 <= note_off_block < num_blocks
    if releasing:
        steps = torch.cat([steps, steps.new_tensor([float(note_off_block)])])
    t1, t2, t3, t4 = targets.unbind(-1)
    i1, i2, i3, i4 = increments.unbind(-1)
    zero = torch.zeros_like(t1)

    # Stage 1 (towards L1). With L1 = 0 the engine waits instead of attacking
    # and stays silent, so stage 2 then starts from silence.
    silent = torch.clamp(1.0 - first_level, 0.0, 1.0)
    stage1_target = (1.0 - silent) * t1
    level1, move1 = _stage(zero, stage1_target, i1, steps)
    start2 = silent * _hold_length(silent_hold_blocks) + (1.0 - silent) * _stage_length(move1)

    # Stage 2 (towards L2): holds when its target equals the level it starts from.
    level2, move2 = _stage(stage1_target, t2, i2, steps - start2.unsqueeze(-1))
    if hold_targets is None:
        hold_t1, hold_t2 = t1, t2
    else:
        hold_t1, hold_t2 = hold_targets[..., 0], hold_targets[..., 1]
    equal = torch.clamp(1.0 - (hold_t2 - (1.0 - silent) * hold_t1).abs(), 0.0, 1.0)
    start3 = start2 + equal * _hold_length(hold_blocks[..., 1]) + (1.0 - equal) * _stage_length(move2)

    # Stage 3 (towards L3), then the sustain at L3 while the key is down.
    level3, _ = _stage(t2, t3, i3, steps - start3.unsqueeze(-1))
    s = steps.expand_as(level1)
    held = torch.where(
        s < start2.unsqueeze(-1), level1, torch.where(s < start3.unsqueeze(-1), level2, level3)
    )
    if not releasing:
        return held
    # Key-off: stage 4 (towards L4 at R4) from wherever the envelope is.
    at_key_off = held[..., -1]
    held = held[..., :-1]
    elapsed = steps[:-1] - float(note_off_block)
    released, _ = _stage(at_key_off, t4, i4, elapsed)
    return torch.where(elapsed > 0, released, held)
