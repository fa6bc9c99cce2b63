"""Harmonic and Sinusoidal synthesis against closed-form sums."""


import numpy as np
import pytest
import torch

from ddsp_lab import Harmonic, Sinusoidal


def _numpy_harmonic(f0_frames, amp_frames, dist_frames, hop, sr):
    """Independent reference: upsample linearly, float64 running phase, sum of sines.

    A harmonic sounds in frame n only if it is below Nyquist at frames n-1, n
    and n+1 (the documented band-limiting rule).
    """
    frames = f0_frames.shape[0]
    n = frames * hop
    pos = np.arange(n) / hop
    grid = np.arange(frames)
    f0 = np.interp(pos, grid, f0_frames)
    phase = np.concatenate([[0.0], np.cumsum(2 * np.pi * f0 / sr)[:-1]])
    out = np.zeros(n)
    for k in range(dist_frames.shape[1]):
        below = (k + 1) * f0_frames < sr / 2
        gate = below & np.roll(below, 1) & np.roll(below, -1)
        gate[0] = below[0] & below[1]
        gate[-1] = below[-1] & below[-2]
        amp = np.interp(pos, grid, amp_frames * dist_frames[:, k] * gate)
        out += amp * np.sin((k + 1) * phase)
    return out


@pytest.mark.parametrize("sr,hop", [(16000, 64), (44100, 441), (22050, 37)])
def test_harmonic_matches_closed_form(sr, hop):
    rng = np.random.default_rng(0)
    frames, harmonics = 9, 12
    f0 = np.linspace(200, 1500, frames)
    amp = rng.uniform(0.1, 1.0, frames)
    dist = rng.uniform(0, 1, (frames, harmonics))
    synth = Harmonic(sr, hop)
    as_t = lambda a: torch.tensor(a, dtype=torch.float64)[None]
    out = synth.get_signal(as_t(f0)[..., None], as_t(amp)[..., None], as_t(dist))
    expected = _numpy_harmonic(f0, amp, dist, hop, sr)
    assert out.shape == (1, frames * hop)
    # float64 throughout: only rounding differs.
    assert np.abs(out[0].numpy() - expected).max() < 1e-9


def test_constant_tone_is_exact_sum_of_sines():
    sr, hop = 16000, 64
    f0, amps = 441.0, np.array([0.5, 0.25, 0.125])
    synth = Harmonic(sr, hop)
    frames = 50
    out = synth.get_signal(
        torch.full((1, frames, 1), f0), torch.ones(1, frames, 1), torch.tensor(amps, dtype=torch.float32).expand(1, frames, 3)
    )[0].numpy()
    t = np.arange(frames * hop)
    expected = sum(a * np.sin(2 * np.pi * (k + 1) * f0 * t / sr) for k, a in enumerate(amps))
    # float32 phases within a frame reach about 2*pi*hop*3*f0/sr = 33 rad: error ~ 33 * 6e-8.
    assert np.abs(out - expected).max() < 2e-5


def test_no_partial_sounds_above_nyquist_during_a_glide():
    # 8 harmonics gliding 500 -> 1500 Hz at 16 kHz: harmonics 6..8 cross 8 kHz.
    sr, hop, frames = 16000, 64, 200
    f0 = torch.linspace(500, 1500, frames, dtype=torch.float64)[None, :, None]
    synth = Harmonic(sr, hop)
    out = synth.get_signal(f0, torch.ones_like(f0), torch.ones(1, frames, 8, dtype=torch.float64))
    # Rebuild each harmonic alone; wherever its instantaneous frequency is at or
    # above Nyquist its contribution must be exactly zero.
    inst = np.interp(np.arange(frames * hop) / hop, np.arange(frames), f0[0, :, 0].numpy())
    for k in range(8):
        dist = torch.zeros(1, frames, 8, dtype=torch.float64)
        dist[..., k] = 1.0
        alone = synth.get_signal(f0, torch.ones_like(f0), dist)[0].numpy()
        above = (k + 1) * inst >= sr / 2
        assert np.all(alone[above] == 0.0)
    assert np.abs(out.numpy()).max() > 0.5


def test_partials_at_or_above_nyquist_are_silent():
    sr, hop = 16000, 64
    synth = Harmonic(sr, hop)
    frames = 100
    # f0 = 3000 Hz: harmonics 1 and 2 (3 and 6 kHz) are below Nyquist, 3.. (9 kHz+) are not.
    out = synth.get_signal(torch.full((1, frames, 1), 3000.0), torch.ones(1, frames, 1), torch.ones(1, frames, 6))
    spectrum = np.abs(np.fft.rfft(out[0].numpy() * np.hanning(frames * hop)))
    freqs = np.fft.rfftfreq(frames * hop, 1 / sr)
    peaks = spectrum / spectrum.max()
    # Any aliased harmonic (9 kHz folds to 7 kHz, 12 kHz to 4 kHz, ...) would show up as a strong peak.
    aliases = [7000.0, 4000.0, 1000.0, 2000.0, 5000.0]
    for alias in aliases:
        assert peaks[np.argmin(np.abs(freqs - alias))] < 1e-4
    assert peaks[np.argmin(np.abs(freqs - 6000.0))] > 0.5


def test_sixty_second_tone_does_not_drift():
    sr, hop = 16000, 64
    seconds = 60
    frames = seconds * sr // hop
    synth = Harmonic(sr, hop)
    out = synth.get_signal(torch.full((1, frames, 1), 440.0), torch.ones(1, frames, 1), torch.ones(1, frames, 1))
    last = np.arange(frames * hop - sr, frames * hop)
    expected = np.sin(2 * np.pi * 440.0 * last / sr)
    # A float32 running phase would be off by ~0.01 rad or more after 60 s; the
    # per-frame float64 phase keeps the error near float32 resolution of the
    # within-frame phase (< 2*pi + 2*pi*hop*440/sr = 17 rad -> ~1e-6).
    assert np.abs(out[0, -sr:].numpy() - expected).max() < 1e-4


def test_harmonic_get_controls_normalises_below_nyquist():
    sr, hop = 16000, 64
    synth = Harmonic(sr, hop)
    f0 = torch.full((1, 3, 1), 3000.0)
    controls = synth.get_controls(f0, torch.zeros(1, 3, 1), torch.zeros(1, 3, 5))
    dist = controls["harmonic_distribution"]
    assert torch.allclose(dist.sum(-1), torch.ones(1, 3))
    assert torch.all(dist[..., 2:] == 0)
    assert torch.all(controls["amplitude"] > 0)


def test_harmonic_gradcheck():
    synth = Harmonic(8000, 8)
    f0 = (torch.rand(2, 4, 1, dtype=torch.float64) * 400 + 100).requires_grad_(True)
    amp = torch.rand(2, 4, 1, dtype=torch.float64, requires_grad=True)
    dist = torch.rand(2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(synth.get_signal, (f0, amp, dist))


def test_harmonic_gradients_finite_at_silence_and_zero_f0():
    synth = Harmonic(16000, 32)
    f0 = torch.zeros(1, 5, 1, requires_grad=True)
    raw_amp = torch.full((1, 5, 1), -50.0, requires_grad=True)
    raw_dist = torch.zeros(1, 5, 10, requires_grad=True)
    out = synth(f0, raw_amp, raw_dist)
    out.square().sum().backward()
    for tensor in (f0, raw_amp, raw_dist):
        assert torch.isfinite(tensor.grad).all()
    amp = torch.zeros(1, 5, 1, requires_grad=True)
    dist = torch.zeros(1, 5, 10, requires_grad=True)
    synth.get_signal(torch.full((1, 5, 1), 220.0), amp, dist).sum().backward()
    assert torch.isfinite(amp.grad).all() and torch.isfinite(dist.grad).all()


def test_harmonic_batch_one_and_odd_sizes():
    synth = Harmonic(22050, 31)
    out = synth.get_signal(torch.full((1, 7, 1), 100.0), torch.ones(1, 7, 1), torch.ones(1, 7, 3))
    assert out.shape == (1, 217)


@pytest.mark.parametrize(
    "f0,amp,dist,message",
    [
        (torch.full((1, 4, 1), float("nan")), torch.ones(1, 4, 1), torch.ones(1, 4, 3), "f0_hz contains NaN"),
        (torch.full((1, 4, 1), -5.0), torch.ones(1, 4, 1), torch.ones(1, 4, 3), "f0_hz must be >= 0"),
        (torch.ones(4, 1), torch.ones(1, 4, 1), torch.ones(1, 4, 3), "f0_hz must have 3 dimensions"),
        (torch.ones(1, 4, 1), torch.ones(1, 5, 1), torch.ones(1, 4, 3), "amplitude has batch/frames"),
        (torch.ones(1, 4, 2), torch.ones(1, 4, 1), torch.ones(1, 4, 3), "f0_hz must have size 1"),
    ],
)
def test_harmonic_rejects_bad_input(f0, amp, dist, message):
    with pytest.raises(ValueError, match=message):
        Harmonic(16000, 64).get_signal(f0, amp, dist)


def test_harmonic_rejects_bad_constructor_arguments():
    with pytest.raises(ValueError, match="sample_rate"):
        Harmonic(0, 64)
    with pytest.raises(ValueError, match="hop_length"):
        Harmonic(16000, 6.5)


def test_sinusoidal_matches_closed_form():
    sr, hop, frames = 16000, 50, 6
    rng = np.random.default_rng(1)
    freqs = rng.uniform(50, 7000, (frames, 4))
    amps = rng.uniform(0, 1, (frames, 4))
    out = Sinusoidal(sr, hop).get_signal(
        torch.tensor(freqs, dtype=torch.float64)[None], torch.tensor(amps, dtype=torch.float64)[None]
    )[0].numpy()
    pos = np.arange(frames * hop) / hop
    expected = np.zeros(frames * hop)
    for p in range(4):
        f = np.interp(pos, np.arange(frames), freqs[:, p])
        a = np.interp(pos, np.arange(frames), amps[:, p])
        phase = np.concatenate([[0.0], np.cumsum(2 * np.pi * f / sr)[:-1]])
        expected += a * np.sin(phase)
    assert np.abs(out - expected).max() < 1e-9


def test_gradients_with_respect_to_zero_amplitudes():
    # A silent partial must still receive the gradient that would make it sound.
    synth = Sinusoidal(8000, 6)
    freqs = (torch.rand(1, 3, 4, dtype=torch.float64) * 3000).requires_grad_(True)
    amps = torch.zeros(1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(synth.get_signal, (freqs, amps))


def test_sinusoidal_gradcheck_and_controls():
    synth = Sinusoidal(8000, 6)
    freqs = (torch.rand(1, 3, 4, dtype=torch.float64) * 3000).requires_grad_(True)
    amps = torch.rand(1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(synth.get_signal, (freqs, amps))
    controls = synth.get_controls(torch.zeros(1, 3, 4), torch.zeros(1, 3, 4))
    low, high = synth.frequency_range_hz
    assert torch.allclose(controls["frequencies_hz"], torch.full((1, 3, 4), (low + high) / 2))
