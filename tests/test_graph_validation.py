"""Invalid graphs raise a GraphError (a ValueError) that names what is wrong."""

import pytest
import torch

from ddsp_lab.graph import Graph, GraphError, Learnable, Node, Note, Port, nodes

SR, HOP = 8000, 32


def small_graph():
    graph = Graph(SR, HOP)
    graph.add("osc", nodes.Oscillator("saw"))
    graph.add("filter", nodes.StateVariableFilter())
    graph.add("env", nodes.ADSR())
    graph.add("vca", nodes.VCA())
    return graph


def test_graph_error_is_a_value_error():
    assert issubclass(GraphError, ValueError)


def test_cycle_without_delay_names_the_cycle():
    graph = small_graph()
    graph.add("mix", nodes.Mixer(2))
    graph.connect("osc", "mix.in0")
    graph.connect("mix", "filter")
    with pytest.raises(GraphError, match=r"cycle mix -> filter -> mix without a Delay"):
        graph.connect("filter", "mix.in1")


def test_self_loop_without_delay_is_a_cycle():
    graph = Graph(SR, HOP)
    graph.add("mul", nodes.Multiply())
    graph.add("src", nodes.Input("x"))
    graph.connect("src", "mul.a")
    with pytest.raises(GraphError, match=r"cycle mul -> mul"):
        graph.connect("mul", "mul.b")


def test_cycle_through_a_delay_is_accepted():
    graph = Graph(SR, HOP)
    graph.add("osc", nodes.Oscillator("saw"))
    graph.add("mix", nodes.Mixer(2))
    graph.add("delay", nodes.Delay(samples=8))
    graph.connect("osc", "mix.in0")
    graph.connect("mix", "delay")
    graph.connect("delay", "mix.in1")
    graph.set_output("mix")
    graph.validate()


def test_cycle_through_a_node_that_cannot_render_in_blocks():
    graph = Graph(SR, HOP)
    graph.add("osc", nodes.Oscillator("saw"))
    graph.add("filter", nodes.StateVariableFilter())
    graph.add("mix", nodes.Mixer(2))
    graph.add("delay", nodes.Delay(samples=8))
    graph.connect("osc", "mix.in0")
    graph.chain("mix", "filter", "delay")
    graph.connect("delay", "mix.in1")
    graph.set_output("mix")
    with pytest.raises(GraphError, match=r"'filter' \(StateVariableFilter\) sits in the feedback cycle"):
        graph.validate()


class RateChanger(Node):
    """A custom block-capable node that changes rate, to probe the one-rate rule."""

    supports_blocks = True

    def __init__(self, source="control", target="audio"):
        super().__init__({"source": source, "target": target}, {})

    def input_ports(self):
        return {"in": Port("in", self.options["source"])}

    def output_ports(self):
        return {"out": Port("out", self.options["target"])}

    def render(self, inputs, params, context):
        raise AssertionError("never rendered in this test")

    def render_block(self, inputs, params, state, context):
        raise AssertionError("never rendered in this test")


def test_feedback_cycle_must_stay_at_one_rate():
    graph = Graph(SR, HOP)
    graph.add("src", nodes.Input("x", rate="control"))
    graph.add("mix", nodes.Mixer(2, rate="control"))
    graph.add("delay", nodes.Delay(frames=1))
    graph.add("up", RateChanger("control", "audio"))
    graph.add("down", RateChanger("audio", "control"))
    graph.connect("src", "mix.in0")
    graph.chain("mix", "delay", "up", "down")
    graph.connect("down", "mix.in1")
    graph.add("out", nodes.ToAudioRate())
    graph.connect("mix", "out")
    graph.set_output("out")
    with pytest.raises(GraphError, match=r"up.out -> down.in inside the control-rate feedback cycle .* keep a cycle at one rate"):
        graph.validate()


def test_unknown_node_and_port():
    graph = small_graph()
    with pytest.raises(GraphError, match=r"unknown node 'lfo'; the graph has: osc, filter, env, vca"):
        graph.connect("lfo.out", "filter.cutoff_hz")
    with pytest.raises(GraphError, match=r"'osc' \(Oscillator\) has no output 'output'; outputs: out"):
        graph.connect("osc.output", "filter.in")
    with pytest.raises(GraphError, match=r"'filter' \(StateVariableFilter\) has no input or parameter 'input'"):
        graph.connect("osc.out", "filter.input")
    with pytest.raises(GraphError, match="name the input of 'osc'"):
        graph.connect("env", "osc")
    with pytest.raises(GraphError, match="'node' or 'node.port'"):
        graph.connect("osc.out.x", "filter.in")


def test_rate_mismatch_suggests_a_converter():
    graph = small_graph()
    with pytest.raises(GraphError, match=r"rate mismatch in osc.out -> filter.cutoff_hz.*ToControlRate"):
        graph.connect("osc.out", "filter.cutoff_hz")
    with pytest.raises(GraphError, match=r"rate mismatch in env.out -> vca.in.*ToAudioRate"):
        graph.connect("env.out", "vca.in")
    with pytest.raises(GraphError, match=r"rate mismatch in env.out -> env.decay_s.*one value per note"):
        graph.connect("env.out", "env.decay_s", mode="add")
    with pytest.raises(GraphError, match="must be audio"):
        graph.set_output("env.out")


def test_channel_mismatch():
    graph = Graph(SR, HOP)
    graph.add("src", nodes.Input("x", rate="control", channels=3))
    graph.add("shape", nodes.ScaleOffset(channels=2))
    with pytest.raises(GraphError, match=r"channel mismatch.*control \[B, F, 3\].*control \[B, F, 2\]"):
        graph.connect("src", "shape.in")


def test_missing_input_and_missing_output():
    graph = small_graph()
    graph.connect("osc", "vca")
    with pytest.raises(GraphError, match="no output"):
        graph.validate()
    graph.set_output("vca")
    with pytest.raises(GraphError, match=r"node 'filter' \(StateVariableFilter\) input 'in' \(audio \[B, T\]\) is not connected"):
        graph.validate()
    with pytest.raises(GraphError, match="no nodes"):
        Graph(SR, HOP).validate()


def test_double_connections_are_rejected():
    graph = small_graph()
    graph.connect("osc", "filter")
    with pytest.raises(GraphError, match=r"filter.in is already connected to osc.out; mix several signals"):
        graph.connect("osc", "filter.in")
    graph.connect("env", "vca.gain")
    with pytest.raises(GraphError, match="'replace' connection must be the only one"):
        graph.connect("env", "vca.gain", mode="multiply")
    with pytest.raises(GraphError, match="mode 'add' applies to parameters"):
        graph.connect("filter", "vca.in", mode="add")
    with pytest.raises(GraphError, match="mode must be one of"):
        graph.connect("env", "filter.q", mode="sum")


def test_replacing_a_learnable_parameter_is_an_error():
    graph = small_graph()
    graph.node("vca").set_parameter("gain", Learnable(1.0, (0.0, 2.0)))
    graph.chain("osc", "filter", "vca")
    graph.connect("env", "vca.gain")
    graph.set_output("vca")
    with pytest.raises(GraphError, match="vca.gain is Learnable but env.out -> vca.gain replaces it"):
        graph.validate()


def test_bad_names_and_duplicates():
    graph = small_graph()
    with pytest.raises(GraphError, match="already has a node named 'osc'"):
        graph.add("osc", nodes.Oscillator())
    with pytest.raises(GraphError, match="node name must be an identifier"):
        graph.add("my osc", nodes.Oscillator())
    with pytest.raises(GraphError, match="must be a graph Node"):
        graph.add("unit", torch.nn.Linear(1, 1))
    node = nodes.Noise()
    graph.add("noise", node)
    with pytest.raises(GraphError, match="already belongs to a graph"):
        Graph(SR, HOP).add("noise", node)
    with pytest.raises(TypeError, match="cutof"):
        nodes.StateVariableFilter(cutof=100.0)
    with pytest.raises(GraphError, match=r"Mixer has no parameter\(s\) \['gain2'\]"):
        nodes.Mixer(2, gain2=0.5)
    with pytest.raises(GraphError, match="waveform must be one of"):
        nodes.Oscillator("sawtooth")


def test_missing_or_malformed_controls_at_render():
    graph = small_graph()
    graph.chain("osc", "filter", "vca")
    graph.connect("env", "vca.gain")
    graph.set_output("vca")
    with pytest.raises(GraphError, match=r"osc.f0_hz is bound to the external control 'f0_hz', which was not given"):
        graph({"gate": torch.ones(1, 10, 1)})
    with pytest.raises(GraphError, match="cannot tell how many frames"):
        graph()
    with pytest.raises(GraphError, match=r"controls disagree on the number of frames: \{'f0_hz': 10, 'gate': 7\}"):
        graph({"f0_hz": torch.full((1, 10, 1), 100.0), "gate": torch.ones(1, 7, 1)})
    with pytest.raises(GraphError, match=r"controls\['gate'\] has 7 frames but the render has 10"):
        graph({"f0_hz": torch.full((1, 1, 1), 100.0), "gate": torch.ones(1, 7, 1)}, num_frames=10)
    with pytest.raises(ValueError, match=r"controls\['f0_hz'\] contains NaN"):
        graph({"f0_hz": torch.full((1, 10, 1), float("nan")), "gate": torch.ones(1, 10, 1)})
    with pytest.raises(GraphError, match=r"node 'osc' \(Oscillator\): f0_hz must be >= 0"):
        graph({"f0_hz": torch.full((1, 10, 1), -100.0), "gate": torch.ones(1, 10, 1)})
    with pytest.raises(GraphError, match="batch"):
        graph({"f0_hz": torch.full((2, 10, 1), 100.0), "gate": torch.ones(3, 10, 1)})


def test_per_note_parameter_rejects_a_varying_control():
    graph = Graph(SR, HOP)
    graph.add("env", nodes.ADSR(rate="audio", peak="velocity"))
    graph.set_output("env")
    notes = [[Note(60, 100, 0.0, 0.05), Note(60, 20, 0.1, 0.05)]]
    with pytest.raises(GraphError, match=r"controls\['velocity'\] varies over frames, but env.peak takes one value per note"):
        graph.render_notes(notes, duration_s=0.2)
    assert graph.render_notes(Note(60, 100, 0.0, 0.05), duration_s=0.2).shape == (1, 50 * HOP)


def test_unknown_tap_is_rejected():
    graph = small_graph()
    graph.chain("osc", "filter", "vca")
    graph.connect("env", "vca.gain")
    graph.set_output("vca")
    with pytest.raises(GraphError, match="'env.level' is not an output"):
        graph.render_notes(Note(60), 0.1, outputs=["env.level"])
