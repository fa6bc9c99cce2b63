"""Synth graphs: rendering against hand-wired units and independent references."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.core.conversions import midi_to_hz
from ddsp_lab.core.upsample import upsample_linear
from ddsp_lab.graph import External, Fixed, Graph, GraphError, Learnable, Note, nodes, notes_to_controls
from ddsp_lab.units import ADSR, LFO, FilteredNoise, Gain, Harmonic, KarplusStrong, Oscillator, ParametricReverb
from ddsp_lab.units import StateVariableFilter

SR, HOP = 8000, 32


def subtractive(sample_rate=SR, hop=HOP):
    """Saw -> low-pass whose cutoff follows an ADSR (plus an LFO) -> VCA with velocity."""
    graph = Graph(sample_rate, hop, name="subtractive")
    graph.add("osc", nodes.Oscillator("saw", amplitude=0.5))
    graph.add("fenv", nodes.ADSR(attack_s=0.003, decay_s=0.15, sustain=0.2, release_s=0.05))
    graph.add("cutoff", nodes.ScaleOffset(scale=2500.0, offset=Learnable(200.0, (50.0, 1000.0), "log")))
    graph.add("lfo", nodes.LFO(rate_hz=3.0, depth=80.0))
    graph.add("filter", nodes.StateVariableFilter(q=2.0))
    graph.add("env", nodes.ADSR(attack_s=0.005, decay_s=0.1, sustain=0.6, release_s=0.08))
    graph.add("vca", nodes.VCA(gain="velocity"))
    graph.chain("osc", "filter", "vca")
    graph.connect("fenv", "cutoff.in")
    graph.connect("lfo", "cutoff.offset", mode="add")
    graph.connect("cutoff", "filter.cutoff_hz")
    graph.connect("env", "vca.gain", mode="multiply")
    graph.set_output("vca.out")
    return graph


def test_subtractive_graph_equals_the_units_wired_by_hand():
    graph = subtractive()
    notes = [Note(48, velocity=100, duration_s=0.2), Note(55, velocity=64, start_s=0.05, duration_s=0.1)]
    frames = 12500 // HOP
    audio = graph.render_notes(notes, duration_s=frames * HOP / SR)

    c = notes_to_controls(notes, frames, SR, HOP)
    saw = Oscillator(SR, HOP, "saw", scale_fn=None).get_signal(c["f0_hz"], torch.full_like(c["f0_hz"], 0.5))
    fenv = ADSR(SR, HOP).get_signal(c["gate"], 0.003, 0.15, 0.2, 0.05)
    lfo = LFO(SR, HOP).get_signal(torch.full((1, frames, 1), 3.0), torch.full((1, frames, 1), 80.0))
    cutoff = (200.0 + lfo) + 2500.0 * fenv
    filtered = StateVariableFilter(SR, hop_length=HOP).get_signal(saw, cutoff, torch.full_like(cutoff, 2.0))
    env = ADSR(SR, HOP).get_signal(c["gate"], 0.005, 0.1, 0.6, 0.08)
    expected = Gain(unit="linear", hop_length=HOP).get_signal(filtered, c["velocity"] * env)
    assert audio.shape == (2, frames * HOP)
    # The same units and the same float32 operations in the same order: the same samples.
    assert torch.equal(audio, expected)
    assert float(audio.detach().abs().max()) > 0.05


def test_ddsp_voice_graph_equals_the_units_wired_by_hand():
    graph = Graph(SR, HOP)
    graph.add("harmonic", nodes.Harmonic(n_harmonics=8, amplitude="amplitude", harmonic_distribution="harmonics"))
    graph.add("noise", nodes.FilteredNoise(n_bands=9, seed=3, magnitudes="noise"))
    graph.add("mix", nodes.Mixer(2))
    graph.add("reverb", nodes.Reverb(ir_duration_s=0.2, seed=1, decay_s=0.3, damping=0.5, mix=0.25))
    graph.connect("harmonic", "mix.in0")
    graph.connect("noise", "mix.in1")
    graph.connect("mix", "reverb")
    graph.set_output("reverb.out")
    frames = 40
    g = torch.Generator().manual_seed(0)
    controls = {
        "f0_hz": torch.linspace(200.0, 400.0, frames).reshape(1, frames, 1).repeat(2, 1, 1),
        "amplitude": torch.rand(2, frames, 1, generator=g),
        "harmonics": torch.rand(2, frames, 8, generator=g),
        "noise": 0.01 * torch.rand(2, frames, 9, generator=g),
    }
    audio = graph(controls)

    harmonic = Harmonic(SR, HOP, scale_fn=None)
    dist = controls["harmonics"] / controls["harmonics"].sum(-1, keepdim=True)
    tone = harmonic.get_signal(controls["f0_hz"], controls["amplitude"], dist)
    noise = FilteredNoise(SR, HOP, n_bands=9, scale_fn=None, initial_bias=0.0, seed=3).get_signal(controls["noise"])
    reverb = ParametricReverb(SR, ir_duration_s=0.2, trainable=False, seed=1)
    expected = reverb.get_signal(tone + noise, 0.3, 0.5, 0.25)
    # The node normalises the distribution after a Nyquist mask that is 1 for
    # every partial here (all below 4 kHz): the same float32 operations.
    assert torch.equal(audio, expected)


def test_fm_operators_match_the_closed_form():
    sr, hop, frames = 16000, 16, 50
    graph = Graph(sr, hop)
    graph.add("mod", nodes.SineOperator(ratio=3.5, amplitude=2.0))
    graph.add("car", nodes.SineOperator(ratio=1.0, detune_hz=1.5, amplitude=0.8))
    graph.connect("mod", "car.phase_mod")
    graph.set_output("car")
    f0 = 220.0
    audio = graph({"f0_hz": torch.full((1, frames, 1), f0, dtype=torch.float64)})
    t = np.arange(frames * hop) / sr
    modulator = 2.0 * np.sin(2 * np.pi * 3.5 * f0 * t)
    expected = 0.8 * np.sin(2 * np.pi * (f0 + 1.5) * t + modulator)
    # float64 phase accumulation: the running sum's rounding stays near 1e-12 rad.
    np.testing.assert_allclose(audio[0].numpy(), expected, atol=1e-9)


def test_feedback_loop_matches_the_recursion():
    """Delay -> one-zero low-pass -> gain, fed back into a mixer: H = 1 / (1 - g (b0 + b1 z^-1) z^-N)."""
    graph = Graph(SR, 16)
    graph.add("src", nodes.Input("excitation"))
    graph.add("mix", nodes.Mixer(2))
    graph.add("delay", nodes.Delay(samples=20))
    graph.add("damp", nodes.OneZero(brightness=0.3))
    graph.add("loss", nodes.VCA(gain=0.97))
    graph.connect("src", "mix.in0")
    graph.chain("mix", "delay", "damp", "loss")
    graph.connect("loss", "mix.in1")
    graph.set_output("mix.out")
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(2, 800, dtype=torch.float64)
    x[:, :20] = torch.rand(2, 20, generator=g, dtype=torch.float64) - 0.5
    y = graph({"excitation": x})
    b0 = 0.65
    a = np.zeros(22)
    a[0], a[20], a[21] = 1.0, -0.97 * b0, -0.97 * (1 - b0)
    expected = scipy.signal.lfilter([1.0], a, x.numpy(), axis=1)
    # Both are float64 recursions of the same difference equation.
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12)


def test_self_feedback_operator_matches_a_sample_loop():
    """An operator modulating its own phase through a one-sample delay (DX7-style feedback)."""
    sr, hop, frames = 8000, 8, 10
    graph = Graph(sr, hop)
    graph.add("op", nodes.SineOperator(ratio=1.0, amplitude=1.0))
    graph.add("fb", nodes.Delay(samples=1))
    graph.add("depth", nodes.ScaleOffset(rate="audio", scale=0.7))
    graph.chain("op", "fb", "depth")
    graph.connect("depth", "op.phase_mod")
    graph.set_output("op")
    f0 = 300.0
    y = graph({"f0_hz": torch.full((1, frames, 1), f0, dtype=torch.float64)})[0].numpy()
    expected, previous = [], 0.0
    for n in range(frames * hop):
        previous = math.sin(2 * math.pi * f0 * n / sr + 0.7 * previous)
        expected.append(previous)
    np.testing.assert_allclose(y, expected, atol=1e-12)


def test_delay_outside_a_cycle_shifts_the_signal():
    graph = Graph(SR, 4)
    graph.add("src", nodes.Input("x"))
    graph.add("delay", nodes.Delay(samples=5))
    graph.connect("src", "delay")
    graph.set_output("delay")
    x = torch.randn(1, 40)
    y = graph({"x": x})
    assert torch.equal(y[:, 5:], x[:, :-5]) and torch.equal(y[:, :5], torch.zeros(1, 5))


def test_control_rate_feedback_accumulates():
    """A control-rate loop out[n] = in[n] + 0.5 out[n - 1] is a one-pole filter over frames."""
    graph = Graph(SR, 4)
    graph.add("src", nodes.Input("x", rate="control"))
    graph.add("mix", nodes.Mixer(2, rate="control", gain1=0.5))
    graph.add("delay", nodes.Delay(frames=1))
    graph.add("audio", nodes.ToAudioRate())
    graph.connect("src", "mix.in0")
    graph.connect("mix", "delay")
    graph.connect("delay", "mix.in1")
    graph.connect("mix", "audio")
    graph.set_output("audio")
    x = torch.rand(1, 12, 1, dtype=torch.float64)
    taps = graph({"x": x}, outputs=["mix.out"])
    expected = scipy.signal.lfilter([1.0], [1.0, -0.5], x[0, :, 0].numpy())
    np.testing.assert_allclose(taps["mix.out"][0, :, 0].numpy(), expected, atol=1e-14)


def test_karplus_strong_node_plucks_at_the_note_on():
    graph = Graph(SR, HOP)
    graph.add("string", nodes.KarplusStrong(decay_s=0.8, brightness=0.4))
    graph.set_output("string")
    frames = 100
    audio = graph.render_notes(Note(57, start_s=10 * HOP / SR), duration_s=frames * HOP / SR)
    unit = KarplusStrong(SR)
    f0 = float(midi_to_hz(torch.tensor(57.0)))
    burst = unit.noise_excitation(f0, frames * HOP, batch=1)
    shifted = torch.cat([torch.zeros(1, 10 * HOP), burst[:, : -10 * HOP]], dim=1)
    f0_tensor = torch.tensor([[f0]])
    expected = unit.get_signal(f0_tensor, 0.8, 0.4, excitation=shifted, num_samples=frames * HOP)
    # The same unit, excitation and (float32) f0: the same samples.
    assert torch.equal(audio, expected)
    # Before the note-on only the FFT rendering's round-off remains: the unit
    # keeps it near eps^0.8 (3e-6 in float32) of the signal's scale.
    assert float(audio[:, : 10 * HOP].abs().max()) < 1e-5 * float(audio.abs().max())


def test_batched_notes_render_like_single_notes():
    graph = subtractive()
    notes = [Note(45, duration_s=0.1), Note(52, velocity=30, duration_s=0.05), Note(60, start_s=0.02)]
    batch = graph.render_notes(notes, duration_s=0.15)
    for row, note in enumerate(notes):
        single = graph.render_notes(note, duration_s=0.15)
        # The same computation on a batch of one, except that the oscillator's
        # harmonic count follows the lowest f0 of the batch: the extra partials
        # are gated to exactly zero, so at most the summation order of the
        # partials changes, a few float32 ulps of a 0.5 peak (6e-8 each).
        torch.testing.assert_close(batch[row : row + 1], single, rtol=0.0, atol=1e-6)


def test_modulation_modes_combine_value_adds_and_multiplies():
    graph = Graph(SR, HOP)
    graph.add("a", nodes.LFO(rate_hz=0.0, depth=0.0, offset=2.0))
    graph.add("b", nodes.LFO(rate_hz=0.0, depth=0.0, offset=3.0))
    graph.add("m", nodes.LFO(rate_hz=0.0, depth=0.0, offset=0.5))
    graph.add("shape", nodes.ScaleOffset(offset=10.0, scale=1.0))
    graph.add("src", nodes.Input("x", rate="control"))
    graph.add("out", nodes.ToAudioRate())
    graph.connect("src", "shape.in")
    graph.connect("a", "shape.offset", mode="add")
    graph.connect("b", "shape.offset", mode="add")
    graph.connect("m", "shape.offset", mode="multiply")
    graph.connect("shape", "out")
    graph.set_output("out")
    y = graph({"x": torch.zeros(1, 3, 1)}, outputs=["shape.out"])["shape.out"]
    # (10 + 2 + 3) * 0.5 = 7.5, exactly representable.
    assert torch.equal(y, torch.full((1, 3, 1), 7.5))


def test_learnable_parameters_are_stored_normalised_and_shown_in_physical_units():
    cutoff = Learnable(1000.0, (100.0, 10000.0), "log")
    assert float(cutoff.normalized.detach()) == pytest.approx(0.5, abs=1e-7)
    assert cutoff.value == pytest.approx(1000.0, rel=1e-6)
    level = Learnable([0.25, 0.5], (0.0, 2.0))
    np.testing.assert_allclose(level.normalized.detach().numpy(), [0.125, 0.25])
    level.set_value(1.5)
    assert level.value == pytest.approx([1.5, 1.5])
    with torch.no_grad():
        level.normalized.fill_(1.7)
    level.project_()
    assert level.value == pytest.approx([2.0, 2.0])
    with pytest.raises(GraphError, match="outside its range"):
        Learnable(20.0, (100.0, 1000.0))
    with pytest.raises(GraphError, match="log curve needs a positive range"):
        Learnable(1.0, (0.0, 10.0), "log")
    with pytest.raises(GraphError, match="curve must be one of"):
        Learnable(1.0, (0.0, 10.0), "exp")


def test_external_controls_map_normalised_network_outputs():
    graph = Graph(SR, HOP)
    graph.add("osc", nodes.Oscillator("sine", f0_hz=External("pitch_net", (100.0, 400.0), "log"), amplitude=1.0))
    graph.set_output("osc")
    net = torch.full((1, 5, 1), 0.5)
    taps = graph({"pitch_net": net}, outputs=["osc.out"])
    expected = Oscillator(SR, HOP, "sine", scale_fn=None).get_signal(torch.full((1, 5, 1), 200.0), torch.ones(1, 5, 1))
    # unit_to_range(0.5, 100, 400, log) = 100 * 4 ** 0.5 = 200 exactly in float32.
    assert torch.equal(taps["osc.out"], expected)
    with pytest.raises(GraphError, match=r"must lie in \[0, 1\]"):
        graph({"pitch_net": torch.full((1, 5, 1), 1.5)})


def test_gradients_reach_learnable_parameters_and_match_finite_differences():
    graph = Graph(SR, 16)
    graph.add("osc", nodes.Oscillator("saw", f0_hz=300.0, amplitude=0.5))
    graph.add("filter", nodes.StateVariableFilter(cutoff_hz=Learnable(800.0, (100.0, 3000.0), "log"), q=1.0))
    # No frame instant (every 2 ms) sits on a segment boundary (3 ms, 26 ms), where the envelope has a kink.
    graph.add("env", nodes.ADSR(attack_s=0.003, decay_s=Learnable(0.023, (0.005, 0.2), "log"), sustain=0.3,
                                release_s=0.01))
    graph.add("vca", nodes.VCA())
    graph.chain("osc", "filter", "vca")
    graph.connect("env", "vca.gain")
    graph.set_output("vca")
    graph.double()
    gate = torch.ones(1, 12, 1, dtype=torch.float64)
    learnables = list(graph.learnable_parameters().values())

    def render(cutoff_u, decay_u):
        learnables[0].normalized.data.copy_(cutoff_u.detach())
        learnables[1].normalized.data.copy_(decay_u.detach())
        with torch.no_grad():
            return graph({"gate": gate}).square().sum()

    values = [p.normalized.detach().clone() for p in learnables]
    loss = graph({"gate": gate}).square().sum()
    loss.backward()
    for parameter, value in zip(learnables, values):
        step = 1e-6
        plus = [v.clone() for v in values]
        minus = [v.clone() for v in values]
        index = learnables.index(parameter)
        plus[index] += step
        minus[index] -= step
        numeric = (render(*plus) - render(*minus)) / (2 * step)
        # Central differences in float64: truncation O(step^2) and round-off
        # O(eps / step) ~ 1e-10 relative to the loss.
        assert float(parameter.normalized.grad) == pytest.approx(float(numeric), rel=1e-5)
        learnables[0].normalized.data.copy_(values[0])
        learnables[1].normalized.data.copy_(values[1])
    assert all(torch.isfinite(p.normalized.grad).all() for p in learnables)


def test_gradients_stay_finite_at_silence():
    graph = Graph(SR, HOP)
    graph.add("osc", nodes.Oscillator("saw", f0_hz=0.0, amplitude=Learnable(0.0, (0.0, 1.0))))
    graph.add("follow", nodes.ToControlRate("rms"))
    graph.add("vca", nodes.VCA(gain=Learnable(0.0, (0.0, 2.0))))
    graph.add("out", nodes.ToAudioRate())
    graph.connect("osc", "follow")
    graph.connect("follow", "out")
    graph.connect("out", "vca")
    graph.set_output("vca")
    graph(num_frames=4).sum().backward()
    for parameter in graph.learnable_parameters().values():
        assert torch.isfinite(parameter.normalized.grad).all()


def test_notes_to_controls_holds_pitch_and_gates_frames():
    controls = notes_to_controls([[Note(60, 127, 0.0, 0.01), Note(72, 64, 0.02, 0.005)]], 10, 1000, 4)
    gate = controls["gate"][0, :, 0].tolist()
    # Frames sit at 0, 4, 8, ... ms: the first note covers 0-10 ms, the second 20-25 ms.
    assert gate == [1, 1, 1, 0, 0, 1, 1, 0, 0, 0]
    assert controls["pitch"][0, :, 0].tolist() == [60] * 5 + [72] * 5
    assert controls["velocity"][0, 0, 0] == pytest.approx(1.0)
    assert float(controls["f0_hz"][0, 9, 0]) == pytest.approx(523.2511, rel=1e-6)
    short = notes_to_controls(Note(60, start_s=0.005, duration_s=0.001), 4, 1000, 4)
    assert short["gate"][0, :, 0].tolist() == [0, 0, 1, 0]
    with pytest.raises(GraphError, match="overlap"):
        notes_to_controls([[Note(60, duration_s=1.0), Note(62, start_s=0.5)]], 10, 1000, 4)
    with pytest.raises(GraphError, match="pitch"):
        Note(130)
    with pytest.raises(GraphError, match="velocity"):
        Note(60, velocity=-1)


def test_render_follows_dtype_and_odd_lengths():
    graph = subtractive()
    audio = graph.render_notes(Note(50), duration_s=0.013)
    assert audio.shape == (1, math.ceil(0.013 * SR / HOP) * HOP)
    assert audio.dtype == torch.float32
    c = notes_to_controls(Note(50), 3, SR, HOP, dtype=torch.float64)
    assert graph(c).dtype == torch.float64


def test_unbuilt_fixed_values_are_checked_against_the_domain():
    with pytest.raises(GraphError, match=r"StateVariableFilter.cutoff_hz must be > 0 Hz"):
        nodes.StateVariableFilter(cutoff_hz=-5.0)
    with pytest.raises(GraphError, match=r"ADSR.sustain must be \[0, 1\]"):
        nodes.ADSR(sustain=1.5)
    with pytest.raises(GraphError, match=r"range"):
        nodes.ADSR(decay_s=Learnable(0.5, (-1.0, 1.0)))
    with pytest.raises(GraphError, match="takes 8 value"):
        nodes.Harmonic(n_harmonics=8, harmonic_distribution=[1.0, 2.0])
    shared = Fixed(1.0)
    nodes.VCA(gain=shared)
    with pytest.raises(GraphError, match="already belongs"):
        nodes.VCA(gain=shared)


def test_upsampled_control_convention_in_vca():
    graph = Graph(SR, 4)
    graph.add("src", nodes.Input("x"))
    graph.add("vca", nodes.VCA(gain="g"))
    graph.connect("src", "vca")
    graph.set_output("vca")
    x = torch.ones(1, 12)
    g = torch.tensor([[[0.0], [1.0], [0.5]]])
    expected = upsample_linear(g, 4)[..., 0]
    assert torch.equal(graph({"x": x, "g": g}), expected)


def test_fm_synth_node_equals_the_unit_with_an_envelope_on_the_levels():
    from ddsp_lab.units.fm import FMSynth

    graph = Graph(SR, HOP)
    graph.add("env", nodes.ADSR(attack_s=0.005, decay_s=0.1, sustain=0.5, release_s=0.05))
    graph.add("fm", nodes.FMSynth(algorithm=5, ratios=[1.0, 2.0, 1.0, 3.5, 1.0, 1.0],
                                  levels=[1.0, 0.5, 0.8, 0.3, 0.6, 0.2], feedback=Learnable(3.0, (0.0, 7.0))))
    graph.connect("env", "fm.levels", mode="multiply")
    graph.set_output("fm")
    frames = 40
    audio = graph.render_notes(Note(64, duration_s=0.1), duration_s=frames * HOP / SR)
    c = notes_to_controls(Note(64, duration_s=0.1), frames, SR, HOP)
    env = ADSR(SR, HOP).get_signal(c["gate"], 0.005, 0.1, 0.5, 0.05)
    levels = torch.tensor([1.0, 0.5, 0.8, 0.3, 0.6, 0.2]).reshape(1, 1, 6) * env
    unit = FMSynth(SR, HOP, algorithm=5, ratios=[1.0, 2.0, 1.0, 3.5, 1.0, 1.0])
    expected = unit.get_signal(c["f0_hz"], levels, feedback=torch.tensor([3.0]))
    # Feedback 3.0 passes through the learnable's normalised storage (3/7 in
    # float32 and back): a relative error of float32 rounding, ~1e-7, which
    # the feedback loop carries into the output at about that level.
    torch.testing.assert_close(audio, expected, rtol=0.0, atol=1e-5)
    audio.sum().backward()
    assert torch.isfinite(graph.parameter("fm.feedback").normalized.grad).all()


def test_rate_converters_biquad_and_per_item_controls():
    graph = Graph(SR, 4)
    graph.add("src", nodes.Input("x"))
    graph.add("eq", nodes.Biquad(mode="peaking", cutoff_hz=1000.0, q=1.0, gain_db="boost"))
    graph.add("rms", nodes.ToControlRate("rms"))
    graph.add("first", nodes.ToControlRate("sample"))
    graph.add("up", nodes.ToAudioRate("hann"))
    graph.connect("src", "eq")
    graph.connect("eq", "rms")
    graph.connect("src", "first")
    graph.connect("rms", "up")
    graph.set_output("up")
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 40, generator=g, dtype=torch.float64)
    boost = torch.tensor([6.0, -3.0], dtype=torch.float64)  # one value per batch item, shape [B]
    taps = graph({"x": x, "boost": boost}, outputs=["eq.out", "rms.out", "first.out", "up.out"])
    from ddsp_lab.units import Biquad

    unit = Biquad(SR, mode="peaking", hop_length=4)
    expected = unit.get_signal(x, torch.full((2, 1, 1), 1000.0, dtype=torch.float64),
                               torch.ones(2, 1, 1, dtype=torch.float64), boost.reshape(2, 1, 1))
    assert torch.equal(taps["eq.out"], expected)
    frames = expected.reshape(2, 10, 4).numpy()
    np.testing.assert_allclose(taps["rms.out"][..., 0].numpy(), np.sqrt((frames ** 2).mean(-1)), rtol=1e-12)
    assert torch.equal(taps["first.out"][..., 0], x[:, ::4])
    from ddsp_lab.core.upsample import upsample_hann

    assert torch.equal(taps["up.out"], upsample_hann(taps["rms.out"], 4)[..., 0])


def test_graph_without_controls_renders_a_batch_of_constants():
    graph = Graph(SR, HOP)
    graph.add("osc", nodes.Oscillator("mix", f0_hz=250.0, amplitude=0.3, waveform_mix=[0.5, 0.5, 0.0, 0.0]))
    graph.add("noise", nodes.Noise(amplitude=0.0))
    graph.add("mix", nodes.Mixer(2))
    graph.connect("osc", "mix.in0")
    graph.connect("noise", "mix.in1")
    graph.set_output("mix")
    audio = graph(num_frames=6, batch_size=3)
    expected = Oscillator(SR, HOP, "mix", scale_fn=None).get_signal(
        torch.full((1, 6, 1), 250.0), torch.full((1, 6, 1), 0.3), torch.tensor([0.5, 0.5, 0.0, 0.0]).expand(1, 6, 4))
    assert audio.shape == (3, 6 * HOP)
    # The noise is silent (amplitude 0): each row is the oscillator, exactly.
    for row in audio:
        assert torch.equal(row, expected[0])


def test_frequency_modulation_input_follows_the_running_sum():
    sr, hop, frames = 8000, 8, 40
    graph = Graph(sr, hop)
    graph.add("vibrato", nodes.SineOperator(f0_hz=6.0, amplitude=30.0))  # +-30 Hz at 6 Hz
    graph.add("carrier", nodes.SineOperator(f0_hz=440.0))
    graph.connect("vibrato", "carrier.freq_mod")
    graph.set_output("carrier")
    y = graph(num_frames=frames).detach().double().numpy()[0]
    n = np.arange(frames * hop)
    frequency = 440.0 + 30.0 * np.sin(2 * np.pi * 6.0 * n / sr)
    phase = 2 * np.pi * (np.cumsum(frequency) - frequency) / sr  # phase[t] sums f before t
    # The phase is summed in float64 and wrapped, then the sine is taken in
    # float32: rounding of an argument below 2 pi is about 2 pi * 6e-8 = 4e-7.
    np.testing.assert_allclose(y, np.sin(phase), atol=1e-6)
