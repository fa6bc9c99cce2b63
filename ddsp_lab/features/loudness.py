"""A-weighted loudness per frame (the DDSP loudness feature).

Each frame's power spectrum is weighted by the A-curve, averaged over
frequency bins and expressed in dB. The spectrum is scaled by the window's
energy, so that the unweighted average over bins equals the mean square of the
signal (Parseval): the value does not depend on ``n_fft`` or on the sample
rate, and 0 dB is a mean square of 1. A full-scale sine at 1 kHz (where the
A-weight is 0 dB) reads about -3 dB; halving the amplitude lowers loudness by
6.02 dB. magenta/ddsp uses an unnormalised STFT instead, so its numbers carry
an offset that grows with its FFT size; ``ref_db`` shifts the scale if you
need to match another convention.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from ..core.weighting import rfft_a_weighting_power
from .framing import as_batch, check_n_fft, default_n_fft, power_spectrogram, resolve_hop_length

DEFAULT_WINDOW_SECONDS = 0.032
DEFAULT_RANGE_DB = 120.0


def compute_loudness(
    audio: torch.Tensor,
    sample_rate: int,
    hop_length: Optional[int] = None,
    frame_rate: Optional[float] = None,
    n_fft: Optional[int] = None,
    ref_db: float = 0.0,
    range_db: float = DEFAULT_RANGE_DB,
) -> torch.Tensor:
    """A-weighted loudness in dB for every frame.

    Frame ``n`` is centred on sample ``n * hop_length``; a signal of ``T``
    samples gives ``ceil(T / hop_length)`` frames (exactly ``F`` for
    ``T = F * hop_length``).

    Args:
        audio: ``[batch, samples]`` or ``[samples]``, any floating dtype and
            device; full scale is ±1.
        sample_rate: Hz (any, e.g. 16000, 22050, 44100, 48000).
        hop_length: samples between frames. Pass this or ``frame_rate``.
        frame_rate: frames per second in Hz; must give a whole hop
            (``sample_rate / frame_rate``).
        n_fft: analysis window and FFT size in samples (>= 2); default is the
            even size closest to 32 ms (512 at 16 kHz, 1412 at 44.1 kHz).
        ref_db: level in dB that maps to 0 (the result is ``level - ref_db``).
        range_db: dynamic range in dB (> 0); the result is floored at
            ``-range_db``, so silence reads ``-range_db`` (default -120 dB).

    Returns:
        ``[batch, frames]`` loudness in dB (``[frames]`` for 1-D input), on
        the audio's device and dtype. Differentiable with respect to the
        audio; the gradient is finite everywhere and zero on floored frames.
    """
    audio, was_1d = as_batch(audio)
    hop = resolve_hop_length(sample_rate, hop_length, frame_rate)
    sample_rate = int(sample_rate)
    n_fft = default_n_fft(sample_rate, DEFAULT_WINDOW_SECONDS) if n_fft is None else check_n_fft(n_fft)
    if isinstance(ref_db, bool) or not isinstance(ref_db, (int, float)) or not math.isfinite(ref_db):
        raise ValueError(f"ref_db must be a finite number of dB, got {ref_db!r}")
    if isinstance(range_db, bool) or not isinstance(range_db, (int, float)) or not (0 < range_db < math.inf):
        raise ValueError(f"range_db must be a finite number of dB > 0, got {range_db!r}")

    power = power_spectrogram(audio, n_fft, hop)
    window = torch.hann_window(n_fft, periodic=True, device=audio.device, dtype=audio.dtype)
    # Dividing by the window energy makes the mean over bins a mean square.
    power = power / (window ** 2).sum()
    weights = rfft_a_weighting_power(n_fft, sample_rate, device=audio.device, dtype=audio.dtype)
    mean_power = (power * weights).mean(dim=-1)
    floor = 10.0 ** ((ref_db - range_db) / 10.0)
    loudness = 10.0 * torch.log10(torch.clamp(mean_power, min=floor)) - ref_db
    return loudness.squeeze(0) if was_1d else loudness
