"""Precision-safe phase accumulation.

A float32 running sum of phase loses precision within seconds (at 16 kHz a
440 Hz tone reaches 1e5 rad after 36 s, where float32 resolves only about
0.008 rad), and large arguments also make ``sin`` slow. Phases are therefore
summed in float64 and wrapped to one cycle before they are cast back, and
partial ``k`` gets ``(k * phase) mod 2*pi`` rather than ``k * phase``.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from .upsample import next_frames

TWO_PI = 2.0 * math.pi


def wrap_phase(phase: torch.Tensor) -> torch.Tensor:
    """Wrap radians to ``[0, 2*pi)``; the gradient passes through unchanged."""
    return torch.remainder(phase, TWO_PI)


def accumulate_phase(
    frequency_hz: torch.Tensor,
    sample_rate: float,
    initial_phase: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Running phase of an audio-rate instantaneous frequency.

    ``phase[t] = initial + 2*pi * sum_{tau < t} f[tau] / sample_rate``, so
    ``sin(phase)`` starts at ``sin(initial)``. The sum runs in float64 and the
    result is wrapped to ``[0, 2*pi)``.

    Args:
        frequency_hz: ``[batch, samples]`` (or ``[batch, samples, channels]``).
        sample_rate: Hz.
        initial_phase: radians at sample 0, shaped like ``frequency_hz[:, :1]``
            (``[batch, 1]`` or ``[batch, 1, channels]``), or a scalar.

    Returns:
        Phase in radians, same shape and dtype as ``frequency_hz``.
    """
    increments = frequency_hz.to(torch.float64) * (TWO_PI / sample_rate)
    phase = torch.cumsum(increments, dim=1) - increments
    if initial_phase is not None:
        expected = frequency_hz[:, :1].shape
        if initial_phase.dim() and initial_phase.shape != expected:
            raise ValueError(
                f"initial_phase must have shape {tuple(expected)} (one phase per signal), "
                f"got {tuple(initial_phase.shape)}"
            )
        phase = phase + initial_phase.to(torch.float64)
    return wrap_phase(phase).to(frequency_hz.dtype)


def frame_start_phases(
    frequency_hz: torch.Tensor,
    sample_rate: float,
    hop_length: int,
    initial_phase: Optional[torch.Tensor] = None,
    multiplier: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Phase at the first sample of every frame of a linearly upsampled frequency.

    Matches :func:`accumulate_phase` applied to
    ``upsample_linear(frequency_hz, hop_length)`` exactly (in exact arithmetic),
    at frame rate only: within frame ``n`` the frequency ramps from ``f[n]``
    to ``f[n+1]``, so the frame advances the phase by
    ``2*pi/sr * (hop * f[n] + (f[n+1] - f[n]) * (hop - 1) / 2)``.

    Args:
        frequency_hz: ``[batch, frames, channels]`` in Hz.
        sample_rate: Hz.
        hop_length: samples per frame.
        initial_phase: radians at sample 0, broadcastable to ``[batch, channels]``.
        multiplier: optional ``[channels_out]`` factors (harmonic numbers):
            the result is ``(multiplier * phase) mod 2*pi`` with the product
            taken in float64, shape ``[batch, frames, channels_out]``.

    Returns:
        Wrapped phases in radians, dtype of ``frequency_hz``.
    """
    f = frequency_hz.to(torch.float64)
    advance = (hop_length * f + (next_frames(f) - f) * ((hop_length - 1) / 2.0)) * (TWO_PI / sample_rate)
    phase = torch.cumsum(advance, dim=1) - advance
    if initial_phase is not None:
        phase = phase + initial_phase.to(torch.float64).unsqueeze(1)
    # Wrapping before the multiplication keeps (k * phase) small as well.
    phase = wrap_phase(phase)
    if multiplier is not None:
        phase = wrap_phase(phase * multiplier.to(torch.float64))
    return phase.to(frequency_hz.dtype)
