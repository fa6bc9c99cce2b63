"""Encoders: a latent timbre code ``z`` per frame, computed from the audio itself."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..core.checks import check_audio, check_hop_length, check_positive, check_sample_rate
from ..features.mfcc import compute_mfcc

DEFAULT_MFCC_WINDOW_SECONDS = 0.064


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class MfccEncoder(nn.Module):
    """MFCCs -> per-frame LayerNorm -> GRU -> linear: a latent ``z`` per frame (the DDSP encoder).

    The MFCCs come from :func:`~ddsp_lab.features.compute_mfcc` on the same
    frames as the other features (frame ``n`` centred on sample
    ``n * hop_length``), with an analysis window of about
    ``window_seconds`` (1024 samples at 16 kHz, the DDSP setting) so the code
    describes the same stretch of sound at any sample rate. DDSP normalises
    the MFCCs over the whole example (instance norm); here each frame is
    normalised on its own (LayerNorm over the coefficients) so the encoder
    stays causal and does not depend on the example length. The GRU is
    unidirectional for the same reason.

    Args:
        sample_rate: Hz.
        hop_length: samples per frame.
        z_size: channels of ``z`` (DDSP: 16).
        n_mfcc: coefficients per frame (DDSP: 30).
        n_mels: mel bands the MFCCs are taken from (DDSP: 128).
        gru_size: GRU units (DDSP: 512).
        window_seconds: MFCC analysis window in seconds, rounded to an even
            number of samples.

    Shapes:
        ``forward(audio [B, F * hop_length]) -> z [B, F, z_size]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        z_size: int = 16,
        n_mfcc: int = 30,
        n_mels: int = 128,
        gru_size: int = 512,
        window_seconds: float = DEFAULT_MFCC_WINDOW_SECONDS,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.z_size = _check_count(z_size, "z_size")
        self.n_mfcc = _check_count(n_mfcc, "n_mfcc")
        self.n_mels = _check_count(n_mels, "n_mels")
        if self.n_mfcc > self.n_mels:
            raise ValueError(f"n_mfcc ({n_mfcc}) must not exceed n_mels ({n_mels})")
        window_seconds = check_positive(window_seconds, "window_seconds")
        self.n_fft = max(2, 2 * int(round(window_seconds * self.sample_rate / 2.0)))
        self.norm = nn.LayerNorm(self.n_mfcc)
        self.gru = nn.GRU(self.n_mfcc, _check_count(gru_size, "gru_size"), batch_first=True)
        self.projection = nn.Linear(gru_size, self.z_size)

    def mfcc(self, audio: torch.Tensor, frames: Optional[int] = None) -> torch.Tensor:
        """MFCCs ``[B, F, n_mfcc]`` of ``audio [B, T]`` (no gradient: they are features of the target)."""
        audio = check_audio(audio, "audio")
        with torch.no_grad():
            mfcc = compute_mfcc(
                audio.detach(), self.sample_rate, hop_length=self.hop_length, n_mfcc=self.n_mfcc,
                n_mels=self.n_mels, n_fft=self.n_fft,
            )
        if frames is not None:
            if mfcc.shape[1] != frames:
                raise ValueError(
                    f"audio has {audio.shape[-1]} samples, which gives {mfcc.shape[1]} frames of "
                    f"{self.hop_length} samples, but the conditioning has {frames} frames; audio must have "
                    f"frames * hop_length = {frames * self.hop_length} samples"
                )
        return mfcc

    def forward(self, audio: torch.Tensor, frames: Optional[int] = None) -> torch.Tensor:
        """Latent ``z [B, F, z_size]`` of ``audio [B, T]`` (``F = ceil(T / hop_length)``).

        Args:
            audio: ``[B, T]`` audio at ``sample_rate``.
            frames: if given, the number of frames the caller expects (a
                clear error when the audio length does not match).
        """
        mfcc = self.mfcc(audio, frames)
        hidden, _ = self.gru(self.norm(mfcc))
        return self.projection(hidden)
