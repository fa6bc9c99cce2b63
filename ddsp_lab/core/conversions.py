"""Unit conversions and scale functions (pure tensor functions).

Every function accepts tensors of any shape and keeps gradients finite at the
edges that occur in practice: silence (amplitude 0), f0 = 0, log of 0.
"""

from __future__ import annotations

import math

import torch

A4_HZ = 440.0
A4_MIDI = 69.0


def hz_to_midi(frequency_hz: torch.Tensor) -> torch.Tensor:
    """Frequency in Hz to (fractional) MIDI note number.

    0 Hz maps to MIDI 0 (about 8.18 Hz) instead of minus infinity, so unvoiced
    frames stay finite; gradients there are zero.
    """
    safe = torch.clamp(frequency_hz, min=1e-5)
    midi = 12.0 * (torch.log2(safe) - math.log2(A4_HZ)) + A4_MIDI
    return torch.where(frequency_hz > 0, torch.clamp(midi, min=0.0), torch.zeros_like(midi))


def midi_to_hz(midi: torch.Tensor) -> torch.Tensor:
    """(Fractional) MIDI note number to frequency in Hz."""
    return A4_HZ * torch.pow(2.0, (midi - A4_MIDI) / 12.0)


def amplitude_to_db(amplitude: torch.Tensor, min_db: float = -120.0) -> torch.Tensor:
    """Linear amplitude to decibels, ``20 log10(|a|)``, floored at ``min_db``."""
    floor = 10.0 ** (min_db / 20.0)
    return 20.0 * torch.log10(torch.clamp(amplitude.abs(), min=floor))


def power_to_db(power: torch.Tensor, min_db: float = -120.0) -> torch.Tensor:
    """Power to decibels, ``10 log10(p)``, floored at ``min_db``."""
    floor = 10.0 ** (min_db / 10.0)
    return 10.0 * torch.log10(torch.clamp(power, min=floor))


def db_to_amplitude(db: torch.Tensor) -> torch.Tensor:
    """Decibels to linear amplitude, ``10^(db/20)``."""
    return torch.pow(10.0, db / 20.0)


def safe_log(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Natural log with the input clamped to ``eps`` (finite value and gradient at 0)."""
    return torch.log(torch.clamp(x, min=eps))


def exp_sigmoid(
    x: torch.Tensor,
    exponent: float = 10.0,
    max_value: float = 2.0,
    threshold: float = 1e-7,
) -> torch.Tensor:
    """DDSP scale function mapping unbounded network outputs to positive amplitudes.

    ``max_value * sigmoid(x) ** log(exponent) + threshold``: near 0 for very
    negative input, ``max_value`` for very positive input, with an exponential
    slope in between that suits perceptual amplitude. ``threshold`` keeps the
    result strictly positive so a later log stays finite.
    """
    return max_value * torch.sigmoid(x) ** math.log(exponent) + threshold


def unit_to_range(x: torch.Tensor, low: float, high: float, curve: str = "linear") -> torch.Tensor:
    """Map ``x`` in [0, 1] onto [low, high] with a ``linear`` or ``log`` curve."""
    if curve == "linear":
        return low + (high - low) * x
    if curve == "log":
        if low <= 0 or high <= 0:
            raise ValueError(f"a log curve needs positive bounds, got [{low}, {high}]")
        return low * torch.pow(high / low, x)
    raise ValueError(f"curve must be 'linear' or 'log', got {curve!r}")
