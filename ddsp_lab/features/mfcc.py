"""Mel-frequency cepstral coefficients (timbre features for encoders).

Pipeline, per frame: power spectrum of a Hann window (``|STFT|^2``) -> mel
filterbank (``librosa.filters.mel``, Slaney scale and area normalisation) ->
``10 * log10`` with a floor -> orthonormal DCT-II over mel bands, keeping the
first ``n_mfcc`` coefficients. These are the same steps and units as
``librosa.feature.mfcc`` fed with ``power_to_db(melspectrogram, top_db=None)``
(its default ``top_db=80`` clips each signal relative to its own loudest
band, a whole-signal operation left out here so every frame depends on its own
window only). Frames follow the loudness and pitch convention.
"""

from __future__ import annotations

import functools
import math
from typing import Optional

import numpy as np
import torch

from ..core.checks import check_positive
from .framing import as_batch, check_n_fft, power_spectrogram, resolve_hop_length

DEFAULT_AMIN = 1e-10


@functools.lru_cache(maxsize=32)
def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> torch.Tensor:
    import librosa

    basis = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney", dtype=np.float64
    )
    return torch.from_numpy(basis)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 20.0,
    fmax: Optional[float] = None,
    device=None,
    dtype=torch.float32,
) -> torch.Tensor:
    """Mel filterbank ``[n_mels, n_fft // 2 + 1]`` from ``librosa.filters.mel`` (Slaney).

    Args:
        sample_rate: Hz.
        n_fft: FFT size in samples.
        n_mels: number of mel bands.
        fmin: lowest band edge in Hz, ``>= 0``.
        fmax: highest band edge in Hz, ``<= sample_rate / 2`` (default Nyquist).
        device, dtype: of the returned tensor.
    """
    fmin, fmax = _check_band(sample_rate, fmin, fmax)
    return _mel_filterbank(int(sample_rate), n_fft, n_mels, fmin, fmax).to(device=device, dtype=dtype)


@functools.lru_cache(maxsize=32)
def _dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    bands = torch.arange(n_mels, dtype=torch.float64)
    orders = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    basis = torch.cos(math.pi * orders * (2.0 * bands + 1.0) / (2.0 * n_mels)) * math.sqrt(2.0 / n_mels)
    basis[0] /= math.sqrt(2.0)
    return basis


def dct_ii_ortho(n_inputs: int, n_outputs: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``[n_outputs, n_inputs]`` (``scipy.fft.dct(norm="ortho")`` rows)."""
    return _dct_matrix(n_inputs, n_outputs).to(device=device, dtype=dtype)


def _check_band(sample_rate, fmin, fmax):
    fmin = check_positive(fmin, "fmin", allow_zero=True)
    nyquist = sample_rate / 2.0
    fmax = nyquist if fmax is None else check_positive(fmax, "fmax")
    if not fmin < fmax <= nyquist:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist} Hz, got fmin={fmin}, fmax={fmax}")
    return fmin, fmax


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def compute_mfcc(
    audio: torch.Tensor,
    sample_rate: int,
    hop_length: Optional[int] = None,
    frame_rate: Optional[float] = None,
    n_mfcc: int = 30,
    n_mels: int = 128,
    n_fft: int = 1024,
    fmin: float = 20.0,
    fmax: Optional[float] = None,
    amin: float = DEFAULT_AMIN,
) -> torch.Tensor:
    """MFCCs per frame, ``[batch, frames, n_mfcc]``.

    Frame ``n`` is centred on sample ``n * hop_length``; a signal of ``T``
    samples gives ``ceil(T / hop_length)`` frames, like
    :func:`~ddsp_lab.features.compute_loudness`.

    Args:
        audio: ``[batch, samples]`` or ``[samples]``; full scale is ±1.
        sample_rate: Hz.
        hop_length: samples between frames. Pass this or ``frame_rate``.
        frame_rate: frames per second in Hz (must give a whole hop).
        n_mfcc: coefficients kept, ``1 <= n_mfcc <= n_mels``.
        n_mels: mel bands.
        n_fft: analysis window and FFT size in samples (1024 is 64 ms at
            16 kHz, 23 ms at 44.1 kHz).
        fmin: lowest mel band edge in Hz (default 20 Hz).
        fmax: highest mel band edge in Hz (default Nyquist).
        amin: power floor before the log (default 1e-10, i.e. -100 dB), which
            keeps silence finite in value and gradient.

    Returns:
        ``[batch, frames, n_mfcc]`` (``[frames, n_mfcc]`` for 1-D input). The
        coefficients are the orthonormal DCT of log-mel powers in dB, so
        coefficient 0 is ``sqrt(n_mels)`` times the mean band level in dB.
        Differentiable with respect to the audio.
    """
    audio, was_1d = as_batch(audio)
    hop = resolve_hop_length(sample_rate, hop_length, frame_rate)
    sample_rate = int(sample_rate)
    n_fft = check_n_fft(n_fft)
    n_mels = _check_count(n_mels, "n_mels")
    n_mfcc = _check_count(n_mfcc, "n_mfcc")
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc ({n_mfcc}) must not exceed n_mels ({n_mels})")
    amin = check_positive(amin, "amin")

    power = power_spectrogram(audio, n_fft, hop)
    mel = power @ mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, audio.device, audio.dtype).T
    log_mel = 10.0 * torch.log10(torch.clamp(mel, min=amin))
    mfcc = log_mel @ dct_ii_ortho(n_mels, n_mfcc, audio.device, audio.dtype).T
    return mfcc.squeeze(0) if was_1d else mfcc
