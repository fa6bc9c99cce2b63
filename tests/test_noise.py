"""White noise and DDSP filtered noise."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.core.convolution import time_varying_fir
from ddsp_lab.core.conversions import exp_sigmoid
from ddsp_lab.units.noise import FilteredNoise, Noise, white_noise


def seeded(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- white noise


@pytest.mark.parametrize("distribution,variance,fourth_moment", [("uniform", 1 / 3, 1 / 5), ("normal", 1.0, 3.0)])
def test_white_noise_moments(distribution, variance, fourth_moment):
    n = 200_000
    x = white_noise((2, n // 2), distribution, seeded(0), dtype=torch.float64).flatten().numpy()
    # 5 standard errors of the sample mean and of the sample variance:
    # var(mean) = var / n, var(x^2) = E[x^4] - var^2.
    assert abs(x.mean()) < 5 * math.sqrt(variance / n)
    assert abs(np.mean(x**2) - variance) < 5 * math.sqrt((fourth_moment - variance**2) / n)
    if distribution == "uniform":
        assert x.min() >= -1.0 and x.max() < 1.0
    # Whiteness: the lag-1 autocorrelation of independent samples has standard error 1/sqrt(n).
    assert abs(np.mean(x[1:] * x[:-1]) / variance) < 5 / math.sqrt(n)


def test_white_noise_rejects_unknown_distribution():
    with pytest.raises(ValueError, match="distribution must be"):
        white_noise((1, 4), "pink")


def test_noise_equals_linearly_interpolated_amplitude_times_noise():
    sample_rate, hop = 16000, 5
    unit = Noise(sample_rate, hop)
    amplitude = torch.tensor([[[0.0], [1.0], [0.5], [2.0]]], dtype=torch.float64)
    out = unit.get_signal(amplitude, generator=seeded(3)).numpy()[0]
    noise = (2.0 * torch.rand((1, 20), generator=seeded(3), dtype=torch.float64) - 1.0).numpy()[0]
    # Frame n is the value at sample n * hop; the last frame is held.
    envelope = np.interp(np.arange(20), np.arange(4) * hop, amplitude[0, :, 0].numpy())
    np.testing.assert_allclose(out, noise * envelope, rtol=0, atol=1e-15)


def test_noise_seed_makes_renders_reproducible():
    amplitude = torch.ones(2, 6, 1)
    frozen = Noise(44100, 7, seed=12)
    first, second = frozen.get_signal(amplitude), frozen.get_signal(amplitude)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(first, Noise(44100, 7, seed=13).get_signal(amplitude))
    free = Noise(44100, 7)
    assert not torch.equal(free.get_signal(amplitude), free.get_signal(amplitude))
    # An explicit generator wins over the seed.
    torch.testing.assert_close(frozen.get_signal(amplitude, seeded(1)), Noise(44100, 7).get_signal(amplitude, seeded(1)))


def test_noise_controls_shapes_and_normal_distribution():
    unit = Noise(22050, 3, distribution="normal", seed=0)
    raw = torch.zeros(1, 5, 1)
    controls = unit.get_controls(raw)
    torch.testing.assert_close(controls["amplitude"], exp_sigmoid(raw))
    out = unit(raw)
    assert out.shape == (1, 15) and out.dtype == torch.float32
    assert unit.get_signal(torch.ones(3, 1, 1, dtype=torch.float64)).dtype == torch.float64


def test_noise_gradcheck_and_finite_gradient_at_zero_amplitude():
    unit = Noise(16000, 4, seed=5)
    amplitude = torch.rand(2, 3, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: unit.get_signal(a), (amplitude,))
    zero = torch.zeros(1, 3, 1, requires_grad=True)
    unit.get_signal(zero).pow(2).sum().backward()
    assert torch.isfinite(zero.grad).all()


def test_noise_errors():
    with pytest.raises(ValueError, match="hop_length"):
        Noise(16000, 0)
    with pytest.raises(ValueError, match="seed must be"):
        Noise(16000, 4, seed=-1)
    with pytest.raises(ValueError, match="distribution must be"):
        Noise(16000, 4, distribution="brown")
    unit = Noise(16000, 4)
    with pytest.raises(ValueError, match="amplitude must be >= 0"):
        unit.get_signal(-torch.ones(1, 2, 1))
    with pytest.raises(ValueError, match="amplitude must have size 1"):
        unit.get_signal(torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="amplitude must have 3 dimensions"):
        unit.get_signal(torch.ones(2, 1))
    with pytest.raises(ValueError, match="amplitude contains NaN"):
        unit.get_signal(torch.full((1, 2, 1), float("nan")))


# -------------------------------------------------------------- filtered noise


def test_filtered_noise_is_time_varying_fir_of_uniform_noise():
    unit = FilteredNoise(16000, 16, n_bands=9, seed=4)
    magnitudes = torch.rand(2, 5, 9, dtype=torch.float64)
    out = unit.get_signal(magnitudes, generator=seeded(8))
    noise = 2.0 * torch.rand((2, 80), generator=seeded(8), dtype=torch.float64) - 1.0
    torch.testing.assert_close(out, time_varying_fir(noise, magnitudes, 16), rtol=0, atol=1e-14)
    torch.testing.assert_close(unit.get_signal(magnitudes), unit.get_signal(magnitudes), rtol=0, atol=0)


def test_filtered_noise_spectrum_follows_band_magnitudes():
    """Welch spectra of two sections with different responses match sigma^2 |M|^2.

    Expected two-sided PSD (per sample) of uniform noise (variance 1/3)
    through the filter: S(f) = |H(f)|^2 / 3, and |H| is within the design
    bound `beta` of M at band centres (see the FIR design test), so
    |S - M^2 / 3| <= beta (2 M + beta) / 3.
    Statistical error: Welch with a Hann window, 50 % overlap and K segments
    has relative variance about 1.06 / K per bin; averaging 7 neighbouring
    bins (squared correlations 0.44 and 0.03 for neighbours one and two bins
    apart) scales it by about 0.26, so sigma_rel = sqrt(1.06 * 0.26 / K);
    the test allows 5 sigma. The Hann kernel (about 1 bin wide) over a
    response that changes over tens of bins biases by well under 1 %.
    """
    sample_rate, hop, n_bands = 16000, 64, 65
    period = 2 * (n_bands - 1)
    section_frames = 2048
    k = np.arange(n_bands)
    low = 0.2 + np.exp(-0.5 * ((k - 16) / 6.0) ** 2)
    high = 0.2 + np.exp(-0.5 * ((k - 44) / 6.0) ** 2)
    magnitudes = np.concatenate([np.tile(low, (section_frames, 1)), np.tile(high, (section_frames, 1))])[None]
    unit = FilteredNoise(sample_rate, hop, n_bands, seed=0)
    audio = unit.get_signal(torch.from_numpy(magnitudes)).numpy()[0]
    section = section_frames * hop
    guard = 4 * hop  # skip the crossfade and the filter's reach around the change
    nperseg = 8 * period
    for shape, segment in ((low, audio[: section - guard]), (high, audio[section + guard:])):
        _, psd = scipy.signal.welch(
            segment, nperseg=nperseg, window="hann", detrend=False, return_onesided=False, scaling="density"
        )
        segments = (segment.size - nperseg) // (nperseg // 2) + 1
        sigma_rel = math.sqrt(1.06 * 0.26 / segments)
        h0 = np.fft.irfft(shape, period)
        window = np.hanning(2 * n_bands + 1)[1:-1]
        folded = np.zeros(period)
        np.add.at(folded, (np.arange(2 * n_bands - 1) - (n_bands - 1)) % period, window)
        beta = np.sum(np.abs(h0) * np.abs(1 - folded))
        for band in range(1, n_bands - 1):
            measured = psd[8 * band - 3: 8 * band + 4].mean()
            expected = shape[band] ** 2 / 3
            tolerance = 5 * sigma_rel * expected + beta * (2 * shape[band] + beta) / 3
            assert abs(measured - expected) <= tolerance, (band, measured, expected, tolerance)


def test_filtered_noise_controls_apply_initial_bias():
    unit = FilteredNoise(48000, 32, n_bands=17)
    raw = torch.randn(1, 4, 17)
    torch.testing.assert_close(unit.get_controls(raw)["magnitudes"], exp_sigmoid(raw - 5.0))
    # An untrained network (raw outputs near 0) starts almost silent.
    assert unit(torch.zeros(1, 4, 17)).abs().max() < 1e-3
    assert FilteredNoise(48000, 32, 17, initial_bias=0.0).get_controls(raw)["magnitudes"].allclose(exp_sigmoid(raw))
    bands = unit.band_frequencies_hz()
    assert bands[0] == 0 and bands[-1] == 24000 and len(bands) == 17


@pytest.mark.parametrize("batch,frames,hop", [(1, 1, 1), (1, 7, 13), (3, 5, 64)])
def test_filtered_noise_shapes(batch, frames, hop):
    unit = FilteredNoise(22050, hop, n_bands=33, seed=1)
    out = unit(torch.randn(batch, frames, 33))
    assert out.shape == (batch, frames * hop) and torch.isfinite(out).all()


@pytest.mark.parametrize("crossfade", ["hann", "none"])
def test_filtered_noise_gradcheck(crossfade):
    unit = FilteredNoise(16000, 4, n_bands=5, crossfade=crossfade, seed=2)
    raw = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r: unit(r), (raw,))
    magnitudes = torch.rand(1, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: unit.get_signal(m), (magnitudes,))


def test_filtered_noise_finite_gradients_at_zero_magnitudes():
    unit = FilteredNoise(16000, 8, n_bands=9, seed=0)
    magnitudes = torch.zeros(1, 4, 9, requires_grad=True)
    unit.get_signal(magnitudes).sum().backward()
    assert torch.isfinite(magnitudes.grad).all()
    raw = torch.full((1, 4, 9), -50.0, requires_grad=True)
    unit(raw).pow(2).sum().backward()
    assert torch.isfinite(raw.grad).all()


def test_filtered_noise_errors():
    with pytest.raises(ValueError, match="n_bands must be an int >= 2"):
        FilteredNoise(16000, 64, n_bands=1)
    with pytest.raises(ValueError, match="ir_length must be odd"):
        FilteredNoise(16000, 64, n_bands=9, ir_length=18)
    with pytest.raises(ValueError, match="window must be"):
        FilteredNoise(16000, 64, window="triangle")
    with pytest.raises(ValueError, match="sample_rate"):
        FilteredNoise(-1, 64)
    unit = FilteredNoise(16000, 4, n_bands=9)
    with pytest.raises(ValueError, match="magnitudes must have size 9"):
        unit.get_signal(torch.rand(1, 2, 8))
    with pytest.raises(ValueError, match="magnitudes must be >= 0"):
        unit.get_signal(-torch.rand(1, 2, 9))
    with pytest.raises(ValueError, match="magnitudes contains NaN"):
        unit.get_signal(torch.full((1, 2, 9), float("nan")))
    with pytest.raises(ValueError, match="magnitudes must have 3 dimensions"):
        unit(torch.rand(2, 9))
