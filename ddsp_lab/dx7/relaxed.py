"""The differentiable DX7 voice: a continuous relaxation of the voice engine.

:class:`RelaxedVoice` holds a DX7 voice as continuous parameters in DX7 units
and renders notes with torch operations, so that gradients of any loss on the
audio reach the envelope rates and levels, output levels, frequency ratios
(or fixed frequencies), detunes and feedback. At integer parameter values it
plays the voice as :func:`~ddsp_lab.dx7.engine.render_voice` does, up to the
differences listed below; :meth:`RelaxedVoice.to_voice` rounds it back onto
the DX7 grid, where every value is one sysex byte.

What is relaxed, and how (``shared/reference/dx7/DX7_ENGINE.md`` sections):

* **Envelopes, output levels, keyboard scaling, velocity** (§4-§7): the
  closed-form envelope of :mod:`ddsp_lab.dx7.relaxed_envelopes` (integer maps
  interpolated between the integer settings, stages solved in continuous
  time). Keyboard level and rate scaling and velocity sensitivity enter as
  the engine computes them for the note (fixed integers).
* **Frequencies** (§9): ratio-mode operators have a continuous log2 ratio,
  ``log2((coarse or 0.5) * (1 + fine / 100))``, and a continuous detune
  (Dexed's detune law without its truncation); fixed-mode operators a
  continuous ``log10`` of their frequency in Hz, ``(coarse mod 4) + fine / 100``
  (detune above 7 raises it by 0.96 cent per step, as in the engine).
* **Feedback** (§8): a setting in ``[0, 7]`` through
  :func:`~ddsp_lab.core.fm.dx7_feedback_amount` (``2**(FB - 8)`` from 1 up,
  ``FB / 128`` below).
* **Pitch EG, LFO, amplitude modulation, transpose, algorithm, oscillator
  mode** (§3, §10): fixed. Their per-block curves (pitch modulation in
  octaves, the amplitude-modulation cut of each operator's log level) are
  taken from the exact control stage (:func:`~ddsp_lab.dx7.controls.voice_controls`),
  which does not depend on the note, the velocity or any learnable parameter.

Per block of 64 samples the relaxed control stage gives every operator a
log level (microsteps), a linear gain ``2**(level / 256 - 14)`` and a phase
increment; the audio stage ramps each gain linearly over the block from the
previous block's value (as the engine does), accumulates phases in float64,
and renders the six operators through :func:`~ddsp_lab.core.fm.fm_render`
with the algorithm's routing and self-feedback; the carriers' sum is scaled
by ``1/16`` (Dexed's output level).

Differences from the engine at integer settings (measured in
``tests/test_dx7_relaxed.py``; see also ``docs/fm.md``):

* stage boundaries are continuous: a stage lasts ``max(1, d + 1/2)`` blocks
  for a movement of ``d`` blocks, where the engine takes ``max(1, ceil(d))``
  (so up to half a block early or late per stage); holds likewise;
* attacks follow the engine's per-block steps with a slope factor
  ``16.5 - level`` (doublings) where the engine uses ``floor(17 - level)``;
* the engine truncates every phase increment to whole units of ``2**-24``
  cycle per sample; the relaxation subtracts the mean half unit, which leaves
  a frequency error within half a unit (about 1e-5 relative for a 260 Hz
  operator at 44.1 kHz);
* float arithmetic instead of the engine's interpolated sine and exp2
  tables (relative errors of a few 1e-6);
* operators below the engine's silence threshold (gain ``1120 / 2**24``,
  about -90 dB) are not skipped.

With ``grid_smoothing > 0`` integer settings of rates and EG levels are moved
slightly off the engine in exchange for gradients everywhere (see
:class:`RelaxedVoice`).

Voices with feedback 7 on a loud operator are chaotic in both renderers: a
tiny difference grows within milliseconds, so only their spectra agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..core.fm import MAX_DX7_FEEDBACK, dx7_feedback_amount, fm_render
from .algorithms import carrier_mask, get_algorithm, modulation_matrix
from .controls import check_note_arguments, voice_controls
from .relaxed_envelopes import (
    MICROSTEPS_PER_DOUBLING,
    check_grid_smoothing,
    eg_hold_blocks,
    eg_increments,
    eg_qrates,
    eg_targets,
    envelope_levels,
    operator_outlevel,
)
from .tables import (
    AMP_MOD_SENSITIVITY,
    BLOCK_SIZE,
    FIXED_DETUNE_STEP,
    NOTE_LOGFREQ_BASE,
    NOTE_LOGFREQ_STEP,
    Q24,
    level_scaling,
    rate_scaling,
    velocity_offset,
)
from .voice import NUM_OPERATORS, Voice

#: Parameter groups that :class:`RelaxedVoice` can make learnable.
LEARNABLE_GROUPS = ("eg_rates", "eg_levels", "output_levels", "frequencies", "detunes", "feedback")

#: Ratio-mode frequency ratios on the DX7 grid: 0.5 (coarse 0, fine 0) to 61.69 (coarse 31, fine 99).
MIN_RATIO = 0.5
MAX_RATIO = 31 * 1.99
#: Fixed-mode frequencies: 10**0 = 1 Hz (coarse 0, fine 0) to 10**3.99 = 9772 Hz (coarse 3, fine 99).
MAX_FIXED_LOG10_HZ = 3.99
MAX_DETUNE = 14
DETUNE_CENTRE = 7

OUTPUT_SCALE = 1.0 / 16.0  # Dexed's float output: the carriers' sum / 16
# Mean truncation of the engine's phase increments, in cycles per sample.
INCREMENT_TRUNCATION = 0.5 / Q24
# Q24 log2(Hz) per unit of log10(Hz) in fixed mode, as the engine computes it
# ((4458616 * (100 c + f)) >> 3 = 557327 * (100 c + f), exact).
FIXED_LOGFREQ_PER_DECADE = 55732700.0


# ---------------------------------------------------------------- grid mapping


def _ratio_grid() -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (coarse, fine) of ratio mode with ``200 * ratio`` as an integer (equal ratios are equal integers)."""
    coarse, fine = np.meshgrid(np.arange(32), np.arange(100), indexing="ij")
    coarse, fine = coarse.ravel(), fine.ravel()
    numerator = np.where(coarse == 0, 100 + fine, 2 * coarse * (100 + fine))
    return coarse, fine, numerator, np.log2(numerator / 200.0)


_RATIO_COARSE, _RATIO_FINE, _RATIO_NUMERATOR, _RATIO_LOG2 = _ratio_grid()


def ratio_to_coarse_fine(ratio: float, prefer_coarse: Optional[int] = None) -> Tuple[int, int]:
    """The DX7 ratio-mode setting nearest to ``ratio`` (in log frequency).

    The grid is ``(coarse or 0.5) * (1 + fine / 100)`` for coarse 0..31 and
    fine 0..99; ratios outside ``[0.5, 61.69]`` go to the nearest end. Some
    ratios have several settings (3.0 is coarse 3 or coarse 2 with fine 50);
    then ``prefer_coarse`` is taken when it is one of them, else the one with
    the smallest fine.

    Args:
        ratio: frequency ratio, > 0.
        prefer_coarse: coarse value to keep among equal settings.

    Returns:
        ``(coarse, fine)``.
    """
    value = _finite_number(ratio, "ratio")
    if value <= 0:
        raise ValueError(f"ratio must be > 0, got {value}")
    distance = np.abs(_RATIO_LOG2 - math.log2(value))
    best = _RATIO_NUMERATOR[int(np.argmin(distance))]
    ties = np.flatnonzero(_RATIO_NUMERATOR == best)
    if prefer_coarse is not None:
        preferred = ties[_RATIO_COARSE[ties] == prefer_coarse]
        if preferred.size:
            return int(_RATIO_COARSE[preferred[0]]), int(_RATIO_FINE[preferred[0]])
    choice = ties[np.argmin(_RATIO_FINE[ties])]
    return int(_RATIO_COARSE[choice]), int(_RATIO_FINE[choice])


def fixed_hz_to_coarse_fine(frequency_hz: float, prefer_coarse: int = 0) -> Tuple[int, int]:
    """The DX7 fixed-mode setting nearest to ``frequency_hz`` (in log frequency).

    Fixed mode plays ``10**((coarse mod 4) + fine / 100)`` Hz, 1 Hz to
    9772 Hz in steps of 1/100 decade; frequencies outside go to the nearest
    end. Only ``coarse mod 4`` matters to the sound: the returned coarse keeps
    the upper bits of ``prefer_coarse`` so that a voice's stored byte survives
    a round trip.

    Returns:
        ``(coarse, fine)``.
    """
    value = _finite_number(frequency_hz, "frequency_hz")
    if value <= 0:
        raise ValueError(f"frequency_hz must be > 0, got {value}")
    steps = int(np.clip(np.floor(100.0 * math.log10(value) + 0.5), 0, 399))
    return (int(prefer_coarse) & ~3 & 31) | (steps // 100), steps % 100


def _finite_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def _round_clamp(value: float, low: int, high: int, name: str) -> int:
    if not math.isfinite(value):
        raise ValueError(f"{name} is not finite ({value}); cannot quantise it")
    return int(min(high, max(low, math.floor(value + 0.5))))


# ---------------------------------------------------------------- controls


@dataclass(frozen=True, eq=False)
class RelaxedControls:
    """Per-block controls of the relaxed voice for a batch of notes.

    Operator axes are OP1 first; block ``b`` covers samples ``64 b .. 64 b + 63``
    and its values are reached at its last sample (gains ramp linearly from
    the previous block's, 0 before block 0).

    Attributes:
        sample_rate: Hz.
        num_samples: samples of the note.
        note_off_block: first block with the key up (``>= num_blocks``: none).
        eg_level: ``[B, blocks, 6]`` envelope log level in microsteps
            (1/256 doubling; ``level / 256 - 14`` is ``log2(gain)``), with
            output level, keyboard level scaling and velocity.
        level: ``[B, blocks, 6]`` ``eg_level`` after LFO amplitude modulation.
        gain: ``[B, blocks, 6]`` linear gain (2.0 = full scale; a modulator of
            gain ``g`` adds ``g * sin`` cycles to its targets' phase).
        phase_increment: ``[B, blocks, 6]`` float64 cycles per sample.
    """

    sample_rate: int
    num_samples: int
    note_off_block: int
    eg_level: torch.Tensor
    level: torch.Tensor
    gain: torch.Tensor
    phase_increment: torch.Tensor

    @property
    def num_blocks(self) -> int:
        """Number of 64-sample blocks."""
        return int(self.gain.shape[1])

    @property
    def frequency_hz(self) -> torch.Tensor:
        """``[B, blocks, 6]`` float64 operator frequencies in Hz."""
        return self.phase_increment * self.sample_rate


@dataclass(frozen=True)
class _FixedCurves:
    """Note-independent per-block curves of the fixed (non-learnable) voice parameters."""

    num_samples: int
    num_blocks: int
    note_off_block: int
    pitch_mod: np.ndarray  # [blocks] Q24 octaves (pitch EG + LFO pitch modulation)
    amp_mod_factor: np.ndarray  # [blocks, 6] factor on each operator's log level


def _amp_mod_factors(voice: Voice, lfo_value: np.ndarray, lfo_delay: np.ndarray) -> np.ndarray:
    """Per block and operator, the factor the engine's amplitude modulation applies to the log level (§10)."""
    mask = 0xFFFFFFFF
    depth = (voice.lfo_amp_mod_depth * 165) >> 6
    amount = ((depth * lfo_delay) >> 8) & mask
    amount = ((amount * (Q24 - lfo_value)) >> 24) & mask
    factors = np.ones((lfo_value.shape[0], NUM_OPERATORS), dtype=np.float64)
    for k, op in enumerate(voice.operators):
        sensitivity = AMP_MOD_SENSITIVITY[op.amp_mod_sensitivity & 3]
        if sensitivity == 0:
            continue
        scaled = (amount * sensitivity) >> 24
        # The engine evaluates the exponential from a single-precision quotient.
        exponent = (scaled.astype(np.float32) / np.float32(262144.0)).astype(np.float64)
        cut = np.floor(np.exp(exponent * 0.07 + 12.2))
        # The engine cuts ``(level * (cut << 4)) >> 28`` off the log level.
        factors[:, k] = 1.0 - cut * 2.0 ** -24
    return factors


# ---------------------------------------------------------------- the voice


class RelaxedVoice(nn.Module):
    """A DX7 voice with continuous, differentiable parameters in DX7 units.

    Build it from a :class:`~ddsp_lab.dx7.voice.Voice` with
    :meth:`from_voice`; render notes with :meth:`render` (or call the
    module); write it back with :meth:`to_voice`, which rounds every value
    onto the DX7 grid (one sysex byte each).

    Learnable parameter groups (``learnable``; the others are buffers with the
    same names, used the same way), in DX7 units:

    * ``"eg_rates"``: ``eg_rates`` ``[6, 4]``, R1..R4 in 0..99 (99 fastest);
    * ``"eg_levels"``: ``eg_levels`` ``[6, 4]``, L1..L4 in 0..99;
    * ``"output_levels"``: ``output_levels`` ``[6]``, 0..99 (0.75 dB per step
      from 20 up);
    * ``"frequencies"``: ``log2_ratios`` ``[6]``, the ratio-mode frequency
      ratio as ``log2((coarse or 0.5) * (1 + fine / 100))``, in
      ``[-1, log2(61.69)]``; and ``log10_fixed_hz`` ``[6]``, the fixed-mode
      frequency as ``log10(Hz) = (coarse mod 4) + fine / 100``, in
      ``[0, 3.99]``. Each operator uses the one of its mode;
    * ``"detunes"``: ``detunes`` ``[6]``, 0..14, 7 = none;
    * ``"feedback"``: ``feedback`` ``[]``, 0..7, through
      :func:`~ddsp_lab.core.fm.dx7_feedback_amount`.

    Always fixed (taken from the voice as integers): algorithm, oscillator
    mode, keyboard level scaling (break point, depths, curves), keyboard rate
    scaling, key-velocity sensitivity, amp-mod sensitivity, pitch EG, LFO
    (speed, delay, depths, waveform, sync, pitch-mod sensitivity), transpose,
    oscillator key sync and name.

    Operator axes are **OP1 first** (row 0 is OP1), like
    :attr:`Voice.operators`. Parameters outside their ranges are clamped when
    used (with zero gradient beyond the range); :meth:`clamp_parameters_`
    clamps them in place, e.g. after an optimiser step.

    Args:
        voice: the voice; values outside the documented DX7 ranges (some
            factory cartridges hold an EG level of 127) are clamped into them,
            with a :class:`~ddsp_lab.dx7.voice.DX7RangeWarning`.
        learnable: names from :data:`LEARNABLE_GROUPS` to make
            ``nn.Parameter`` s (default: all).
        grid_smoothing: in ``[0, 1]``. 0 (default) plays integer settings
            exactly as the engine's control stage does, but rates and EG
            levels then have zero gradient where the DX7 maps two
            neighbouring settings to one value (about a third of the rate
            range, half of the EG-level range). A value ``s > 0`` mixes
            ``s`` times a straight line into those two maps (see
            :func:`~ddsp_lab.dx7.relaxed_envelopes.eg_qrates`,
            :func:`~ddsp_lab.dx7.relaxed_envelopes.eg_level_half_scale`), so
            that every setting has a gradient, and moves integer settings off
            the engine by at most ``s / 2`` qrate and ``16 s`` microsteps. For
            fitting, 0.1 is a reasonable choice; render the quantised voice
            with 0 (or with the engine) to hear what the DX7 plays.
        dtype: dtype of the parameters (default: torch's default dtype).
            Building in float64 directly keeps the log frequencies exact to
            float64; ``.double()`` on a float32 module keeps their float32
            rounding (about 1e-7 of an octave).
    """

    def __init__(
        self,
        voice: Voice,
        learnable: Iterable[str] = LEARNABLE_GROUPS,
        grid_smoothing: float = 0.0,
        dtype: Optional[torch.dtype] = None,
    ):
        super().__init__()
        if not isinstance(voice, Voice):
            raise TypeError(f"voice must be a ddsp_lab.dx7.Voice, got {type(voice).__name__}")
        if isinstance(learnable, str):
            raise TypeError(f"learnable must be a collection of group names, got the string {learnable!r}")
        learnable = tuple(learnable)
        unknown = [name for name in learnable if name not in LEARNABLE_GROUPS]
        if unknown:
            raise ValueError(f"learnable has unknown groups {unknown}; choose from {LEARNABLE_GROUPS}")
        if voice.range_violations():
            voice = voice.clamped()
        self._voice = voice.copy()
        self.learnable = frozenset(learnable)
        self.grid_smoothing = check_grid_smoothing(grid_smoothing)
        self.algorithm = voice.algorithm
        self._curves: Dict[Tuple[float, float, int], _FixedCurves] = {}

        ops = voice.operators
        dtype = torch.get_default_dtype() if dtype is None else dtype
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
        self._add("eg_rates", [list(op.eg_rates) for op in ops], "eg_rates", dtype)
        self._add("eg_levels", [list(op.eg_levels) for op in ops], "eg_levels", dtype)
        self._add("output_levels", [op.output_level for op in ops], "output_levels", dtype)
        self._add("log2_ratios", [math.log2(op.frequency_ratio) for op in ops], "frequencies", dtype)
        self._add("log10_fixed_hz", [(op.coarse % 4) + op.fine / 100.0 for op in ops], "frequencies", dtype)
        self._add("detunes", [op.detune for op in ops], "detunes", dtype)
        self._add("feedback", float(voice.feedback), "feedback", dtype)
        self.register_buffer("fixed_mode", torch.tensor([bool(op.fixed_frequency) for op in ops]))

    def _add(self, name: str, values, group: str, dtype: torch.dtype) -> None:
        tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
        if group in self.learnable:
            setattr(self, name, nn.Parameter(tensor))
        else:
            self.register_buffer(name, tensor)

    @classmethod
    def from_voice(
        cls,
        voice: Voice,
        learnable: Iterable[str] = LEARNABLE_GROUPS,
        grid_smoothing: float = 0.0,
        dtype: Optional[torch.dtype] = None,
    ) -> "RelaxedVoice":
        """A relaxed voice holding ``voice``'s values (see the class docstring)."""
        return cls(voice, learnable, grid_smoothing, dtype)

    # ------------------------------------------------------------ grid

    def to_voice(self) -> Voice:
        """The nearest DX7 voice: every parameter rounded and clamped onto the DX7 grid.

        EG rates and levels, output levels, detunes and feedback are rounded
        (halves up) and clamped to their ranges; ratios and fixed frequencies
        go to the nearest grid setting in log frequency
        (:func:`ratio_to_coarse_fine`, :func:`fixed_hz_to_coarse_fine`,
        keeping the voice's coarse among equal settings). The fixed parameters
        are the voice's. ``from_voice(v).to_voice() == v`` for a voice within
        the documented ranges; write the result with
        :func:`~ddsp_lab.dx7.sysex.write_voice` or :meth:`Voice.to_vced`.

        Raises:
            ValueError: a parameter is NaN or infinite.
        """
        voice = self._voice.copy()
        values = {
            name: getattr(self, name).detach().to("cpu", torch.float64).numpy()
            for name in ("eg_rates", "eg_levels", "output_levels", "log2_ratios", "log10_fixed_hz", "detunes")
        }
        for k, op in enumerate(voice.operators):
            label = f"OP{k + 1}"
            op.eg_rates = [_round_clamp(x, 0, 99, f"{label} eg_rates") for x in values["eg_rates"][k]]
            op.eg_levels = [_round_clamp(x, 0, 99, f"{label} eg_levels") for x in values["eg_levels"][k]]
            op.output_level = _round_clamp(values["output_levels"][k], 0, 99, f"{label} output_level")
            op.detune = _round_clamp(values["detunes"][k], 0, MAX_DETUNE, f"{label} detune")
            if op.fixed_frequency:
                exponent = values["log10_fixed_hz"][k]
                _finite_number(exponent, f"{label} log10_fixed_hz")
                op.coarse, op.fine = fixed_hz_to_coarse_fine(10.0 ** float(exponent), op.coarse)
            else:
                exponent = values["log2_ratios"][k]
                _finite_number(exponent, f"{label} log2_ratio")
                op.coarse, op.fine = ratio_to_coarse_fine(2.0 ** float(exponent), op.coarse)
        voice.feedback = _round_clamp(float(self.feedback.detach()), 0, 7, "feedback")
        return voice

    @torch.no_grad()
    def clamp_parameters_(self) -> "RelaxedVoice":
        """Clamp every parameter in place into its range; returns ``self``."""
        for name, low, high in self._ranges():
            getattr(self, name).clamp_(low, high)
        return self

    @staticmethod
    def _ranges() -> List[Tuple[str, float, float]]:
        return [
            ("eg_rates", 0.0, 99.0),
            ("eg_levels", 0.0, 99.0),
            ("output_levels", 0.0, 99.0),
            ("log2_ratios", math.log2(MIN_RATIO), math.log2(MAX_RATIO)),
            ("log10_fixed_hz", 0.0, MAX_FIXED_LOG10_HZ),
            ("detunes", 0.0, float(MAX_DETUNE)),
            ("feedback", 0.0, MAX_DX7_FEEDBACK),
        ]

    def _clamped(self, name: str) -> torch.Tensor:
        for entry, low, high in self._ranges():
            if entry == name:
                return getattr(self, name).clamp(low, high)
        raise KeyError(name)

    # ------------------------------------------------------------ fixed curves

    def _fixed_curves(self, gate_s: float, duration_s: float, sample_rate: int) -> _FixedCurves:
        key = (gate_s, duration_s, sample_rate)
        curves = self._curves.get(key)
        if curves is None:
            # Pitch EG, LFO and amplitude modulation depend on none of the
            # note, the velocity or the learnable parameters.
            exact = voice_controls(self._voice, 60, 100, gate_s, duration_s, sample_rate)
            curves = _FixedCurves(
                num_samples=exact.num_samples,
                num_blocks=exact.num_blocks,
                note_off_block=exact.note_off_block,
                pitch_mod=exact.pitch_mod.astype(np.float64),
                amp_mod_factor=_amp_mod_factors(self._voice, exact.lfo_value, exact.lfo_delay),
            )
            if len(self._curves) >= 8:
                self._curves.pop(next(iter(self._curves)))
            self._curves[key] = curves
        return curves

    def _note_table(self, notes: Sequence[int], velocities: Sequence[int]):
        """Per note: level scaling, rate scaling, velocity offset (``[B][6]``), log frequency, detune factor (``[B]``)."""
        scaling, rates, offsets, logfreqs, detune_factors = [], [], [], [], []
        for note, velocity in zip(notes, velocities):
            played = note + self._voice.transpose - 24
            ops = self._voice.operators
            scaling.append([
                level_scaling(played, op.breakpoint, op.left_depth, op.right_depth, op.left_curve, op.right_curve)
                for op in ops
            ])
            rates.append([rate_scaling(played, op.rate_scaling) for op in ops])
            offsets.append([velocity_offset(velocity, op.velocity_sensitivity) for op in ops])
            logfreq = NOTE_LOGFREQ_BASE + NOTE_LOGFREQ_STEP * played
            logfreqs.append(float(logfreq))
            # Dexed's detune law, from the single-precision octave as the engine takes it.
            octave = float(np.float32(logfreq) / np.float32(Q24))
            detune_factors.append(0.0209 * math.exp(-0.396 * octave) / 7.0 * logfreq)
        return scaling, rates, offsets, logfreqs, detune_factors

    # ------------------------------------------------------------ rendering

    def controls(
        self,
        note: Union[int, Sequence[int]] = 60,
        velocity: Union[int, Sequence[int]] = 100,
        gate_s: float = 1.0,
        duration_s: float = 2.0,
        sample_rate: int = 44100,
    ) -> RelaxedControls:
        """Per-block controls (envelope levels, gains, phase increments) of a batch of notes.

        Arguments as for :meth:`render`.
        """
        notes, velocities, gate_s, duration_s, sample_rate = _check_notes(
            note, velocity, gate_s, duration_s, sample_rate
        )
        for name, _, _ in self._ranges():
            values = getattr(self, name)
            if not bool(torch.isfinite(values).all()):
                raise ValueError(f"parameter {name} contains NaN or infinite values")
        curves = self._fixed_curves(gate_s, duration_s, sample_rate)
        dtype, device = self.eg_rates.dtype, self.eg_rates.device
        scaling, rates, offsets, logfreqs, detune_factors = self._note_table(notes, velocities)

        def table(values, kind=dtype):
            return torch.tensor(values, dtype=kind, device=device)

        level_scale, rate_scale, offset = table(scaling), table(rates), table(offsets)
        eg_rates = self._clamped("eg_rates")
        eg_levels = self._clamped("eg_levels")
        outlevel = operator_outlevel(self._clamped("output_levels"), level_scale, offset)  # [B, 6]
        targets = eg_targets(eg_levels, outlevel, self.grid_smoothing)  # [B, 6, 4]
        # Holds are decided on the DX7's own targets (levels 98 and 99 stay equal).
        hold_targets = eg_targets(eg_levels, outlevel) if self.grid_smoothing else None
        increments = eg_increments(eg_qrates(eg_rates, rate_scale, self.grid_smoothing), sample_rate)
        holds = eg_hold_blocks(eg_rates, rate_scale.unsqueeze(-1), sample_rate)
        silent_holds = eg_hold_blocks(eg_rates[..., 0], rate_scale, sample_rate, silent_attack=True)
        eg_level = envelope_levels(
            targets, increments, holds, silent_holds, eg_levels[..., 0], curves.num_blocks, curves.note_off_block,
            hold_targets,
        ).transpose(1, 2)  # [B, blocks, 6]
        level = eg_level * table(curves.amp_mod_factor)
        gain = torch.exp2(level / MICROSTEPS_PER_DOUBLING - 14.0)

        # Log frequency in Q24 octaves, in float64 (phases are accumulated there).
        wide = torch.float64
        detunes = self._clamped("detunes").to(wide)
        ratio_logfreq = (
            table(logfreqs, wide).unsqueeze(-1)
            + table(detune_factors, wide).unsqueeze(-1) * (detunes - DETUNE_CENTRE)
            + Q24 * self._clamped("log2_ratios").to(wide)
        )  # [B, 6]
        # Fixed mode: detune only raises the frequency (above 7).
        fixed_logfreq = (
            FIXED_LOGFREQ_PER_DECADE * self._clamped("log10_fixed_hz").to(wide)
            + FIXED_DETUNE_STEP * torch.clamp(detunes - DETUNE_CENTRE, min=0.0)
        )  # [6]
        pitch = table(curves.pitch_mod, wide).unsqueeze(-1)  # [blocks, 1]
        logfreq = torch.where(self.fixed_mode, fixed_logfreq, ratio_logfreq.unsqueeze(1) + pitch)  # [B, blocks, 6]
        # The engine truncates each increment to whole Q24 phase units, half a
        # unit low on average.
        phase_increment = torch.exp2(logfreq / Q24) / sample_rate - INCREMENT_TRUNCATION
        return RelaxedControls(
            sample_rate=sample_rate,
            num_samples=curves.num_samples,
            note_off_block=curves.note_off_block,
            eg_level=eg_level,
            level=level,
            gain=gain,
            phase_increment=phase_increment,
        )

    def render_controls(self, controls: RelaxedControls) -> torch.Tensor:
        """Audio stage: ``[B, num_samples]`` from :meth:`controls` (in the dtype of its gains).

        Gains ramp linearly inside each block from the previous block's value;
        phases are accumulated in float64 and wrapped; the operators run
        through :func:`~ddsp_lab.core.fm.fm_render`; the carriers' sum is
        scaled by 1/16.
        """
        if not isinstance(controls, RelaxedControls):
            raise TypeError(f"controls must be RelaxedControls, got {type(controls).__name__}")
        gain, increment = controls.gain, controls.phase_increment
        dtype = gain.dtype
        batch, blocks, count = gain.shape
        samples = controls.num_samples
        offsets = torch.arange(BLOCK_SIZE, dtype=torch.float64, device=gain.device)

        previous = torch.cat([gain.new_zeros(batch, 1, count), gain[:, :-1]], dim=1)
        ramp = ((offsets + 1.0) / BLOCK_SIZE).to(dtype).view(1, 1, BLOCK_SIZE, 1)
        gains = previous.unsqueeze(2) + ramp * (gain - previous).unsqueeze(2)
        gains = gains.reshape(batch, blocks * BLOCK_SIZE, count)[:, :samples]

        advance = BLOCK_SIZE * increment
        start = torch.cumsum(advance, dim=1) - advance
        start = torch.remainder(start, 1.0)
        cycles = start.unsqueeze(2) + offsets.view(1, 1, BLOCK_SIZE, 1) * increment.unsqueeze(2)
        cycles = cycles.reshape(batch, blocks * BLOCK_SIZE, count)[:, :samples]
        phases = (2.0 * math.pi * torch.remainder(cycles, 1.0)).to(dtype)

        routing = get_algorithm(self.algorithm)
        feedback = self._clamped("feedback")
        if feedback.requires_grad or bool(feedback != 0):
            amount = dx7_feedback_amount(feedback)
        else:
            amount = 0.0
        audio = fm_render(
            phases,
            gains,
            modulation_matrix(self.algorithm, dtype=dtype, device=gain.device),
            carrier_mask(self.algorithm, dtype=dtype, device=gain.device),
            feedback_operator=routing.feedback_operator,
            feedback=amount,
        )
        return audio * OUTPUT_SCALE

    def render(
        self,
        note: Union[int, Sequence[int]] = 60,
        velocity: Union[int, Sequence[int]] = 100,
        gate_s: float = 1.0,
        duration_s: float = 2.0,
        sample_rate: int = 44100,
    ) -> torch.Tensor:
        """Render notes of the voice, differentiably.

        Each note starts at sample 0 with a fresh voice (phases, feedback
        history and LFO at zero, as :func:`~ddsp_lab.dx7.engine.render_voice`)
        and the key goes up at the first 64-sample block starting at or after
        ``gate_s``.

        Args:
            note: MIDI note 0..127, or a sequence of them (one row each); the
                voice's transpose is added.
            velocity: MIDI velocity 1..127, or a sequence (one per note; a
                single value is used for every note).
            gate_s: seconds from note-on to note-off, >= 0.
            duration_s: seconds rendered, > 0.
            sample_rate: Hz, an integer in 8000..192000.

        Returns:
            ``[B, round(duration_s * sample_rate)]`` audio in the parameters'
            dtype and device (``B`` = number of notes); a full-scale carrier
            peaks at 0.125, as in the engine.

        Raises:
            TypeError / ValueError: bad notes, velocities, times or sample
                rate (naming the argument).
        """
        return self.render_controls(self.controls(note, velocity, gate_s, duration_s, sample_rate))

    def forward(self, *args, **kwargs) -> torch.Tensor:
        """Same as :meth:`render`."""
        return self.render(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"name={self._voice.name.rstrip()!r}, algorithm={self.algorithm}, learnable={sorted(self.learnable)}"


def _as_list(value, name: str) -> List:
    if isinstance(value, torch.Tensor):
        if value.dim() > 1 or value.is_floating_point() or value.is_complex():
            raise TypeError(f"{name} must be an int, a sequence of ints or a 1-D integer tensor")
        return [int(v) for v in value.reshape(-1).tolist()]
    if isinstance(value, (list, tuple, np.ndarray)):
        return list(value)
    return [value]


def _check_notes(note, velocity, gate_s, duration_s, sample_rate):
    """Validate a batch of notes; returns ``(notes, velocities, gate_s, duration_s, sample_rate)``."""
    notes = _as_list(note, "note")
    velocities = _as_list(velocity, "velocity")
    if not notes:
        raise ValueError("note is an empty sequence")
    if not velocities:
        raise ValueError("velocity is an empty sequence")
    if len(velocities) == 1:
        velocities = velocities * len(notes)
    elif len(notes) == 1:
        notes = notes * len(velocities)
    if len(notes) != len(velocities):
        raise ValueError(f"note and velocity must have the same length, got {len(notes)} and {len(velocities)}")
    checked_notes, checked_velocities = [], []
    for n, v in zip(notes, velocities):
        n, v, gate_s, duration_s, sample_rate = check_note_arguments(n, v, gate_s, duration_s, sample_rate)
        checked_notes.append(n)
        checked_velocities.append(v)
    return checked_notes, checked_velocities, gate_s, duration_s, sample_rate


__all__ = [
    "LEARNABLE_GROUPS",
    "RelaxedControls",
    "RelaxedVoice",
    "fixed_hz_to_coarse_fine",
    "ratio_to_coarse_fine",
]
