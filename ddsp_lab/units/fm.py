"""FM synthesis: six DX7-style operators driven by frame-rate levels (DDX7 style)."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Union

import torch
from torch import nn

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_positive,
    check_same_frames,
    check_sample_rate,
    check_tensor,
)
from ..core.fm import (
    FEEDBACK_METHODS,
    MAX_DX7_FEEDBACK,
    TWO_PI,
    _render,
    carson_bandwidth_hz,
    dx7_feedback_amount,
    operator_order,
)
from ..core.phase import frame_start_phases
from ..core.upsample import next_frames
from ..dx7.algorithms import carrier_mask, get_algorithm
from ..dx7.algorithms import modulation_matrix as dx7_matrix
from .base import Processor

FeedbackLike = Union[float, int, torch.Tensor]


def _frame_ramps(hop: int, sample_rate: int, device, dtype):
    """Per-sample weights inside a frame, ``[hop]`` each.

    ``ramp = j / hop`` interpolates a control linearly to the next frame;
    ``linear`` and ``quadratic`` turn a frequency ramp ``f0 -> f1`` into the
    exact running phase ``linear * f0 + quadratic * (f1 - f0)`` (radians), the
    same sum that :func:`~ddsp_lab.core.phase.frame_start_phases` takes at
    frame rate.
    """
    j = torch.arange(hop, device=device, dtype=torch.float64)
    ramp = j / hop
    linear = TWO_PI * j / sample_rate
    quadratic = TWO_PI * j * (j - 1) / (2.0 * hop * sample_rate)
    return ramp.to(dtype), linear.to(dtype), quadratic.to(dtype)


class FMSynth(Processor):
    """Frequency modulation synthesiser with DX7 routing and self-feedback.

    Six operators (or ``N`` with a custom ``modulation_matrix``) run at fixed
    frequency ratios of ``f0`` (per patch, as in DDX7; optionally learnable)
    or at fixed frequencies in Hz. A network (or gradient descent) drives the
    output level of every operator over time. Operator ``k`` outputs
    ``g_k * sin(phase_k + 2*pi * sum of its modulators' outputs)``: a
    modulator with gain ``g`` adds ``g * sin`` **cycles** to its target's
    phase, i.e. a peak modulation index of ``2*pi*g`` radians (DX7 full
    scale ``g = 2``: ``4*pi``). The output is the sum of the carriers times
    ``output_gain`` (Dexed's level is ``output_gain = 1/16``). See
    :func:`~ddsp_lab.core.fm.fm_render`.

    Rendering: operator frequencies are ``ratio * f0`` (or the fixed Hz) at
    frame rate; their phases are accumulated in float64 at frame rate,
    wrapped, and continued inside each frame with the exact sum of the
    linearly interpolated frequency (as :class:`~ddsp_lab.units.Harmonic`
    does), so long notes keep their pitch. Levels are interpolated linearly
    over each hop (frame ``n`` is the value at sample ``n * hop_length``, the
    last frame is held).

    Aliasing: FM is not band-limited and this unit does nothing against it,
    deliberately: the DX7 and its emulators alias too, and a patch fitted to
    them must reproduce that. Sidebands reach about
    ``f_carrier + (2*pi*g + 1) * f_modulator`` (Carson's rule);
    :meth:`bandwidth_hz` evaluates this for given controls. Keep it below
    ``sample_rate / 2`` (smaller levels or ratios, or a higher sample rate)
    where aliasing matters.

    Args:
        sample_rate: audio sample rate in Hz (any).
        hop_length: audio samples per control frame.
        algorithm: DX7 algorithm 1..32 (default 1 unless
            ``modulation_matrix`` is given): sets the routing, the carriers
            and the feedback operator (msfa's self-feedback operator, see
            :mod:`ddsp_lab.dx7.algorithms`).
        modulation_matrix: custom ``[N, N]`` routing instead of an algorithm,
            ``M[dst, src] = 1`` when ``OP(src+1)`` modulates ``OP(dst+1)``;
            any acyclic graph.
        carriers: ``[N]`` output weights for a custom routing (default: the
            operators that modulate nothing); algorithms bring their own.
        feedback_operator: operator number ``1..N`` with self-feedback for a
            custom routing (default none); algorithms bring their own.
        ratios: frequency ratio of each operator to ``f0``, ``> 0``.
        fixed_frequencies_hz: optional sequence of ``N`` entries, ``None``
            for an operator that follows ``f0`` or a frequency in Hz
            (``>= 0``) for a fixed-frequency operator (DX7 "fixed" mode).
        feedback: DX7 feedback setting in ``[0, 7]`` (continuous, see
            :func:`~ddsp_lab.core.fm.dx7_feedback_amount`); 0 is off.
        learnable_ratios: make ``ratios`` an ``nn.Parameter``.
        learnable_feedback: make ``feedback`` an ``nn.Parameter`` (clamped to
            ``[0, 7]`` when used).
        max_level: largest gain :meth:`get_controls` produces; the default
            2.0 is the DX7's full scale (peak index ``4*pi`` rad).
        scale_fn: maps raw network outputs to ``[0, 1]`` in
            :meth:`get_controls` (default ``torch.sigmoid``, as DDX7).
        output_gain: factor on the sum of carriers.
        feedback_method: see :func:`~ddsp_lab.core.fm.self_feedback_operator`.

    Shapes:
        ``get_signal(f0_hz [B, F, 1], levels [B, F, N]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        algorithm: Optional[int] = None,
        modulation_matrix: Optional[torch.Tensor] = None,
        carriers: Optional[Sequence[float]] = None,
        feedback_operator: Optional[int] = None,
        ratios: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        fixed_frequencies_hz: Optional[Sequence[Optional[float]]] = None,
        feedback: float = 0.0,
        learnable_ratios: bool = False,
        learnable_feedback: bool = False,
        max_level: float = 2.0,
        scale_fn: Callable[[torch.Tensor], torch.Tensor] = torch.sigmoid,
        output_gain: float = 1.0,
        feedback_method: str = "auto",
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.max_level = check_positive(max_level, "max_level")
        self.output_gain = check_positive(output_gain, "output_gain", allow_zero=True)
        self.scale_fn = scale_fn
        if feedback_method not in FEEDBACK_METHODS:
            raise ValueError(f"feedback_method must be one of {FEEDBACK_METHODS}, got {feedback_method!r}")
        self.feedback_method = feedback_method

        if modulation_matrix is not None:
            if algorithm is not None:
                raise ValueError("give either algorithm or modulation_matrix, not both")
            matrix, carrier_weights, fb_operator = self._custom_routing(
                modulation_matrix, carriers, feedback_operator
            )
            self.algorithm = None
        else:
            if carriers is not None or feedback_operator is not None:
                raise ValueError(
                    "carriers and feedback_operator come with the algorithm; pass modulation_matrix "
                    "for a custom routing"
                )
            number = 1 if algorithm is None else algorithm
            routing = get_algorithm(number)
            matrix, carrier_weights = dx7_matrix(number), carrier_mask(number)
            fb_operator = routing.feedback_operator
            self.algorithm = number
        self.num_operators = matrix.shape[0]
        self.feedback_operator = fb_operator
        self.register_buffer("modulation_matrix", matrix)
        self.register_buffer("carriers", carrier_weights)

        ratios = self._check_ratios(ratios)
        fixed_hz, fixed_mask = self._check_fixed(fixed_frequencies_hz)
        if learnable_ratios:
            self.ratios = nn.Parameter(ratios)
        else:
            self.register_buffer("ratios", ratios)
        self.register_buffer("fixed_frequencies_hz", fixed_hz)
        self.register_buffer("fixed_mask", fixed_mask)

        feedback = check_positive(feedback, "feedback", allow_zero=True)
        if feedback > MAX_DX7_FEEDBACK:
            raise ValueError(f"feedback must be a DX7 feedback setting in [0, 7], got {feedback}")
        if fb_operator is None and (feedback != 0.0 or learnable_feedback):
            raise ValueError("feedback needs a feedback_operator (this custom routing has none)")
        feedback = torch.tensor(feedback)
        if learnable_feedback:
            self.feedback = nn.Parameter(feedback)
        else:
            self.register_buffer("feedback", feedback)

    # -- construction helpers ------------------------------------------------

    @staticmethod
    def _custom_routing(modulation_matrix, carriers, feedback_operator):
        if not isinstance(modulation_matrix, torch.Tensor):
            modulation_matrix = torch.as_tensor(modulation_matrix, dtype=torch.float32)
        check_tensor(modulation_matrix, "modulation_matrix", ndim=2)
        matrix = modulation_matrix.detach().to(torch.float32).clone()
        operator_order(matrix)  # rejects non-square matrices and cycles early
        count = matrix.shape[0]
        if carriers is None:
            carrier_weights = (matrix.abs().sum(dim=0) == 0).to(torch.float32)
        else:
            carrier_weights = torch.as_tensor(carriers, dtype=torch.float32).clone()
            check_tensor(carrier_weights, "carriers", ndim=1)
            if carrier_weights.shape[0] != count:
                raise ValueError(
                    f"carriers must have {count} entries (one per operator), got {carrier_weights.shape[0]}"
                )
        if feedback_operator is not None:
            if isinstance(feedback_operator, bool) or not isinstance(feedback_operator, int):
                raise TypeError(f"feedback_operator must be an operator number 1..{count} or None")
            if not 1 <= feedback_operator <= count:
                raise ValueError(
                    f"feedback_operator must be an operator number 1..{count}, got {feedback_operator}"
                )
        return matrix, carrier_weights, feedback_operator

    def _check_ratios(self, ratios) -> torch.Tensor:
        values = torch.as_tensor(ratios, dtype=torch.float32).clone()
        check_tensor(values, "ratios", ndim=1)
        if values.shape[0] != self.num_operators:
            raise ValueError(
                f"ratios must have {self.num_operators} entries (one per operator), got {values.shape[0]}"
            )
        if bool((values <= 0).any()):
            raise ValueError(f"ratios must be > 0, got {values.tolist()}")
        return values

    def _check_fixed(self, fixed):
        hz = torch.zeros(self.num_operators)
        mask = torch.zeros(self.num_operators)
        if fixed is None:
            return hz, mask
        if len(fixed) != self.num_operators:
            raise ValueError(
                f"fixed_frequencies_hz must have {self.num_operators} entries (None or Hz), got {len(fixed)}"
            )
        for k, value in enumerate(fixed):
            if value is not None:
                hz[k] = check_positive(value, f"fixed_frequencies_hz[{k}]", allow_zero=True)
                mask[k] = 1.0
        return hz, mask

    # -- controls ------------------------------------------------------------

    def get_controls(self, f0_hz: torch.Tensor, levels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Map raw level outputs to operator gains ``max_level * scale_fn(levels)``.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental in Hz (passed through).
            levels: ``[B, F, N]`` unbounded network outputs.

        Returns:
            ``{"f0_hz", "levels"}`` with levels in ``[0, max_level]``.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(levels, "levels", channels=self.num_operators)
        return {"f0_hz": f0_hz, "levels": self.max_level * self.scale_fn(levels)}

    def operator_frequencies_hz(self, f0_hz: torch.Tensor) -> torch.Tensor:
        """``[B, F, 1] -> [B, F, N]``: ``ratio * f0``, or the fixed frequency in Hz."""
        ratios = self.ratios.to(f0_hz.dtype)
        mask = self.fixed_mask.to(f0_hz.dtype)
        return f0_hz * (ratios * (1.0 - mask)) + self.fixed_frequencies_hz.to(f0_hz.dtype) * mask

    def feedback_amount(self, feedback: Optional[FeedbackLike] = None) -> FeedbackLike:
        """``beta`` of the unit's feedback setting, or of ``feedback`` (setting, number or ``[B]``)."""
        if feedback is None:
            setting = self.feedback
            if isinstance(setting, nn.Parameter):
                setting = setting.clamp(0.0, MAX_DX7_FEEDBACK)
            return dx7_feedback_amount(setting)
        return dx7_feedback_amount(feedback)

    def bandwidth_hz(self, f0_hz: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        """Carson's-rule upper spectral edge of every operator, ``[B, F, N]`` in Hz.

        See :func:`~ddsp_lab.core.fm.carson_bandwidth_hz`; a carrier whose
        edge reaches ``sample_rate / 2`` aliases.
        """
        return carson_bandwidth_hz(self.operator_frequencies_hz(f0_hz), levels, self.modulation_matrix)

    # -- rendering -----------------------------------------------------------

    def get_signal(
        self,
        f0_hz: torch.Tensor,
        levels: torch.Tensor,
        feedback: Optional[FeedbackLike] = None,
        initial_phases: Optional[torch.Tensor] = None,
        feedback_state: Optional[torch.Tensor] = None,
        return_state: bool = False,
    ):
        """Render the operators.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental in Hz, ``>= 0``.
            levels: ``[B, F, N]`` operator gains ``g`` (linear; a modulator
                with gain ``g`` has peak index ``2*pi*g`` rad).
            feedback: optional DX7 feedback setting in ``[0, 7]`` overriding
                the unit's, a number or a tensor ``[B]`` (differentiable).
            initial_phases: optional ``[B, N]`` operator phases at sample 0,
                radians (to continue a stream).
            feedback_state: optional ``[B, 2]`` last two outputs of the
                feedback operator (to continue a stream).
            return_state: also return ``{"phases": [B, N], "feedback_state":
                [B, 2]}``, the state after the last sample, to pass to the
                next call.

        Returns:
            ``[B, F * hop_length]`` audio, or ``(audio, state)``.
        """
        count = self.num_operators
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(levels, "levels", channels=count)
        check_same_frames(f0_hz=f0_hz, levels=levels)
        check_nonnegative(f0_hz, "f0_hz")
        batch, frames, _ = levels.shape
        if initial_phases is not None:
            check_tensor(initial_phases, "initial_phases", ndim=2, last_dim=count)
            if initial_phases.shape[0] != batch:
                raise ValueError(
                    f"initial_phases must be [batch, {count}] = [{batch}, {count}], "
                    f"got {tuple(initial_phases.shape)}"
                )
        if feedback_state is not None:
            check_tensor(feedback_state, "feedback_state", ndim=2, last_dim=2)
            if feedback_state.shape[0] != batch:
                raise ValueError(
                    f"feedback_state must be [batch, 2] = [{batch}, 2], got {tuple(feedback_state.shape)}"
                )
        if feedback is not None and self.feedback_operator is None:
            raise ValueError("feedback was given but this routing has no feedback_operator")
        amount = self.feedback_amount(feedback)
        if isinstance(amount, torch.Tensor) and amount.dim() == 1 and amount.shape[0] not in (1, batch):
            raise ValueError(
                f"feedback must be a number or a tensor [batch] = [{batch}], got shape {tuple(amount.shape)}"
            )

        hop, dtype, device = self.hop_length, levels.dtype, levels.device
        f0_hz = f0_hz.to(dtype)
        frequencies = self.operator_frequencies_hz(f0_hz)
        phase0 = frame_start_phases(frequencies, self.sample_rate, hop, initial_phases)
        ramp, linear, quadratic = _frame_ramps(hop, self.sample_rate, device, dtype)
        # Inside frame n the running phase of f0 grows by exactly
        # linear[j] * f0[n] + quadratic[j] * (f0[n+1] - f0[n]) (linear
        # interpolation of the frequency); an operator at ratio r adds r times
        # that to its own frame-start phase, which was accumulated in float64
        # and wrapped, so the float32 part never exceeds one frame's growth.
        growth = torch.addcmul(linear * f0_hz, quadratic, next_frames(f0_hz) - f0_hz)
        level_steps = next_frames(levels) - levels
        ratios = self.ratios
        learnable = ratios.requires_grad and torch.is_grad_enabled()
        ratio_values = ratios.detach().tolist()
        fixed = self.fixed_mask.tolist()
        fixed_hz = self.fixed_frequencies_hz.tolist()
        samples = frames * hop
        phases, gains = [], []
        for k in range(count):
            start = phase0[..., k:k + 1]
            if fixed[k]:
                phase = torch.add(start, linear, alpha=fixed_hz[k])
            elif learnable:
                phase = start + growth * ratios[k].to(dtype)
            else:
                phase = torch.add(start, growth, alpha=ratio_values[k])
            phases.append(phase.reshape(batch, samples))
            gain = torch.addcmul(levels[..., k:k + 1], ramp, level_steps[..., k:k + 1])
            gains.append(gain.reshape(batch, samples))
        audio, state = _render(
            phases,
            gains,
            self.modulation_matrix.to(dtype),
            self.carriers.to(dtype),
            None if self.feedback_operator is None else self.feedback_operator - 1,
            amount,
            feedback_state,
            self.feedback_method,
            phases_owned=True,
        )
        if self.output_gain != 1.0:
            audio = audio * self.output_gain
        if not return_state:
            return audio
        held = torch.cat([frequencies, frequencies[:, -1:]], dim=1)
        end_phases = frame_start_phases(held, self.sample_rate, hop, initial_phases)[:, -1]
        if state is None:
            state = levels.new_zeros(batch, 2)
        return audio, {"phases": end_phases, "feedback_state": state}
