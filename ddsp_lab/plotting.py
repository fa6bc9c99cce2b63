"""Figures: spectrograms and curves written straight to PNG files.

Matplotlib is imported lazily with the non-interactive Agg backend, so
importing ddsp_lab never needs a display.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def log_spectrogram(audio, sample_rate: int, n_fft: int = 1024, hop_length: int = 256) -> np.ndarray:
    """Magnitude spectrogram in dB (relative to the maximum), ``[bins, frames]``.

    Args:
        audio: ``[samples]`` tensor or array.
        sample_rate: Hz (unused in the values, kept for symmetry with plots).
    """
    x = torch.as_tensor(np.asarray(audio, dtype=np.float32)).flatten()
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    window = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop_length, window=window, return_complex=True).abs()
    db = 20 * torch.log10(spec + 1e-9)
    return (db - db.max()).clamp(min=-90).numpy()


def save_spectrograms(
    path: str,
    signals: Sequence,
    sample_rate: int,
    titles: Sequence[str],
    n_fft: int = 1024,
    hop_length: int = 256,
    max_hz: float | None = None,
) -> str:
    """Plot the spectrogram of each signal in its own row and save a PNG.

    Args:
        path: output ``.png`` path (folders are created).
        signals: sequence of ``[samples]`` tensors or arrays.
        sample_rate: Hz.
        titles: one title per signal.
        max_hz: upper frequency limit of the plots (default Nyquist).

    Returns:
        ``path``.
    """
    plt = _pyplot()
    rows = len(signals)
    fig, axes = plt.subplots(rows, 1, figsize=(8, 2.2 * rows), squeeze=False)
    for ax, signal, title in zip(axes[:, 0], signals, titles):
        db = log_spectrogram(signal, sample_rate, n_fft, hop_length)
        duration = db.shape[1] * hop_length / sample_rate
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma",
                  extent=[0, duration, 0, sample_rate / 2], vmin=-90, vmax=0)
        ax.set_ylim(0, max_hz or sample_rate / 2)
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
