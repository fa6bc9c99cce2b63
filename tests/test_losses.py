"""Multi-scale spectral loss: values, gradients, options, errors."""

import numpy as np
import pytest
import torch

from ddsp_lab import MultiScaleSpectralLoss


def _reference_loss(pred, target, fft_sizes, eps=1e-7):
    """Autograd through torch.stft (an independent STFT implementation)."""
    total = 0.0
    for n in fft_sizes:
        window = torch.hann_window(n, dtype=pred.dtype)
        spec = lambda x: torch.stft(x, n, n // 4, window=window, center=True, pad_mode="constant", return_complex=True)
        p, t = spec(pred), spec(target).abs().clamp_min(1e-6)
        p = torch.sqrt((p.real.square() + p.imag.square()).clamp_min(1e-12))
        total = total + (p - t).abs().mean() + (torch.log(p + eps) - torch.log(t + eps)).abs().mean()
    return total


def test_value_and_gradient_match_autograd_through_torch_stft():
    torch.manual_seed(0)
    pred = torch.randn(2, 3001, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 3001, dtype=torch.float64)
    sizes = (2048, 1024, 512, 256, 128, 64)
    ours = MultiScaleSpectralLoss(sizes)(pred, target)
    (grad_ours,) = torch.autograd.grad(ours, pred)
    reference = _reference_loss(pred, target, sizes)
    (grad_reference,) = torch.autograd.grad(reference, pred)
    # Same arithmetic in float64 through two different code paths: rounding only.
    assert float(ours.detach()) == pytest.approx(float(reference.detach()), rel=1e-10)
    assert torch.allclose(grad_ours, grad_reference, rtol=1e-8, atol=1e-14)


def test_gradcheck_with_every_option():
    torch.manual_seed(1)
    pred = torch.randn(1, 100, dtype=torch.float64, requires_grad=True)
    target = torch.randn(1, 100, dtype=torch.float64)
    loss = MultiScaleSpectralLoss((64, 32), convergence_weight=1.0, n_mels=8, a_weighting=True, sample_rate=16000)
    assert torch.autograd.gradcheck(lambda x: loss(x, target), (pred,))


def test_zero_for_identical_signals_and_positive_otherwise():
    x = torch.randn(2, 4000)
    loss = MultiScaleSpectralLoss(convergence_weight=1.0)
    assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-5)
    assert float(loss(x, 0.5 * x)) > 0.5


def test_exactly_zero_for_identical_signals_with_silent_bins():
    # A pure tone at a bin frequency leaves most bins at rounding level; the
    # floor must treat both sides alike.
    t = torch.arange(8192, dtype=torch.float64)
    tone = torch.sin(2 * torch.pi * 64 * t / 2048)[None]
    assert float(MultiScaleSpectralLoss()(tone, tone)) == 0.0


def test_log_term_reflects_level_difference():
    # Halving the level changes every log magnitude by log(2) (far above eps):
    # the log term alone is log(2) per resolution.
    x = torch.randn(1, 8000, dtype=torch.float64)
    loss = MultiScaleSpectralLoss((512, 256), linear_weight=0.0, log_weight=1.0, eps=1e-12)
    assert float(loss(0.5 * x, x)) == pytest.approx(2 * np.log(2), rel=1e-6)


def test_signals_shorter_than_largest_fft_work():
    pred = torch.randn(3, 500, requires_grad=True)
    value = MultiScaleSpectralLoss()(pred, torch.randn(3, 500))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(pred.grad).all()


def test_gradient_finite_at_silence():
    pred = torch.zeros(1, 2048, requires_grad=True)
    MultiScaleSpectralLoss(convergence_weight=1.0)(pred, torch.zeros(1, 2048)).backward()
    assert torch.isfinite(pred.grad).all()


def test_no_gradient_work_without_grad():
    pred = torch.randn(1, 1000)
    with torch.no_grad():
        value = MultiScaleSpectralLoss()(pred, torch.randn(1, 1000))
    assert value.grad_fn is None and float(value) > 0


def test_bad_input_is_rejected():
    loss = MultiScaleSpectralLoss()
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.zeros(1, 100), torch.zeros(1, 101))
    with pytest.raises(ValueError, match="pred contains NaN"):
        loss(torch.full((1, 100), float("nan")), torch.zeros(1, 100))
    with pytest.raises(ValueError, match="target must have"):
        loss(torch.zeros(1, 100), torch.zeros(1, 1, 100))
    with pytest.raises(ValueError, match="sample_rate is required"):
        MultiScaleSpectralLoss(n_mels=64)
    with pytest.raises(ValueError, match="overlap"):
        MultiScaleSpectralLoss(overlap=1.0)
