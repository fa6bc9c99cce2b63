"""ADSR envelopes against a sequential numpy state machine and hand-computed landmarks."""

import math

import numpy as np
import pytest
import torch

from ddsp_lab.units.envelopes import ADSR, adsr_envelope, adsr_from_note_times, gate_to_notes


def _shape(p, k):
    return p if abs(k) < 1e-6 else (1 - np.exp(-k * p)) / (1 - np.exp(-k))


def _numpy_adsr(gate, hop, sr, rate, a, d, s, r, peak=1.0, curve=(0.0, 0.0, 0.0), retrigger="current"):
    """Independent reference: walk the grid point by point with a note state machine.

    At each gate rise the note remembers its start time and start level (the
    release level at that instant, or 0); at each fall it remembers the level
    it reached. The level at every point follows from the current state.
    """
    ka, kd, kr = curve
    frames = len(gate)
    points = frames * hop if rate == "audio" else frames
    step = 1.0 / sr if rate == "audio" else hop / sr
    out = np.zeros(points)
    started, held, prev = False, False, False
    on_t = off_t = start = off_level = 0.0

    def held_level(t):
        tau = t - on_t
        if tau < a:
            return start + (peak - start) * _shape(min(max(tau / a, 0), 1), ka)
        return peak + (s * peak - peak) * _shape(min(max((tau - a) / d, 0), 1), kd)

    def release_level(t):
        return off_level * (1 - _shape(min(max((t - off_t) / r, 0), 1), kr))

    for i in range(points):
        t = i * step
        g = gate[i // hop if rate == "audio" else i] > 0.5
        if g and not prev:
            start = release_level(t) if (started and retrigger == "current") else 0.0
            on_t, started, held = t, True, True
        elif prev and not g:
            off_level, off_t, held = held_level(t), t, False
        prev = g
        if started:
            out[i] = held_level(t) if held else release_level(t)
    return out


def _gates(frames):
    """Gate patterns: retrigger mid-release, short note inside the attack, held to the end, on at frame 0."""
    g = np.zeros((4, frames))
    g[0, 3:20] = 1
    g[0, 24:27] = 1  # starts while the first note still releases, ends in its attack
    g[0, 30:36] = 1
    g[1, 0:5] = 1
    g[1, 9:] = 1
    g[2, 10:11] = 1
    g[3, :] = 0
    return g


@pytest.mark.parametrize("rate", ["frame", "audio"])
@pytest.mark.parametrize("curve", [0.0, (4.0, -3.0, 6.0)])
@pytest.mark.parametrize("retrigger", ["current", "zero"])
def test_matches_numpy_state_machine(rate, curve, retrigger):
    sr, hop, frames = 1000, 3, 50
    gates = _gates(frames)
    a = np.array([0.021, 0.0123, 0.005, 0.01])
    d = np.array([0.017, 0.03, 0.002, 0.01])
    s = np.array([0.6, 0.25, 1.0, 0.5])
    r = np.array([0.04, 0.011, 0.05, 0.02])
    peak = np.array([1.0, 0.7, 0.9, 1.0])
    t64 = lambda x: torch.tensor(x, dtype=torch.float64)
    out = adsr_envelope(
        t64(gates)[..., None], t64(a), t64(d), t64(s), t64(r), t64(peak),
        sample_rate=sr, hop_length=hop, rate=rate, curve=curve, retrigger=retrigger,
    )
    curves = curve if isinstance(curve, tuple) else (curve,) * 3
    for b in range(4):
        expected = _numpy_adsr(gates[b], hop, sr, rate, a[b], d[b], s[b], r[b], peak[b], curves, retrigger)
        got = out[b, :, 0] if rate == "frame" else out[b]
        # Same segment formulas in float64 on both sides: only rounding differs.
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)


def test_float32_matches_numpy_reference():
    sr, hop, frames = 16000, 64, 50
    gates = _gates(frames)
    unit = ADSR(sr, hop, rate="audio", curve=(4.0, -3.0, 6.0))
    out = unit.get_signal(torch.tensor(gates, dtype=torch.float32)[..., None], 0.05, 0.08, 0.4, 0.06)
    for b in range(4):
        expected = _numpy_adsr(gates[b], hop, sr, "audio", 0.05, 0.08, 0.4, 0.06, 1.0, (4.0, -3.0, 6.0))
        # Times come from exact integer sample differences times one rounded
        # step (relative error <= 3 eps) and the curve's slope is at most
        # k / (1 - e^-k) < 6.1: level error <= 18 * 6e-8 ~ 1.1e-6.
        np.testing.assert_allclose(out[b].numpy(), expected, atol=1e-5)


def test_segment_landmarks_linear():
    # sr 1000, hop 1: one point per millisecond.
    sr, frames = 1000, 1000
    gate = torch.zeros(1, frames, 1)
    gate[:, 100:600] = 1
    env = ADSR(sr, 1).get_signal(gate, attack_s=0.1, decay_s=0.2, sustain=0.5, release_s=0.3)[0, :, 0].numpy()
    tol = 1e-6  # float32 rounding of levels <= 1
    assert env[99] == 0.0 and abs(env[100]) < tol
    assert abs(env[150] - 0.5) < tol  # half-way up the linear attack
    assert abs(env[200] - 1.0) < tol  # peak at the end of the attack
    assert abs(env[300] - 0.75) < tol  # half-way down the decay
    assert abs(env[400] - 0.5) < tol  # sustain reached at attack + decay
    assert np.all(np.abs(env[400:600] - 0.5) < tol)
    assert abs(env[750] - 0.25) < tol  # half-way through the release
    assert np.all(np.abs(env[900:]) < tol)  # silent once release_s has passed


def test_release_from_mid_attack():
    sr, frames = 1000, 600
    gate = torch.zeros(1, frames, 1)
    gate[:, 100:150] = 1  # off half-way through a 100 ms attack
    env = ADSR(sr, 1).get_signal(gate, attack_s=0.1, decay_s=0.2, sustain=0.5, release_s=0.3)[0, :, 0].numpy()
    tol = 1e-6
    assert abs(env[150] - 0.5) < tol  # level reached at gate-off
    assert abs(env[300] - 0.25) < tol  # releases from 0.5 over release_s
    assert np.all(np.abs(env[450:]) < tol)
    assert env[140:160].max() <= 0.5 + tol  # no jump to the peak or sustain


def test_retrigger_starts_from_current_level():
    sr, frames = 1000, 600
    gate = torch.zeros(1, frames, 1)
    gate[:, 0:200] = 1
    gate[:, 300:500] = 1  # 100 ms into a 200 ms release from sustain 0.5
    controls = dict(attack_s=0.1, decay_s=0.1, sustain=0.5, release_s=0.2)
    smooth = ADSR(sr, 1).get_signal(gate, **controls)[0, :, 0].numpy()
    reset = ADSR(sr, 1, retrigger="zero").get_signal(gate, **controls)[0, :, 0].numpy()
    assert abs(smooth[300] - 0.25) < 1e-6 and abs(smooth[350] - 0.625) < 1e-6
    assert abs(reset[300]) < 1e-6 and abs(reset[350] - 0.5) < 1e-6
    # Continuity: no step larger than the steepest segment slope (1 per 100 ms).
    assert np.abs(np.diff(smooth)).max() <= 0.01 + 1e-6


def test_frame_rate_is_audio_rate_sampled_at_frame_starts():
    sr, hop = 22050, 37
    gates = torch.tensor(_gates(40), dtype=torch.float64)[..., None]
    args = (gates, 0.013, 0.05, 0.3, 0.02)
    frame = ADSR(sr, hop, rate="frame", curve=3.0).get_signal(*args)
    audio = ADSR(sr, hop, rate="audio", curve=3.0).get_signal(*args)
    assert frame.shape == (4, 40, 1) and audio.shape == (4, 40 * hop)
    np.testing.assert_allclose(frame[..., 0].numpy(), audio[:, ::hop].numpy(), atol=1e-12)


def test_note_times_match_gate_on_grid():
    sr, hop, frames = 1000, 4, 60
    gates = _gates(frames)[:3]
    on, off = gate_to_notes(torch.tensor(gates)[..., None])
    # gate_to_notes pads with empty notes at frame F and puts note-off F on held notes.
    assert on.tolist()[0] == [3, 24, 30] and off.tolist()[0] == [20, 27, 36]
    assert on.tolist()[1][:2] == [0, 9] and off.tolist()[1][:2] == [5, frames]
    unit = ADSR(sr, hop, rate="audio", curve=2.0)
    step = hop / sr
    from_gate = unit.get_signal(torch.tensor(gates, dtype=torch.float64)[..., None], 0.011, 0.007, 0.4, 0.03)
    from_times = unit.render_notes(
        on.double() * step, off.double() * step, frames, 0.011, 0.007, 0.4, 0.03
    )
    # Note times computed as n * step and grid times as i / sr differ by rounding only.
    np.testing.assert_allclose(from_times.numpy(), from_gate.numpy(), atol=1e-9)


def test_per_item_controls_equal_separate_renders():
    sr, hop = 1000, 2
    gates = torch.tensor(_gates(30), dtype=torch.float64)[..., None]
    attack = torch.tensor([0.01, 0.02, 0.005, 0.03], dtype=torch.float64)
    together = ADSR(sr, hop).get_signal(gates, attack, 0.01, 0.5, 0.02)
    for b in range(4):
        alone = ADSR(sr, hop).get_signal(gates[b : b + 1], float(attack[b]), 0.01, 0.5, 0.02)
        np.testing.assert_allclose(together[b].numpy(), alone[0].numpy(), atol=1e-15)


def test_gradcheck_times_and_levels():
    sr, hop = 100, 1
    gate = torch.zeros(2, 30, 1, dtype=torch.float64)
    gate[0, 2:5] = 1  # released inside the attack
    gate[0, 7:20] = 1  # retriggered during the release
    gate[1, 1:14] = 1
    # Values off the 10 ms grid so that no grid point sits on a segment corner.
    controls = [
        torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for v in ([0.0337, 0.0412], [0.0513, 0.0271], [0.43, 0.61], [0.0421, 0.0655], [0.9, 0.8])
    ]
    for curve in (0.0, (3.0, -2.0, 4.0)):
        unit = ADSR(sr, hop, curve=curve)
        assert torch.autograd.gradcheck(lambda *c: unit.get_signal(gate, *c), controls)


def test_gradcheck_note_times():
    # Times off the 10 ms grid so that no grid point sits on a segment corner.
    on = torch.tensor([[0.0123, 0.1517], [0.0311, 0.2031]], dtype=torch.float64, requires_grad=True)
    off = torch.tensor([[0.0733, 0.2391], [0.1172, 0.2547]], dtype=torch.float64, requires_grad=True)
    attack = torch.tensor([0.0337, 0.0412], dtype=torch.float64, requires_grad=True)

    def render(on, off, attack):
        return adsr_from_note_times(on, off, 40, attack, 0.0513, 0.43, 0.0421, points_per_second=100.0)

    assert torch.autograd.gradcheck(render, (on, off, attack))


def test_finite_gradients_at_edge_values():
    sr, hop = 16000, 64
    gate = torch.zeros(5, 20, 1)
    gate[0, 2:10] = 1
    gate[1, :] = 1
    gate[3, 5:6] = 1
    # item 2 and 4: silent gates
    attack = torch.tensor([1e-6, 10.0, 1e-3, 1e-6, 1.0], requires_grad=True)
    decay = torch.tensor([1e-6, 1e-6, 5.0, 1e-6, 1.0], requires_grad=True)
    sustain = torch.tensor([0.0, 1.0, 0.5, 1.0, 0.0], requires_grad=True)
    release = torch.tensor([1e-6, 1e-6, 10.0, 1e-6, 1.0], requires_grad=True)
    peak = torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0], requires_grad=True)
    for rate, curve in (("frame", 0.0), ("audio", 5.0)):
        env = ADSR(sr, hop, rate=rate, curve=curve).get_signal(gate, attack, decay, sustain, release, peak)
        env.square().sum().backward()
        for value in (attack, decay, sustain, release, peak):
            assert torch.isfinite(value.grad).all()
            value.grad = None
    # Raw controls far outside the sigmoid's linear range.
    raw = [torch.tensor([-50.0, 50.0], requires_grad=True) for _ in range(5)]
    unit = ADSR(sr, hop)
    unit(gate[:2], *raw).sum().backward()
    assert all(torch.isfinite(r.grad).all() for r in raw)


def test_get_controls_ranges():
    unit = ADSR(16000, 64, attack_range_s=(1e-3, 10.0))
    gate = torch.ones(3, 4, 1)
    raw = torch.tensor([-30.0, 0.0, 30.0])
    controls = unit.get_controls(gate, raw, raw, raw, raw, raw)
    attack = controls["attack_s"].numpy()
    # sigmoid onto a log range: the ends, and the geometric mean in the middle.
    np.testing.assert_allclose(attack, [1e-3, math.sqrt(1e-3 * 10.0), 10.0], rtol=1e-5)
    np.testing.assert_allclose(controls["sustain"].numpy(), [0.0, 0.5, 1.0], atol=1e-6)
    assert set(controls) == {"gate", "attack_s", "decay_s", "sustain", "release_s", "peak"}
    np.testing.assert_array_equal(unit(gate, raw, raw, raw, raw, raw).numpy(), unit.get_signal(**controls).numpy())


def test_shapes_batch_one_and_odd_lengths():
    gate = torch.ones(1, 7, 1)
    assert ADSR(16000, 3, rate="frame").get_signal(gate, 0.01, 0.01, 0.5, 0.01).shape == (1, 7, 1)
    assert ADSR(16000, 3, rate="audio").get_signal(gate, 0.01, 0.01, 0.5, 0.01).shape == (1, 21)
    unit = ADSR(44100, 5, rate="audio")
    notes = unit.render_notes(torch.tensor([0.0]), torch.tensor([1e-4]), 3, 0.01, 0.01, 0.5, 0.01)
    assert notes.shape == (1, 15)


def test_bad_input_raises_clear_errors():
    unit = ADSR(16000, 64)
    gate = torch.ones(2, 10, 1)
    ok = dict(attack_s=0.01, decay_s=0.01, sustain=0.5, release_s=0.01)
    with pytest.raises(ValueError, match="gate"):
        unit.get_signal(torch.ones(2, 10), **ok)
    with pytest.raises(ValueError, match="gate"):
        unit.get_signal(torch.full((2, 10, 1), float("nan")), **ok)
    with pytest.raises(TypeError, match="gate"):
        unit.get_signal(torch.ones(2, 10, 1, dtype=torch.long), **ok)
    with pytest.raises(ValueError, match="attack_s"):
        unit.get_signal(gate, **{**ok, "attack_s": 0.0})
    with pytest.raises(ValueError, match="release_s"):
        unit.get_signal(gate, **{**ok, "release_s": torch.tensor([0.1, -1.0])})
    with pytest.raises(ValueError, match="sustain"):
        unit.get_signal(gate, **{**ok, "sustain": 1.5})
    with pytest.raises(ValueError, match="decay_s"):
        unit.get_signal(gate, **{**ok, "decay_s": torch.ones(2, 10, 1)})
    with pytest.raises(ValueError, match="peak"):
        unit.get_signal(gate, **ok, peak=-1.0)
    with pytest.raises(ValueError, match="rate"):
        ADSR(16000, 64, rate="control")
    with pytest.raises(ValueError, match="retrigger"):
        ADSR(16000, 64, retrigger="legato")
    with pytest.raises(ValueError, match="sample_rate"):
        ADSR(0, 64)
    with pytest.raises(ValueError, match="attack_range_s"):
        ADSR(16000, 64, attack_range_s=(0.0, 1.0))
    with pytest.raises(ValueError, match="overlap"):
        unit.render_notes(torch.tensor([[0.0, 0.1]]), torch.tensor([[0.2, 0.3]]), 10, **ok)
    with pytest.raises(ValueError, match="note_off_s"):
        unit.render_notes(torch.tensor([0.2]), torch.tensor([0.1]), 10, **ok)
    with pytest.raises(ValueError, match="num_frames"):
        unit.render_notes(torch.tensor([0.0]), torch.tensor([0.1]), 0, **ok)
