"""Short-time Fourier transform pieces with explicit adjoints.

``frame_signal`` / ``overlap_add`` are exact adjoints of each other, which is
what lets :mod:`ddsp_lab.losses` turn a gradient with respect to a
spectrogram back into a gradient with respect to audio without going through
autograd's generic STFT backward.

Framing convention (``center=True`` style): the signal is zero-padded by
``n_fft // 2`` on both sides and frame ``m`` starts at padded sample
``m * hop``, so frame ``m`` is centred on sample ``m * hop`` of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def num_frames(num_samples: int, hop_length: int) -> int:
    """Frames produced by :func:`frame_signal` for ``num_samples`` samples."""
    return num_samples // hop_length + 1


def frame_signal(audio: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """Cut centred, zero-padded frames: ``[B, T] -> [B, frames, n_fft]`` (a strided view)."""
    padded = F.pad(audio, (n_fft // 2, n_fft // 2))
    frames = num_frames(audio.shape[-1], hop_length)
    needed = (frames - 1) * hop_length + n_fft
    if padded.shape[-1] < needed:
        padded = F.pad(padded, (0, needed - padded.shape[-1]))
    return padded.unfold(-1, n_fft, hop_length)[:, :frames]


def overlap_add(frames: torch.Tensor, hop_length: int, num_samples: int) -> torch.Tensor:
    """Adjoint of :func:`frame_signal`: sum frames back onto ``[B, num_samples]``.

    Args:
        frames: ``[B, frames, n_fft]``.
        hop_length: hop used for framing.
        num_samples: length of the original (unpadded) signal.
    """
    batch, count, n_fft = frames.shape
    padded_length = (count - 1) * hop_length + n_fft
    if n_fft % hop_length == 0:
        # Frames overlap by a whole number of hops: add n_fft / hop shifted
        # copies instead of scattering sample by sample.
        parts = n_fft // hop_length
        out = frames.new_zeros(batch, count + parts - 1, hop_length)
        chunks = frames.reshape(batch, count, parts, hop_length)
        for part in range(parts):
            out[:, part: part + count] += chunks[:, :, part]
        out = out.reshape(batch, -1)
    else:
        out = F.fold(
            frames.transpose(1, 2), output_size=(1, padded_length),
            kernel_size=(1, n_fft), stride=(1, hop_length),
        ).reshape(batch, padded_length)
    start = n_fft // 2
    out = out[:, start: start + num_samples]
    if out.shape[-1] < num_samples:
        out = F.pad(out, (0, num_samples - out.shape[-1]))
    return out


def stft(audio: torch.Tensor, n_fft: int, hop_length: int, window: torch.Tensor) -> torch.Tensor:
    """Complex one-sided STFT ``[B, T] -> [B, frames, n_fft // 2 + 1]`` (frames centred)."""
    return torch.fft.rfft(frame_signal(audio, n_fft, hop_length) * window, dim=-1)


def adjoint_bin_scale(n_fft: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Per-bin factors ``[n_fft // 2 + 1]`` that turn ``irfft`` into the adjoint of ``rfft``.

    ``n_fft`` for the DC bin (and the Nyquist bin of an even ``n_fft``),
    ``n_fft / 2`` for the others, which ``irfft`` counts twice.
    """
    scale = torch.full((n_fft // 2 + 1,), n_fft / 2.0, device=device, dtype=dtype)
    scale[0] = n_fft
    if n_fft % 2 == 0:
        scale[-1] = n_fft
    return scale


def stft_adjoint(
    grad_spectrum: torch.Tensor,
    n_fft: int,
    hop_length: int,
    window: torch.Tensor,
    num_samples: int,
    prescaled: bool = False,
) -> torch.Tensor:
    """Gradient with respect to audio from a gradient with respect to :func:`stft`'s output.

    ``grad_spectrum`` holds ``dL/dRe + i dL/dIm`` per bin, ``[B, frames, bins]``.
    For a real frame ``a``, ``dL/da[n] = sum_f Re(G_f exp(2 pi i f n / N))``
    over the one-sided bins, which is ``irfft`` of ``G`` scaled by
    :func:`adjoint_bin_scale`. Pass ``prescaled=True`` when that scale has
    already been applied (it saves a pass over the spectrum).

    Returns:
        ``[B, num_samples]``.
    """
    if not prescaled:
        grad_spectrum = grad_spectrum * adjoint_bin_scale(n_fft, grad_spectrum.device, window.dtype)
    frames_grad = torch.fft.irfft(grad_spectrum, n=n_fft, dim=-1)
    return overlap_add(frames_grad.mul_(window), hop_length, num_samples)
