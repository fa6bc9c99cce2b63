"""Frequency weighting curves (IEC 61672 A-weighting).

The curve itself comes from :func:`librosa.A_weighting`; these helpers return
it as tensors on the caller's device and dtype. librosa is imported on first
use so that importing ddsp_lab stays light.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from .checks import check_sample_rate

DEFAULT_MIN_DB = -80.0


def _check_min_db(min_db) -> float:
    if isinstance(min_db, bool) or not isinstance(min_db, (int, float)) or not np.isfinite(min_db) or min_db > 0:
        raise ValueError(f"min_db must be a finite number <= 0 dB, got {min_db!r}")
    return float(min_db)


def a_weighting_db(frequencies_hz, min_db: float = DEFAULT_MIN_DB) -> torch.Tensor:
    """A-weighting gain in dB at the given frequencies.

    0 dB at 1 kHz, about -19.1 dB at 100 Hz, +1.3 dB near 2.5 kHz, and
    falling towards both ends of the spectrum; values are floored at
    ``min_db`` (the curve tends to minus infinity at 0 Hz).

    Args:
        frequencies_hz: frequencies in Hz, ``>= 0``, any shape: a tensor
            (the result follows its device and floating dtype), a NumPy array,
            a sequence or a number.
        min_db: floor in dB (``<= 0``), default -80 dB.

    Returns:
        Tensor of gains in dB, same shape as ``frequencies_hz``; float32
        unless a floating-point tensor was given. Not differentiable with
        respect to the frequencies (the weights are constants).
    """
    min_db = _check_min_db(min_db)
    if isinstance(frequencies_hz, torch.Tensor):
        device = frequencies_hz.device
        dtype = frequencies_hz.dtype if frequencies_hz.is_floating_point() else torch.float32
        values = frequencies_hz.detach().cpu().double().numpy()
    else:
        device, dtype = None, torch.float32
        values = np.asarray(frequencies_hz, dtype=np.float64)
    if values.size and not np.all(np.isfinite(values)):
        raise ValueError("frequencies_hz contains NaN or infinite values")
    if values.size and values.min() < 0:
        raise ValueError(f"frequencies_hz must be >= 0 Hz, got a minimum of {values.min():.6g}")
    import librosa

    # 0 Hz gives log10(0) = -inf inside librosa before the floor applies.
    with np.errstate(divide="ignore"):
        weights = np.asarray(librosa.A_weighting(values, min_db=min_db), dtype=np.float64)
    return torch.as_tensor(weights, dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _rfft_a_weighting_db(n_fft: int, sample_rate: int, min_db: float) -> torch.Tensor:
    frequencies = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    return a_weighting_db(frequencies, min_db=min_db)


def rfft_a_weighting_db(
    n_fft: int,
    sample_rate: int,
    min_db: float = DEFAULT_MIN_DB,
    device=None,
    dtype=torch.float32,
) -> torch.Tensor:
    """A-weighting in dB for the ``n_fft // 2 + 1`` bins of a real FFT.

    Bin ``k`` is at ``k * sample_rate / n_fft`` Hz (the bins of
    ``torch.fft.rfft`` and ``torch.stft``).

    Args:
        n_fft: FFT size in samples (positive integer).
        sample_rate: Hz.
        min_db: floor in dB (``<= 0``); the DC bin always sits at the floor.
        device, dtype: of the returned tensor.

    Returns:
        ``[n_fft // 2 + 1]`` gains in dB.
    """
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 1:
        raise ValueError(f"n_fft must be a positive integer number of samples, got {n_fft!r}")
    sample_rate = check_sample_rate(sample_rate)
    return _rfft_a_weighting_db(n_fft, sample_rate, _check_min_db(min_db)).to(device=device, dtype=dtype)


def rfft_a_weighting_power(
    n_fft: int,
    sample_rate: int,
    min_db: float = DEFAULT_MIN_DB,
    device=None,
    dtype=torch.float32,
) -> torch.Tensor:
    """A-weighting as power gains ``10 ** (dB / 10)`` for real-FFT bins, ``[n_fft // 2 + 1]``.

    Multiply a power spectrum by these to weight it; see
    :func:`rfft_a_weighting_db` for the arguments.
    """
    db = rfft_a_weighting_db(n_fft, sample_rate, min_db, device=device, dtype=torch.float64)
    return torch.pow(10.0, db / 10.0).to(dtype)
