"""Multi-scale spectral loss.

The loss compares magnitude spectrograms at several FFT sizes (DDSP's
multi-scale spectral loss): L1 on linear magnitudes, L1 on log magnitudes,
optionally on mel-scaled bins, A-weighted bins, and a spectral-convergence
term.

Speed: a plain loop of ``torch.stft`` makes autograd keep every spectrogram
and run the STFT's generic backward. Here the gradient with respect to the
predicted audio is formed inside the forward pass, resolution by resolution,
with the exact adjoint of the STFT (:func:`ddsp_lab.core.spectral.stft_adjoint`)
and accumulated into a single ``[B, T]`` tensor; the spectrograms are freed at
once. Autograd only multiplies that tensor by the incoming scalar gradient.
The gradient is computed only when the prediction requires one. A
consequence: the loss supports first-order gradients only (no double backward).
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .core.checks import check_audio, check_sample_rate
from .core.spectral import adjoint_bin_scale, stft, stft_adjoint
from .core.weighting import rfft_a_weighting_db
from .features.mfcc import mel_filterbank


MAGNITUDE_FLOOR = 1e-6


class MultiScaleSpectralLoss(nn.Module):
    """Multi-resolution STFT magnitude loss, ``pred`` vs ``target`` audio.

    For each FFT size ``n`` (hop ``n * (1 - overlap)``, Hann window, frames
    centred with zero padding) the magnitudes ``S`` (optionally mel-scaled
    and/or A-weighted) contribute

    ``linear_weight * mean|S_p - S_t| + log_weight * mean|log(S_p + eps) - log(S_t + eps)|
    + convergence_weight * ||S_t - S_p||_F / ||S_t||_F``

    and the loss is the sum over FFT sizes. Signals shorter than the largest
    FFT work (they are zero padded).

    Args:
        fft_sizes: FFT sizes in samples (default 2048 .. 64).
        overlap: fraction of overlap between frames (0.75 -> hop = n / 4).
        linear_weight: weight of the linear-magnitude L1 term.
        log_weight: weight of the log-magnitude L1 term.
        convergence_weight: weight of the spectral-convergence term.
        n_mels: if set, compare ``n_mels`` mel bands instead of FFT bins
            (needs ``sample_rate``).
        a_weighting: if True, weight bins by the A-weighting curve (needs ``sample_rate``).
        sample_rate: Hz; required for ``n_mels`` and ``a_weighting``.
        eps: added inside the log, keeps the log term finite at silence.

    Shapes:
        ``forward(pred [B, T], target [B, T]) -> scalar``
    """

    def __init__(
        self,
        fft_sizes: Sequence[int] = (2048, 1024, 512, 256, 128, 64),
        overlap: float = 0.75,
        linear_weight: float = 1.0,
        log_weight: float = 1.0,
        convergence_weight: float = 0.0,
        n_mels: Optional[int] = None,
        a_weighting: bool = False,
        sample_rate: Optional[int] = None,
        eps: float = 1e-7,
    ):
        super().__init__()
        if not fft_sizes or any(int(n) != n or n < 4 for n in fft_sizes):
            raise ValueError(f"fft_sizes must be integers >= 4, got {fft_sizes!r}")
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if (n_mels or a_weighting) and sample_rate is None:
            raise ValueError("sample_rate is required when n_mels or a_weighting is used")
        self.fft_sizes = tuple(int(n) for n in fft_sizes)
        self.hop_lengths = tuple(max(1, int(round(n * (1.0 - overlap)))) for n in self.fft_sizes)
        self.linear_weight = float(linear_weight)
        self.log_weight = float(log_weight)
        self.convergence_weight = float(convergence_weight)
        self.n_mels = n_mels
        self.a_weighting = a_weighting
        self.sample_rate = check_sample_rate(sample_rate) if sample_rate is not None else None
        self.eps = float(eps)
        for n in self.fft_sizes:
            # Buffers in float64 so float64 inputs (gradcheck) are exact; cast on use.
            self.register_buffer(f"window_{n}", torch.hann_window(n, dtype=torch.float64), persistent=False)
            if a_weighting:
                gains = torch.pow(10.0, rfft_a_weighting_db(n, self.sample_rate, dtype=torch.float64) / 20.0)
                self.register_buffer(f"bin_weights_{n}", gains, persistent=False)
            if n_mels:
                mel = mel_filterbank(self.sample_rate, n, n_mels, dtype=torch.float64)
                self.register_buffer(f"mel_{n}", mel.T.contiguous(), persistent=False)

    @property
    def _plain_l1(self) -> bool:
        """True for plain linear/log L1 on FFT bins, whose gradient has a closed form."""
        return not (self.a_weighting or self.n_mels or self.convergence_weight)

    def _plain_l1_with_gradient(self, mag_pred: torch.Tensor, mag_target: torch.Tensor):
        """Loss and its gradient w.r.t. ``mag_pred`` for the plain L1 terms.

        ``log`` is increasing, so ``sign(log(p+eps) - log(t+eps)) = sign(p - t)``
        and both terms share one sign: ``dL/dp = sign(p - t) * (w_lin + w_log / (p + eps)) / N``.
        """
        diff = mag_pred - mag_target
        log_ratio = torch.log((mag_pred + self.eps) / (mag_target + self.eps))
        count = diff.numel()
        loss = (self.linear_weight * diff.abs().sum() + self.log_weight * log_ratio.abs().sum()) / count
        grad = torch.sign(diff) * ((self.linear_weight + self.log_weight / (mag_pred + self.eps)) / count)
        return loss, grad

    def _compare(self, mag_pred: torch.Tensor, mag_target: torch.Tensor, n_fft: int) -> torch.Tensor:
        """Loss terms of one resolution from magnitudes ``[B, frames, bins]``."""
        if self.a_weighting:
            weights = getattr(self, f"bin_weights_{n_fft}").to(mag_pred.dtype)
            mag_pred, mag_target = mag_pred * weights, mag_target * weights
        if self.n_mels:
            mel = getattr(self, f"mel_{n_fft}").to(mag_pred.dtype)
            mag_pred, mag_target = mag_pred @ mel, mag_target @ mel
        loss = mag_pred.new_zeros(())
        if self.linear_weight:
            loss = loss + self.linear_weight * (mag_pred - mag_target).abs().mean()
        if self.log_weight:
            log_diff = torch.log(mag_pred + self.eps) - torch.log(mag_target + self.eps)
            loss = loss + self.log_weight * log_diff.abs().mean()
        if self.convergence_weight:
            norm_target = torch.linalg.vector_norm(mag_target)
            norm_error = torch.sqrt((mag_target - mag_pred).square().sum() + self.eps**2)
            loss = loss + self.convergence_weight * norm_error / (norm_target + self.eps)
        return loss

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss between ``pred`` and ``target``, both ``[B, T]`` (or ``[T]``) audio."""
        pred = check_audio(pred, "pred", allow_1d=True)
        target = check_audio(target, "target", allow_1d=True)
        if pred.shape != target.shape:
            raise ValueError(
                f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        # Function.forward always runs with grad mode off, so whether the
        # gradient is wanted has to be decided here.
        want_grad = pred.requires_grad and torch.is_grad_enabled()
        return _MultiScaleSpectral.apply(pred, target.detach(), self, want_grad)


class _MultiScaleSpectral(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pred, target, module, want_grad):
        total = pred.new_zeros(())
        grad_pred = torch.zeros_like(pred) if want_grad else None
        num_samples = pred.shape[-1]
        for n_fft, hop in zip(module.fft_sizes, module.hop_lengths):
            window = getattr(module, f"window_{n_fft}").to(pred.dtype)
            spec_target = stft(target, n_fft, hop, window)
            spec_pred = stft(pred, n_fft, hop, window)
            # |X| has an infinite slope at 0: the floor keeps silence finite.
            # Both sides get it, so identical signals give exactly zero.
            mag_target = spec_target.abs().clamp_min_(MAGNITUDE_FLOOR)
            mag_pred = spec_pred.abs().clamp_min_(MAGNITUDE_FLOOR)
            if not want_grad:
                total = total + module._compare(mag_pred, mag_target, n_fft)
                continue
            if module._plain_l1:
                loss, grad_mag = module._plain_l1_with_gradient(mag_pred, mag_target)
            else:
                with torch.enable_grad():
                    leaf = mag_pred.detach().requires_grad_(True)
                    loss = module._compare(leaf, mag_target, n_fft)
                    (grad_mag,) = torch.autograd.grad(loss, leaf)
            total = total + loss.detach()
            # d|X|/dX = X / |X| in the dL/dRe + i dL/dIm convention; the
            # adjoint's per-bin scale is folded into this real factor.
            factor = grad_mag.div_(mag_pred).mul_(adjoint_bin_scale(n_fft, pred.device, pred.dtype))
            grad_pred += stft_adjoint(spec_pred.mul_(factor), n_fft, hop, window, num_samples, prescaled=True)
        ctx.save_for_backward(grad_pred if want_grad else None)
        return total

    @staticmethod
    def backward(ctx, grad_output):
        (grad_pred,) = ctx.saved_tensors
        return grad_pred * grad_output, None, None, None
