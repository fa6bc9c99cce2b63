"""Helpers shared by the node implementations (not part of the public API)."""

from __future__ import annotations

from typing import Optional

import torch

from ...core.upsample import upsample_linear
from ..errors import GraphError
from ..ports import AUDIO, CONTROL, check_rate


def audio_rate(control: torch.Tensor, hop_length: int) -> torch.Tensor:
    """A ``[B, F, 1]`` control (or ``[B, 1, 1]`` per-note value) as ``[B, T]`` or ``[B, 1]``.

    Frame-rate controls are upsampled linearly (frame ``n`` is the value at
    sample ``n * hop_length``); a per-note value stays ``[B, 1]`` and broadcasts.
    """
    if control.shape[1] == 1:
        return control[..., 0]
    return upsample_linear(control, hop_length)[..., 0]


def held_value(control: torch.Tensor) -> torch.Tensor:
    """``[B, 1, C]`` when a ``[B, F, C]`` control was broadcast from one value per item, else unchanged.

    The graph expands constant parameters without copying (stride 0 along
    frames); handing units the single value lets them take their faster
    constant-coefficient paths (the biquad's, for instance).
    """
    if control.dim() == 3 and control.shape[1] > 1 and control.stride(1) == 0:
        return control[:, :1]
    return control


def check_channels(channels, name: str = "channels") -> int:
    """A positive integer channel count."""
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise GraphError(f"{name} must be a positive integer, got {channels!r}")
    return channels


def check_signal_rate(rate, name: str = "rate") -> str:
    """``"audio"`` or ``"control"``."""
    return check_rate(rate, name, (AUDIO, CONTROL))


def check_seed(seed, name: str = "seed") -> Optional[int]:
    """``None`` or a non-negative integer."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise GraphError(f"{name} must be None or a non-negative integer, got {seed!r}")
    return seed


def check_choice(value, name: str, choices) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise GraphError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value
