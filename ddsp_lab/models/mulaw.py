"""Sample quantisation for the autoregressive baselines: mu-law and linear codes.

Audio in ``[-1, 1]`` (values outside are clamped) is mapped to integer codes
``0 .. channels - 1`` and back. Both quantisers round to the nearest level
(ties go up), so every code owns a decision interval centred on its level.

Mu-law (ITU-T G.711 companding, as in WaveNet), with ``mu = channels - 1``::

    y = sign(x) * log(1 + mu |x|) / log(1 + mu)          # companded, in [-1, 1]
    code = floor((y + 1) / 2 * mu + 0.5)                  # nearest of mu + 1 levels
    y_c = 2 code / mu - 1
    x_c = sign(y_c) * ((1 + mu) ** |y_c| - 1) / mu        # decoded level

Error bound: code ``c`` is produced for the ``y`` within ``1 / mu`` of
``y_c`` (clipped to ``[-1, 1]``). The expansion ``x(y)`` is convex in
``|y|``, so the largest error is on the interval's outer side::

    |x - x_c| <= x(min(|y_c| + 1/mu, 1)) - x(|y_c|)        (outer side)
    |x - x_c| <= x(|y_c|) - x(|y_c| - 1/mu)                 (inner side, smaller
                                                             except for the end codes)

with ``x(|y|) = ((1 + mu) ** |y| - 1) / mu``. The bound grows with the
level: for 256 channels it is about ``8.8e-5`` for the two codes next to
silence and ``0.0216`` at full scale, a relative error of about 2.2 %
(``(1 + mu) ** (1/mu) - 1``) everywhere above the smallest levels. With an
even number of channels there is no code for exact silence: 0 decodes to
``±x(1/mu)`` (``±8.6e-5`` for 256 channels, -81 dBFS).

Linear quantisation maps ``[-1, 1]`` onto ``channels`` equally spaced
levels ``x_c = 2 code / (channels - 1) - 1``; the error is at most half a
step, ``1 / (channels - 1)`` (``0.0039`` for 256 channels), and silence
decodes to ``±1 / (channels - 1)`` for an even number of channels.

Decoding then encoding a code gives the same code back (the levels sit half
a step away from the decision boundaries, far beyond float rounding), so a
sampled code can be turned into audio and re-encoded by a teacher-forced
pass without drift.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..core.checks import check_tensor

MU_LAW_CHANNELS = 256


def _check_channels(channels) -> int:
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 2:
        raise ValueError(f"channels must be an integer number of quantisation levels >= 2, got {channels!r}")
    return channels


def _check_codes(codes, channels: int, name: str = "codes") -> torch.Tensor:
    if not isinstance(codes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer codes, got {type(codes).__name__}")
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor (e.g. torch.long), got dtype {codes.dtype}")
    if codes.numel() and (bool((codes < 0).any()) or bool((codes >= channels).any())):
        raise ValueError(
            f"{name} must lie in [0, {channels - 1}] for {channels} channels, got values in "
            f"[{int(codes.min())}, {int(codes.max())}]"
        )
    return codes


def _nearest_level(unit: torch.Tensor, channels: int) -> torch.Tensor:
    """Codes of the nearest of ``channels`` levels for ``unit`` in ``[-1, 1]`` (ties up)."""
    steps = channels - 1
    return torch.floor((unit + 1.0) * (steps / 2.0) + 0.5).clamp(0, steps).long()


def _level(codes: torch.Tensor, channels: int, dtype: Optional[torch.dtype]) -> torch.Tensor:
    """Level ``2 code / (channels - 1) - 1`` in ``[-1, 1]`` of every code."""
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return codes.to(dtype) * (2.0 / (channels - 1)) - 1.0


def mu_law_encode(audio: torch.Tensor, channels: int = MU_LAW_CHANNELS) -> torch.Tensor:
    """Mu-law codes of audio (see the module docstring for the formula and its error bound).

    Args:
        audio: any shape, floating point, full scale ±1; values outside
            ``[-1, 1]`` are clamped.
        channels: number of codes (WaveNet: 256), ``>= 2``; ``mu = channels - 1``.

    Returns:
        ``torch.long`` codes in ``[0, channels - 1]``, the shape of ``audio``.
    """
    check_tensor(audio, "audio")
    channels = _check_channels(channels)
    mu = channels - 1
    x = audio.clamp(-1.0, 1.0)
    companded = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return _nearest_level(companded, channels)


def mu_law_decode(
    codes: torch.Tensor, channels: int = MU_LAW_CHANNELS, dtype: Optional[torch.dtype] = None
) -> torch.Tensor:
    """Audio levels of mu-law codes (the inverse of :func:`mu_law_encode` up to its error bound).

    Args:
        codes: integer tensor, any shape, values in ``[0, channels - 1]``.
        channels: number of codes, ``>= 2``.
        dtype: floating dtype of the result (default: torch's default dtype).

    Returns:
        Audio in ``[-1, 1]``, the shape of ``codes``, on their device.
    """
    channels = _check_channels(channels)
    _check_codes(codes, channels)
    mu = channels - 1
    companded = _level(codes, channels, dtype)
    return torch.sign(companded) * torch.expm1(companded.abs() * math.log1p(mu)) / mu


def linear_encode(audio: torch.Tensor, channels: int = MU_LAW_CHANNELS) -> torch.Tensor:
    """Codes of the nearest of ``channels`` equally spaced levels on ``[-1, 1]``.

    The error of :func:`linear_decode` after this is at most ``1 / (channels - 1)``.

    Args:
        audio: any shape, floating point; values outside ``[-1, 1]`` are clamped.
        channels: number of levels, ``>= 2``.

    Returns:
        ``torch.long`` codes in ``[0, channels - 1]``, the shape of ``audio``.
    """
    check_tensor(audio, "audio")
    channels = _check_channels(channels)
    return _nearest_level(audio.clamp(-1.0, 1.0), channels)


def linear_decode(
    codes: torch.Tensor, channels: int = MU_LAW_CHANNELS, dtype: Optional[torch.dtype] = None
) -> torch.Tensor:
    """Levels ``2 code / (channels - 1) - 1`` of linear codes.

    Args:
        codes: integer tensor, any shape, values in ``[0, channels - 1]``.
        channels: number of levels, ``>= 2``.
        dtype: floating dtype of the result (default: torch's default dtype).

    Returns:
        Audio in ``[-1, 1]``, the shape of ``codes``, on their device.
    """
    channels = _check_channels(channels)
    _check_codes(codes, channels)
    return _level(codes, channels, dtype)
