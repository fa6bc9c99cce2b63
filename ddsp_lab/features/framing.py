"""Frame layout shared by every frame-rate feature.

Convention (the same as the synthesisers'): with a hop of ``hop_length``
samples, frame ``n`` describes the signal centred on sample ``n * hop_length``
and a signal of ``T`` samples has ``ceil(T / hop_length)`` frames. A signal of
exactly ``F * hop_length`` samples therefore gives ``F`` frames, and a
synthesiser driven by those frames renders ``F * hop_length`` samples again;
for other lengths the frames cover every sample and the render is trimmed to
``T``. Analysis windows reaching past either end of the signal see zeros.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..core.checks import check_audio, check_hop_length, check_positive, check_sample_rate


def frame_count(num_samples: int, hop_length: int) -> int:
    """Frames for a signal of ``num_samples`` samples: ``ceil(num_samples / hop_length)``."""
    return -(-int(num_samples) // check_hop_length(hop_length))


def resolve_hop_length(sample_rate: int, hop_length: Optional[int] = None, frame_rate: Optional[float] = None) -> int:
    """Hop in samples from exactly one of ``hop_length`` (samples) or ``frame_rate`` (Hz).

    ``frame_rate`` must divide ``sample_rate`` into a whole number of samples
    (250 Hz at 16 kHz gives a hop of 64); otherwise pass ``hop_length``.
    """
    sample_rate = check_sample_rate(sample_rate)
    if (hop_length is None) == (frame_rate is None):
        raise ValueError("pass exactly one of hop_length (samples) or frame_rate (Hz)")
    if hop_length is not None:
        return check_hop_length(hop_length)
    frame_rate = check_positive(frame_rate, "frame_rate")
    hop = sample_rate / frame_rate
    if abs(hop - round(hop)) > 1e-9 * hop or round(hop) < 1:
        raise ValueError(
            f"frame_rate {frame_rate} Hz does not divide sample_rate {sample_rate} Hz into a whole "
            f"number of samples ({hop:.4f}); pass hop_length instead"
        )
    return int(round(hop))


def as_batch(audio, name: str = "audio") -> Tuple[torch.Tensor, bool]:
    """Validate ``[batch, samples]`` or ``[samples]`` audio; return it as 2-D and whether it was 1-D."""
    was_1d = isinstance(audio, torch.Tensor) and audio.dim() == 1
    return check_audio(audio, name, allow_1d=True), was_1d


def check_n_fft(n_fft, name: str = "n_fft") -> int:
    """Check an FFT size in samples (an integer >= 2)."""
    if isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 2:
        raise ValueError(f"{name} must be an integer number of samples >= 2, got {n_fft!r}")
    return n_fft


def power_spectrogram(audio: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Power spectrum ``|STFT|^2`` of centred, Hann-windowed frames.

    The window is the periodic Hann window of ``n_fft`` samples, unnormalised
    (the same frames and values as ``librosa.stft(center=True,
    pad_mode="constant")`` squared). Computing ``re^2 + im^2`` instead of
    ``abs()**2`` keeps the gradient finite at silence.

    Args:
        audio: ``[batch, samples]``.
        n_fft: window and FFT size in samples.
        hop_length: samples between frame centres.

    Returns:
        ``[batch, ceil(samples / hop_length), n_fft // 2 + 1]``.
    """
    frames = frame_count(audio.shape[-1], hop_length)
    left = n_fft // 2
    # Enough zeros on the right for the last frame's window whatever the hop.
    needed = (frames - 1) * hop_length + n_fft
    right = max(0, needed - audio.shape[-1] - left)
    padded = torch.nn.functional.pad(audio, (left, right))
    window = torch.hann_window(n_fft, periodic=True, device=audio.device, dtype=audio.dtype)
    spectrum = torch.stft(
        padded, n_fft=n_fft, hop_length=hop_length, window=window, center=False, return_complex=True
    )[..., :frames]
    return (spectrum.real ** 2 + spectrum.imag ** 2).transpose(1, 2)


def default_n_fft(sample_rate: int, seconds: float) -> int:
    """An even FFT size close to ``seconds`` of audio (512 for 32 ms at 16 kHz)."""
    return max(2, 2 * int(round(seconds * sample_rate / 2)))


__all__ = [
    "as_batch",
    "check_n_fft",
    "default_n_fft",
    "frame_count",
    "power_spectrogram",
    "resolve_hop_length",
]
