"""Karplus-Strong string: against scipy.signal.lfilter, measured tuning and decay, gradients."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.units.karplus import KarplusStrong, karplus_strong, loop_coefficients


def _lfilter_string(x, delay, allpass, gain, b0, b1):
    """The documented recursion as a rational filter, run sample by sample by scipy.

    (1 + c z^-1) Y = (1 + c z^-1) X + g (b0 + b1 z^-1)(c + z^-1) z^-N Y
    """
    den = np.zeros(delay + 3)
    den[0], den[1] = 1.0, allpass
    den[delay : delay + 3] -= gain * np.convolve([b0, b1], [allpass, 1.0])
    return scipy.signal.lfilter([1.0, allpass], den, x)


def _impulse(batch, length, dtype=torch.float64):
    x = torch.zeros(batch, length, dtype=dtype)
    x[:, 0] = 1.0
    return x


@pytest.mark.parametrize("sr", [16000, 44100])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_matches_lfilter_recursion(sr, dtype, tol):
    length = 6000
    rng = np.random.default_rng(1)
    x = np.zeros((3, length))
    x[0, 0] = 1.0
    x[1, :100] = rng.uniform(-1, 1, 100)
    x[2] = rng.uniform(-1, 1, length) * np.exp(-np.arange(length) / 500)
    f0 = np.array([261.63, 1000.3, 55.0])  # periods 61.2 / 16.0 / 290.9 samples at 16 kHz
    decay = np.array([0.3, 2.0, 20.0])
    brightness = np.array([0.0, 0.6, 1.0])
    t = lambda a: torch.tensor(a, dtype=dtype)
    out = karplus_strong(t(x), t(f0), t(decay), t(brightness), sr).double().numpy()
    columns = (torch.tensor(v, dtype=torch.float64)[:, None] for v in (f0, decay, brightness))
    coefficients = loop_coefficients(*columns, sr)
    for b in range(3):
        expected = _lfilter_string(
            x[b],
            int(coefficients["delay"][b]),
            float(coefficients["allpass"][b]),
            float(coefficients["gain"][b]),
            *coefficients["lowpass"][b].tolist(),
        )
        # The FFT rendering folds the tail by about eps^0.8 (3e-13 / 3e-6) and
        # undoing its exponential weighting amplifies round-off by at most
        # eps^-0.2 (1e3 / 24); with ~log2(M) = 20 FFT stages of round-off that
        # stays below 1e-10 / 3e-5 of the peak. Any wrong coefficient gives O(1e-2).
        scale = np.abs(expected).max()
        assert np.abs(out[b] - expected).max() < tol * scale


def test_loop_coefficients_design():
    sr = 16000
    f0 = torch.tensor([[261.63], [1000.3]], dtype=torch.float64)
    brightness = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    c = loop_coefficients(f0, torch.full_like(f0, 1.5), brightness, sr)
    periods = sr / f0[:, 0].numpy()
    assert c["delay"][:, 0].tolist() == [int(math.floor(p)) - 1 for p in periods]
    np.testing.assert_allclose(c["lowpass"].numpy(), [[0.5, 0.5], [1.0, 0.0]])
    # Brightness 1: no low-pass, no pull; the allpass alone supplies P - N
    # samples of phase delay at f0.
    w = 2 * np.pi / periods[1]
    z = np.exp(-1j * w)
    allpass = float(c["allpass"][1])
    phase_delay = -np.angle((allpass + z) / (1 + allpass * z) * z ** int(c["delay"][1])) % (2 * np.pi) / w
    np.testing.assert_allclose(phase_delay, periods[1], rtol=1e-12)


def _peak_frequency(y, sr, f0):
    """Frequency of the largest DTFT magnitude within 25 % of f0 (golden-section refinement)."""
    n = np.arange(len(y))
    pad = 8 * len(y)
    spectrum = np.abs(np.fft.rfft(y, pad))
    lo, hi = int(0.75 * f0 * pad / sr), int(1.25 * f0 * pad / sr)
    k = lo + int(np.argmax(spectrum[lo:hi]))
    magnitude = lambda f: np.abs(np.sum(y * np.exp(-2j * np.pi * f * n / sr)))
    a, b = (k - 1) * sr / pad, (k + 1) * sr / pad
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(45):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if magnitude(c) > magnitude(d):
            b = d
        else:
            a = c
    return (a + b) / 2


@pytest.mark.parametrize("sr", [16000, 22050, 44100, 48000])
@pytest.mark.parametrize("f0", [110.0, 261.63, 1234.5, "sr/8.5"])
@pytest.mark.parametrize("brightness", [0.0, 1.0])
def test_fundamental_is_on_f0(sr, f0, brightness):
    f0 = sr / 8.5 if f0 == "sr/8.5" else f0
    decay = 1.0
    period = sr / f0
    periods = 40
    length = int(round(periods * period))
    y = karplus_strong(_impulse(1, length), f0, decay, brightness, sr)[0].numpy()
    # Undo the fundamental's expected decay and apply a Hann window: the
    # fundamental becomes a near-stationary sinusoid under a non-negative
    # window, whose DTFT magnitude peaks exactly at its frequency; only the
    # other partials (>= 40 bins away, Hann side lobes <= 1 / (pi D (D^2 - 1))
    # ~ 5e-6 at D = 40) can move the peak, by a similar fraction of a bin.
    b0 = 0.5 * (1 + brightness)
    w = 2 * np.pi / period
    lowpass_power = b0**2 + (1 - b0) ** 2 + 2 * b0 * (1 - b0) * math.cos(w)
    loss = math.log(1000) / (sr * decay) - 0.5 * math.log(lowpass_power) / period
    y = y * np.exp(loss * np.arange(length)) * np.hanning(length)
    measured = _peak_frequency(y, sr, f0)
    bin_hz = sr / length
    # 1e-3 bin (f0 / 40000, 0.04 cent): a half-sample loop-delay error would
    # move the peak by f0 / (2 P) = 0.5 * 40 / P bins >= 0.046 bins here.
    assert abs(measured - f0) < 1e-3 * bin_hz


def _partial_level_db(y, sr, frequency, window):
    hop = window // 2
    taps = np.hanning(window) * np.exp(-2j * np.pi * frequency * np.arange(window) / sr)
    starts = np.arange(0, len(y) - window, hop)
    levels = np.array([abs(np.dot(y[s : s + window], taps)) for s in starts])
    return (starts + window / 2) / sr, 20 * np.log10(levels)


@pytest.mark.parametrize("sr,f0", [(16000, 1234.5), (44100, 261.63), (22050, 110.0)])
def test_decay_time_of_fundamental(sr, f0):
    decay = 0.8
    y = karplus_strong(_impulse(1, int(sr * decay)), f0, decay, 1.0, sr)[0].numpy()
    times, levels = _partial_level_db(y, sr, f0, int(round(8 * sr / f0)))
    keep = times > 0.05
    slope = np.polyfit(times[keep], levels[keep], 1)[0]
    # Brightness 1: every trip loses exactly 60 dB * group_delay / (sr * decay),
    # so the fundamental's level is a straight line of -60 / decay dB/s. The
    # amplitude track of an isolated decaying partial under a fixed window is
    # exactly exponential; leakage of partials 8 bins away through Hann side
    # lobes (< -90 dB) bends it far less than 1e-3.
    np.testing.assert_allclose(slope, -60.0 / decay, rtol=1e-3)


def test_darker_strings_lose_high_partials_faster():
    sr, f0, decay, brightness = 44100, 261.63, 4.0, 0.0
    period = sr / f0
    y = karplus_strong(_impulse(1, int(sr * 0.6)), f0, decay, brightness, sr)[0].numpy()
    b0 = 0.5 * (1 + brightness)
    b1 = 1 - b0
    for k in (1, 2, 3):
        times, levels = _partial_level_db(y, sr, k * f0, int(round(8 * period)))
        slope = np.polyfit(times[times > 0.05], levels[times > 0.05], 1)[0]
        w = 2 * np.pi * k / period
        lowpass_db = 10 * math.log10(b0**2 + b1**2 + 2 * b0 * b1 * math.cos(w))
        # Per trip (~one period) the loop gain loses 60 * P / (sr * decay) dB and
        # the low-pass |Hlp(k f0)| more. The trip is the group delay, within 0.5
        # sample of P = 168.6 (allpass and low-pass group vs phase delay):
        # 0.3 % of the rate, and the partials' inharmonicity is far smaller.
        expected = -60.0 / decay + lowpass_db * sr / period
        np.testing.assert_allclose(slope, expected, rtol=3e-3)


def test_gradcheck_decay_brightness_excitation_f0():
    sr = 2000
    excitation = torch.tensor([[0.3, -0.5, 0.9, 0.1, -0.7, 0.2]] * 2, dtype=torch.float64, requires_grad=True)
    f0 = torch.tensor([203.7, 311.9], dtype=torch.float64, requires_grad=True)  # P = 9.8, 6.4
    decay = torch.tensor([0.05, 0.11], dtype=torch.float64, requires_grad=True)
    brightness = torch.tensor([0.3, 0.8], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, f, d, b: karplus_strong(x, f, d, b, sr, num_samples=40), (excitation, f0, decay, brightness)
    )


def test_finite_gradients_at_edge_values():
    sr = 16000
    decay = torch.tensor([1e-4, 1e3, 0.5, 0.5], requires_grad=True)
    brightness = torch.tensor([0.0, 1.0, 0.0, 1.0], requires_grad=True)
    f0 = torch.tensor([sr / 4, 20.0, 440.0, 440.0])
    excitation = torch.zeros(4, 800)
    excitation[:2, :10] = 1.0  # items 2, 3: silence
    excitation.requires_grad_(True)
    out = karplus_strong(excitation, f0, decay, brightness, sr)
    out.square().sum().backward()
    for value in (decay, brightness, excitation):
        assert torch.isfinite(value.grad).all()
    assert torch.isfinite(out).all()
    raw = [torch.tensor([-50.0, 50.0], requires_grad=True) for _ in range(2)]
    KarplusStrong(sr)(torch.tensor([220.0, 220.0]), *raw, num_samples=400).sum().backward()
    assert all(torch.isfinite(r.grad).all() for r in raw)


def test_noise_burst_default_excitation():
    sr, f0 = 16000, 200.0
    string = KarplusStrong(sr, seed=3)
    burst = string.noise_excitation(torch.tensor([f0, 400.0]), 300)
    assert burst.shape == (2, 300)
    # One period of zero-mean noise, then silence.
    assert torch.all(burst[0, 80:] == 0) and torch.all(burst[1, 40:] == 0)
    assert abs(float(burst[0].sum())) < 1e-5 and float(burst[0, :80].abs().min()) >= 0
    first = string.get_signal(f0, 1.0, 0.5, num_samples=500)
    again = string.get_signal(f0, 1.0, 0.5, num_samples=500)
    assert torch.equal(first, again)  # seeded: the same pluck every call
    expected = karplus_strong(string.noise_excitation(f0, 500), f0, 1.0, 0.5, sr)
    torch.testing.assert_close(first, expected)


def test_get_controls_and_forward():
    string = KarplusStrong(16000, decay_range_s=(0.05, 20.0))
    raw = torch.tensor([-30.0, 0.0, 30.0])
    controls = string.get_controls(torch.full((3,), 220.0), raw, raw, num_samples=256)
    np.testing.assert_allclose(controls["decay_s"].numpy(), [0.05, 1.0, 20.0], rtol=1e-5)
    np.testing.assert_allclose(controls["brightness"].numpy(), [0.0, 0.5, 1.0], atol=1e-6)
    out = string(torch.full((3,), 220.0), raw, raw, num_samples=256)
    torch.testing.assert_close(out, string.get_signal(**controls))


def test_shapes_batch_one_odd_lengths():
    sr = 22050
    assert KarplusStrong(sr).get_signal(330.0, 0.5, 0.5, num_samples=1001).shape == (1, 1001)
    x = torch.randn(1, 37)
    assert karplus_strong(x, 330.0, 0.5, 0.5, sr, num_samples=999).shape == (1, 999)
    long = torch.randn(2, 5001)
    out = karplus_strong(long, torch.tensor([[[330.0]], [[440.0]]]), 0.5, 0.5, sr, num_samples=333)
    assert out.shape == (2, 333)
    # Truncating the excitation cannot change the first samples (causality).
    full = karplus_strong(long, torch.tensor([330.0, 440.0]), 0.5, 0.5, sr)
    torch.testing.assert_close(out, full[:, :333], atol=1e-5, rtol=0)


def test_bad_input_raises_clear_errors():
    sr = 16000
    x = torch.zeros(2, 100)
    with pytest.raises(ValueError, match="f0_hz"):
        karplus_strong(x, 0.0, 1.0, 0.5, sr)
    with pytest.raises(ValueError, match="f0_hz"):
        karplus_strong(x, torch.tensor([100.0, -5.0]), 1.0, 0.5, sr)
    with pytest.raises(ValueError, match="f0_hz"):
        karplus_strong(x, sr / 3, 1.0, 0.5, sr)
    with pytest.raises(ValueError, match="decay_s"):
        karplus_strong(x, 220.0, 0.0, 0.5, sr)
    with pytest.raises(ValueError, match="brightness"):
        karplus_strong(x, 220.0, 1.0, 1.5, sr)
    with pytest.raises(ValueError, match="excitation"):
        karplus_strong(torch.full((2, 100), float("nan")), 220.0, 1.0, 0.5, sr)
    with pytest.raises(ValueError, match="excitation"):
        karplus_strong(torch.zeros(100), 220.0, 1.0, 0.5, sr)
    with pytest.raises(ValueError, match="f0_hz"):
        karplus_strong(x, torch.ones(2, 5, 1) * 220.0, 1.0, 0.5, sr)
    with pytest.raises(ValueError, match="num_samples"):
        karplus_strong(x, 220.0, 1.0, 0.5, sr, num_samples=0)
    with pytest.raises(ValueError, match="num_samples"):
        KarplusStrong(sr).get_signal(220.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="decay_range_s"):
        KarplusStrong(sr, decay_range_s=(1.0, 0.5))
    with pytest.raises(ValueError, match="sample_rate"):
        KarplusStrong(-1)
