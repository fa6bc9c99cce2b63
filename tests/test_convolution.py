"""FFT convolution, FIR design by frequency sampling, time-varying FIR, FIRFilter."""

import math

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import torch

from ddsp_lab.core.convolution import (
    fast_fft_length,
    fft_convolve,
    frequency_response_to_fir,
    time_varying_convolve,
    time_varying_fir,
)
from ddsp_lab.core.conversions import exp_sigmoid
from ddsp_lab.units.fir import FIRFilter

EPS64 = float(np.finfo(np.float64).eps)
EPS32 = float(np.finfo(np.float32).eps)


def fft_error_bound(eps, n_fft, *arrays):
    """Rounding bound for an FFT product: a few eps * log2(n) * product of L2 norms.

    Each output sample is a sum of products bounded by ||x|| ||k|| (Cauchy-
    Schwarz), and the forward/inverse FFT pair adds relative error of order
    eps * log2(n_fft); the factor 10 covers the constant of that bound.
    """
    norms = math.prod(float(np.linalg.norm(a)) for a in arrays)
    return 10 * eps * math.log2(max(n_fft, 2)) * norms


# ---------------------------------------------------------------- fast lengths


def test_fast_fft_length_matches_scipy_and_powers_of_two():
    for n in range(1, 3000):
        assert fast_fft_length(n) == scipy.fft.next_fast_len(n, real=True)
        power = fast_fft_length(n, power_of_2=True)
        assert power >= n and power & (power - 1) == 0 and power < 2 * n


def test_fast_fft_length_rejects_bad_input():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="n must"):
            fast_fft_length(bad)


# ---------------------------------------------------------------- fft_convolve


@pytest.mark.parametrize("mode", ["full", "same", "causal"])
@pytest.mark.parametrize("length,kernel_length", [(101, 17), (16, 16), (7, 33), (1, 5), (50, 1), (255, 64)])
def test_fft_convolve_matches_scipy(mode, length, kernel_length):
    rng = np.random.default_rng(length * 100 + kernel_length)
    signal = rng.standard_normal((3, length))
    kernel = rng.standard_normal((3, kernel_length))
    out = fft_convolve(torch.from_numpy(signal), torch.from_numpy(kernel), mode).numpy()
    scipy_mode = "full" if mode == "causal" else mode
    expected = np.stack([scipy.signal.fftconvolve(s, k, scipy_mode) for s, k in zip(signal, kernel)])
    if mode == "causal":
        expected = expected[:, :length]
    assert out.shape == expected.shape
    tolerance = fft_error_bound(EPS64, fast_fft_length(length + kernel_length - 1), signal[0], kernel[0])
    np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize("signal_batch,kernel_batch", [(4, 1), (1, 4), (1, 1)])
def test_fft_convolve_broadcasts_batch(signal_batch, kernel_batch):
    rng = np.random.default_rng(7)
    signal = rng.standard_normal((signal_batch, 37))
    kernel = rng.standard_normal((kernel_batch, 11))
    out = fft_convolve(torch.from_numpy(signal), torch.from_numpy(kernel), "same").numpy()
    batch = max(signal_batch, kernel_batch)
    expected = np.stack([
        scipy.signal.fftconvolve(signal[min(b, signal_batch - 1)], kernel[min(b, kernel_batch - 1)], "same")
        for b in range(batch)
    ])
    np.testing.assert_allclose(out, expected, rtol=0, atol=fft_error_bound(EPS64, 48, signal[0], kernel[0]))


def test_fft_convolve_float32_keeps_dtype_and_accuracy():
    rng = np.random.default_rng(3)
    signal = rng.standard_normal((2, 1001)).astype(np.float32)
    kernel = rng.standard_normal((1, 257)).astype(np.float32)
    out = fft_convolve(torch.from_numpy(signal), torch.from_numpy(kernel), "full")
    assert out.dtype == torch.float32
    expected = np.stack([scipy.signal.fftconvolve(s.astype(np.float64), kernel[0].astype(np.float64)) for s in signal])
    tolerance = fft_error_bound(EPS32, fast_fft_length(1257), signal[0], kernel[0])
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=tolerance)


def test_fft_convolve_gradcheck():
    signal = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    kernel = torch.randn(1, 4, dtype=torch.float64, requires_grad=True)
    def all_modes(s, k):
        return torch.cat([fft_convolve(s, k, mode) for mode in ("full", "same", "causal")], dim=-1)

    assert torch.autograd.gradcheck(all_modes, (signal, kernel))


def test_fft_convolve_errors():
    good = torch.randn(2, 10)
    with pytest.raises(ValueError, match="signal must have 2 dimensions"):
        fft_convolve(torch.randn(10), good)
    with pytest.raises(ValueError, match="kernel must have 2 dimensions"):
        fft_convolve(good, torch.randn(1, 1, 3))
    with pytest.raises(ValueError, match="signal contains NaN"):
        fft_convolve(torch.full((1, 4), float("nan")), good)
    with pytest.raises(ValueError, match="kernel contains NaN"):
        fft_convolve(good, torch.tensor([[1.0, float("inf")]]))
    with pytest.raises(ValueError, match="mode must be"):
        fft_convolve(good, good, "valid")
    with pytest.raises(ValueError, match="batch"):
        fft_convolve(torch.randn(2, 10), torch.randn(3, 4))
    with pytest.raises(ValueError, match="kernel is empty"):
        fft_convolve(good, torch.randn(2, 0))
    with pytest.raises(TypeError, match="signal must be a torch.Tensor"):
        fft_convolve(np.ones((1, 4)), good)


# ---------------------------------------------------- frequency_response_to_fir


def autocorrelation_magnitudes(p, n_bands):
    """Magnitudes |P(w_k)|^2 >= 0 at the band centres and their zero-phase FIR.

    The zero-phase filter with response |P|^2 is the autocorrelation of p,
    supported on lags -(len(p)-1) .. len(p)-1, so a rectangular design of at
    least that length must reproduce it exactly.
    """
    g = np.convolve(p, p[::-1])
    omega = np.pi * np.arange(n_bands) / (n_bands - 1)
    lags = np.arange(len(g)) - (len(p) - 1)
    magnitudes = np.real(np.exp(-1j * np.outer(omega, lags)) @ g)
    return np.clip(magnitudes, 0.0, None), g


@pytest.mark.parametrize("ir_length", [7, 11, 17])
def test_rectangular_design_reproduces_short_symmetric_filter_exactly(ir_length):
    rng = np.random.default_rng(ir_length)
    magnitudes, g = autocorrelation_magnitudes(rng.standard_normal(4), n_bands=9)
    ir = frequency_response_to_fir(torch.from_numpy(magnitudes), ir_length=ir_length, window=None).numpy()
    expected = np.zeros(ir_length)
    centre = (ir_length - 1) // 2
    expected[centre - 3: centre + 4] = g
    # Only the irfft rounding: a sum of 9 terms of size <= max|M|.
    np.testing.assert_allclose(ir, expected, rtol=0, atol=100 * EPS64 * magnitudes.max())


def numpy_window(name, length):
    """Symmetric window of length + 2 points without its zero end points."""
    if name is None:
        return np.ones(length)
    full = {"hann": np.hanning, "hamming": np.hamming, "blackman": np.blackman}[name](length + 2)
    return full[1:-1]


@pytest.mark.parametrize("window,ir_length", [("hann", None), ("hann", 65), ("blackman", 97), ("hamming", 129)])
def test_windowed_design_matches_magnitudes_at_band_centres(window, ir_length):
    n_bands = 65
    period = 2 * (n_bands - 1)
    k = np.arange(n_bands)
    # A smooth response (a Gaussian bump over a floor) has a short zero-phase
    # response, so the windowing error bound below is small and meaningful.
    magnitudes = 0.1 + np.exp(-0.5 * ((k - 20) / 6.0) ** 2)
    ir = frequency_response_to_fir(torch.from_numpy(magnitudes), ir_length, window).numpy()
    length = ir.shape[-1]
    assert length == (ir_length or 2 * n_bands - 1)
    np.testing.assert_allclose(ir, ir[::-1], rtol=0, atol=1e-15)
    delay = (length - 1) // 2
    omega = 2 * np.pi * k / period
    response = np.exp(-1j * np.outer(omega, np.arange(length))) @ ir
    amplitude = response * np.exp(1j * omega * delay)
    # Linear phase: once the delay is removed the response is real.
    np.testing.assert_allclose(amplitude.imag, 0.0, atol=1e-12)
    # Error bound: at band centres the full period of the zero-phase response
    # h0 reproduces M exactly, so M_k - A_k = sum_l h0[l] (1 - w_eff[l])
    # e^{-i w_k l}, bounded by sum_l |h0[l]| |1 - w_eff[l]| where w_eff is the
    # window folded onto one period (lags the filter does not reach weigh 0).
    h0 = np.fft.irfft(magnitudes, period)
    folded = np.zeros(period)
    np.add.at(folded, (np.arange(length) - delay) % period, numpy_window(window, length))
    bound = np.sum(np.abs(h0) * np.abs(1 - folded)) + 1e-12
    assert bound < 0.05 * magnitudes.max(), "the bound must be tight enough to mean something"
    assert np.max(np.abs(amplitude.real - magnitudes)) <= bound


def test_frequency_response_to_fir_batch_shapes_and_dtype():
    magnitudes = torch.rand(2, 3, 5)
    ir = frequency_response_to_fir(magnitudes)
    assert ir.shape == (2, 3, 9) and ir.dtype == torch.float32
    ir64 = frequency_response_to_fir(magnitudes.double(), ir_length=3)
    assert ir64.shape == (2, 3, 3) and ir64.dtype == torch.float64


def test_frequency_response_to_fir_gradcheck_and_zero_magnitudes():
    magnitudes = torch.rand(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: frequency_response_to_fir(m, 9), (magnitudes,))
    zeros = torch.zeros(1, 6, requires_grad=True)
    frequency_response_to_fir(zeros).pow(2).sum().backward()
    assert torch.isfinite(zeros.grad).all()


def test_frequency_response_to_fir_errors():
    with pytest.raises(ValueError, match="magnitudes must be >= 0"):
        frequency_response_to_fir(torch.tensor([1.0, -0.5, 1.0]))
    with pytest.raises(ValueError, match="at least 2 bands"):
        frequency_response_to_fir(torch.ones(3, 1))
    with pytest.raises(ValueError, match="magnitudes contains NaN"):
        frequency_response_to_fir(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="ir_length must be odd"):
        frequency_response_to_fir(torch.ones(5), ir_length=8)
    with pytest.raises(ValueError, match="ir_length must be odd and in 1 .. 9"):
        frequency_response_to_fir(torch.ones(5), ir_length=11)
    with pytest.raises(ValueError, match="window must be"):
        frequency_response_to_fir(torch.ones(5), window="kaiser")
    with pytest.raises(TypeError, match="magnitudes must be a floating-point"):
        frequency_response_to_fir(torch.ones(5, dtype=torch.int64))


# ---------------------------------------------------------- time-varying FIR


@pytest.mark.parametrize("crossfade", ["hann", "none"])
@pytest.mark.parametrize("batch,frames,hop,n_bands", [(1, 7, 13, 9), (3, 4, 32, 33), (2, 5, 4, 17)])
def test_constant_response_equals_static_filtering(crossfade, batch, frames, hop, n_bands):
    """With one filter in every frame the result is plain convolution, exactly.

    Convolution is linear and the segment windows (Hann at 50 % overlap, or
    abutting rectangles) sum to one at every sample, so the overlap-added
    segment convolutions add up to the convolution of the whole signal;
    removing the (L - 1) / 2 delay is scipy's "same" mode for odd L.
    """
    rng = np.random.default_rng(frames * hop)
    audio = rng.standard_normal((batch, frames * hop))
    magnitudes = rng.uniform(0.0, 2.0, (batch, 1, n_bands))
    out = time_varying_fir(
        torch.from_numpy(audio), torch.from_numpy(np.repeat(magnitudes, frames, axis=1)), hop, crossfade=crossfade
    ).numpy()
    assert out.shape == audio.shape
    for b in range(batch):
        ir = frequency_response_to_fir(torch.from_numpy(magnitudes[b, 0])).numpy()
        expected = scipy.signal.fftconvolve(audio[b], ir, "same")
        tolerance = fft_error_bound(EPS64, 4 * hop + 4 * n_bands, audio[b], ir)
        np.testing.assert_allclose(out[b], expected, rtol=0, atol=tolerance)


def reference_time_varying(audio, impulse_responses, hop, delay, crossfade):
    """Frame-by-frame numpy reference: sum_n conv(window_n * x, h_n), shifted by delay."""
    length = audio.shape[-1]
    frames = impulse_responses.shape[0]
    out = np.zeros(length + impulse_responses.shape[1] + 2 * hop)
    t = np.arange(length)
    for n in range(frames + (1 if crossfade == "hann" else 0)):
        if crossfade == "hann":
            # Hann of 2 * hop centred on sample n * hop; the last frame is held.
            distance = np.abs(t - n * hop)
            weight = np.where(distance < hop, 0.5 + 0.5 * np.cos(np.pi * distance / hop), 0.0)
        else:
            weight = ((t >= n * hop) & (t < (n + 1) * hop)).astype(float)
        convolved = np.convolve(audio * weight, impulse_responses[min(n, frames - 1)])
        out[: convolved.size] += convolved
    return out[delay: delay + length]


@pytest.mark.parametrize("crossfade", ["hann", "none"])
def test_time_varying_convolve_matches_framewise_reference(crossfade):
    rng = np.random.default_rng(11)
    frames, hop, taps = 6, 8, 5
    audio = rng.standard_normal((2, frames * hop))
    irs = rng.standard_normal((2, frames, taps))
    for delay in (0, 2, 4):
        out = time_varying_convolve(torch.from_numpy(audio), torch.from_numpy(irs), hop, delay, crossfade).numpy()
        for b in range(2):
            expected = reference_time_varying(audio[b], irs[b], hop, delay, crossfade)
            np.testing.assert_allclose(out[b], expected, rtol=0, atol=fft_error_bound(EPS64, 32, audio[b], irs[b, 0]) * frames)


def test_time_varying_fir_from_magnitudes_matches_reference_and_broadcasts():
    rng = np.random.default_rng(12)
    frames, hop, n_bands = 5, 7, 6
    audio = rng.standard_normal((1, frames * hop))
    magnitudes = rng.uniform(0.0, 1.5, (3, frames, n_bands))
    out = time_varying_fir(torch.from_numpy(audio), torch.from_numpy(magnitudes), hop).numpy()
    assert out.shape == (3, frames * hop)
    for b in range(3):
        irs = frequency_response_to_fir(torch.from_numpy(magnitudes[b])).numpy()
        expected = reference_time_varying(audio[0], irs, hop, (irs.shape[1] - 1) // 2, "hann")
        np.testing.assert_allclose(out[b], expected, rtol=0, atol=1e-12)


def test_all_pass_magnitudes_return_the_input():
    # All-ones magnitudes give a centred unit impulse (the windows are 1 at the
    # centre tap), so after delay compensation the filter is the identity.
    audio = torch.randn(2, 5 * 9, dtype=torch.float64)
    for window in ("hann", "blackman", None):
        for crossfade in ("hann", "none"):
            out = time_varying_fir(audio, torch.ones(2, 5, 11, dtype=torch.float64), 9, window=window, crossfade=crossfade)
            torch.testing.assert_close(out, audio, rtol=0, atol=1e-13)


@pytest.mark.parametrize("crossfade", ["hann", "none"])
def test_time_varying_fir_gradcheck(crossfade):
    audio = torch.randn(1, 3 * 4, dtype=torch.float64, requires_grad=True)
    magnitudes = torch.rand(1, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, m: time_varying_fir(a, m, 4, ir_length=7, crossfade=crossfade), (audio, magnitudes)
    )


def test_time_varying_fir_finite_gradients_at_zero_magnitudes_and_silence():
    audio = torch.zeros(1, 3 * 5, requires_grad=True)
    magnitudes = torch.zeros(1, 3, 9, requires_grad=True)
    target = torch.randn(1, 15)
    ((time_varying_fir(audio, magnitudes, 5) - target) ** 2).sum().backward()
    assert torch.isfinite(audio.grad).all() and torch.isfinite(magnitudes.grad).all()


def test_time_varying_errors():
    audio = torch.randn(2, 20)
    magnitudes = torch.rand(2, 4, 9)
    with pytest.raises(ValueError, match="audio has 21 samples but 4 frames at hop_length 5"):
        time_varying_fir(torch.randn(2, 21), magnitudes, 5)
    with pytest.raises(ValueError, match="audio must have 2 dimensions"):
        time_varying_fir(torch.randn(20), magnitudes, 5)
    with pytest.raises(ValueError, match="magnitudes must have 3 dimensions"):
        time_varying_fir(audio, torch.rand(4, 9), 5)
    with pytest.raises(ValueError, match="magnitudes must be >= 0"):
        time_varying_fir(audio, magnitudes - 1.0, 5)
    with pytest.raises(ValueError, match="audio contains NaN"):
        time_varying_fir(torch.full((2, 20), float("nan")), magnitudes, 5)
    with pytest.raises(ValueError, match="batch"):
        time_varying_fir(torch.randn(3, 20), magnitudes, 5)
    with pytest.raises(ValueError, match="hop_length must be a positive integer"):
        time_varying_fir(audio, magnitudes, 0)
    with pytest.raises(ValueError, match="crossfade must be"):
        time_varying_fir(audio, magnitudes, 5, crossfade="linear")
    with pytest.raises(ValueError, match="delay must be"):
        time_varying_convolve(audio, torch.rand(2, 4, 3), 5, delay=3)


# ---------------------------------------------------------------- FIRFilter


def test_fir_filter_matches_scipy_for_a_static_response():
    sample_rate, hop, n_bands = 22050, 31, 17
    unit = FIRFilter(sample_rate, hop, n_bands)
    rng = np.random.default_rng(5)
    audio = rng.standard_normal((1, 9 * hop))
    magnitudes = rng.uniform(0.0, 1.0, (1, 1, n_bands)).repeat(9, axis=1)
    out = unit.get_signal(torch.from_numpy(audio), torch.from_numpy(magnitudes)).numpy()
    ir = frequency_response_to_fir(torch.from_numpy(magnitudes[0, 0])).numpy()
    expected = scipy.signal.fftconvolve(audio[0], ir, "same")
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=fft_error_bound(EPS64, 128, audio[0], ir))
    assert unit.band_frequencies_hz()[-1] == sample_rate / 2


def test_fir_filter_controls_forward_and_gradcheck():
    unit = FIRFilter(16000, 4, 5, ir_length=5)
    audio = torch.randn(1, 12, dtype=torch.float64, requires_grad=True)
    raw = torch.randn(1, 3, 5, dtype=torch.float64, requires_grad=True)
    controls = unit.get_controls(audio, raw)
    torch.testing.assert_close(controls["magnitudes"], exp_sigmoid(raw))
    torch.testing.assert_close(unit(audio, raw), unit.get_signal(**controls))
    assert torch.autograd.gradcheck(lambda a, r: unit(a, r), (audio, raw))


def test_fir_filter_finite_gradients_at_zero_magnitudes():
    unit = FIRFilter(48000, 16, 9)
    audio = torch.randn(2, 3 * 16)
    magnitudes = torch.zeros(2, 3, 9, requires_grad=True)
    unit.get_signal(audio, magnitudes).sum().backward()
    assert torch.isfinite(magnitudes.grad).all()


def test_fir_filter_errors():
    with pytest.raises(ValueError, match="n_bands must be an int >= 2"):
        FIRFilter(16000, 64, 1)
    with pytest.raises(ValueError, match="ir_length must be odd"):
        FIRFilter(16000, 64, 9, ir_length=4)
    with pytest.raises(ValueError, match="sample_rate"):
        FIRFilter(0, 64, 9)
    unit = FIRFilter(16000, 4, 9)
    with pytest.raises(ValueError, match="magnitudes must have size 9"):
        unit.get_signal(torch.randn(1, 8), torch.rand(1, 2, 8))
    with pytest.raises(ValueError, match="magnitudes must be >= 0"):
        unit.get_signal(torch.randn(1, 8), -torch.rand(1, 2, 9))
    with pytest.raises(ValueError, match="audio has 9 samples"):
        unit.get_signal(torch.randn(1, 9), torch.rand(1, 2, 9))
