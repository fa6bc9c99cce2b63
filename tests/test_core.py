"""Core tensor functions against independent numpy computations."""

import math

import numpy as np
import pytest
import torch

from ddsp_lab.core.conversions import (
    amplitude_to_db,
    db_to_amplitude,
    exp_sigmoid,
    hz_to_midi,
    midi_to_hz,
    unit_to_range,
)
from ddsp_lab.core.phase import accumulate_phase, frame_start_phases
from ddsp_lab.core.spectral import frame_signal, overlap_add, stft, stft_adjoint
from ddsp_lab.core.upsample import upsample_hann, upsample_linear


def test_hz_midi_round_trip_and_anchor():
    assert float(hz_to_midi(torch.tensor(440.0))) == pytest.approx(69.0, abs=1e-5)
    assert float(midi_to_hz(torch.tensor(60.0))) == pytest.approx(261.6256, abs=1e-3)
    notes = torch.linspace(20, 120, 11, dtype=torch.float64)
    assert torch.allclose(hz_to_midi(midi_to_hz(notes)), notes, atol=1e-9)


def test_hz_to_midi_is_finite_at_zero_hz():
    f0 = torch.tensor([0.0, 220.0], requires_grad=True)
    midi = hz_to_midi(f0)
    midi.sum().backward()
    assert float(midi[0].detach()) == 0.0
    assert torch.isfinite(f0.grad).all()


def test_db_amplitude_round_trip_and_floor():
    amps = torch.tensor([1.0, 0.5, 1e-3], dtype=torch.float64)
    assert torch.allclose(db_to_amplitude(amplitude_to_db(amps)), amps, rtol=1e-12)
    assert float(amplitude_to_db(torch.tensor(2.0))) == pytest.approx(20 * math.log10(2), abs=1e-5)
    assert float(amplitude_to_db(torch.tensor(0.0), min_db=-100.0)) == pytest.approx(-100.0)


def test_exp_sigmoid_matches_formula_and_bounds():
    x = torch.linspace(-10, 10, 21, dtype=torch.float64)
    expected = 2.0 / (1 + np.exp(-x.numpy())) ** math.log(10.0) + 1e-7
    assert np.allclose(exp_sigmoid(x).numpy(), expected, rtol=1e-12)
    assert float(exp_sigmoid(torch.tensor(-100.0))) > 0


def test_unit_to_range_curves():
    x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    assert torch.allclose(unit_to_range(x, 20.0, 20000.0, "log"), torch.tensor([20.0, 632.455532, 20000.0], dtype=torch.float64))
    assert torch.allclose(unit_to_range(x, -1.0, 1.0), torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="curve"):
        unit_to_range(x, 0.0, 1.0, "cubic")


def test_upsample_linear_matches_numpy_interp():
    controls = torch.randn(2, 5, 3, dtype=torch.float64)
    hop = 7
    out = upsample_linear(controls, hop)
    assert out.shape == (2, 35, 3)
    positions = np.arange(35) / hop
    for b in range(2):
        for c in range(3):
            expected = np.interp(positions, np.arange(5), controls[b, :, c].numpy())
            assert np.allclose(out[b, :, c].numpy(), expected, atol=1e-12)


def test_upsample_hann_keeps_constants_and_matches_overlap_add():
    hop = 4
    constant = torch.full((1, 6, 1), 0.7, dtype=torch.float64)
    assert torch.allclose(upsample_hann(constant, hop), torch.full((1, 24, 1), 0.7, dtype=torch.float64))
    controls = torch.randn(1, 6, 1, dtype=torch.float64)
    out = upsample_hann(controls, hop)[0, :, 0].numpy()
    # Independent overlap-add: a periodic Hann of 2*hop centred on n*hop per frame, edges held.
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * hop) / (2 * hop))
    values = controls[0, :, 0].numpy()
    expected = np.zeros(6 * hop)
    for n in range(-1, 7):
        value = values[min(max(n, 0), 5)]
        for k in range(2 * hop):
            t = n * hop - hop + k
            if 0 <= t < 6 * hop:
                expected[t] += value * window[k]
    assert np.allclose(out, expected, atol=1e-12)


def test_accumulate_phase_matches_float64_cumsum_and_wraps():
    sr = 16000
    freq = torch.rand(2, 1000, dtype=torch.float64) * 2000
    phase = accumulate_phase(freq, sr)
    expected = np.concatenate([np.zeros((2, 1)), np.cumsum(freq.numpy() * 2 * np.pi / sr, axis=1)[:, :-1]], axis=1)
    diff = np.angle(np.exp(1j * (phase.numpy() - expected)))
    assert np.abs(diff).max() < 1e-9
    assert float(phase.min()) >= 0 and float(phase.max()) < 2 * math.pi


def test_frame_start_phases_equal_audio_rate_accumulation():
    sr, hop = 22050, 32
    f0 = torch.rand(2, 20, 1, dtype=torch.float64) * 1000
    frame_phase = frame_start_phases(f0, sr, hop)
    audio_phase = accumulate_phase(upsample_linear(f0, hop)[..., 0], sr)
    diff = np.angle(np.exp(1j * (frame_phase[..., 0].numpy() - audio_phase[:, ::hop].numpy())))
    assert np.abs(diff).max() < 1e-9


def test_frame_and_overlap_add_are_adjoint():
    # <frame(x), y> == <x, overlap_add(y)> for random x, y: the definition of an adjoint.
    x = torch.randn(2, 301, dtype=torch.float64)
    for n_fft, hop in [(64, 16), (60, 16), (33, 8)]:
        frames = frame_signal(x, n_fft, hop)
        y = torch.randn_like(frames)
        lhs = (frames * y).sum()
        rhs = (x * overlap_add(y, hop, 301)).sum()
        assert float(lhs) == pytest.approx(float(rhs), rel=1e-12)


def test_stft_matches_torch_stft_and_adjoint_matches_autograd():
    x = torch.randn(2, 500, dtype=torch.float64, requires_grad=True)
    window = torch.hann_window(128, dtype=torch.float64)
    ours = stft(x, 128, 32, window)
    theirs = torch.stft(x, 128, 32, window=window, center=True, pad_mode="constant", return_complex=True)
    assert torch.allclose(ours, theirs.transpose(1, 2), atol=1e-10)
    grad_spec = torch.randn_like(ours)
    (autograd_grad,) = torch.autograd.grad((ours * grad_spec.conj()).real.sum(), x)
    adjoint = stft_adjoint(grad_spec, 128, 32, window, 500)
    assert torch.allclose(adjoint, autograd_grad, atol=1e-10)
