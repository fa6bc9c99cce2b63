"""Noise sources: white noise with an amplitude envelope, and DDSP filtered noise."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_sample_rate,
)
from ..core.conversions import exp_sigmoid
from ..core.upsample import upsample_linear
from .base import Processor
from .fir import FIRFilter

NOISE_DISTRIBUTIONS = ("uniform", "normal")


def white_noise(
    shape,
    distribution: str = "uniform",
    generator: Optional[torch.Generator] = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """White noise of the given shape.

    Args:
        shape: output shape, e.g. ``(batch, samples)``.
        distribution: ``"uniform"`` on ``[-1, 1)`` (variance 1/3, peak 1) or
            ``"normal"`` (zero mean, variance 1).
        generator: optional ``torch.Generator`` on ``device`` for
            reproducible noise; the global generator otherwise.
        device, dtype: of the result.
    """
    if distribution == "uniform":
        return 2.0 * torch.rand(shape, generator=generator, device=device, dtype=dtype) - 1.0
    if distribution == "normal":
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)
    raise ValueError(f"distribution must be one of {NOISE_DISTRIBUTIONS}, got {distribution!r}")


def _seeded_generator(seed: Optional[int], device) -> Optional[torch.Generator]:
    """A fresh generator on ``device`` seeded with ``seed`` (``None`` when no seed)."""
    if seed is None:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


def _check_seed(seed) -> Optional[int]:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}")
    return seed


def _check_distribution(distribution: str) -> str:
    if distribution not in NOISE_DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {NOISE_DISTRIBUTIONS}, got {distribution!r}")
    return distribution


class Noise(Processor):
    """White noise with a frame-rate amplitude envelope.

    The amplitude is interpolated linearly from frame to frame (frame ``n``
    is the value at sample ``n * hop_length``) and multiplies white noise.

    Args:
        sample_rate: audio sample rate in Hz (kept for a uniform interface;
            white noise is flat from 0 Hz to Nyquist at any rate).
        hop_length: audio samples per control frame.
        distribution: ``"uniform"`` on ``[-1, 1)`` (default, variance 1/3) or
            ``"normal"`` (variance 1).
        seed: if set, every call draws the same noise (a fresh generator
            seeded with ``seed`` on the input's device), so renders are
            reproducible and a fit sees frozen noise. ``None`` uses the
            global generator. A ``generator`` passed to :meth:`get_signal`
            takes precedence.
        scale_fn: maps raw amplitudes to positive values in
            :meth:`get_controls` (default ``exp_sigmoid``: range ``(0, 2)``).

    Shapes:
        ``get_signal(amplitude [B, F, 1]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        distribution: str = "uniform",
        seed: Optional[int] = None,
        scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.distribution = _check_distribution(distribution)
        self.seed = _check_seed(seed)
        self.scale_fn = scale_fn

    def get_controls(self, amplitude: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Map a raw ``[B, F, 1]`` amplitude to a positive one with ``scale_fn``."""
        check_controls(amplitude, "amplitude", channels=1)
        if self.scale_fn is not None:
            amplitude = self.scale_fn(amplitude)
        return {"amplitude": amplitude}

    def get_signal(self, amplitude: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Render amplitude-modulated white noise.

        Args:
            amplitude: ``[B, F, 1]`` linear amplitude, ``>= 0``.
            generator: optional ``torch.Generator`` on the amplitude's device.

        Returns:
            ``[B, F * hop_length]`` audio.
        """
        check_controls(amplitude, "amplitude", channels=1)
        check_nonnegative(amplitude, "amplitude")
        batch, frames, _ = amplitude.shape
        if generator is None:
            generator = _seeded_generator(self.seed, amplitude.device)
        noise = white_noise(
            (batch, frames * self.hop_length), self.distribution, generator, amplitude.device, amplitude.dtype
        )
        return noise * upsample_linear(amplitude, self.hop_length)[..., 0]


class FilteredNoise(FIRFilter):
    """DDSP filtered noise: white noise through a time-varying linear-phase FIR.

    Every control frame gives the filter's magnitude response at ``n_bands``
    frequencies spaced uniformly from 0 Hz to Nyquist (band ``k`` at
    ``k * sample_rate / (2 * (n_bands - 1))`` Hz). Uniform noise on
    ``[-1, 1)`` goes through the :class:`~ddsp_lab.units.fir.FIRFilter` of
    those magnitudes, so the output power spectral density follows
    ``magnitudes ** 2 / 3`` (per sample, two-sided) and the output lines up
    with the controls.

    Args:
        sample_rate: audio sample rate in Hz (sets the band frequencies).
        hop_length: audio samples per control frame.
        n_bands: number of magnitudes per frame, ``>= 2`` (DDSP default 65).
        ir_length: FIR taps, odd, up to ``2 * n_bands - 1`` (the default).
        window: FIR design window: ``"hann"``, ``"hamming"``, ``"blackman"``
            or ``None``.
        crossfade: how consecutive frames' filters meet: ``"hann"``
            (smooth, default) or ``"none"`` (DDSP's abutting frames).
        scale_fn: maps raw network outputs to magnitudes in
            :meth:`get_controls` (default ``exp_sigmoid``: range ``(0, 2)``).
        initial_bias: added to the raw magnitudes before ``scale_fn``. The
            DDSP default of ``-5.0`` makes an untrained network (raw outputs
            near 0) give magnitudes near ``exp_sigmoid(-5) ~ 2e-5``, i.e.
            almost silent noise, so the harmonic part is learned first
            instead of being masked by loud noise.
        seed: if set, every call filters the same noise (reproducible renders,
            frozen noise during a fit); ``None`` uses the global generator.

    Shapes:
        ``get_signal(magnitudes [B, F, n_bands]) -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_bands: int = 65,
        ir_length: Optional[int] = None,
        window: Optional[str] = "hann",
        crossfade: str = "hann",
        scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
        initial_bias: float = -5.0,
        seed: Optional[int] = None,
    ):
        super().__init__(sample_rate, hop_length, n_bands, ir_length, window, crossfade, scale_fn, initial_bias)
        self.seed = _check_seed(seed)

    def get_controls(self, magnitudes: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Map raw ``[B, F, n_bands]`` network outputs to magnitudes ``>= 0``.

        ``scale_fn(magnitudes + initial_bias)``.
        """
        return {"magnitudes": self.scale_magnitudes(magnitudes)}

    def get_signal(self, magnitudes: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Render filtered noise.

        Args:
            magnitudes: ``[B, F, n_bands]`` linear gains ``>= 0`` per band.
            generator: optional ``torch.Generator`` on the magnitudes' device
                (takes precedence over ``seed``).

        Returns:
            ``[B, F * hop_length]`` audio.
        """
        check_controls(magnitudes, "magnitudes", channels=self.n_bands)
        batch, frames, _ = magnitudes.shape
        if generator is None:
            generator = _seeded_generator(self.seed, magnitudes.device)
        noise = white_noise(
            (batch, frames * self.hop_length), "uniform", generator, magnitudes.device, magnitudes.dtype
        )
        return super().get_signal(noise, magnitudes)
