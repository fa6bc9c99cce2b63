"""Time-varying IIR filters (core.iir, units.filters) against scipy and plain loops."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.core.iir import (
    BIQUAD_MODES,
    biquad_coefficients,
    linear_recurrence,
    state_variable_filter,
    time_varying_biquad,
)
from ddsp_lab.units.filters import MAX_CUTOFF_RATIO, Biquad, StateVariableFilter

EPS64 = np.finfo(np.float64).eps
EPS32 = np.finfo(np.float32).eps


# ---------------------------------------------------------------------------
# Independent references
# ---------------------------------------------------------------------------


def _cookbook(mode, f0, q, sr, gain_db=0.0):
    """RBJ Audio EQ Cookbook formulas, written out plainly in numpy."""
    w0 = 2 * np.pi * f0 / sr
    c, s = np.cos(w0), np.sin(w0)
    alpha = s / (2 * q)
    A = 10 ** (gain_db / 40)
    if mode == "lowpass":
        b, a = [(1 - c) / 2, 1 - c, (1 - c) / 2], [1 + alpha, -2 * c, 1 - alpha]
    elif mode == "highpass":
        b, a = [(1 + c) / 2, -(1 + c), (1 + c) / 2], [1 + alpha, -2 * c, 1 - alpha]
    elif mode == "bandpass":
        b, a = [alpha, 0.0, -alpha], [1 + alpha, -2 * c, 1 - alpha]
    elif mode == "notch":
        b, a = [1.0, -2 * c, 1.0], [1 + alpha, -2 * c, 1 - alpha]
    elif mode == "allpass":
        b, a = [1 - alpha, -2 * c, 1 + alpha], [1 + alpha, -2 * c, 1 - alpha]
    elif mode == "peaking":
        b, a = [1 + alpha * A, -2 * c, 1 - alpha * A], [1 + alpha / A, -2 * c, 1 - alpha / A]
    elif mode == "lowshelf":
        r = 2 * np.sqrt(A) * alpha
        b = [A * ((A + 1) - (A - 1) * c + r), 2 * A * ((A - 1) - (A + 1) * c), A * ((A + 1) - (A - 1) * c - r)]
        a = [(A + 1) + (A - 1) * c + r, -2 * ((A - 1) + (A + 1) * c), (A + 1) + (A - 1) * c - r]
    else:
        r = 2 * np.sqrt(A) * alpha
        b = [A * ((A + 1) + (A - 1) * c + r), -2 * A * ((A - 1) + (A + 1) * c), A * ((A + 1) + (A - 1) * c - r)]
        a = [(A + 1) - (A - 1) * c + r, 2 * ((A - 1) - (A + 1) * c), (A + 1) - (A - 1) * c - r]
    b, a = np.array(b), np.array(a)
    return b / a[0], a / a[0]


def _loop_biquad(x, b, a):
    """Direct form I, one sample at a time; b [T, 3], a [T, 2]."""
    y = np.zeros_like(x)
    x1 = x2 = y1 = y2 = 0.0
    for n in range(len(x)):
        y[n] = b[n, 0] * x[n] + b[n, 1] * x1 + b[n, 2] * x2 - a[n, 0] * y1 - a[n, 1] * y2
        x2, x1, y2, y1 = x1, x[n], y1, y[n]
    return y


def _loop_svf(x, cutoff, q, sr):
    """Zavalishin's TPT state-variable filter, one sample at a time."""
    lp, bp, hp = (np.zeros_like(x) for _ in range(3))
    s1 = s2 = 0.0
    for n in range(len(x)):
        g = np.tan(np.pi * cutoff[n] / sr)
        r = 1 / (2 * q[n])
        hp[n] = (x[n] - (2 * r + g) * s1 - s2) / (1 + 2 * r * g + g * g)
        v1 = g * hp[n]
        bp[n] = v1 + s1
        s1 = bp[n] + v1
        v2 = g * bp[n]
        lp[n] = v2 + s2
        s2 = lp[n] + v2
        bp[n] *= 2 * r
    return {"lowpass": lp, "bandpass": bp, "highpass": hp}


def _all_pole_l1_gain(a, length=20000):
    """Sum of |h| of 1 / (1 + a1 z^-1 + a2 z^-2): how much a rounding error injected into the
    recursion can grow at the output."""
    impulse = np.zeros(length)
    impulse[0] = 1.0
    return np.abs(scipy.signal.lfilter([1.0], [1.0, a[0], a[1]], impulse)).sum()


def _df1_tolerance(eps, a_rows, x, y, b_rows):
    """Rounding bound for two direct-form I implementations of the same filter.

    Each output sample is a sum of five products, rounded with at most about
    4 eps relative to the largest term; our scan adds as many roundings again
    when it combines chunks. Such an error injected at one sample reaches the
    output through the all-pole part, whose l1 gain bounds the growth. Both
    implementations err, hence the factor 2.
    """
    gain = max(_all_pole_l1_gain(a) for a in a_rows)
    terms = np.abs(b_rows).sum(axis=-1).max() * np.abs(x).max() + np.abs(a_rows).sum(axis=-1).max() * np.abs(y).max()
    return 2 * 8 * eps * gain * terms


def _sweep(samples, sr, low, high, rate_hz):
    """Log-frequency sinusoidal sweep between low and high Hz."""
    t = np.arange(samples) / sr
    return low * np.exp(np.log(high / low) * (0.5 + 0.5 * np.sin(2 * np.pi * rate_hz * t)))


# ---------------------------------------------------------------------------
# Coefficients
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", BIQUAD_MODES)
def test_coefficients_match_cookbook(mode):
    sr = 44100
    f0 = np.array([30.0, 440.0, 5000.0, 20000.0])
    q = np.array([0.3, 0.707, 4.0, 20.0])
    gain = torch.tensor(-7.5, dtype=torch.float64)
    b, a = biquad_coefficients(torch.tensor(f0), torch.tensor(q), sr, mode, gain_db=gain)
    assert b.shape == (4, 3) and a.shape == (4, 2)
    for i in range(4):
        b_ref, a_ref = _cookbook(mode, f0[i], q[i], sr, -7.5)
        # Same formulas up to the half-angle rewrite of 1 -/+ cos(w0); coefficients are O(1..10),
        # so a few float64 roundings stay below 1e-13 (cos(w0) near 1 loses relative precision
        # in the reference's 1 - cos, absolute error still ~eps).
        np.testing.assert_allclose(b[i].numpy(), b_ref, rtol=0, atol=1e-13)
        np.testing.assert_allclose(a[i].numpy(), a_ref[1:], rtol=0, atol=1e-13)


def test_coefficients_have_the_documented_responses():
    sr, f0, q, gain = 16000, 1000.0, 3.0, 9.0
    w0 = 2 * np.pi * f0 / sr
    expected = {
        # (response at DC, at w0, at Nyquist), exact properties of the bilinear designs.
        "lowpass": (1.0, q, 0.0),
        "highpass": (0.0, q, 1.0),
        "bandpass": (0.0, 1.0, 0.0),
        "notch": (1.0, 0.0, 1.0),
        "allpass": (1.0, 1.0, 1.0),
        "peaking": (1.0, 10 ** (gain / 20), 1.0),
        "lowshelf": (10 ** (gain / 20), 10 ** (gain / 40), 1.0),
        "highshelf": (1.0, 10 ** (gain / 40), 10 ** (gain / 20)),
    }
    for mode, (dc, at_w0, nyquist) in expected.items():
        b, a = biquad_coefficients(torch.tensor(f0, dtype=torch.float64), q, sr, mode, gain_db=gain)
        _, h = scipy.signal.freqz(b.numpy(), np.r_[1.0, a.numpy()], worN=[0.0, w0, np.pi])
        np.testing.assert_allclose(np.abs(h), [dc, at_w0, nyquist], rtol=0, atol=1e-12, err_msg=mode)
        poles = np.roots(np.r_[1.0, a.numpy()])
        assert np.abs(poles).max() < 1.0


def test_coefficients_broadcast_and_numbers():
    b, a = biquad_coefficients(torch.full((2, 5), 300.0), torch.tensor([[1.0], [2.0]]), 16000)
    assert b.shape == (2, 5, 3) and a.shape == (2, 5, 2)
    b, a = biquad_coefficients(300.0, 0.7, 16000)
    assert b.shape == (3,) and b.dtype == torch.get_default_dtype()


# ---------------------------------------------------------------------------
# Biquad filtering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", BIQUAD_MODES)
def test_constant_biquad_matches_lfilter(mode):
    sr = 22050
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 1003))
    f0 = np.array([60.0, 1500.0, 9000.0])
    q = np.array([0.707, 5.0, 1.3])
    b, a = biquad_coefficients(torch.tensor(f0)[:, None], torch.tensor(q)[:, None], sr, mode, gain_db=4.0)
    out = time_varying_biquad(torch.tensor(x), b, a).numpy()
    for i in range(3):
        bi, ai = b[i, 0].numpy(), a[i, 0].numpy()
        expected = scipy.signal.lfilter(bi, np.r_[1.0, ai], x[i])
        tol = _df1_tolerance(EPS64, ai[None], x[i], expected, bi[None])
        assert np.abs(out[i] - expected).max() <= tol, mode


def test_constant_and_time_varying_paths_agree():
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((2, 777)))
    b, a = biquad_coefficients(torch.tensor([[200.0], [3000.0]], dtype=torch.float64), 2.0, 16000, "highpass")
    constant = time_varying_biquad(x, b, a)
    general = time_varying_biquad(x, b.expand(2, 777, 3), a.expand(2, 777, 2))
    expected = np.stack([scipy.signal.lfilter(b[i, 0], np.r_[1.0, a[i, 0]], x[i]) for i in range(2)])
    tol = max(_df1_tolerance(EPS64, a[i].numpy(), x[i].numpy(), expected[i], b[i].numpy()) for i in range(2))
    assert (constant - general).abs().max() <= 2 * tol


def test_time_varying_biquad_matches_sample_loop():
    sr, samples = 16000, 301
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, samples))
    cutoff = np.stack([_sweep(samples, sr, 100, 6000, 40), _sweep(samples, sr, 2000, 7000, 90)[::-1]])
    q = np.stack([np.linspace(0.5, 8, samples), np.full(samples, 2.0)])
    b, a = biquad_coefficients(torch.tensor(cutoff), torch.tensor(q), sr, "lowpass")
    out = time_varying_biquad(torch.tensor(x), b, a).numpy()
    for i in range(2):
        expected = _loop_biquad(x[i], b[i].numpy(), a[i].numpy())
        tol = _df1_tolerance(EPS64, a[i].numpy(), x[i], expected, b[i].numpy())
        assert np.abs(out[i] - expected).max() <= tol


def test_mixed_constant_and_varying_coefficients():
    sr, samples = 16000, 97
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, samples))
    b_var, a_var = biquad_coefficients(torch.tensor(_sweep(samples, sr, 300, 3000, 50))[None], 1.5, sr, "bandpass")
    b_const, a_const = b_var[:, :1], a_var[:, :1]
    for b, a in ((b_var, a_const), (b_const, a_var)):
        out = time_varying_biquad(torch.tensor(x), b, a)[0].numpy()
        bb, aa = b.expand(1, samples, 3)[0].numpy(), a.expand(1, samples, 2)[0].numpy()
        expected = _loop_biquad(x[0], bb, aa)
        assert np.abs(out - expected).max() <= _df1_tolerance(EPS64, aa, x[0], expected, bb)


def test_float32_long_signal_matches_float64_lfilter():
    sr, samples = 16000, 4 * 16000
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, samples)
    b, a = biquad_coefficients(torch.tensor([[1000.0]]), 0.707, sr, "lowpass")
    bb, aa = b[0, 0].double().numpy(), a[0, 0].double().numpy()
    expected = scipy.signal.lfilter(bb, np.r_[1.0, aa], x)
    tol = _df1_tolerance(EPS32, aa[None], x, expected, bb[None])
    for coefficients in ((b, a), (b.expand(1, samples, 3), a.expand(1, samples, 2))):
        out = time_varying_biquad(torch.tensor(x, dtype=torch.float32)[None], *coefficients)
        assert out.dtype == torch.float32
        assert np.abs(out[0].double().numpy() - expected).max() <= tol


# ---------------------------------------------------------------------------
# Linear recurrence
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("samples", [1, 31, 32, 33, 1500])
def test_linear_recurrence_matches_loop(samples):
    rng = np.random.default_rng(samples)
    m = rng.uniform(-0.7, 0.7, (2, samples, 2, 2))
    e = rng.standard_normal((2, samples, 2))
    s0 = rng.standard_normal((2, 2))
    out = linear_recurrence(torch.tensor(m), torch.tensor(e), torch.tensor(s0)).numpy()
    state = s0.copy()
    for n in range(samples):
        state = np.einsum("bij,bj->bi", m[:, n], state) + e[:, n]
        # Row sums of |M| < 1.4 with contraction on average: errors stay within a few hundred eps
        # of the O(1..10) states.
        np.testing.assert_allclose(out[:, n], state, rtol=0, atol=1e-12)


def test_linear_recurrence_gradients():
    rng = np.random.default_rng(6)
    # Full Jacobians on a short sequence (plain loop), random projections (fast_mode) on one
    # that spans several scan chunks: the full Jacobian there costs one backward per output.
    for samples, fast in ((5, False), (70, True)):
        m = torch.tensor(rng.uniform(-0.6, 0.6, (2, samples, 2, 2)), requires_grad=True)
        e = torch.tensor(rng.standard_normal((2, samples, 2)), requires_grad=True)
        s0 = torch.tensor(rng.standard_normal((2, 2)), requires_grad=True)
        assert torch.autograd.gradcheck(linear_recurrence, (m, e, s0), fast_mode=fast)
        assert torch.autograd.gradcheck(linear_recurrence, (m, e), fast_mode=fast)
        assert torch.autograd.gradgradcheck(linear_recurrence, (m, e, s0), fast_mode=fast)
    held = torch.tensor(rng.uniform(-0.6, 0.6, (2, 1, 2, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(linear_recurrence, (held, e), fast_mode=True)


# ---------------------------------------------------------------------------
# State-variable filter
# ---------------------------------------------------------------------------


def test_svf_magnitude_matches_analytic_response():
    sr, cutoff, q = 48000, 2500.0, 4.0
    n = 1 << 14  # the impulse response decays below 1e-30 well before n samples
    impulse = torch.zeros(1, n, dtype=torch.float64)
    impulse[0, 0] = 1.0
    outputs = state_variable_filter(impulse, torch.tensor([[cutoff]], dtype=torch.float64),
                                    torch.tensor([[q]], dtype=torch.float64), sr)
    w = 2 * np.pi * np.fft.rfftfreq(n)
    # Bilinear transform prewarped at the cutoff: s -> j tan(w / 2) / tan(w0 / 2).
    omega = np.tan(w / 2) / np.tan(np.pi * cutoff / sr)
    denominator = 1 - omega**2 + 1j * omega / q
    analytic = {"lowpass": 1 / denominator, "highpass": -(omega**2) / denominator,
                "bandpass": (1j * omega / q) / denominator}
    for name, response in analytic.items():
        measured = np.fft.rfft(outputs[name][0].numpy())
        # Only float64 rounding of the recursion (states never grow, see the l1 test), summed by the FFT.
        np.testing.assert_allclose(measured, response, rtol=0, atol=1e-10, err_msg=name)


def test_svf_equals_cookbook_biquads_at_constant_cutoff():
    sr = 16000
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 999))
    cutoff, q = np.array([80.0, 4000.0]), np.array([0.9, 12.0])
    outputs = state_variable_filter(torch.tensor(x), torch.tensor(cutoff)[:, None], torch.tensor(q)[:, None], sr)
    for name in ("lowpass", "highpass", "bandpass"):
        for i in range(2):
            b, a = _cookbook(name, cutoff[i], q[i], sr)
            expected = scipy.signal.lfilter(b, a, x[i])
            tol = _df1_tolerance(EPS64, a[None, 1:], x[i], expected, b[None])
            assert np.abs(outputs[name][i].numpy() - expected).max() <= tol, name


def test_time_varying_svf_matches_sample_loop():
    sr, samples = 22050, 257
    rng = np.random.default_rng(8)
    x = rng.standard_normal(samples)
    cutoff = _sweep(samples, sr, 50, 10000, 200)
    q = np.linspace(0.3, 20, samples)
    outputs = state_variable_filter(torch.tensor(x)[None], torch.tensor(cutoff)[None], torch.tensor(q)[None], sr)
    expected = _loop_svf(x, cutoff, q, sr)
    for name, values in expected.items():
        # The state update is non-expansive (2-norm <= 1), so each sample's few roundings
        # (~8 eps of the O(10) states) add up at most linearly over the signal.
        tol = samples * 8 * EPS64 * 10 * np.abs(values).max()
        np.testing.assert_allclose(outputs[name][0].numpy(), values, rtol=0, atol=tol, err_msg=name)


# ---------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------


def _f64(array):
    return torch.tensor(np.asarray(array), dtype=torch.float64)


def test_units_upsample_frame_rate_controls():
    sr, hop, samples = 16000, 64, 1001  # not a multiple of hop: ceil(1001 / 64) = 16 frames
    rng = np.random.default_rng(9)
    x = _f64(rng.standard_normal((2, samples)))
    frames = -(-samples // hop)
    cutoff = _f64(rng.uniform(200, 5000, (2, frames, 1)))
    q = _f64(rng.uniform(0.5, 5, (2, frames, 1)))
    positions = np.arange(samples) / hop

    def audio_rate(c):
        return _f64(np.stack([np.interp(positions, np.arange(frames), c[i, :, 0]) for i in range(2)]))[..., None]

    for unit in (Biquad(sr, hop_length=hop), StateVariableFilter(sr, hop_length=hop)):
        framewise = unit.get_signal(x, cutoff, q)
        samplewise = unit.get_signal(x, audio_rate(cutoff.numpy()), audio_rate(q.numpy()))
        assert framewise.shape == (2, samples)
        # Both interpolations agree to a few ulps of the controls; the O(1) outputs move by
        # about that relative amount times the filter's sensitivity, far below 1e-12.
        torch.testing.assert_close(framewise, samplewise, rtol=0, atol=1e-12)


def test_units_match_core_with_broadcast_controls():
    sr = 16000
    rng = np.random.default_rng(10)
    x = _f64(rng.standard_normal((3, 200)))
    cutoff, q = _f64([[[700.0]]]), _f64([[[3.0]]])
    b, a = biquad_coefficients(_f64(700.0), _f64(3.0), sr, "notch")
    expected = torch.stack([time_varying_biquad(x[i : i + 1], b.view(1, 1, 3), a.view(1, 1, 2))[0]
                            for i in range(3)])
    # The same arithmetic per batch item; batched matrix products may only reorder sums of
    # O(1) terms, a few eps each.
    torch.testing.assert_close(Biquad(sr, "notch").get_signal(x, cutoff, q), expected, rtol=0, atol=1e-13)
    svf = StateVariableFilter(sr, output="highpass").get_signal(x, cutoff, q)
    expected_svf = state_variable_filter(x, _f64([[700.0]]), _f64([[3.0]]), sr)["highpass"]
    torch.testing.assert_close(svf, expected_svf, rtol=0, atol=1e-13)


def test_biquad_unit_float32_audio_is_accurate_at_low_cutoffs():
    sr = 48000
    x32 = torch.empty(1, sr).uniform_(-1, 1, generator=torch.Generator().manual_seed(0))
    b, a = _cookbook("lowpass", 20.0, 0.707, sr)
    expected = scipy.signal.lfilter(b, a, x32[0].double().numpy())
    out = Biquad(sr).get_signal(x32, torch.full((1, 1, 1), 20.0), torch.full((1, 1, 1), 0.707))
    assert out.dtype == torch.float32
    # Computed in float64 (the default compute_dtype), only the final cast to float32 rounds:
    # half an ulp of the output. float32 recursion here is off by more than the signal itself.
    assert np.abs(out[0].double().numpy() - expected).max() <= EPS32 * np.abs(expected).max()


def test_gain_modes_use_gain_db():
    sr = 16000
    x = torch.randn(1, 300, dtype=torch.float64)
    unit = Biquad(sr, "peaking")
    cutoff, q = _f64([[[1000.0]]]), _f64([[[2.0]]])
    zero_db = unit.get_signal(x, cutoff, q, _f64([[[0.0]]]))
    # A 0 dB peaking filter has b = (1, a1, a2): the identity up to rounding in the recursion.
    b, a = _cookbook("peaking", 1000.0, 2.0, sr, 0.0)
    tol = _df1_tolerance(EPS64, a[None, 1:], x.numpy(), x.numpy(), b[None])
    assert (zero_db - x).abs().max() <= tol
    boosted = unit.get_signal(x, cutoff, q, _f64([[[6.0]]]))
    assert (boosted - x).abs().max() > 0.1


def test_get_controls_ranges_and_forward():
    sr = 22050
    unit = Biquad(sr, hop_length=10, cutoff_range_hz=(40.0, 8000.0), q_range=(0.5, 8.0))
    raw = torch.tensor([[[-40.0], [0.0], [40.0]]], dtype=torch.float64)
    controls = unit.get_controls(torch.zeros(1, 30, dtype=torch.float64), raw, raw)
    np.testing.assert_allclose(controls["cutoff_hz"][0, :, 0].numpy(), [40.0, math.sqrt(40 * 8000), 8000.0], rtol=1e-12)
    np.testing.assert_allclose(controls["q"][0, :, 0].numpy(), [0.5, 2.0, 8.0], rtol=1e-12)
    x = torch.randn(1, 30, dtype=torch.float64)
    torch.testing.assert_close(unit(x, raw, raw), unit.get_signal(**unit.get_controls(x, raw, raw)), rtol=0, atol=0)
    svf = StateVariableFilter(sr)
    assert svf.cutoff_range_hz == (20.0, 0.45 * sr)
    raw_constant = raw[:, 1:2]
    torch.testing.assert_close(svf(x, raw_constant, raw_constant),
                               svf.get_signal(**svf.get_controls(x, raw_constant, raw_constant)), rtol=0, atol=0)
    gains = Biquad(sr, "lowshelf").get_controls(x, raw[:, :1], raw[:, :1], torch.zeros(1, 1, 1))["gain_db"]
    assert float(gains) == pytest.approx(0.0)


def test_cutoff_is_clamped_below_nyquist():
    sr = 16000
    x = torch.randn(1, 400, dtype=torch.float64)
    q = _f64([[[0.707]]])
    for unit in (Biquad(sr), StateVariableFilter(sr)):
        above = unit.get_signal(x, _f64([[[0.6 * sr]]]), q)
        at_limit = unit.get_signal(x, _f64([[[MAX_CUTOFF_RATIO * sr]]]), q)
        torch.testing.assert_close(above, at_limit, rtol=0, atol=0)
        assert torch.isfinite(above).all()


@pytest.mark.parametrize("samples", [1, 2, 3, 33, 65, 1001])
def test_shapes_batch_one_and_odd_lengths(samples):
    sr = 16000
    x = torch.randn(1, samples)
    cutoff = torch.full((1, samples, 1), 900.0)
    q = torch.full((1, 1, 1), 2.0)
    for unit in (Biquad(sr, "highpass"), StateVariableFilter(sr, "bandpass")):
        for c in (cutoff, cutoff[:, :1]):
            out = unit.get_signal(x, c, q)
            assert out.shape == (1, samples) and out.dtype == torch.float32
            assert torch.isfinite(out).all()
    # A single sample through a highpass: y[0] = b0 x[0].
    b, _ = _cookbook("highpass", 900.0, 2.0, sr)
    out = Biquad(sr, "highpass").get_signal(x[:, :1], cutoff[:, :1], q)
    assert float(out[0, 0]) == pytest.approx(b[0] * float(x[0, 0]), rel=1e-6)


def test_devices():
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        x = torch.randn(2, 500, device=device)
        cutoff = torch.linspace(100, 5000, 500, device=device).view(1, 500, 1).expand(2, 500, 1)
        q = torch.full((2, 1, 1), 3.0, device=device)
        for unit in (Biquad(16000), StateVariableFilter(16000)):
            out = unit.get_signal(x, cutoff, q)
            assert out.device.type == device and torch.isfinite(out).all()


# ---------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------


# The unit gradchecks use fast_mode (random projections of the Jacobian): full Jacobians would
# need one backward pass per output sample, and a wrong gradient still shows up in any projection.


def test_gradcheck_biquad_unit():
    sr, samples = 16000, 70  # longer than one scan chunk, so the chunk recombination is checked
    rng = np.random.default_rng(11)
    x = _f64(rng.standard_normal((2, samples))).requires_grad_()
    varying = _f64(_sweep(samples, sr, 300, 4000, 100)[None, :, None].repeat(2, 0)).requires_grad_()
    frames = _f64([[[500.0], [2500.0]], [[3000.0], [900.0]]]).requires_grad_()
    q_frames = _f64([[[0.8], [3.0]], [[2.0], [1.2]]]).requires_grad_()
    q_const = _f64([[[2.0]], [[0.9]]]).requires_grad_()
    assert torch.autograd.gradcheck(Biquad(sr, "lowpass").get_signal, (x, varying, q_const), fast_mode=True)
    framewise = Biquad(sr, "bandpass", hop_length=35).get_signal
    assert torch.autograd.gradcheck(framewise, (x, frames, q_frames), fast_mode=True)
    assert torch.autograd.gradcheck(Biquad(sr, "notch").get_signal, (x, varying[:, :1], q_const), fast_mode=True)
    gain = _f64([[[3.0]], [[-6.0]]]).requires_grad_()
    assert torch.autograd.gradcheck(Biquad(sr, "highshelf").get_signal, (x, varying, q_const, gain), fast_mode=True)


def test_gradcheck_constant_biquad_longer_than_a_chunk():
    rng = np.random.default_rng(12)
    x = _f64(rng.standard_normal((1, 150))).requires_grad_()
    b, a = biquad_coefficients(_f64([[[800.0]]])[..., 0], 1.5, 16000, "lowpass")
    b, a = b.detach().requires_grad_(), a.detach().requires_grad_()
    assert torch.autograd.gradcheck(time_varying_biquad, (x, b, a), fast_mode=True)


def test_gradcheck_svf_unit():
    sr, samples = 16000, 70
    rng = np.random.default_rng(13)
    x = _f64(rng.standard_normal((2, samples))).requires_grad_()
    cutoff = _f64(_sweep(samples, sr, 100, 6000, 150)[None, :, None].repeat(2, 0)).requires_grad_()
    q = _f64(np.linspace(0.5, 10, samples)[None, :, None].repeat(2, 0)).requires_grad_()
    for output in ("lowpass", "bandpass", "highpass"):
        assert torch.autograd.gradcheck(StateVariableFilter(sr, output).get_signal, (x, cutoff, q), fast_mode=True)


@pytest.mark.parametrize("cutoff_hz,q", [(1.0, 0.01), (0.4999 * 16000, 100.0), (0.6 * 16000, 0.707), (20.0, 50.0)])
def test_gradients_finite_at_edges(cutoff_hz, q):
    sr = 16000
    for unit in (Biquad(sr), StateVariableFilter(sr)):
        for audio in (torch.zeros(2, 300), torch.randn(2, 300)):
            audio = audio.requires_grad_()
            cutoff = torch.full((2, 300, 1), cutoff_hz, requires_grad=True)
            q_value = torch.full((2, 1, 1), q, requires_grad=True)
            out = unit.get_signal(audio, cutoff, q_value)
            # log-magnitude losses are where silence bites
            loss = torch.log(out.square() + 1e-7).mean() + out.square().mean()
            loss.backward()
            for grad in (audio.grad, cutoff.grad, q_value.grad):
                assert torch.isfinite(grad).all()


# ---------------------------------------------------------------------------
# Long signals and fast modulation
# ---------------------------------------------------------------------------


def _lti_l1_gain(mode, cutoffs, q, sr):
    """Largest sum |h| over the frozen filters along a sweep: the peak output of any one of them
    for input bounded by 1."""
    impulse = np.zeros(sr)
    impulse[0] = 1.0
    return max(np.abs(scipy.signal.lfilter(*_cookbook(mode, c, q, sr), impulse)).sum() for c in cutoffs)


def test_four_second_fast_sweeps_stay_bounded_and_decay():
    sr, samples = 16000, 4 * 16000
    rng = np.random.default_rng(14)
    x = rng.uniform(-1, 1, (1, samples))
    x[:, -sr // 4 :] = 0.0  # silence at the end: a stable filter must ring out
    x = torch.tensor(x, dtype=torch.float32)

    def bound(mode, low, high, q):
        # A stable filter frozen at any cutoff of the sweep peaks at most at its l1 gain; modulation
        # may exceed that by a little, an unstable one by orders of magnitude.
        return 2 * _lti_l1_gain(mode, np.geomspace(low, high, 60), q, sr)

    # Deep 20 Hz sweep at moderate resonance: fine for the direct form.
    cutoff = torch.tensor(_sweep(samples, sr, 50, 7000, 20), dtype=torch.float32)[None, :, None]
    q = torch.full((1, 1, 1), 5.0)
    y = Biquad(sr).get_signal(x, cutoff, q)
    assert torch.isfinite(y).all()
    assert float(y.abs().max()) < bound("lowpass", 50, 7000, 5.0)
    assert float(y[:, -100:].abs().max()) < 1e-6

    # 100 Hz sweep at q = 30: the state-variable filter stays bounded and rings out ...
    cutoff = torch.tensor(_sweep(samples, sr, 50, 7000, 100), dtype=torch.float32)[None, :, None]
    q = torch.full((1, 1, 1), 30.0)
    outputs = StateVariableFilter(sr).get_outputs(x, cutoff, q)
    for name, y in outputs.items():
        assert torch.isfinite(y).all()
        assert float(y.abs().max()) < bound(name, 50, 7000, 30.0), name
        assert float(y[:, -100:].abs().max()) < 1e-6, name
    # ... while the direct-form biquad under the same modulation does not (so the bound can fail).
    direct = Biquad(sr).get_signal(x, cutoff, q)
    assert not float(direct.abs().max()) < bound("lowpass", 50, 7000, 30.0)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_bad_input_errors():
    sr = 16000
    x = torch.randn(2, 100)
    good_c, good_q = torch.full((2, 1, 1), 500.0), torch.full((2, 1, 1), 1.0)
    unit = Biquad(sr)
    svf = StateVariableFilter(sr)
    for module in (unit, svf):
        with pytest.raises(ValueError, match="cutoff_hz"):
            module.get_signal(x, torch.zeros(2, 1, 1), good_q)
        with pytest.raises(ValueError, match="cutoff_hz"):
            module.get_signal(x, torch.full((2, 1, 1), -5.0), good_q)
        with pytest.raises(ValueError, match="cutoff_hz"):
            module.get_signal(x, torch.full((2, 1, 1), float("nan")), good_q)
        with pytest.raises(ValueError, match="q"):
            module.get_signal(x, good_c, torch.zeros(2, 1, 1))
        with pytest.raises(ValueError, match="q"):
            module.get_signal(x, good_c, torch.full((2, 1, 1), float("inf")))
        with pytest.raises(ValueError, match="audio"):
            module.get_signal(torch.full((2, 100), float("nan")), good_c, good_q)
        with pytest.raises(ValueError, match="audio"):
            module.get_signal(torch.randn(2, 1, 100), good_c, good_q)
        with pytest.raises(ValueError, match="cutoff_hz"):
            module.get_signal(x, torch.full((2, 7, 1), 500.0), good_q)  # no hop_length, not 1 or 100 frames
        with pytest.raises(ValueError, match="cutoff_hz"):
            module.get_signal(x, torch.full((3, 1, 1), 500.0), good_q)  # batch mismatch
        with pytest.raises(ValueError, match="cutoff_hz"):
            module.get_signal(x, torch.full((2, 100), 500.0), good_q)  # missing channel axis
    with pytest.raises(ValueError, match="cutoff_hz"):
        Biquad(sr, hop_length=10).get_signal(x, torch.full((2, 11, 1), 500.0), good_q)
    with pytest.raises(ValueError, match="mode"):
        Biquad(sr, mode="bandstop")
    with pytest.raises(ValueError, match="output"):
        StateVariableFilter(sr, output="notch")
    with pytest.raises(ValueError, match="gain_db"):
        Biquad(sr, "peaking").get_signal(x, good_c, good_q)
    with pytest.raises(ValueError, match="gain_db"):
        Biquad(sr, "lowpass").get_signal(x, good_c, good_q, torch.zeros(2, 1, 1))
    with pytest.raises(ValueError, match="cutoff_range_hz"):
        Biquad(sr, cutoff_range_hz=(20.0, 0.5 * sr))
    with pytest.raises(ValueError, match="q_range"):
        StateVariableFilter(sr, q_range=(0.0, 4.0))
    with pytest.raises(ValueError, match="sample_rate"):
        Biquad(0)
    with pytest.raises(ValueError, match="compute_dtype"):
        Biquad(sr, compute_dtype=torch.int32)

    with pytest.raises(ValueError, match="cutoff_hz"):
        biquad_coefficients(torch.tensor([8000.0]), 1.0, sr)  # at Nyquist
    with pytest.raises(ValueError, match="q"):
        biquad_coefficients(torch.tensor([800.0]), -1.0, sr)
    with pytest.raises(TypeError, match="q"):
        biquad_coefficients(torch.tensor([800.0]), "wide", sr)
    b, a = biquad_coefficients(torch.full((2, 1), 800.0), 1.0, sr)
    with pytest.raises(ValueError, match="b"):
        time_varying_biquad(x, b.view(2, 3), a)
    with pytest.raises(ValueError, match="a"):
        time_varying_biquad(x, b, a.expand(2, 50, 2))
    with pytest.raises(TypeError, match="a"):
        time_varying_biquad(x, b, a.double())
    with pytest.raises(ValueError, match="q"):
        state_variable_filter(x, torch.full((2, 1), 800.0), torch.full((2, 3), 1.0), sr)
    with pytest.raises(ValueError, match="matrices"):
        linear_recurrence(torch.zeros(2, 5, 2, 3), torch.zeros(2, 5, 2))
    with pytest.raises(ValueError, match="initial_state"):
        linear_recurrence(torch.zeros(2, 5, 2, 2), torch.zeros(2, 5, 2), torch.zeros(3, 2))
