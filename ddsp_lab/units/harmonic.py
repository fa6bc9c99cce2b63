"""Additive synthesis: a harmonic oscillator and a free bank of sinusoids."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_same_frames,
    check_sample_rate,
)
from ..core.conversions import exp_sigmoid
from ..core.phase import frame_start_phases
from ..core.sinusoids import nyquist_gate, sinusoid_bank
from ..core.upsample import next_frames
from .base import Processor


def remove_above_nyquist(
    amplitudes: torch.Tensor, frequencies_hz: torch.Tensor, sample_rate: float
) -> torch.Tensor:
    """Zero the amplitudes of partials at or above Nyquist, frame by frame.

    Args:
        amplitudes: ``[batch, frames, partials]``.
        frequencies_hz: ``[batch, frames, partials]``.
        sample_rate: Hz.
    """
    return amplitudes * (frequencies_hz < sample_rate / 2.0).to(amplitudes.dtype)


def _render_frames(phase0, freq0, amp0, hop_length, sample_rate):
    """Render ``[B, F, P]`` frame controls through the sinusoid bank to ``[B, F * hop]``.

    Partials are gated with :func:`nyquist_gate` so that nothing sounds at or
    above Nyquist.
    """
    batch, frames, partials = freq0.shape
    amp0 = amp0 * nyquist_gate(freq0, sample_rate)
    freq1, amp1 = next_frames(freq0), next_frames(amp0)
    rows = [t.reshape(batch * frames, partials) for t in (phase0, freq0, freq1, amp0, amp1)]
    audio = sinusoid_bank(*rows, hop_length, sample_rate)
    return audio.reshape(batch, frames * hop_length)


class Harmonic(Processor):
    """Additive harmonic oscillator (the DDSP harmonic synthesiser).

    Partial ``k`` (``k = 1 .. H``) has frequency ``k * f0`` and amplitude
    ``amplitude * harmonic_distribution[..., k-1]``. Frame-rate controls are
    interpolated linearly over each hop. Partials never sound at or above
    Nyquist: a partial that reaches it within a frame's neighbourhood is
    faded out over one frame (see :func:`~ddsp_lab.core.sinusoids.nyquist_gate`). The phase of every partial is accumulated in
    float64 at frame rate and wrapped, so long notes keep their pitch.

    Args:
        sample_rate: audio sample rate in Hz (any).
        hop_length: audio samples per control frame.
        scale_fn: maps raw network outputs to positive values in
            :meth:`get_controls` (default :func:`~ddsp_lab.core.exp_sigmoid`).
        normalize_below_nyquist: in :meth:`get_controls`, zero the partials
            at or above Nyquist before normalising the distribution to sum 1,
            so ``amplitude`` is the total amplitude that is actually heard.

    Shapes:
        ``get_signal(f0_hz [B, F, 1], amplitude [B, F, 1],
        harmonic_distribution [B, F, H]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
        normalize_below_nyquist: bool = True,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.scale_fn = scale_fn
        self.normalize_below_nyquist = normalize_below_nyquist

    def get_controls(
        self, f0_hz: torch.Tensor, amplitude: torch.Tensor, harmonic_distribution: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """Map raw ``amplitude`` and ``harmonic_distribution`` to physical controls.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental in Hz (passed through).
            amplitude: ``[B, F, 1]`` unbounded; becomes positive via ``scale_fn``.
            harmonic_distribution: ``[B, F, H]`` unbounded; becomes positive,
                partials at or above Nyquist are zeroed, and it is normalised
                to sum to 1 over harmonics.

        Returns:
            ``{"f0_hz", "amplitude", "harmonic_distribution"}``.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(amplitude, "amplitude", channels=1)
        check_controls(harmonic_distribution, "harmonic_distribution")
        if self.scale_fn is not None:
            amplitude = self.scale_fn(amplitude)
            harmonic_distribution = self.scale_fn(harmonic_distribution)
        if self.normalize_below_nyquist:
            numbers = self._harmonic_numbers(harmonic_distribution)
            harmonic_distribution = remove_above_nyquist(
                harmonic_distribution, f0_hz * numbers, self.sample_rate
            )
        total = harmonic_distribution.sum(dim=-1, keepdim=True)
        harmonic_distribution = harmonic_distribution / torch.clamp(total, min=1e-7)
        return {"f0_hz": f0_hz, "amplitude": amplitude, "harmonic_distribution": harmonic_distribution}

    @staticmethod
    def _harmonic_numbers(distribution: torch.Tensor) -> torch.Tensor:
        return torch.arange(1, distribution.shape[-1] + 1, device=distribution.device, dtype=distribution.dtype)

    def get_signal(
        self,
        f0_hz: torch.Tensor,
        amplitude: torch.Tensor,
        harmonic_distribution: torch.Tensor,
        initial_phase: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Render the harmonic oscillator.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental frequency in Hz, ``>= 0``.
            amplitude: ``[B, F, 1]`` overall linear amplitude.
            harmonic_distribution: ``[B, F, H]`` relative amplitude of each harmonic.
            initial_phase: optional ``[B, 1]`` phase of the fundamental at
                sample 0 in radians (carry it across blocks when streaming).

        Returns:
            ``[B, F * hop_length]`` audio.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(amplitude, "amplitude", channels=1)
        check_controls(harmonic_distribution, "harmonic_distribution")
        check_same_frames(f0_hz=f0_hz, amplitude=amplitude, harmonic_distribution=harmonic_distribution)
        check_nonnegative(f0_hz, "f0_hz")
        numbers = self._harmonic_numbers(harmonic_distribution)
        phase0 = frame_start_phases(f0_hz, self.sample_rate, self.hop_length, initial_phase, multiplier=numbers)
        freqs = f0_hz * numbers
        amps = amplitude * harmonic_distribution
        return _render_frames(phase0, freqs, amps, self.hop_length, self.sample_rate)


class Sinusoidal(Processor):
    """A free bank of sinusoids with per-partial frequencies and amplitudes.

    Args:
        sample_rate: audio sample rate in Hz.
        hop_length: audio samples per control frame.
        amplitude_scale_fn: maps raw amplitudes to positive values in
            :meth:`get_controls` (default ``exp_sigmoid``).
        frequency_range_hz: ``(low, high)``; raw frequencies pass through a
            sigmoid onto this range in :meth:`get_controls`. ``high`` defaults
            to Nyquist.

    Shapes:
        ``get_signal(frequencies_hz [B, F, P], amplitudes [B, F, P]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        amplitude_scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
        frequency_range_hz: Optional[tuple] = None,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.amplitude_scale_fn = amplitude_scale_fn
        self.frequency_range_hz = frequency_range_hz or (20.0, self.sample_rate / 2.0)

    def get_controls(self, frequencies: torch.Tensor, amplitudes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Map raw ``[B, F, P]`` frequencies and amplitudes to Hz and positive amplitudes.

        Partials at or above Nyquist get zero amplitude.
        """
        check_controls(frequencies, "frequencies")
        check_controls(amplitudes, "amplitudes")
        low, high = self.frequency_range_hz
        frequencies_hz = low + (high - low) * torch.sigmoid(frequencies)
        if self.amplitude_scale_fn is not None:
            amplitudes = self.amplitude_scale_fn(amplitudes)
        amplitudes = remove_above_nyquist(amplitudes, frequencies_hz, self.sample_rate)
        return {"frequencies_hz": frequencies_hz, "amplitudes": amplitudes}

    def get_signal(
        self,
        frequencies_hz: torch.Tensor,
        amplitudes: torch.Tensor,
        initial_phases: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Render the sinusoid bank.

        Args:
            frequencies_hz: ``[B, F, P]`` in Hz, ``>= 0``.
            amplitudes: ``[B, F, P]`` linear amplitudes.
            initial_phases: optional ``[B, P]`` phases at sample 0 in radians.

        Returns:
            ``[B, F * hop_length]`` audio.
        """
        check_controls(frequencies_hz, "frequencies_hz")
        check_controls(amplitudes, "amplitudes", channels=frequencies_hz.shape[-1])
        check_same_frames(frequencies_hz=frequencies_hz, amplitudes=amplitudes)
        check_nonnegative(frequencies_hz, "frequencies_hz")
        phase0 = frame_start_phases(frequencies_hz, self.sample_rate, self.hop_length, initial_phases)
        return _render_frames(phase0, frequencies_hz, amplitudes, self.hop_length, self.sample_rate)
