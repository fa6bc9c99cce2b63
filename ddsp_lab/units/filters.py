"""Resonant filters with time-varying cutoff and resonance.

* :class:`Biquad`: an RBJ-cookbook biquad (lowpass, highpass, bandpass,
  notch, allpass, peaking, shelves) in direct form I with per-sample
  coefficients.
* :class:`StateVariableFilter`: the topology-preserving (Zavalishin)
  state-variable filter, giving lowpass, bandpass and highpass at once; the
  one to use under fast cutoff modulation.

Controls (``cutoff_hz``, ``q``, ``gain_db``) come either at frame rate
``[B, F, 1]``, upsampled linearly with ``hop_length`` (frame ``n`` is the value
at sample ``n * hop_length``; ``F = ceil(samples / hop_length)``), or at audio
rate ``[B, samples, 1]``, or as one value per batch item ``[B, 1, 1]`` (which
takes the faster constant-coefficient path of the biquad). A batch size of 1
broadcasts over the audio batch.

Cutoffs must be > 0 Hz; above ``MAX_CUTOFF_RATIO * sample_rate`` (0.49, i.e.
2 % of the sample rate below Nyquist) they are clamped, because at Nyquist
the biquad's poles reach the unit circle and the SVF's integrator gain
``tan(pi f / sr)`` is infinite. The clamp passes no gradient.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch

from ..core.checks import check_audio, check_controls, check_hop_length, check_sample_rate
from ..core.conversions import unit_to_range
from ..core.iir import (
    BIQUAD_GAIN_MODES,
    BIQUAD_MODES,
    SVF_OUTPUTS,
    biquad_coefficients,
    state_variable_filter,
    time_varying_biquad,
)
from ..core.upsample import upsample_linear
from .base import Processor

MAX_CUTOFF_RATIO = 0.49


def _check_range(value, name: str, low_bound: float, high_bound: float = math.inf) -> Tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (low_bound < low < high <= high_bound):
        raise ValueError(f"{name} must satisfy {low_bound:g} < low < high <= {high_bound:g}, got {value!r}")
    return low, high


def _check_positive_tensor(value: torch.Tensor, name: str, unit: str = "") -> None:
    if value.numel() and bool((value <= 0).any()):
        raise ValueError(f"{name} must be > 0{unit}, got a minimum of {float(value.min()):.6g}")


def _to_audio_rate(
    control: torch.Tensor, name: str, audio: torch.Tensor, hop_length: Optional[int]
) -> torch.Tensor:
    """A ``[B, F, 1]`` control as ``[B or 1, samples or 1]``, upsampling frame rate with ``hop_length``."""
    check_controls(control, name, channels=1)
    batch, samples = audio.shape
    if control.shape[0] not in (batch, 1):
        raise ValueError(
            f"{name} has batch size {control.shape[0]} but audio has {batch}; use {batch} or 1"
        )
    frames = control.shape[1]
    if frames in (1, samples):
        return control[..., 0]
    if hop_length is not None and frames == -(-samples // hop_length):
        return upsample_linear(control, hop_length)[:, :samples, 0]
    frame_rate = (
        f"ceil(samples / hop_length) = {-(-samples // hop_length)} (frame rate)"
        if hop_length is not None
        else "a frame count matching ceil(samples / hop_length) once hop_length is set"
    )
    raise ValueError(
        f"{name} has {frames} frames but audio has {samples} samples; expected 1 (constant), "
        f"{samples} (audio rate) or {frame_rate}"
    )


class _ResonantFilter(Processor):
    """Shared control handling: ranges, validation, upsampling, clamping."""

    def __init__(
        self,
        sample_rate: int,
        hop_length: Optional[int],
        cutoff_range_hz: Optional[Tuple[float, float]],
        q_range: Tuple[float, float],
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = None if hop_length is None else check_hop_length(hop_length)
        self.max_cutoff_hz = MAX_CUTOFF_RATIO * self.sample_rate
        default_range = (20.0, 0.45 * self.sample_rate)
        self.cutoff_range_hz = _check_range(
            cutoff_range_hz or default_range, "cutoff_range_hz", 0.0, self.max_cutoff_hz
        )
        self.q_range = _check_range(q_range, "q_range", 0.0)

    def _raw_cutoff_and_q(self, cutoff: torch.Tensor, q: torch.Tensor) -> Dict[str, torch.Tensor]:
        check_controls(cutoff, "cutoff", channels=1)
        check_controls(q, "q", channels=1)
        cutoff_hz = unit_to_range(torch.sigmoid(cutoff), *self.cutoff_range_hz, curve="log")
        q_value = unit_to_range(torch.sigmoid(q), *self.q_range, curve="log")
        return {"cutoff_hz": cutoff_hz, "q": q_value}

    def _audio_rate_controls(
        self, audio: torch.Tensor, cutoff_hz: torch.Tensor, q: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        audio = check_audio(audio)
        cutoff = _to_audio_rate(cutoff_hz, "cutoff_hz", audio, self.hop_length)
        q_value = _to_audio_rate(q, "q", audio, self.hop_length)
        _check_positive_tensor(cutoff, "cutoff_hz", " Hz")
        _check_positive_tensor(q_value, "q")
        cutoff = torch.clamp(cutoff, max=self.max_cutoff_hz)
        return audio, cutoff, q_value


class Biquad(_ResonantFilter):
    """A biquad filter (RBJ cookbook) with time-varying cutoff, Q and gain.

    Coefficients are recomputed at every sample from the audio-rate controls
    and the filter runs in direct form I
    (:func:`~ddsp_lab.core.iir.time_varying_biquad`); with ``[B, 1, 1]``
    controls a faster constant-coefficient path is used. Direct-form filters
    can misbehave under fast, deep modulation at high Q;
    :class:`StateVariableFilter` is the robust choice for sweeps.

    Args:
        sample_rate: Hz (any).
        mode: one of ``"lowpass"``, ``"highpass"``, ``"bandpass"`` (0 dB at
            the centre), ``"notch"``, ``"allpass"``, ``"peaking"``,
            ``"lowshelf"``, ``"highshelf"``.
        hop_length: samples per control frame, needed for frame-rate controls.
        cutoff_range_hz: ``(low, high)`` range that :meth:`get_controls` maps
            raw values onto, on a log curve; default ``(20, 0.45 *
            sample_rate)``, ``high`` at most ``0.49 * sample_rate``.
        q_range: ``(low, high)`` range of Q for :meth:`get_controls`, log
            curve; default ``(0.5, 10)`` (0.707 is Butterworth, 10 rings).
        gain_range_db: ``(low, high)`` gain in dB for :meth:`get_controls`
            (``peaking`` and shelf modes), linear curve; default ``(-24, 24)``.
        compute_dtype: dtype of the coefficients and the recursion; the
            output is cast back to the audio's dtype. Default float64: a
            direct-form biquad is ill-conditioned at low cutoffs (its poles
            crowd towards z = 1 and ``a1`` towards -2), and in float32 a
            lowpass at q = 0.707 is off by about 6 % of its RMS at 20 Hz and
            0.4 % at 50 Hz (16 kHz), and by 160 % at 20 Hz at 48 kHz. float64
            costs about twice the time. ``None`` computes in the audio's
            dtype (and is what devices without float64, such as Apple MPS,
            get).

    Shapes:
        ``get_signal(audio [B, T], cutoff_hz [B, F, 1], q [B, F, 1],
        gain_db [B, F, 1] or None) -> [B, T]`` with ``F`` = 1, ``T`` or
        ``ceil(T / hop_length)``.
    """

    def __init__(
        self,
        sample_rate: int,
        mode: str = "lowpass",
        hop_length: Optional[int] = None,
        cutoff_range_hz: Optional[Tuple[float, float]] = None,
        q_range: Tuple[float, float] = (0.5, 10.0),
        gain_range_db: Tuple[float, float] = (-24.0, 24.0),
        compute_dtype: Optional[torch.dtype] = torch.float64,
    ):
        super().__init__(sample_rate, hop_length, cutoff_range_hz, q_range)
        if mode not in BIQUAD_MODES:
            raise ValueError(f"mode must be one of {BIQUAD_MODES}, got {mode!r}")
        if compute_dtype is not None and not (
            isinstance(compute_dtype, torch.dtype) and compute_dtype.is_floating_point
        ):
            raise ValueError(f"compute_dtype must be a floating-point torch.dtype or None, got {compute_dtype!r}")
        self.mode = mode
        self.compute_dtype = compute_dtype
        self.gain_range_db = _check_range(gain_range_db, "gain_range_db", -math.inf)

    def get_controls(
        self,
        audio: torch.Tensor,
        cutoff: torch.Tensor,
        q: torch.Tensor,
        gain: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Map unbounded raw controls to physical ones.

        Args:
            audio: ``[B, T]`` input (passed through).
            cutoff: ``[B, F, 1]`` raw; ``sigmoid`` then a log curve onto
                ``cutoff_range_hz``.
            q: ``[B, F, 1]`` raw; ``sigmoid`` then a log curve onto ``q_range``.
            gain: ``[B, F, 1]`` raw, for ``peaking`` and shelf modes only;
                ``sigmoid`` then linear onto ``gain_range_db``.

        Returns:
            ``{"audio", "cutoff_hz", "q"}`` plus ``"gain_db"`` when ``gain`` is given.
        """
        controls = {"audio": audio, **self._raw_cutoff_and_q(cutoff, q)}
        if gain is not None:
            check_controls(gain, "gain", channels=1)
            controls["gain_db"] = unit_to_range(torch.sigmoid(gain), *self.gain_range_db)
        return controls

    def get_signal(
        self,
        audio: torch.Tensor,
        cutoff_hz: torch.Tensor,
        q: torch.Tensor,
        gain_db: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Filter ``audio``.

        Args:
            audio: ``[B, T]``.
            cutoff_hz: ``[B, F, 1]`` cutoff (centre) frequency in Hz, > 0;
                values above ``0.49 * sample_rate`` are clamped.
            q: ``[B, F, 1]`` quality factor, > 0.
            gain_db: ``[B, F, 1]`` gain in dB; required by ``peaking``,
                ``lowshelf`` and ``highshelf``, rejected by the other modes.

        Returns:
            ``[B, T]`` filtered audio.
        """
        audio, cutoff, q_value = self._audio_rate_controls(audio, cutoff_hz, q)
        if self.mode in BIQUAD_GAIN_MODES:
            if gain_db is None:
                raise ValueError(f"mode {self.mode!r} needs gain_db ([B, F, 1] in dB)")
            gain = _to_audio_rate(gain_db, "gain_db", audio, self.hop_length)
        elif gain_db is not None:
            raise ValueError(f"gain_db only applies to modes {BIQUAD_GAIN_MODES}, not {self.mode!r}")
        else:
            gain = 0.0
        dtype = self.compute_dtype or audio.dtype
        if audio.device.type == "mps":
            dtype = audio.dtype  # MPS has no float64
        if isinstance(gain, torch.Tensor):
            gain = gain.to(dtype)
        b, a = biquad_coefficients(cutoff.to(dtype), q_value.to(dtype), self.sample_rate, self.mode, gain)
        return time_varying_biquad(audio.to(dtype), b, a).to(audio.dtype)


class StateVariableFilter(_ResonantFilter):
    """Topology-preserving state-variable filter with time-varying cutoff and Q.

    Zavalishin's TPT form: two trapezoidal integrators in a loop, computed
    without a unit delay in the feedback path. Its states are integrator
    outputs whose meaning does not depend on the cutoff, so it stays
    well-behaved (no blow-up, no clicks) under fast cutoff modulation. At a
    constant cutoff the lowpass, bandpass and highpass outputs equal the RBJ
    biquads of the same cutoff and Q (see
    :func:`~ddsp_lab.core.iir.state_variable_filter`).

    Args:
        sample_rate: Hz (any).
        output: which response :meth:`get_signal` returns: ``"lowpass"``,
            ``"bandpass"`` (0 dB at the cutoff) or ``"highpass"``;
            :meth:`get_outputs` returns all three.
        hop_length: samples per control frame, needed for frame-rate controls.
        cutoff_range_hz: ``(low, high)`` range for :meth:`get_controls`, log
            curve; default ``(20, 0.45 * sample_rate)``.
        q_range: ``(low, high)`` resonance range for :meth:`get_controls`, log
            curve; default ``(0.5, 10)``. Resonance peaks at about ``q`` (in
            linear gain) for the lowpass and highpass outputs.

    Shapes:
        ``get_signal(audio [B, T], cutoff_hz [B, F, 1], q [B, F, 1]) -> [B, T]``
        with ``F`` = 1, ``T`` or ``ceil(T / hop_length)``.
    """

    def __init__(
        self,
        sample_rate: int,
        output: str = "lowpass",
        hop_length: Optional[int] = None,
        cutoff_range_hz: Optional[Tuple[float, float]] = None,
        q_range: Tuple[float, float] = (0.5, 10.0),
    ):
        super().__init__(sample_rate, hop_length, cutoff_range_hz, q_range)
        if output not in SVF_OUTPUTS:
            raise ValueError(f"output must be one of {SVF_OUTPUTS}, got {output!r}")
        self.output = output

    def get_controls(self, audio: torch.Tensor, cutoff: torch.Tensor, q: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Map raw ``[B, F, 1]`` cutoff and q onto their ranges (sigmoid, log curve).

        Returns:
            ``{"audio", "cutoff_hz", "q"}``.
        """
        return {"audio": audio, **self._raw_cutoff_and_q(cutoff, q)}

    def get_outputs(self, audio: torch.Tensor, cutoff_hz: torch.Tensor, q: torch.Tensor) -> Dict[str, torch.Tensor]:
        """All three responses at once.

        Args:
            audio: ``[B, T]``.
            cutoff_hz: ``[B, F, 1]`` in Hz, > 0; clamped to ``0.49 * sample_rate``.
            q: ``[B, F, 1]`` resonance, > 0.

        Returns:
            ``{"lowpass", "bandpass", "highpass"}``, each ``[B, T]``.
        """
        audio, cutoff, q_value = self._audio_rate_controls(audio, cutoff_hz, q)
        return state_variable_filter(audio, cutoff.to(audio.dtype), q_value.to(audio.dtype), self.sample_rate)

    def get_signal(self, audio: torch.Tensor, cutoff_hz: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The ``output`` response, ``[B, T]`` (arguments as in :meth:`get_outputs`)."""
        return self.get_outputs(audio, cutoff_hz, q)[self.output]
