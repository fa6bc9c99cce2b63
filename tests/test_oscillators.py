"""Tests for the band-limited Oscillator and the LFO."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.units.oscillators import LFO, LFO_WAVEFORMS, WAVEFORMS, Oscillator, waveform_coefficients

FLOAT32_EPS = float(np.finfo(np.float32).eps)


# ---------------------------------------------------------------- references


def numpy_upsample(frames: np.ndarray, hop: int) -> np.ndarray:
    """[frames] -> [frames * hop]: frame n at sample n * hop, ramp to n + 1, last held."""
    padded = np.append(frames, frames[-1])
    positions = np.arange(len(frames) * hop) / hop
    return np.interp(positions, np.arange(len(padded)), padded)


def numpy_phase(frequency: np.ndarray, sample_rate: float, initial: float = 0.0) -> np.ndarray:
    """Exclusive running phase in float64: phase[t] = initial + 2pi sum_{tau<t} f / sr."""
    increments = 2 * np.pi * frequency / sample_rate
    return initial + np.concatenate([[0.0], np.cumsum(increments)[:-1]])


def numpy_coefficients(waveform: str, k: np.ndarray) -> np.ndarray:
    """Textbook Fourier sine coefficients (written out independently of the unit)."""
    k = k.astype(np.float64)
    odd = (k % 2) == 1
    if waveform == "sine":
        return (k == 1).astype(np.float64)
    if waveform == "saw":
        return 2 / np.pi * (-1.0) ** (k + 1) / k
    if waveform == "square":
        return np.where(odd, 4 / np.pi / k, 0.0)
    sign = np.where(((k - 1) // 2) % 2 == 0, 1.0, -1.0)
    return np.where(odd, 8 / np.pi**2 * sign / k**2, 0.0)


def numpy_bandlimited(f0, amp, hop, sample_rate, waveform, max_harmonics, initial=0.0):
    """Band-limited additive waveform for one batch item, float64.

    Harmonic k sounds in frame n only if k * f0 is below Nyquist at frames
    n - 1, n and n + 1 (the documented rule; edge frames look at their one
    neighbour), and its gated amplitude is interpolated like every control.
    """
    f = numpy_upsample(f0, hop)
    phase = numpy_phase(f, sample_rate, initial)
    out = np.zeros_like(f)
    for k in range(1, max_harmonics + 1):
        c = numpy_coefficients(waveform, np.array([k]))[0]
        if c == 0.0:
            continue
        below = k * f0 < sample_rate / 2
        gate = below.copy()
        gate[1:] &= below[:-1]
        gate[:-1] &= below[1:]
        out += numpy_upsample(amp * c * gate, hop) * np.sin(k * phase)
    return out


def ideal_waveform(waveform: str, theta: np.ndarray) -> np.ndarray:
    """Naive (aliasing) waveforms via scipy.signal, phase-aligned with the series."""
    if waveform == "sine":
        return np.sin(theta)
    if waveform == "saw":
        return scipy.signal.sawtooth(theta + np.pi)
    if waveform == "square":
        return scipy.signal.square(theta)
    return scipy.signal.sawtooth(theta + np.pi / 2, width=0.5)


def controls(values, dtype=torch.float32, requires_grad=False):
    t = torch.as_tensor(np.asarray(values), dtype=dtype)
    if t.dim() == 1:
        t = t.reshape(1, -1, 1)
    return t.clone().requires_grad_(requires_grad)


def float32_error_bound(coefficients: np.ndarray, amplitude: float, hop: int, sample_rate: float, f_max: float) -> float:
    """Worst-case float32 error of the additive render.

    Inside a frame each partial's phase is a float32 sum of a wrapped start
    phase (< 2pi) and terms up to 2pi * nyquist * hop / sr; a few roundings
    of that magnitude, times the partial's amplitude, summed over partials,
    plus the float32 accumulation of the sum itself.
    """
    phase_magnitude = 2 * np.pi * (1 + min(f_max, sample_rate / 2) * hop / sample_rate)
    per_partial = 4 * FLOAT32_EPS * phase_magnitude + 4 * FLOAT32_EPS
    total = np.abs(coefficients).sum() * amplitude
    return per_partial * total + len(coefficients) * FLOAT32_EPS * total


# ---------------------------------------------------------------- Oscillator


def test_coefficients_match_numerical_fourier_integrals():
    # Midpoint rule with M points on a grid whose cell edges contain the
    # jumps: error <= (2 pi)^2 / (24 M^2) * max|d^2/dtheta^2 (w sin k theta)| ~ 1e-7
    # for k <= 9 and M = 2^16.
    m = 1 << 16
    theta = (np.arange(m) + 0.5) * 2 * np.pi / m
    k = torch.arange(1, 10, dtype=torch.float64)
    for name in WAVEFORMS:
        w = ideal_waveform(name, theta)
        numeric = np.array([np.mean(w * np.sin(kk * theta)) * 2 for kk in range(1, 10)])
        np.testing.assert_allclose(waveform_coefficients(name, k).numpy(), numeric, atol=1e-6)


@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_matches_numpy_bandlimited_sum(waveform):
    sample_rate, hop, frames, max_harmonics = 8000, 32, 40, 40
    rng = np.random.default_rng(0)
    # A sweep that carries partials across Nyquist in both directions.
    f0 = 150.0 + 250.0 * np.sin(np.linspace(0, 3, frames)) ** 2
    amp = rng.uniform(0.2, 1.0, frames)
    initial = 0.7
    osc = Oscillator(sample_rate, hop, waveform, max_harmonics=max_harmonics)
    out = osc.get_signal(controls(f0), controls(amp), initial_phase=torch.tensor([[initial]]))
    expected = numpy_bandlimited(f0, amp, hop, sample_rate, waveform, max_harmonics, initial)
    coefficients = numpy_coefficients(waveform, np.arange(1, max_harmonics + 1))
    atol = float32_error_bound(coefficients, amp.max(), hop, sample_rate, f0.max() * max_harmonics)
    assert out.shape == (1, frames * hop)
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=atol)


@pytest.mark.parametrize("waveform", ["saw", "square", "triangle"])
def test_low_f0_close_to_ideal_waveform_away_from_jumps(waveform):
    sample_rate, hop, f0 = 16000, 64, 50.0
    osc = Oscillator(sample_rate, hop, waveform)
    out = osc.get_signal(torch.full((1, 50, 1), f0), torch.ones(1, 50, 1))[0].double().numpy()
    theta = 2 * np.pi * f0 * np.arange(out.size) / sample_rate
    error = np.abs(out - ideal_waveform(waveform, theta))
    # Partials strictly below Nyquist: k * 50 < 8000, so the series stops at 159.
    highest = 159
    # Tails of the Fourier series (Abel summation; the partial sums of
    # sin(k x) over the omitted harmonics are bounded by 1/|sin(x/2)|, or
    # 1/|sin(x)| over odd harmonics), plus float32 rounding.
    slack = 1e-5
    if waveform == "saw":
        distance = np.abs(np.cos(theta / 2))
        keep = distance > 0.2
        bound = 2 / np.pi / ((highest + 1) * distance[keep])
    elif waveform == "square":
        distance = np.abs(np.sin(theta))
        keep = distance > 0.2
        bound = 4 / np.pi / ((highest + 2) * distance[keep])
    else:
        keep = np.ones_like(theta, dtype=bool)
        first = highest + 2
        bound = 8 / np.pi**2 * (1 / first**2 + 1 / (2 * first))
    assert keep.mean() > 0.8
    assert np.all(error[keep] <= bound + slack)


@pytest.mark.parametrize("sample_rate,waveform", [(16000, "saw"), (16000, "square"), (44100, "triangle")])
def test_steady_tone_has_no_aliased_components(sample_rate, waveform):
    # One second of a tone at an integer frequency: every harmonic and every
    # would-be alias falls exactly on an FFT bin, so anything off the harmonic
    # bins is aliasing or rounding.
    f0 = 1234.0 if sample_rate == 16000 else 3517.0
    hop = 100 if sample_rate == 16000 else 63
    frames = sample_rate // hop
    osc = Oscillator(sample_rate, hop, waveform)
    out = osc.get_signal(torch.full((1, frames, 1), f0), torch.ones(1, frames, 1))[0].double().numpy()
    n = out.size
    spectrum = np.abs(np.fft.rfft(out))
    harmonics = np.arange(1, int((sample_rate / 2) // f0) + 1)
    harmonic_bins = (harmonics * f0).astype(int)
    off_harmonic = np.ones(spectrum.size, dtype=bool)
    off_harmonic[harmonic_bins] = False
    off_harmonic[0] = False

    coefficients = numpy_coefficients(waveform, harmonics)
    # |DFT bin| <= sum |error samples| <= n * (worst-case per-sample error).
    threshold = n * float32_error_bound(coefficients, 1.0, hop, sample_rate, sample_rate / 2)
    assert spectrum[off_harmonic].max() <= threshold
    np.testing.assert_allclose(spectrum[harmonic_bins], np.abs(coefficients) * n / 2, atol=threshold)

    # The threshold is far below what the naive waveform aliases into those bins.
    naive = np.abs(np.fft.rfft(ideal_waveform(waveform, 2 * np.pi * f0 * np.arange(n) / sample_rate)))
    assert naive[off_harmonic].max() > 10 * threshold


def test_sixty_second_tone_keeps_its_pitch():
    sample_rate, hop, f0 = 16000, 256, 440.0
    frames = 60 * sample_rate // hop
    osc = Oscillator(sample_rate, hop, "sine")
    out = osc.get_signal(torch.full((1, frames, 1), f0), torch.ones(1, frames, 1))[0].double().numpy()
    tail = np.arange(out.size - 2000, out.size)
    expected = np.sin(2 * np.pi * f0 * tail / sample_rate)
    # Frame phases are summed in float64 and wrapped, so the only error left
    # is float32 rounding of in-frame phases (< 2pi * (1 + f0 * hop / sr)).
    atol = 8 * FLOAT32_EPS * 2 * np.pi * (1 + f0 * hop / sample_rate)
    np.testing.assert_allclose(out[-2000:], expected, rtol=0, atol=atol)


def test_mix_blends_the_four_waveforms_linearly():
    sample_rate, hop, frames = 8000, 16, 12
    f0 = controls(np.linspace(200, 500, frames))
    amp = controls(np.full(frames, 0.8))
    weights = torch.tensor([0.1, 0.2, 0.3, 0.4]).reshape(1, 1, 4).expand(1, frames, 4)
    mixed = Oscillator(sample_rate, hop, "mix", max_harmonics=20).get_signal(f0, amp, weights)
    parts = [Oscillator(sample_rate, hop, name, max_harmonics=20).get_signal(f0, amp) for name in WAVEFORMS]
    expected = sum(w * p for w, p in zip([0.1, 0.2, 0.3, 0.4], parts))
    # Same partials in a different summation order: a few float32 ulps of the
    # sum of |coefficients| (< 3 here).
    torch.testing.assert_close(mixed, expected, rtol=0, atol=3 * 3 * 20 * FLOAT32_EPS)


def test_get_controls_ranges_and_forward():
    osc = Oscillator(16000, 32, "mix", max_harmonics=8)
    raw_amp = torch.linspace(-20, 20, 10).reshape(1, 10, 1)
    raw_mix = torch.randn(1, 10, 4, generator=torch.Generator().manual_seed(0))
    f0 = torch.full((1, 10, 1), 220.0)
    c = osc.get_controls(f0, raw_amp, raw_mix)
    assert torch.equal(c["f0_hz"], f0)
    assert bool((c["amplitude"] > 0).all()) and bool((c["amplitude"] <= 2.0 + 1e-6).all())
    torch.testing.assert_close(c["waveform_mix"].sum(-1), torch.ones(1, 10))
    torch.testing.assert_close(osc(f0, raw_amp, raw_mix), osc.get_signal(**c))


@pytest.mark.parametrize("waveform", WAVEFORMS + ("mix",))
def test_gradcheck_float64(waveform):
    sample_rate, hop = 1000, 4
    gen = torch.Generator().manual_seed(1)
    # Partials stay below Nyquist (5 * 90 < 500), away from the mask's jumps.
    f0 = (60 + 30 * torch.rand(2, 3, 1, generator=gen, dtype=torch.float64)).requires_grad_()
    amp = (0.5 + torch.rand(2, 3, 1, generator=gen, dtype=torch.float64)).requires_grad_()
    phase = torch.rand(2, 1, generator=gen, dtype=torch.float64).requires_grad_()
    osc = Oscillator(sample_rate, hop, waveform, max_harmonics=5)
    if waveform == "mix":
        mix = torch.rand(2, 3, 4, generator=gen, dtype=torch.float64).requires_grad_()
        assert torch.autograd.gradcheck(lambda f, a, m, p: osc.get_signal(f, a, m, p), (f0, amp, mix, phase))
    else:
        assert torch.autograd.gradcheck(lambda f, a, p: osc.get_signal(f, a, initial_phase=p), (f0, amp, phase))


@pytest.mark.parametrize("waveform", WAVEFORMS)
def test_finite_gradients_at_silence_and_zero_f0(waveform):
    osc = Oscillator(16000, 16, waveform, max_harmonics=16)
    f0 = torch.zeros(2, 5, 1, requires_grad=True)
    amp = torch.zeros(2, 5, 1, requires_grad=True)
    out = osc.get_signal(f0, amp)
    assert bool((out == 0).all())
    out.pow(2).sum().backward()
    assert bool(torch.isfinite(f0.grad).all()) and bool(torch.isfinite(amp.grad).all())
    raw = torch.full((2, 5, 1), -50.0, requires_grad=True)
    osc(f0.detach(), raw).sum().backward()
    assert bool(torch.isfinite(raw.grad).all())


def test_shapes_batch_one_and_odd_lengths():
    for frames, hop in [(1, 1), (7, 33), (13, 5)]:
        osc = Oscillator(22050, hop, "square", max_harmonics=11)
        out = osc.get_signal(torch.full((1, frames, 1), 330.0), torch.ones(1, frames, 1))
        assert out.shape == (1, frames * hop)
        assert out.dtype == torch.float32


def test_bad_input_errors():
    osc = Oscillator(16000, 16, "saw", max_harmonics=8)
    good = torch.ones(1, 4, 1)
    with pytest.raises(ValueError, match="f0_hz"):
        osc.get_signal(torch.full((1, 4, 1), float("nan")), good)
    with pytest.raises(ValueError, match="f0_hz"):
        osc.get_signal(-good, good)
    with pytest.raises(ValueError, match="f0_hz"):
        osc.get_signal(torch.ones(4, 1), good)
    with pytest.raises(ValueError, match="amplitude"):
        osc.get_signal(good, torch.ones(1, 5, 1))
    with pytest.raises(ValueError, match="amplitude"):
        osc.get_signal(good, torch.ones(1, 4, 2))
    with pytest.raises(TypeError, match="f0_hz"):
        osc.get_signal([[[1.0]]], good)
    with pytest.raises(ValueError, match="initial_phase"):
        osc.get_signal(good, good, initial_phase=torch.zeros(2, 1))
    with pytest.raises(ValueError, match="waveform_mix"):
        osc.get_signal(good, good, torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="waveform_mix"):
        Oscillator(16000, 16, "mix").get_signal(good, good)
    with pytest.raises(ValueError, match="waveform_mix"):
        Oscillator(16000, 16, "mix").get_signal(good, good, -torch.ones(1, 4, 4))
    with pytest.raises(ValueError, match="waveform"):
        Oscillator(16000, 16, "sawtooth")
    with pytest.raises(ValueError, match="max_harmonics"):
        Oscillator(16000, 16, "saw", max_harmonics=0)
    with pytest.raises(ValueError, match="sample_rate"):
        Oscillator(-1, 16)
    with pytest.raises(ValueError, match="hop_length"):
        Oscillator(16000, 0)


# ---------------------------------------------------------------- LFO


def numpy_lfo(rate, depth, offset, hop, sample_rate, waveform, initial=0.0):
    """LFO reference: audio-rate phase from scipy.signal shapes, sampled every hop."""
    phase = numpy_phase(numpy_upsample(rate, hop), sample_rate, initial)[::hop]
    return offset + depth * ideal_waveform(waveform, phase)


@pytest.mark.parametrize("waveform", ["sine", "triangle", "saw", "square"])
def test_lfo_matches_numpy(waveform):
    sample_rate, hop, frames = 16000, 160, 300
    # Rates chosen so that no frame lands within float32 rounding of a jump.
    rate = np.linspace(2.3, 7.1, frames)
    depth = np.linspace(0.1, 0.9, frames)
    offset = np.linspace(-0.5, 0.5, frames)
    lfo = LFO(sample_rate, hop, waveform)
    out = lfo.get_signal(controls(rate), controls(depth), controls(offset), initial_phase=torch.tensor([[0.3]]))
    expected = numpy_lfo(rate, depth, offset, hop, sample_rate, waveform, 0.3)
    assert out.shape == (1, frames, 1)
    # Wrapped float32 phase (error < 4 ulp of 2pi) times the steepest slope
    # (triangle: 4 per cycle = 2/pi per radian), plus rounding of the output.
    atol = 4 * FLOAT32_EPS * 2 * np.pi * (2 / np.pi) + 4 * FLOAT32_EPS
    np.testing.assert_allclose(out[0, :, 0].double().numpy(), expected, rtol=0, atol=atol)


def test_lfo_sample_and_hold():
    sample_rate, hop, frames = 16000, 100, 400
    rate = controls(np.full(frames, 3.3))
    lfo = LFO(sample_rate, hop, "sample_and_hold", seed=5)
    out = lfo.get_signal(rate, controls(np.full(frames, 0.5)), controls(np.full(frames, 0.25)))[0, :, 0].numpy()
    cycle = np.floor(numpy_phase(numpy_upsample(np.full(frames, 3.3), hop), sample_rate)[::hop] / (2 * np.pi))
    for c in np.unique(cycle):
        held = out[cycle == c]
        assert np.all(held == held[0])
    values = np.array([out[cycle == c][0] for c in np.unique(cycle)])
    assert np.all(np.abs(values - 0.25) <= 0.5)
    assert len(np.unique(values)) == len(values)
    # Values do not depend on how long the signal is, and the seed matters.
    short = lfo.get_signal(rate[:, :50], torch.full((1, 50, 1), 0.5), torch.full((1, 50, 1), 0.25))
    np.testing.assert_array_equal(short[0, :, 0].numpy(), out[:50])
    other = LFO(sample_rate, hop, "sample_and_hold", seed=6).get_signal(rate, torch.ones(1, frames, 1))
    assert not torch.equal(other, torch.as_tensor(out).reshape(1, -1, 1))


@pytest.mark.parametrize("waveform", LFO_WAVEFORMS)
def test_lfo_gradcheck_float64(waveform):
    gen = torch.Generator().manual_seed(2)
    rate = (1 + 3 * torch.rand(2, 6, 1, generator=gen, dtype=torch.float64)).requires_grad_()
    depth = torch.rand(2, 6, 1, generator=gen, dtype=torch.float64).requires_grad_()
    offset = torch.rand(2, 6, 1, generator=gen, dtype=torch.float64).requires_grad_()
    lfo = LFO(1000, 50, waveform)
    assert torch.autograd.gradcheck(lfo.get_signal, (rate, depth, offset))
    if waveform in ("sine", "triangle", "saw"):
        rate.grad = None
        lfo.get_signal(rate, depth, offset).sum().backward()
        assert float(rate.grad.abs().sum()) > 0


def test_lfo_finite_gradients_at_zero_rate_and_depth():
    lfo = LFO(16000, 64, "triangle")
    rate = torch.zeros(1, 5, 1, requires_grad=True)
    depth = torch.zeros(1, 5, 1, requires_grad=True)
    lfo.get_signal(rate, depth).sum().backward()
    assert bool(torch.isfinite(rate.grad).all()) and bool(torch.isfinite(depth.grad).all())
    raw = torch.full((1, 5, 1), -80.0, requires_grad=True)
    lfo(raw, raw).sum().backward()
    assert bool(torch.isfinite(raw.grad).all())


def test_lfo_get_controls_ranges():
    lfo = LFO(16000, 64, rate_range_hz=(0.1, 10.0))
    raw = torch.linspace(-30, 30, 9).reshape(1, 9, 1)
    c = lfo.get_controls(raw, raw)
    assert float(c["rate_hz"].min()) >= 0.1 - 1e-6 and float(c["rate_hz"].max()) <= 10.0 + 1e-5
    torch.testing.assert_close(c["rate_hz"][0, 4, 0], torch.tensor(1.0))
    assert bool((c["depth"] >= 0).all()) and bool((c["depth"] <= 1).all())
    assert bool((c["offset"] == 0).all())


def test_lfo_shapes_and_errors():
    lfo = LFO(22050, 147, "saw")
    assert lfo.get_signal(torch.ones(1, 7, 1), torch.ones(1, 7, 1)).shape == (1, 7, 1)
    good = torch.ones(1, 4, 1)
    with pytest.raises(ValueError, match="rate_hz"):
        lfo.get_signal(-good, good)
    with pytest.raises(ValueError, match="rate_hz"):
        lfo.get_signal(torch.full((1, 4, 1), float("inf")), good)
    with pytest.raises(ValueError, match="depth"):
        lfo.get_signal(good, torch.ones(1, 3, 1))
    with pytest.raises(ValueError, match="offset"):
        lfo.get_signal(good, good, torch.ones(4, 1))
    with pytest.raises(ValueError, match="waveform"):
        LFO(16000, 64, "noise")
    with pytest.raises(ValueError, match="rate_range_hz"):
        LFO(16000, 64, rate_range_hz=(5.0, 1.0))
