"""Input validation shared by every layer.

Every public entry point validates its arguments with these helpers so that bad
input fails early with a message naming the argument and what was expected,
instead of a shape error deep inside torch or, worse, a silent wrong answer.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch


def check_tensor(
    value,
    name: str,
    ndim: Optional[int | Sequence[int]] = None,
    last_dim: Optional[int] = None,
    finite: bool = True,
) -> torch.Tensor:
    """Check that ``value`` is a floating-point tensor with the expected layout.

    Args:
        value: the object to check.
        name: argument name used in error messages.
        ndim: allowed number of dimensions (an int or a sequence of ints).
        last_dim: required size of the last dimension, if any.
        finite: reject NaN and infinite entries.

    Returns:
        ``value`` unchanged.

    Raises:
        TypeError: ``value`` is not a floating-point ``torch.Tensor``.
        ValueError: wrong number of dimensions, wrong last dimension, or
            non-finite values.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.dim() not in allowed:
            expected = " or ".join(str(n) for n in allowed)
            raise ValueError(
                f"{name} must have {expected} dimensions, got shape {tuple(value.shape)}"
            )
    if last_dim is not None and value.shape[-1] != last_dim:
        raise ValueError(
            f"{name} must have size {last_dim} in its last dimension, got shape {tuple(value.shape)}"
        )
    if finite and value.numel() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def check_audio(audio, name: str = "audio", allow_1d: bool = False) -> torch.Tensor:
    """Check an audio tensor ``[batch, samples]`` (or ``[samples]`` if ``allow_1d``).

    Returns the audio as ``[batch, samples]``.
    """
    check_tensor(audio, name, ndim=(1, 2) if allow_1d else 2)
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.shape[-1] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    return audio


def check_controls(value, name: str, channels: Optional[int] = None) -> torch.Tensor:
    """Check a frame-rate control tensor ``[batch, frames, channels]``."""
    check_tensor(value, name, ndim=3, last_dim=channels)
    if value.shape[1] == 0:
        raise ValueError(f"{name} has no frames (shape {tuple(value.shape)})")
    return value


def check_same_frames(**tensors: torch.Tensor) -> None:
    """Check that control tensors agree on batch size and number of frames."""
    items = list(tensors.items())
    first_name, first = items[0]
    for name, tensor in items[1:]:
        if tensor.shape[:2] != first.shape[:2]:
            raise ValueError(
                f"{name} has batch/frames {tuple(tensor.shape[:2])} but {first_name} has "
                f"{tuple(first.shape[:2])}; control tensors must be [batch, frames, channels] "
                "with the same batch and frames"
            )


def check_positive(value, name: str, allow_zero: bool = False) -> float:
    """Check a positive finite Python number and return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return float(value)


def check_sample_rate(sample_rate, name: str = "sample_rate") -> int:
    """Check a sample rate in Hz (a positive integer) and return it as ``int``."""
    if isinstance(sample_rate, float) and sample_rate.is_integer():
        sample_rate = int(sample_rate)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"{name} must be a positive integer number of Hz, got {sample_rate!r}")
    return sample_rate


def check_hop_length(hop_length, name: str = "hop_length") -> int:
    """Check a hop size in samples (a positive integer) and return it."""
    if isinstance(hop_length, bool) or not isinstance(hop_length, int) or hop_length <= 0:
        raise ValueError(f"{name} must be a positive integer number of samples, got {hop_length!r}")
    return hop_length


def check_nonnegative(value: torch.Tensor, name: str) -> None:
    """Reject tensors with negative entries (frequencies, amplitudes)."""
    if value.numel() and bool((value < 0).any()):
        raise ValueError(f"{name} must be >= 0, got a minimum of {float(value.min()):.6g}")
