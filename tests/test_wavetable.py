"""Tests for the mip-mapped Wavetable oscillator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddsp_lab.units.wavetable import Wavetable, build_mipmap, mip_harmonic_limits, mip_level_coordinate

FLOAT32_EPS = float(np.finfo(np.float32).eps)
FLOAT64_EPS = float(np.finfo(np.float64).eps)


# ---------------------------------------------------------------- references


def numpy_upsample(frames: np.ndarray, hop: int) -> np.ndarray:
    """[frames] -> [frames * hop]: frame n at sample n * hop, ramp to n + 1, last held."""
    padded = np.append(frames, frames[-1])
    return np.interp(np.arange(len(frames) * hop) / hop, np.arange(len(padded)), padded)


def numpy_phase(frequency: np.ndarray, sample_rate: float, initial: float = 0.0) -> np.ndarray:
    """Exclusive running phase in float64: phase[t] = initial + 2pi sum_{tau<t} f / sr."""
    increments = 2 * np.pi * frequency / sample_rate
    return initial + np.concatenate([[0.0], np.cumsum(increments)[:-1]])


def numpy_limits(table_size: int) -> list:
    limits, k = [], (table_size - 1) // 2
    while True:
        limits.append(k)
        if k == 0:
            return limits
        k //= 2


def numpy_levels(tables: np.ndarray) -> np.ndarray:
    """[T, N] -> [T, L, N]: level m keeps DC and harmonics 1..K_m (numpy FFT)."""
    size = tables.shape[1]
    spectrum = np.fft.rfft(tables, axis=-1)
    bins = np.arange(spectrum.shape[-1])
    return np.stack([np.fft.irfft(spectrum * (bins <= k), n=size, axis=-1) for k in numpy_limits(size)], axis=1)


def numpy_level_coordinate(frequency: np.ndarray, sample_rate: float, table_size: int) -> np.ndarray:
    """The documented blend rule, evaluated sample by sample in plain Python."""
    limits = numpy_limits(table_size)
    nyquist = sample_rate / 2
    edges = [nyquist / (2 * limits[0])] + [nyquist / k for k in limits if k > 0]
    out = np.empty_like(frequency)
    for i, f in enumerate(frequency):
        if f < edges[0]:
            out[i] = 0.0
        elif f >= edges[-1]:
            out[i] = len(limits) - 1
        else:
            m = max(j for j in range(len(edges) - 1) if edges[j] <= f)
            out[i] = m + math.log(f / edges[m]) / math.log(edges[m + 1] / edges[m])
    return out


def numpy_wavetable(tables, f0, amp, position, hop, sample_rate, initial=0.0):
    """Independent float64 rendering of the documented algorithm."""
    n_tables, size = tables.shape
    levels = numpy_levels(tables)
    f = numpy_upsample(f0, hop)
    phase = numpy_phase(f, sample_rate, initial)
    read = np.mod(phase / (2 * np.pi), 1.0) * size
    i0 = np.floor(read).astype(int) % size
    frac = read - np.floor(read)
    i1 = (i0 + 1) % size
    coordinate = numpy_level_coordinate(f, sample_rate, size)
    l0 = np.floor(coordinate).astype(int)
    l1 = np.minimum(l0 + 1, levels.shape[1] - 1)
    lfrac = coordinate - l0
    c = numpy_upsample(position, hop) * (n_tables - 1)
    t0 = np.minimum(np.floor(c).astype(int), max(n_tables - 2, 0))
    tfrac = c - t0
    t1 = np.minimum(t0 + 1, n_tables - 1)

    def value(t, lvl):
        a, b = levels[t, lvl, i0], levels[t, lvl, i1]
        return a + (b - a) * frac

    def table_value(t):
        return value(t, l0) * (1 - lfrac) + value(t, l1) * lfrac

    return numpy_upsample(amp, hop) * (table_value(t0) * (1 - tfrac) + table_value(t1) * tfrac)


def saw_table(size: int) -> np.ndarray:
    """Rising ramp from -1 to 1 with its jump at half a cycle (0 at phase 0)."""
    return 2 * np.mod(np.arange(size) / size + 0.5, 1.0) - 1


def controls(values, dtype=torch.float32, requires_grad=False):
    t = torch.as_tensor(np.asarray(values), dtype=dtype)
    if t.dim() == 1:
        t = t.reshape(1, -1, 1)
    return t.clone().requires_grad_(requires_grad)


# ---------------------------------------------------------------- mip-map


def test_mip_harmonic_limits():
    assert mip_harmonic_limits(2048) == [1023, 511, 255, 127, 63, 31, 15, 7, 3, 1, 0]
    assert mip_harmonic_limits(4) == [1, 0]
    assert mip_harmonic_limits(9) == [4, 2, 1, 0]


def test_mipmap_keeps_exactly_the_allowed_harmonics():
    rng = np.random.default_rng(0)
    tables = rng.standard_normal((3, 64))
    levels = build_mipmap(torch.as_tensor(tables), mip_harmonic_limits(64)).numpy()
    # Two FFTs of O(1) values in float64: error ~ log2(N) * eps * sum|x|.
    np.testing.assert_allclose(levels, numpy_levels(tables), atol=64 * 6 * FLOAT64_EPS * np.abs(tables).sum(-1).max())
    spectrum = np.fft.rfft(levels, axis=-1)
    for m, k in enumerate(mip_harmonic_limits(64)):
        assert np.abs(spectrum[:, m, k + 1:]).max() < 1e-12
        np.testing.assert_allclose(spectrum[:, m, : k + 1], np.fft.rfft(tables, axis=-1)[:, : k + 1], atol=1e-12)


def test_level_coordinate_follows_the_documented_rule():
    sample_rate, size = 16000, 2048
    frequency = np.array([0.0, 1.0, 3.0, 5.0, 100.0, 440.0, 1142.0, 1143.0, 1234.0, 2666.0, 2667.0, 5000.0, 7999.9, 8000.0, 12000.0])
    got = mip_level_coordinate(torch.as_tensor(frequency), sample_rate, mip_harmonic_limits(size)).numpy()
    np.testing.assert_allclose(got, numpy_level_coordinate(frequency, sample_rate, size), atol=1e-12)
    # Both blended levels are alias-free at every frequency below Nyquist.
    limits = np.array(mip_harmonic_limits(size))
    highest_used = limits[np.floor(got).astype(int)]
    audible = frequency < sample_rate / 2
    assert np.all(highest_used[audible] * frequency[audible] < sample_rate / 2)


# ---------------------------------------------------------------- rendering


def test_sine_table_reproduces_numpy_sine():
    sample_rate, hop, frames = 16000, 64, 120
    # Below sample_rate / 6 every level used still holds the fundamental.
    f0 = np.linspace(100.0, 2500.0, frames)
    amp = np.linspace(1.0, 0.3, frames)
    synth = Wavetable(sample_rate, hop)
    out = synth.get_signal(controls(f0), controls(amp), initial_phase=torch.tensor([[0.4]]))
    expected = numpy_upsample(amp, hop) * np.sin(numpy_phase(numpy_upsample(f0, hop), sample_rate, 0.4))
    # Linear interpolation of a unit sine with step h = 2pi/N errs by at most
    # h^2 / 8; the float32 phase (< 2pi) and read index (< N) add a few ulps,
    # each worth at most the sine's slope per index, 2pi/N.
    size = synth.table_size
    interpolation = (2 * np.pi / size) ** 2 / 8
    rounding = 4 * FLOAT32_EPS * (size + size) * (2 * np.pi / size) + 4 * FLOAT32_EPS
    assert out.shape == (1, frames * hop)
    np.testing.assert_allclose(out[0].double().numpy(), expected, rtol=0, atol=interpolation + rounding)


def test_sine_table_fades_in_the_top_band_and_is_silent_above_nyquist():
    sample_rate, hop, frames = 16000, 50, 40
    synth = Wavetable(sample_rate, hop, table_size=256)
    # Between nyquist / 3 and nyquist the last harmonic-bearing level (K = 1)
    # fades into the silent one; halfway in log frequency is nyquist / sqrt 3.
    f0 = sample_rate / 2 / math.sqrt(3)
    out = synth.get_signal(torch.full((1, frames, 1), f0), torch.ones(1, frames, 1))[0].double().numpy()
    expected = 0.5 * np.sin(2 * np.pi * f0 * np.arange(out.size) / sample_rate)
    # Steep read at this pitch: linear interpolation error of a unit sine with
    # a 256-sample table, (2pi/256)^2 / 8, plus float32 rounding.
    np.testing.assert_allclose(out, expected, atol=(2 * np.pi / 256) ** 2 / 8 + 1e-5)
    # At and above Nyquist only the table's DC remains: for a float32 sine
    # table that is the mean of its rounding errors, below eps / 2.
    for f in (sample_rate / 2, 0.7 * sample_rate):
        silent = synth.get_signal(torch.full((1, frames, 1), f), torch.ones(1, frames, 1))
        assert float(silent.abs().max()) <= FLOAT32_EPS / 2


def test_matches_numpy_reference_with_sweep_and_crossfade():
    sample_rate, hop, frames, size = 8000, 16, 50, 64
    rng = np.random.default_rng(3)
    tables = np.stack([saw_table(size), rng.uniform(-1, 1, size), np.sin(2 * np.pi * 3 * np.arange(size) / size)])
    # Sweep across many mip levels, up past Nyquist; position sweeps 0 -> 1.
    f0 = 40.0 * 2 ** np.linspace(0, 7.2, frames)
    amp = rng.uniform(0.3, 1.0, frames)
    position = np.linspace(0, 1, frames)
    expected = numpy_wavetable(tables, f0, amp, position, hop, sample_rate, initial=1.1)

    synth = Wavetable(sample_rate, hop, torch.as_tensor(tables)).double()
    out = synth.get_signal(
        controls(f0, torch.float64), controls(amp, torch.float64), controls(position, torch.float64),
        initial_phase=torch.tensor([[1.1]], dtype=torch.float64),
    )
    # float64 throughout: a few ulps of the read index (< N) times the
    # steepest table step, summed over the blend terms.
    steepest = np.abs(np.diff(numpy_levels(tables), axis=-1, append=numpy_levels(tables)[..., :1])).max()
    atol64 = 16 * FLOAT64_EPS * size * steepest + 16 * FLOAT64_EPS
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=atol64)

    # The float32 module agrees with the same bound in float32 ulps.
    out32 = Wavetable(sample_rate, hop, torch.as_tensor(tables, dtype=torch.float32)).get_signal(
        controls(f0), controls(amp), controls(position), initial_phase=torch.tensor([[1.1]])
    )
    atol32 = 16 * FLOAT32_EPS * size * steepest + 16 * FLOAT32_EPS
    np.testing.assert_allclose(out32[0].double().numpy(), expected, rtol=0, atol=atol32)


def test_saw_table_is_band_limited_at_high_pitch():
    # One second at an integer frequency: harmonics and would-be aliases all
    # fall exactly on FFT bins.
    sample_rate, hop, f0, size = 16000, 100, 1234.0, 2048
    frames = sample_rate // hop
    table = saw_table(size)
    synth = Wavetable(sample_rate, hop, torch.as_tensor(table, dtype=torch.float32))
    out = synth.get_signal(torch.full((1, frames, 1), f0), torch.ones(1, frames, 1))[0].double().numpy()
    n = out.size
    spectrum = np.abs(np.fft.rfft(out))

    coordinate = numpy_level_coordinate(np.array([f0]), sample_rate, size)[0]
    lo = int(np.floor(coordinate))
    blend = coordinate - lo
    limits = numpy_limits(size)
    levels = numpy_levels(table[None])[0]
    harmonics = np.arange(1, limits[lo] + 1)
    assert limits[lo] * f0 < sample_rate / 2  # the busier level is alias-free itself
    amplitude = 2 * np.abs(np.fft.rfft(levels[lo]))[harmonics] / size
    gain = np.where(harmonics <= limits[lo + 1], 1.0, 1.0 - blend)

    # Linear interpolation turns harmonic h into images at (jN +- h) f0 with
    # amplitude a_h sinc^2(j +- h/N); bound every bin by all of them at once.
    j = np.arange(1, 4000)[:, None]
    x = harmonics[None, :] / size
    images = (amplitude * gain * (np.sinc(j - x) ** 2 + np.sinc(j + x) ** 2)).sum()
    # float32 rounding: read index off by a few ulps of N (times the level's
    # steepest step), plus the rounding of the products; |bin| <= n * error.
    steepest = np.abs(np.diff(levels[lo], append=levels[lo][:1])).max()
    rounding = 16 * FLOAT32_EPS * size * steepest + 8 * FLOAT32_EPS
    threshold = n / 2 * images + n * rounding

    harmonic_bins = (harmonics * f0).astype(int)
    off_harmonic = np.ones(spectrum.size, dtype=bool)
    off_harmonic[harmonic_bins] = False
    off_harmonic[0] = False
    assert spectrum[off_harmonic].max() <= threshold
    expected = n / 2 * amplitude * gain * np.sinc(harmonics / size) ** 2
    np.testing.assert_allclose(spectrum[harmonic_bins], expected, rtol=0, atol=threshold)

    # Reading the full table instead (no mip-map) would alias far above it.
    phase = np.mod(f0 * np.arange(n) / sample_rate, 1.0) * size
    i0 = np.floor(phase).astype(int) % size
    naive = table[i0] + (table[(i0 + 1) % size] - table[i0]) * (phase - np.floor(phase))
    assert np.abs(np.fft.rfft(naive))[off_harmonic].max() > 1000 * threshold


def test_crossfade_midpoint_is_the_average_of_both_tables():
    sample_rate, hop, frames, size = 16000, 32, 30, 512
    rng = np.random.default_rng(1)
    a, b = saw_table(size), rng.uniform(-1, 1, size)
    f0 = controls(np.linspace(80, 3000, frames))
    amp = controls(np.full(frames, 0.7))
    both = Wavetable(sample_rate, hop, torch.as_tensor(np.stack([a, b]), dtype=torch.float32))
    alone = [Wavetable(sample_rate, hop, torch.as_tensor(t, dtype=torch.float32)).get_signal(f0, amp) for t in (a, b)]
    mid = both.get_signal(f0, amp, torch.full((1, frames, 1), 0.5))
    # Same reads, different order of float32 products and sums: a few ulps of
    # the largest sample magnitude (< 1.2 with the band-limited saw's overshoot).
    atol = 8 * FLOAT32_EPS * 1.2
    torch.testing.assert_close(mid, 0.5 * (alone[0] + alone[1]), rtol=0, atol=atol)
    torch.testing.assert_close(both.get_signal(f0, amp, torch.zeros(1, frames, 1)), alone[0], rtol=0, atol=atol)
    torch.testing.assert_close(both.get_signal(f0, amp, torch.ones(1, frames, 1)), alone[1], rtol=0, atol=atol)
    torch.testing.assert_close(both.get_signal(f0, amp), alone[0], rtol=0, atol=atol)


def test_sixty_second_tone_keeps_its_pitch():
    sample_rate, hop, f0 = 16000, 256, 440.0
    frames = 60 * sample_rate // hop
    synth = Wavetable(sample_rate, hop)
    out = synth.get_signal(torch.full((1, frames, 1), f0), torch.ones(1, frames, 1))[0, -2000:].double().numpy()
    tail = np.arange(frames * hop - 2000, frames * hop)
    expected = np.sin(2 * np.pi * f0 * tail / sample_rate)
    # Same budget as the short sine test: the phase is summed in float64, so
    # nothing grows with time.
    size = synth.table_size
    atol = (2 * np.pi / size) ** 2 / 8 + 4 * FLOAT32_EPS * (size + size) * (2 * np.pi / size) + 4 * FLOAT32_EPS
    np.testing.assert_allclose(out, expected, rtol=0, atol=atol)


def test_get_controls_and_forward():
    synth = Wavetable(16000, 32, n_tables=3, table_size=64)
    f0 = torch.full((2, 5, 1), 330.0)
    raw = torch.linspace(-10, 10, 10).reshape(2, 5, 1)
    c = synth.get_controls(f0, raw, raw)
    assert torch.equal(c["f0_hz"], f0)
    assert bool((c["amplitude"] > 0).all()) and bool((c["amplitude"] <= 2 + 1e-6).all())
    assert bool((c["position"] > 0).all()) and bool((c["position"] < 1).all())
    torch.testing.assert_close(synth(f0, raw, raw), synth.get_signal(**c))


# ---------------------------------------------------------------- gradients


def test_gradcheck_float64_including_learnable_tables():
    gen = torch.Generator().manual_seed(4)
    synth = Wavetable(1000, 5, torch.randn(3, 8, generator=gen), learnable=True).double()
    f0 = (20 + 150 * torch.rand(2, 3, 1, generator=gen, dtype=torch.float64)).requires_grad_()
    amp = (0.5 + torch.rand(2, 3, 1, generator=gen, dtype=torch.float64)).requires_grad_()
    position = (0.1 + 0.8 * torch.rand(2, 3, 1, generator=gen, dtype=torch.float64)).requires_grad_()
    phase = torch.rand(2, 1, generator=gen, dtype=torch.float64).requires_grad_()

    # The tables go in as an explicit input (via functional_call on a wrapper
    # that calls get_signal) so gradcheck perturbs them too.
    class Render(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.synth = synth

        def forward(self, f, a, p, ph):
            return self.synth.get_signal(f, a, p, initial_phase=ph)

    wrapper = Render()
    tables = synth.wavetables.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t, f, a, p, ph: torch.func.functional_call(wrapper, {"synth.wavetables": t}, (f, a, p, ph)),
        (tables, f0, amp, position, phase),
    )


def test_finite_gradients_at_zero_f0_and_silence():
    synth = Wavetable(16000, 16, n_tables=2, table_size=32, learnable=True)
    f0 = torch.zeros(2, 4, 1, requires_grad=True)
    amp = torch.zeros(2, 4, 1, requires_grad=True)
    position = torch.zeros(2, 4, 1, requires_grad=True)
    out = synth.get_signal(f0, amp, position)
    assert bool((out == 0).all())
    out.pow(2).sum().backward()
    for grad in (f0.grad, amp.grad, position.grad, synth.wavetables.grad):
        assert grad is not None and bool(torch.isfinite(grad).all())
    raw = torch.full((2, 4, 1), -60.0, requires_grad=True)
    synth(f0.detach(), raw, raw).sum().backward()
    assert bool(torch.isfinite(raw.grad).all())


def test_learnable_tables_receive_gradients_through_the_mipmap():
    synth = Wavetable(16000, 64, n_tables=1, table_size=64, learnable=True)
    assert [name for name, _ in synth.named_parameters()] == ["wavetables"]
    # At 2 kHz the blend uses levels whose tables keep harmonics 1..3 at most,
    # so only those bins of the table can receive gradient.
    out = synth.get_signal(torch.full((1, 20, 1), 2000.0), torch.ones(1, 20, 1))
    out.pow(2).sum().backward()
    grad_spectrum = torch.fft.rfft(synth.wavetables.grad[0]).abs()
    assert float(grad_spectrum[1]) > 0
    assert float(grad_spectrum[4:].max()) < 1e-6 * float(grad_spectrum[1])
    fixed = Wavetable(16000, 64, table_size=64)
    assert list(fixed.parameters()) == [] and "wavetables" in fixed.state_dict()


# ---------------------------------------------------------------- shapes and errors


def test_shapes_batch_one_and_odd_lengths():
    for frames, hop in [(1, 1), (7, 33), (13, 5)]:
        synth = Wavetable(22050, hop, n_tables=2, table_size=33)
        out = synth.get_signal(torch.full((1, frames, 1), 330.0), torch.ones(1, frames, 1), torch.full((1, frames, 1), 0.3))
        assert out.shape == (1, frames * hop) and out.dtype == torch.float32


def test_bad_input_errors():
    synth = Wavetable(16000, 16, n_tables=2, table_size=32)
    good = torch.ones(1, 4, 1)
    with pytest.raises(ValueError, match="f0_hz"):
        synth.get_signal(torch.full((1, 4, 1), float("nan")), good)
    with pytest.raises(ValueError, match="f0_hz"):
        synth.get_signal(-good, good)
    with pytest.raises(ValueError, match="f0_hz"):
        synth.get_signal(torch.ones(1, 4), good)
    with pytest.raises(ValueError, match="amplitude"):
        synth.get_signal(good, torch.ones(1, 3, 1))
    with pytest.raises(ValueError, match="position"):
        synth.get_signal(good, good, 1.5 * good)
    with pytest.raises(ValueError, match="position"):
        synth.get_signal(good, good, torch.ones(1, 4, 2))
    with pytest.raises(ValueError, match="initial_phase"):
        synth.get_signal(good, good, initial_phase=torch.zeros(1, 2))
    with pytest.raises(TypeError, match="wavetables"):
        Wavetable(16000, 16, [[0.0, 1.0, 0.0, -1.0]])
    with pytest.raises(ValueError, match="wavetables"):
        Wavetable(16000, 16, torch.zeros(2, 2, 8))
    with pytest.raises(ValueError, match="wavetables"):
        Wavetable(16000, 16, torch.zeros(1, 3))
    with pytest.raises(ValueError, match="wavetables"):
        Wavetable(16000, 16, torch.full((1, 8), float("inf")))
    with pytest.raises(ValueError, match="table_size"):
        Wavetable(16000, 16, torch.zeros(1, 8), table_size=16)
    with pytest.raises(ValueError, match="n_tables"):
        Wavetable(16000, 16, torch.zeros(1, 8), n_tables=2)
    with pytest.raises(ValueError, match="table_size"):
        Wavetable(16000, 16, table_size=2)
    with pytest.raises(ValueError, match="n_tables"):
        Wavetable(16000, 16, n_tables=0)
