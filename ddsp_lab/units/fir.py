"""A time-varying FIR filter effect driven by frame-rate magnitude responses."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_sample_rate,
    check_tensor,
)
from ..core.convolution import (
    check_crossfade,
    check_fir_window,
    check_ir_length,
    check_n_bands,
    time_varying_fir,
)
from ..core.conversions import exp_sigmoid
from .base import Processor


class FIRFilter(Processor):
    """Filter any audio with a linear-phase FIR that changes every control frame.

    The filter of frame ``n`` has the magnitude response given by
    ``magnitudes[:, n]`` at ``n_bands`` frequencies spaced uniformly from
    0 Hz to Nyquist (band ``k`` at ``k * sample_rate / (2 * (n_bands - 1))``
    Hz); see :func:`~ddsp_lab.core.convolution.time_varying_fir`. The
    linear-phase delay is compensated, so the output lines up with the input
    and all-ones magnitudes leave the audio unchanged.

    Args:
        sample_rate: audio sample rate in Hz (sets the band frequencies).
        hop_length: audio samples per control frame.
        n_bands: number of magnitudes per frame, ``>= 2``.
        ir_length: FIR taps, odd, up to ``2 * n_bands - 1`` (the default).
        window: FIR design window: ``"hann"``, ``"hamming"``, ``"blackman"``
            or ``None``.
        crossfade: how consecutive frames' filters meet: ``"hann"`` (smooth,
            default) or ``"none"`` (DDSP's abutting frames).
        scale_fn: maps raw network outputs to magnitudes ``>= 0`` in
            :meth:`get_controls` (default ``exp_sigmoid``: range ``(0, 2)``,
            and a raw 0 gives about 0.27, a mild cut).
        initial_bias: added to the raw magnitudes before ``scale_fn``
            (default 0).

    Shapes:
        ``get_signal(audio [B, F * hop_length], magnitudes [B, F, n_bands]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_bands: int,
        ir_length: Optional[int] = None,
        window: Optional[str] = "hann",
        crossfade: str = "hann",
        scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
        initial_bias: float = 0.0,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.n_bands = check_n_bands(n_bands)
        self.ir_length = check_ir_length(ir_length, self.n_bands)
        self.window = check_fir_window(window)
        self.crossfade = check_crossfade(crossfade)
        self.scale_fn = scale_fn
        self.initial_bias = float(initial_bias)

    def band_frequencies_hz(self) -> torch.Tensor:
        """Centre frequency of each band in Hz, ``[n_bands]``, 0 Hz to Nyquist."""
        return torch.linspace(0.0, self.sample_rate / 2.0, self.n_bands, dtype=torch.float64)

    def scale_magnitudes(self, magnitudes: torch.Tensor) -> torch.Tensor:
        """Map raw ``[B, F, n_bands]`` network outputs to magnitudes: ``scale_fn(raw + initial_bias)``."""
        check_controls(magnitudes, "magnitudes", channels=self.n_bands)
        if self.scale_fn is not None:
            magnitudes = self.scale_fn(magnitudes + self.initial_bias)
        return magnitudes

    def get_controls(self, audio: torch.Tensor, magnitudes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Pass ``audio`` through and map raw ``[B, F, n_bands]`` magnitudes with ``scale_fn``."""
        check_tensor(audio, "audio", ndim=2)
        return {"audio": audio, "magnitudes": self.scale_magnitudes(magnitudes)}

    def get_signal(self, audio: torch.Tensor, magnitudes: torch.Tensor) -> torch.Tensor:
        """Filter the audio.

        Args:
            audio: ``[B, F * hop_length]``.
            magnitudes: ``[B, F, n_bands]`` linear gains ``>= 0`` (batch 1
                broadcasts against the audio and the other way round).

        Returns:
            ``[B, F * hop_length]`` filtered audio.
        """
        check_tensor(audio, "audio", ndim=2)
        check_controls(magnitudes, "magnitudes", channels=self.n_bands)
        check_nonnegative(magnitudes, "magnitudes")
        return time_varying_fir(audio, magnitudes, self.hop_length, self.ir_length, self.window, self.crossfade)
