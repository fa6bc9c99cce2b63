"""Convolution reverb (learned IR) and parametric reverb (RT60, damping, mix)."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.units.reverb import ParametricReverb, Reverb

EPS64 = float(np.finfo(np.float64).eps)


def conv_tolerance(*arrays, n_fft=1 << 16):
    """FFT rounding bound: 10 eps log2(n) ||x|| ||h|| (see test_convolution)."""
    return 10 * EPS64 * math.log2(n_fft) * math.prod(float(np.linalg.norm(a)) for a in arrays)


# ---------------------------------------------------------------- Reverb


@pytest.mark.parametrize("keep_tail", [False, True])
@pytest.mark.parametrize("add_dry", [True, False])
def test_reverb_matches_scipy(keep_tail, add_dry):
    sample_rate = 8000
    unit = Reverb(sample_rate, ir_duration_s=0.0125, trainable=False, add_dry=add_dry, keep_tail=keep_tail)
    rng = np.random.default_rng(1)
    audio = rng.standard_normal((3, 333))
    ir = rng.standard_normal((3, 101))
    out = unit(torch.from_numpy(audio), torch.from_numpy(ir)).numpy()
    for b in range(3):
        wet_ir = ir[b].copy()
        wet_ir[0] = 0.0  # the direct sound is the dry path
        expected = scipy.signal.fftconvolve(audio[b], wet_ir)
        if add_dry:
            expected[:333] += audio[b]
        if not keep_tail:
            expected = expected[:333]
        assert out[b].shape == expected.shape
        np.testing.assert_allclose(out[b], expected, rtol=0, atol=conv_tolerance(audio[b], ir[b]))


def test_reverb_learned_ir_is_a_parameter_shared_by_the_batch():
    sample_rate = 16000
    unit = Reverb(sample_rate, ir_duration_s=0.01, initial_ir_std=0.1)
    assert isinstance(unit.ir, torch.nn.Parameter) and unit.ir.shape == (160,)
    audio = torch.randn(2, 201)
    out = unit(audio)
    ir = unit.ir.detach().double().numpy().copy()
    ir[0] = 0.0
    for b in range(2):
        expected = audio[b].double().numpy() + scipy.signal.fftconvolve(audio[b].double().numpy(), ir)[:201]
        # float32 FFT: rounding bound with float32 eps.
        atol = 10 * float(np.finfo(np.float32).eps) * math.log2(512) * float(np.linalg.norm(audio[b]) * np.linalg.norm(ir))
        np.testing.assert_allclose(out[b].detach().numpy(), expected, rtol=0, atol=atol + 1e-6)
    out.pow(2).sum().backward()
    assert unit.ir.grad is not None and torch.isfinite(unit.ir.grad).all()
    assert unit.ir.grad[0] == 0  # masked sample
    # A supplied IR takes precedence over the learned one.
    impulse = torch.zeros(1, 5)
    impulse[0, 2] = 1.0
    torch.testing.assert_close(unit(audio, impulse)[:, 2:], audio[:, 2:] + audio[:, :-2])


def test_reverb_default_starts_almost_dry():
    unit = Reverb(22050, ir_duration_s=0.05)
    audio = torch.randn(1, 3000)
    assert (unit(audio) - audio).abs().max() < 1e-3


def test_reverb_gradcheck_and_edge_gradients():
    unit = Reverb(100, ir_duration_s=0.07, trainable=False)
    audio = torch.randn(2, 11, dtype=torch.float64, requires_grad=True)
    ir = torch.randn(1, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, h: unit(a, h), (audio, ir))
    tail = Reverb(100, ir_duration_s=0.07, trainable=False, keep_tail=True)
    assert torch.autograd.gradcheck(lambda a, h: tail(a, h), (audio, ir))
    silence = torch.zeros(1, 11, requires_grad=True)
    zero_ir = torch.zeros(1, 7, requires_grad=True)
    (unit(silence, zero_ir) - 1.0).pow(2).sum().backward()
    assert torch.isfinite(silence.grad).all() and torch.isfinite(zero_ir.grad).all()


def test_reverb_trainable_module_gradcheck_in_float64():
    unit = Reverb(100, ir_duration_s=0.05, initial_ir_std=0.3).double()
    audio = torch.randn(1, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, h: unit.get_signal(a, h.unsqueeze(0)), (audio, unit.ir))


@pytest.mark.parametrize("length", [1, 2, 17])
def test_reverb_shapes_batch_one_and_odd_lengths(length):
    unit = Reverb(44100, ir_duration_s=0.001)
    assert unit(torch.randn(1, length)).shape == (1, length)
    tail = Reverb(44100, ir_duration_s=0.001, keep_tail=True)
    assert tail(torch.randn(1, length)).shape == (1, length + 44 - 1)


def test_reverb_errors():
    with pytest.raises(ValueError, match="ir_duration_s"):
        Reverb(16000, ir_duration_s=0.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        Reverb(16000, ir_duration_s=1e-5)
    unit = Reverb(16000, ir_duration_s=0.01, trainable=False)
    with pytest.raises(ValueError, match="ir is required"):
        unit(torch.randn(1, 100))
    with pytest.raises(ValueError, match="audio must have 2 dimensions"):
        unit(torch.randn(100), torch.randn(1, 10))
    with pytest.raises(ValueError, match="audio contains NaN"):
        unit(torch.full((1, 10), float("nan")), torch.randn(1, 10))
    with pytest.raises(ValueError, match="ir must have at least 2 samples"):
        unit(torch.randn(1, 10), torch.randn(1, 1))
    with pytest.raises(ValueError, match="ir has batch 3"):
        unit(torch.randn(2, 10), torch.randn(3, 10))
    with pytest.raises(ValueError, match="ir contains NaN"):
        unit(torch.randn(2, 10), torch.full((1, 4), float("inf")))


# ---------------------------------------------------------- ParametricReverb


def measured_rt60(ir, sample_rate, top_db=-5.0, bottom_db=-35.0):
    """RT60 from the Schroeder energy decay curve (T30: a line fitted from -5 to -35 dB)."""
    energy = np.cumsum((ir**2)[::-1])[::-1]
    edc_db = 10 * np.log10(energy / energy[0])
    region = np.nonzero((edc_db <= top_db) & (edc_db >= bottom_db))[0]
    slope_db_per_s = np.polyfit(region / sample_rate, edc_db[region], 1)[0]
    return -60.0 / slope_db_per_s


def rt60_tolerance(rt60_s, sample_rate, bandwidth_fraction=1.0, span_db=30.0):
    """Relative RT60 error allowed for a noise IR of the given decay.

    With amplitude decay rate a = ln(1000) / RT60 per second, the Schroeder
    sum from t on, sum w(tau) n(tau)^2 with w = exp(-2 a tau), has relative
    variance 2 * sum w^2 / (sum w)^2 = 2 a / fs for white Gaussian noise, and
    1 / bandwidth_fraction times that for band-limited noise (fewer
    independent samples). Allowing 4 standard deviations of opposite sign at
    both ends of the fitted span gives a slope error of 8 sigma_dB / span.
    """
    a = math.log(1000.0) / rt60_s
    sigma_db = 10 / math.log(10) * math.sqrt(2 * a / (sample_rate * bandwidth_fraction))
    return 8 * sigma_db / span_db


@pytest.mark.parametrize("rt60", [0.1, 0.3, 0.6])
def test_parametric_reverb_measured_decay_matches_rt60(rt60):
    sample_rate = 48000
    # The IR lasts 2.5 RT60: the truncated tail (-150 dB) cannot bias the EDC.
    unit = ParametricReverb(sample_rate, ir_duration_s=2.5 * rt60, seed=3)
    ir = unit.impulse_response(torch.tensor([[rt60]], dtype=torch.float64), 0.0)[0].numpy()
    measured = measured_rt60(ir, sample_rate)
    assert abs(measured / rt60 - 1) <= rt60_tolerance(rt60, sample_rate), measured


def test_parametric_reverb_damping_shortens_the_top_octave():
    sample_rate, decay, damping = 48000, 0.6, 0.8
    unit = ParametricReverb(sample_rate, ir_duration_s=1.5, seed=1)
    ir = unit.impulse_response(torch.tensor([[decay]], dtype=torch.float64), damping)[0].numpy()
    # Keep 17.5 kHz .. Nyquist, above the top band's centre (24 kHz / sqrt(2)
    # = 16.97 kHz) where only that band sounds; the neighbouring band's share
    # falls to zero at that centre, and the decay widens its spectrum by only
    # a few Hz. Zero-padding makes the brick-wall filter linear, so its
    # pre-ringing of the onset falls outside the kept part instead of wrapping
    # onto the tail.
    padded = 2 * ir.size
    spectrum = np.fft.rfft(ir, padded)
    freqs = np.fft.rfftfreq(padded, 1 / sample_rate)
    top_band = np.fft.irfft(spectrum * (freqs >= 17500), padded)[: ir.size]
    expected = decay * (1 - damping / math.sqrt(2))
    measured = measured_rt60(top_band, sample_rate)
    tolerance = rt60_tolerance(expected, sample_rate, bandwidth_fraction=6500 / 24000)
    assert abs(measured / expected - 1) <= tolerance, measured
    assert measured < 0.6 * decay  # clearly shorter than the undamped decay
    torch.testing.assert_close(
        unit.band_decay_times_s(torch.tensor([[decay]]), torch.tensor([[damping]]))[0, -1],
        torch.tensor(expected, dtype=torch.float32),
    )


def test_parametric_reverb_ir_construction_and_output_match_numpy():
    sample_rate = 8000
    unit = ParametricReverb(sample_rate, ir_duration_s=0.2, n_damping_bands=4, seed=7)
    # The bands partition the seeded noise exactly.
    noise = torch.randn(1600, generator=torch.Generator().manual_seed(7), dtype=torch.float64).numpy()
    bands = unit.noise_bands.double().numpy()
    np.testing.assert_allclose(bands.sum(0), noise, rtol=0, atol=1e-5)
    # Each band's share of the spectrum: 1 at its centre, linear in octaves to
    # the neighbouring centres, flat beyond the lowest and highest centres.
    centres = sample_rate / 2 * 2.0 ** -np.arange(3, -1, -1) / math.sqrt(2)
    freqs = np.fft.rfftfreq(1600, 1 / sample_rate)
    with np.errstate(divide="ignore"):
        log_freqs = np.log2(freqs)
    noise_spectrum = np.fft.rfft(noise)
    shares = np.fft.rfft(bands, axis=-1) / noise_spectrum
    for b in range(4):
        expected_share = np.interp(log_freqs, np.log2(centres), np.eye(4)[b])
        # The bands are stored in float32: each sample is off by at most
        # 2^-24 |x|, so a DFT bin by at most 2^-24 sum |x|, and the share by
        # that over |noise spectrum| at the bin (plus float64 rounding).
        bound = 2.0**-24 * np.abs(bands[b]).sum() / np.abs(noise_spectrum) + 1e-12
        assert np.all(np.abs(shares[b] - expected_share) <= bound)
    decay, damping, mix = 0.08, 0.5, 0.3
    time_s = np.arange(1600) / sample_rate
    rt60 = decay * (1 - damping * centres / (sample_rate / 2))
    ir = np.sum(bands * 10 ** (-3 * time_s[None] / rt60[:, None]), axis=0)
    ir[0] = 0.0
    ir /= np.linalg.norm(ir)
    got = unit.impulse_response(torch.tensor([[decay]], dtype=torch.float64), damping)[0].numpy()
    np.testing.assert_allclose(got, ir, rtol=0, atol=1e-12)
    audio = np.random.default_rng(0).standard_normal((2, 1001))
    out = unit.get_signal(torch.from_numpy(audio), decay, damping, mix).numpy()
    for b in range(2):
        expected = (1 - mix) * audio[b] + mix * scipy.signal.fftconvolve(audio[b], ir)[:1001]
        np.testing.assert_allclose(out[b], expected, rtol=0, atol=conv_tolerance(audio[b], ir))


def test_parametric_reverb_controls_start_at_the_initial_values():
    unit = ParametricReverb(16000, ir_duration_s=0.1, decay_s=0.7, damping=0.2, mix=0.4)
    controls = unit.get_controls(torch.zeros(1, 10))
    for name, value in (("decay_s", 0.7), ("damping", 0.2), ("mix", 0.4)):
        assert abs(float(controls[name].detach()) - value) < 1e-5, name
    assert {name for name, _ in unit.named_parameters()} == {"raw_decay", "raw_damping", "raw_mix"}
    fixed = ParametricReverb(16000, ir_duration_s=0.1, trainable=False)
    assert not list(fixed.parameters())
    # Raw network outputs map onto the documented ranges.
    raw = torch.tensor([[-50.0], [0.0], [50.0]])
    mapped = unit.get_controls(torch.zeros(3, 10), decay=raw, damping=raw, mix=raw)
    torch.testing.assert_close(mapped["decay_s"][:, 0], torch.tensor([0.05, math.sqrt(0.05 * 5.0), 5.0]))
    torch.testing.assert_close(mapped["mix"][:, 0], torch.tensor([0.0, 0.5, 1.0]))


def test_parametric_reverb_trains_its_controls():
    unit = ParametricReverb(8000, ir_duration_s=0.1, n_damping_bands=3)
    out = unit(torch.randn(2, 300))
    out.pow(2).sum().backward()
    for parameter in unit.parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0


def test_parametric_reverb_gradcheck():
    unit = ParametricReverb(400, ir_duration_s=0.05, n_damping_bands=3, decay_range_s=(0.01, 1.0))
    audio = torch.randn(2, 13, dtype=torch.float64, requires_grad=True)
    decay = torch.tensor([[0.02], [0.03]], dtype=torch.float64, requires_grad=True)
    damping = torch.tensor([[0.3], [0.7]], dtype=torch.float64, requires_grad=True)
    mix = torch.tensor([[0.4]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(unit.get_signal, (audio, decay, damping, mix))
    raw = torch.randn(2, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r: unit(audio, r, r, r), (raw,))


def test_parametric_reverb_finite_gradients_at_edges():
    unit = ParametricReverb(16000, ir_duration_s=0.3, n_damping_bands=4)
    silence = torch.zeros(1, 500, requires_grad=True)
    controls = [torch.tensor([[v]], requires_grad=True) for v in (1e-3, 1.0, 0.0)]
    (unit.get_signal(silence, *controls) - 1.0).pow(2).sum().backward()
    for tensor in [silence, *controls]:
        assert torch.isfinite(tensor.grad).all()
    controls = [torch.tensor([[v]], requires_grad=True) for v in (0.1, 0.0, 1.0)]
    unit.get_signal(torch.randn(1, 500), *controls).sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in controls)


@pytest.mark.parametrize("length", [1, 2, 301])
def test_parametric_reverb_shapes(length):
    unit = ParametricReverb(22050, ir_duration_s=0.01)
    assert unit(torch.randn(1, length)).shape == (1, length)
    tail = ParametricReverb(22050, ir_duration_s=0.01, keep_tail=True)
    assert tail(torch.randn(3, length)).shape == (3, length + 220 - 1)


def test_parametric_reverb_errors():
    with pytest.raises(ValueError, match="decay_s must be within"):
        ParametricReverb(16000, decay_s=10.0)
    with pytest.raises(ValueError, match="mix must be in"):
        ParametricReverb(16000, mix=1.5)
    with pytest.raises(ValueError, match="decay_range_s"):
        ParametricReverb(16000, decay_range_s=(1.0, 0.5))
    with pytest.raises(ValueError, match="n_damping_bands"):
        ParametricReverb(16000, n_damping_bands=0)
    unit = ParametricReverb(16000, ir_duration_s=0.01)
    audio = torch.randn(2, 100)
    with pytest.raises(ValueError, match="decay_s must be in"):
        unit.get_signal(audio, -0.1, 0.0, 0.5)
    with pytest.raises(ValueError, match="damping must be in"):
        unit.get_signal(audio, 0.5, torch.tensor([[1.5]]), 0.5)
    with pytest.raises(ValueError, match="mix contains NaN"):
        unit.get_signal(audio, 0.5, 0.0, torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="mix must have 2 dimensions"):
        unit.get_signal(audio, 0.5, 0.0, torch.tensor([0.5]))
    with pytest.raises(ValueError, match="batch"):
        unit.get_signal(audio, torch.full((3, 1), 0.5), 0.0, 0.5)
    with pytest.raises(ValueError, match="audio must have 2 dimensions"):
        unit(torch.randn(100))
    with pytest.raises(ValueError, match="decay must have size 1"):
        unit(audio, decay=torch.zeros(2, 2))
