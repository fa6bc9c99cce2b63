"""Neural baselines: mu-law/linear quantisation, WaveNet and SampleRNN."""

import math
import os

import numpy as np
import pytest
import torch
from scipy.special import expit, softmax

from ddsp_lab.features import compute_loudness
from ddsp_lab.io import load_audio
from ddsp_lab.models.mulaw import linear_decode, linear_encode, mu_law_decode, mu_law_encode
from ddsp_lab.models.samplernn import SIZE_PRESETS as SAMPLERNN_PRESETS
from ddsp_lab.models.samplernn import SampleRNN
from ddsp_lab.models.wavenet import SIZE_PRESETS as WAVENET_PRESETS
from ddsp_lab.models.wavenet import WaveNet, gumbel_argmax, logistic_mixture_nll, sample_logistic_mixture

RATE = 16000
DATA = os.path.join(os.path.dirname(__file__), "data")


pytestmark = pytest.mark.usefixtures("one_thread")


def _controls(frames, batch=1, seed=0, dtype=torch.float64):
    """A pitch glide with an unvoiced frame and a loudness swell, so the conditioning varies."""
    generator = torch.Generator().manual_seed(seed)
    f0 = 220.0 * 2.0 ** (torch.rand(batch, frames, generator=generator, dtype=dtype) * 2.0)
    f0[:, frames // 2] = 0.0
    loudness = -60.0 + 50.0 * torch.rand(batch, frames, generator=generator, dtype=dtype)
    return f0, loudness


def _audio(samples, batch=1, seed=1, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return 0.8 * torch.sin(torch.linspace(0.0, 40.0, samples, dtype=dtype)) + 0.1 * torch.randn(
        batch, samples, generator=generator, dtype=dtype
    )


def _spread(model, scale=0.3, seed=0):
    """Perturb every weight so that small random models have varied, input-dependent outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    return model


def _wavenet(dtype=torch.float64, hop=8, **kwargs):
    torch.manual_seed(0)
    settings = dict(residual_channels=8, skip_channels=16, layers=3, stacks=2)
    settings.update(kwargs)
    return _spread(WaveNet(RATE, hop, **settings).to(dtype))


def _samplernn(dtype=torch.float64, hop=8, **kwargs):
    torch.manual_seed(0)
    settings = dict(frame_sizes=(8, 2), hidden_size=16, embedding_size=8)
    settings.update(kwargs)
    return _spread(SampleRNN(RATE, hop, **settings).to(dtype))


# -- quantisation ---------------------------------------------------------------------


def _mu_law_levels(mu):
    """Levels y_c and decoded values x_c of every code, and x(|y|), computed in numpy."""
    y = 2.0 * np.arange(mu + 1) / mu - 1.0
    expand = lambda a: ((1.0 + mu) ** a - 1.0) / mu  # noqa: E731
    return y, np.sign(y) * expand(np.abs(y)), expand


def test_mu_law_round_trip_within_per_code_bound():
    mu = 255
    y_levels, x_levels, expand = _mu_law_levels(mu)
    # Code c is chosen for companded values within 1/mu of y_c; x(|y|) is convex, so the worst
    # case is whichever edge of that interval lies farther from x_c (clipped to [-1, 1]).
    a = np.abs(y_levels)
    outer = expand(np.minimum(a + 1.0 / mu, 1.0)) - expand(a)
    inner = expand(a) - expand(np.maximum(a - 1.0 / mu, 0.0))
    bound = np.maximum(outer, inner)
    x = np.linspace(-1.0, 1.0, 2 ** 21 + 1)
    codes = mu_law_encode(torch.from_numpy(x)).numpy()
    # Independent encoder: the level whose interval (between midpoints of neighbours) holds y.
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    nearest = np.searchsorted((y_levels[1:] + y_levels[:-1]) / 2.0, y)
    distance = np.abs(y - y_levels[codes]) - np.abs(y - y_levels[nearest])
    assert distance.max() <= 1e-12  # ties at decision boundaries may go either way
    decoded = mu_law_decode(torch.from_numpy(codes), dtype=torch.float64).numpy()
    np.testing.assert_allclose(decoded, x_levels[codes], rtol=0, atol=1e-15)
    error = np.abs(x - decoded)
    # float64: companding and rounding are exact to about 1e-15 of full scale.
    assert np.all(error <= bound[codes] + 1e-12)
    # The bound is tight: every code's worst grid point comes within 5 % of it (the grid step,
    # 1e-6, is far below the smallest interval, 1.7e-4).
    worst = np.zeros(mu + 1)
    np.maximum.at(worst, codes, error)
    assert np.all(worst >= 0.95 * bound)
    assert bound.max() == pytest.approx(0.02159, abs=1e-5)  # full scale
    assert bound.min() == pytest.approx(8.81e-5, rel=0.001)  # the two codes next to silence


def test_mu_law_float32_and_clamping():
    mu = 255
    _, x_levels, expand = _mu_law_levels(mu)
    x64 = np.linspace(-1.0, 1.0, 100001)
    codes32 = mu_law_encode(torch.from_numpy(x64).float()).numpy()
    decoded = mu_law_decode(torch.from_numpy(codes32)).numpy()
    assert decoded.dtype == np.float32
    # float32 moves the companded value by a few ulp (~5e-7); dx/dy <= ln(256) * 256 / 255 = 5.6,
    # so decisions near a boundary may shift by up to 3e-6 in x.
    a = np.abs(2.0 * codes32 / mu - 1.0)
    bound = np.maximum(expand(np.minimum(a + 1.0 / mu, 1.0)) - expand(a), expand(a) - expand(np.maximum(a - 1 / mu, 0)))
    assert np.all(np.abs(x64 - decoded) <= bound + 5e-6)
    outside = torch.tensor([-3.0, -1.0, 1.0, 7.5])
    assert mu_law_encode(outside).tolist() == [0, 0, 255, 255]
    assert mu_law_encode(torch.zeros(3)).tolist() == [128] * 3  # no code for exact silence: ties go up
    assert float(mu_law_decode(torch.tensor([128]), dtype=torch.float64)) == pytest.approx(x_levels[128])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("channels", [256, 16, 2])
def test_decode_then_encode_is_exact(dtype, channels):
    codes = torch.arange(channels)
    assert torch.equal(mu_law_encode(mu_law_decode(codes, channels, dtype=dtype), channels), codes)
    assert torch.equal(linear_encode(linear_decode(codes, channels, dtype=dtype), channels), codes)


def test_linear_round_trip_within_half_step():
    channels = 256
    x = np.linspace(-1.0, 1.0, 2 ** 20 + 1)
    codes = linear_encode(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(codes, np.floor((x + 1.0) * 127.5 + 0.5).astype(np.int64))
    decoded = linear_decode(torch.from_numpy(codes), dtype=torch.float64).numpy()
    error = np.abs(x - decoded)
    # Half of the step 2 / 255; float64 rounding adds ~1e-16.
    assert error.max() <= 1.0 / (channels - 1) + 1e-12
    assert error.max() >= 0.999 / (channels - 1)
    assert linear_encode(torch.tensor([-2.0, 2.0])).tolist() == [0, 255]


def test_quantisation_bad_input():
    with pytest.raises(ValueError, match="audio"):
        mu_law_encode(torch.tensor([0.0, float("nan")]))
    with pytest.raises(TypeError, match="audio"):
        linear_encode(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="codes"):
        mu_law_decode(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="codes"):
        mu_law_decode(torch.tensor([256]))
    with pytest.raises(ValueError, match="codes"):
        linear_decode(torch.tensor([-1]))
    with pytest.raises(ValueError, match="channels"):
        mu_law_encode(torch.zeros(2), channels=1)


# -- discretised mixture of logistics ------------------------------------------------------


def test_logistic_mixture_nll_matches_scipy_and_normalises():
    bins, mixtures = 64, 3
    generator = torch.Generator().manual_seed(0)
    params = torch.cat([
        torch.randn(mixtures, generator=generator, dtype=torch.float64),
        torch.rand(mixtures, generator=generator, dtype=torch.float64) - 0.5,
        torch.full((mixtures,), math.log(0.4), dtype=torch.float64),
    ])
    centres = torch.linspace(-1.0, 1.0, bins, dtype=torch.float64)
    nll = logistic_mixture_nll(params.expand(bins, -1), centres, bins, log_scale_min=-10.0).numpy()
    weights = softmax(params[:mixtures].numpy())
    means, scale = params[mixtures: 2 * mixtures].numpy(), 0.4
    edges = np.concatenate([[-np.inf], (centres.numpy()[1:] + centres.numpy()[:-1]) / 2.0, [np.inf]])
    cdf = expit((edges[:, None] - means[None, :]) / scale)
    expected = (weights[None, :] * (cdf[1:] - cdf[:-1])).sum(axis=1)
    # Every bin holds more than 1e-5 of mass here, so the exact branch is used throughout.
    np.testing.assert_allclose(np.exp(-nll), expected, rtol=1e-10)
    assert np.exp(-nll).sum() == pytest.approx(1.0, abs=1e-12)


def test_logistic_mixture_sampling_follows_its_distribution():
    bins, mixtures, draws = 16, 2, 40000
    params = torch.tensor([0.3, -0.2, -0.4, 0.5, math.log(0.3), math.log(0.15)], dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    uniform = torch.rand(draws, mixtures + 1, generator=generator, dtype=torch.float64)
    values = sample_logistic_mixture(params.expand(draws, -1), uniform, 1.0, bins, -10.0)
    codes = linear_encode(values, bins)
    frequencies = torch.bincount(codes, minlength=bins).double() / draws
    centres = torch.linspace(-1.0, 1.0, bins, dtype=torch.float64)
    probabilities = torch.exp(-logistic_mixture_nll(params.expand(bins, -1), centres, bins, -10.0))
    # Binomial standard deviation sqrt(p (1 - p) / n) <= 0.0025; five of them.
    assert (frequencies - probabilities).abs().max() < 0.0125
    # Greedy: the mean of the most probable component (logit 0.3, mean -0.4), on the bin grid.
    greedy = sample_logistic_mixture(params[None], None, 1.0, bins, -10.0)
    assert float(greedy) == pytest.approx(-1.0 / 3.0, abs=1e-15)


def test_mu_law_sampling_follows_softmax_with_temperature():
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0]], dtype=torch.float64)
    draws = 40000
    generator = torch.Generator().manual_seed(0)
    uniform = torch.rand(draws, 4, generator=generator, dtype=torch.float64)
    picks = gumbel_argmax(logits.expand(draws, -1), uniform, 2.0)
    frequencies = torch.bincount(picks, minlength=4).double() / draws
    # Binomial standard deviation <= 0.0025 at n = 40000; five of them.
    np.testing.assert_allclose(frequencies.numpy(), softmax(logits.numpy()[0] / 2.0), atol=0.0125)


# -- WaveNet --------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [
    dict(),
    dict(kernel_size=3, output="logistic", mixtures=3),
])
def test_wavenet_causality_and_receptive_field(settings):
    model = _wavenet(**settings)
    field = model.receptive_field
    kernel = model.kernel_size
    assert field == (kernel - 1) * 2 * (2 ** 3 - 1) + 1
    hop, frames = model.hop_length, 12
    samples = frames * hop
    f0, loudness = _controls(frames)
    audio = _audio(samples)
    before = model(audio, f0, loudness)
    changed = audio.clone()
    t0 = 20
    changed[:, t0] = -0.9 if audio[0, t0] > 0 else 0.9
    after = model(changed, f0, loudness)
    # Outputs up to t0 read the same inputs through the same arithmetic.
    assert torch.equal(before[:, : t0 + 1], after[:, : t0 + 1])
    assert (before[:, t0 + 1] - after[:, t0 + 1]).abs().max() > 1e-6
    # Sample t0 reaches the output receptive_field samples later, and no further.
    assert (before[:, t0 + field] - after[:, t0 + field]).abs().max() > 1e-9
    assert torch.equal(before[:, t0 + field + 1:], after[:, t0 + field + 1:])
    # Frame m enters the linear interpolation at sample (m - 1) * hop + 1 (with weight 1 / hop).
    m = 5
    moved = loudness.clone()
    moved[:, m] += 20.0
    after = model(audio, f0, moved)
    assert torch.equal(before[:, : (m - 1) * hop + 1], after[:, : (m - 1) * hop + 1])
    assert (before[:, (m - 1) * hop + 1] - after[:, (m - 1) * hop + 1]).abs().max() > 1e-6


@pytest.mark.parametrize("settings", [dict(), dict(kernel_size=3, output="logistic", mixtures=3)])
def test_wavenet_incremental_generation_matches_forward_and_naive(settings):
    model = _wavenet(**settings)
    f0, loudness = _controls(6, batch=2)
    generator = torch.Generator().manual_seed(3)
    audio, outputs = model.generate(f0, loudness, generator=generator, return_outputs=True)
    assert audio.shape == (2, 6 * model.hop_length) and audio.dtype == torch.float64
    assert audio.abs().max() <= 1.0 and audio.std() > 0.05
    # float64 end to end: the paths differ only in summation order (~1e-16 per operation).
    torch.testing.assert_close(model(audio, f0, loudness), outputs, rtol=0, atol=1e-10)
    generator = torch.Generator().manual_seed(3)
    naive_audio, naive_outputs = model.generate_naive(f0, loudness, generator=generator, return_outputs=True)
    assert torch.equal(naive_audio, audio)
    torch.testing.assert_close(naive_outputs, outputs, rtol=0, atol=1e-10)
    greedy = model.generate(f0, loudness, greedy=True)
    assert torch.equal(model.generate_naive(f0, loudness, greedy=True), greedy)
    assert torch.equal(model.generate(f0, loudness, greedy=True), greedy)


def test_wavenet_incremental_generation_float32():
    model = _wavenet(dtype=torch.float32)
    f0, loudness = _controls(6, dtype=torch.float32)
    audio, outputs = model.generate(f0, loudness, generator=torch.Generator().manual_seed(0), return_outputs=True)
    assert audio.dtype == torch.float32 and outputs.abs().max() < 30.0
    # Both paths evaluate the same dot products (at most k * R + 2 R = 32 terms of size O(1))
    # in different orders: float32 rounding (u = 6e-8) gives differences of order sqrt(n) u |sum|
    # ~ 1e-6 per layer, at most n u |sum| ~ 2e-6 * |sum|; over 6 layers and the head, for
    # outputs below 30, that stays under 1e-4.
    torch.testing.assert_close(model(audio, f0, loudness), outputs, rtol=0, atol=1e-4)


def test_wavenet_progress_bar(capsys):
    model = _wavenet()
    f0, loudness = _controls(3)
    model.generate(f0, loudness, progress=True)
    assert "wavenet" in capsys.readouterr().err


def test_wavenet_shapes_presets_and_finite_gradients():
    model = _wavenet(hop=5)
    for batch, frames in ((1, 1), (3, 7)):
        f0, loudness = _controls(frames, batch)
        assert model(_audio(frames * 5, batch), f0, loudness).shape == (batch, frames * 5, 256)
        assert model.generate(f0[:, :, None], loudness[:, :, None]).shape == (batch, frames * 5)
    logistic = _wavenet(output="logistic", mixtures=4)
    assert logistic(_audio(16), *_controls(2)).shape == (1, 16, 12)
    # Silence, f0 = 0 and full-scale samples: the loss and its gradients stay finite.
    for net in (model, logistic):
        frames = 4
        audio = torch.zeros(1, frames * net.hop_length, dtype=torch.float64)
        audio[:, ::3] = 1.0
        audio[:, 1::3] = -1.0
        loss = net.loss(audio, torch.zeros(1, frames, dtype=torch.float64), torch.full((1, frames), -120.0))
        loss.backward()
        assert torch.isfinite(loss)
        assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    assert model.parameter_count() == sum(p.numel() for p in model.parameters())
    tiny = WaveNet.from_size("tiny", RATE, 64)
    small = WaveNet.from_size("small", RATE, 64)
    assert 200_000 < tiny.parameter_count() < 300_000 and tiny.receptive_field == 2047
    assert 1_000_000 < small.parameter_count() < 1_400_000 and small.receptive_field == 3070
    assert set(WAVENET_PRESETS) == {"tiny", "small"}
    assert (tiny.sample_rate, tiny.hop_length) == (RATE, 64)


def test_wavenet_bad_input():
    model = _wavenet()
    f0, loudness = _controls(4)
    audio = _audio(32)
    with pytest.raises(ValueError, match="audio"):
        model(audio[0], f0, loudness)
    with pytest.raises(ValueError, match="32"):
        model(audio[:, :31], f0, loudness)
    with pytest.raises(ValueError, match="batch"):
        model(audio.expand(2, -1), f0, loudness)
    nan_audio = audio.clone()
    nan_audio[0, 3] = float("nan")
    with pytest.raises(ValueError, match="audio"):
        model.loss(nan_audio, f0, loudness)
    with pytest.raises(ValueError, match="f0_hz"):
        model(audio, f0 * float("nan"), loudness)
    with pytest.raises(ValueError, match="f0_hz"):
        model.generate(-f0, loudness)
    with pytest.raises(ValueError, match="loudness_db"):
        model.generate(f0, loudness[:, :3])
    with pytest.raises(ValueError, match="f0_hz"):
        model.generate(f0[0], loudness)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(f0, loudness, temperature=0.0)
    with pytest.raises(TypeError, match="audio"):
        model(audio.long(), f0, loudness)
    with pytest.raises(ValueError, match="output"):
        WaveNet(RATE, 8, output="gaussian")
    with pytest.raises(ValueError, match="layers"):
        WaveNet(RATE, 8, layers=0)
    with pytest.raises(ValueError, match="kernel_size"):
        WaveNet(RATE, 8, kernel_size=1)
    with pytest.raises(ValueError, match="hop_length"):
        WaveNet(RATE, 0)
    with pytest.raises(ValueError, match="size"):
        WaveNet.from_size("huge", RATE, 8)
    with pytest.raises(ValueError, match="loudness_mean_db"):
        WaveNet(RATE, 8, loudness_mean_db=float("nan"))
    with pytest.raises(TypeError, match="loudness_mean_db"):
        WaveNet(RATE, 8, loudness_mean_db="-40")


# -- SampleRNN ------------------------------------------------------------------------


@pytest.mark.parametrize("quantization", ["mu_law", "linear"])
def test_samplernn_causality(quantization):
    model = _samplernn(quantization=quantization)
    hop, frames = model.hop_length, 8
    f0, loudness = _controls(frames)
    audio = _audio(frames * hop)
    before = model(audio, f0, loudness)
    # Changes at, just before and just after top-frame (8) and bottom-frame (2) boundaries.
    for t0 in (0, 7, 8, 9, 21, 62):
        changed = audio.clone()
        changed[:, t0] = -0.9 if audio[0, t0] > 0 else 0.9
        after = model(changed, f0, loudness)
        assert torch.equal(before[:, : t0 + 1], after[:, : t0 + 1])
        assert (before[:, t0 + 1] - after[:, t0 + 1]).abs().max() > 1e-6
    # Frame m moves the audio-rate conditioning from sample (m - 1) * hop + 1 on; tiers read it at
    # their frame starts, the first of them after that sample being the next even sample.
    m = 4
    moved = loudness.clone()
    moved[:, m] += 20.0
    after = model(audio, f0, moved)
    assert torch.equal(before[:, : (m - 1) * hop + 1], after[:, : (m - 1) * hop + 1])
    assert (before[:, (m - 1) * hop + 2] - after[:, (m - 1) * hop + 2]).abs().max() > 1e-6


@pytest.mark.parametrize("quantization", ["mu_law", "linear"])
@pytest.mark.parametrize("frame_sizes", [(8, 2), (16, 4, 2)])
def test_samplernn_generation_matches_forward(quantization, frame_sizes):
    # hop 6 and 5 frames: 30 samples, not a multiple of the top frame size (padded and cropped).
    model = _samplernn(hop=6, quantization=quantization, frame_sizes=frame_sizes)
    f0, loudness = _controls(5, batch=2)
    audio, logits = model.generate(f0, loudness, generator=torch.Generator().manual_seed(0), return_outputs=True)
    assert audio.shape == (2, 30) and logits.shape == (2, 30, 256)
    assert len(torch.unique(model.encode(audio))) > 10
    # float64: the GRU runs step by step instead of over the sequence; ~1e-16 per operation.
    torch.testing.assert_close(model(audio, f0, loudness), logits, rtol=0, atol=1e-10)
    greedy = model.generate(f0, loudness, greedy=True)
    assert torch.equal(model.generate(f0, loudness, greedy=True), greedy)
    logits_greedy = model(greedy, f0, loudness)
    assert torch.equal(model.encode(greedy), logits_greedy.argmax(dim=-1))


def test_samplernn_generation_float32():
    model = _samplernn(dtype=torch.float32)
    f0, loudness = _controls(6, dtype=torch.float32)
    audio, logits = model.generate(f0, loudness, generator=torch.Generator().manual_seed(0), return_outputs=True)
    assert audio.dtype == torch.float32 and logits.abs().max() < 30.0
    # Same operations on the same inputs except the GRU's sequence versus step evaluation and
    # batched versus single-row matrix products: sums of at most 3 * 16 + 16 terms in different
    # orders, float32 rounding of order 1e-6 per layer for values below 30; under 1e-4.
    torch.testing.assert_close(model(audio, f0, loudness), logits, rtol=0, atol=1e-4)


def test_samplernn_shapes_presets_and_finite_gradients():
    model = _samplernn(hop=5)
    for batch, frames in ((1, 1), (2, 7)):
        f0, loudness = _controls(frames, batch)
        assert model(_audio(frames * 5, batch), f0, loudness).shape == (batch, frames * 5, 256)
        assert model.generate(f0, loudness).shape == (batch, frames * 5)
    audio = torch.zeros(1, 20, dtype=torch.float64)
    loss = model.loss(audio, torch.zeros(1, 4, dtype=torch.float64), torch.full((1, 4), -120.0))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.parameter_count() == sum(p.numel() for p in model.parameters())
    tiny, small = SampleRNN.from_size("tiny", RATE, 64), SampleRNN.from_size("small", RATE, 64)
    assert 200_000 < tiny.parameter_count() < 300_000
    assert 1_000_000 < small.parameter_count() < 1_400_000
    assert set(SAMPLERNN_PRESETS) == {"tiny", "small"}
    assert (small.sample_rate, small.hop_length, small.frame_sizes) == (RATE, 64, (16, 4))


def test_samplernn_bad_input():
    model = _samplernn()
    f0, loudness = _controls(4)
    audio = _audio(32)
    with pytest.raises(ValueError, match="audio"):
        model(audio[:, None], f0, loudness)
    with pytest.raises(ValueError, match="32"):
        model(audio[:, :30], f0, loudness)
    nan_audio = audio.clone()
    nan_audio[0, 0] = float("inf")
    with pytest.raises(ValueError, match="audio"):
        model.loss(nan_audio, f0, loudness)
    with pytest.raises(ValueError, match="loudness_db"):
        model.generate(f0, loudness * float("nan"))
    with pytest.raises(ValueError, match="temperature"):
        model.generate(f0, loudness, temperature=-1.0)
    with pytest.raises(ValueError, match="frame_sizes"):
        SampleRNN(RATE, 8, frame_sizes=(4, 16))
    with pytest.raises(ValueError, match="frame_sizes"):
        SampleRNN(RATE, 8, frame_sizes=(16, 6))
    with pytest.raises(ValueError, match="frame_sizes"):
        SampleRNN(RATE, 8, frame_sizes=())
    with pytest.raises(ValueError, match="quantization"):
        SampleRNN(RATE, 8, quantization="a_law")
    with pytest.raises(ValueError, match="loudness_std_db"):
        SampleRNN(RATE, 8, loudness_std_db=0.0)


# -- training on a real clip ----------------------------------------------------------


@pytest.fixture(scope="module")
def violin():
    """0.256 s of a violin A4 (4096 samples at 16 kHz, hop 64), its loudness and a constant 440 Hz."""
    audio, rate = load_audio(os.path.join(DATA, "violin_A4.flac"))
    assert rate == RATE
    audio = audio[:, 4000: 4000 + 4096]
    loudness = compute_loudness(audio, RATE, hop_length=64)
    return audio, torch.full_like(loudness, 440.0), loudness


def _empirical_entropy(codes):
    """The smallest mean NLL (nats) any fixed distribution over codes achieves on these codes."""
    counts = torch.bincount(codes.flatten(), minlength=256).double()
    p = counts[counts > 0] / codes.numel()
    return float(-(p * p.log()).sum())


@pytest.mark.parametrize("make,baseline", [
    (lambda: WaveNet(RATE, 64, loudness_mean_db=-20.0, residual_channels=16, skip_channels=32, layers=6, stacks=1),
     lambda audio: _empirical_entropy(mu_law_encode(audio))),
    (lambda: WaveNet(RATE, 64, loudness_mean_db=-20.0, residual_channels=16, skip_channels=32, layers=6, stacks=1,
                     output="logistic", mixtures=4),
     lambda audio: math.log(65536)),
    (lambda: SampleRNN(RATE, 64, loudness_mean_db=-20.0, frame_sizes=(32, 8), hidden_size=32, embedding_size=16),
     lambda audio: _empirical_entropy(mu_law_encode(audio))),
], ids=["wavenet_mu_law", "wavenet_logistic", "samplernn"])
def test_training_steps_lower_the_loss(violin, make, baseline):
    audio, f0, loudness = violin
    torch.manual_seed(0)
    model = make()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    with torch.no_grad():
        first = float(model.loss(audio, f0, loudness))
    for _ in range(25):
        optimizer.zero_grad()
        loss = model.loss(audio, f0, loudness)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = float(model.loss(audio, f0, loudness))
    # Mu-law: below the clip's empirical code entropy (5.06 nats), which no model that ignores
    # the past samples can beat by much; a fresh model sits near log(256) = 5.55.
    # Logistic: from worse than uniform (a fresh model) to better than uniform over the 65536 bins.
    assert final < baseline(audio) - 0.2
    assert final < first - 0.5
