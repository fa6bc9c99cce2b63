"""Presets (JSON round trip, load errors), summaries, DOT export and the render workflow."""

import json
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_lab.graph import (
    External,
    Graph,
    GraphError,
    Learnable,
    Note,
    graph_to_dict,
    load_preset,
    nodes,
    plot_graph,
    save_preset,
    summary,
    to_dot,
    write_dot,
)
from ddsp_lab.workflows.graph_render import render_preset

SR, HOP = 8000, 32


def rich_graph():
    """One graph touching every parameter kind, a vector learnable, feedback, noise and reverb."""
    graph = Graph(SR, HOP, name="rich", description="round-trip fixture")
    graph.add("osc", nodes.Oscillator("saw", amplitude=Learnable(0.3, (0.0, 1.0))))
    graph.add("add", nodes.Harmonic(n_harmonics=6, amplitude=0.2,
                                   harmonic_distribution=Learnable([0.9, 0.5, 0.3, 0.2, 0.1, 0.05], (0.0, 1.0))))
    graph.add("noise", nodes.FilteredNoise(n_bands=5, seed=7, magnitudes=[0.01, 0.02, 0.01, 0.005, 0.001]))
    graph.add("fenv", nodes.ADSR(curve=[3.0, 4.0, 5.0], attack_s=0.004, decay_s=Learnable(0.13, (0.01, 1.0), "log"),
                                 sustain=0.25, release_s=0.05))
    graph.add("cutoff", nodes.ScaleOffset(scale=2000.0, offset=Learnable(310.0, (50.0, 2000.0), "log")))
    graph.add("lfo", nodes.LFO("triangle", rate_hz=External("lfo_rate", (0.1, 10.0), "log"), depth=50.0))
    graph.add("filter", nodes.StateVariableFilter(q=1.5))
    graph.add("mix", nodes.Mixer(4, gain2=Learnable(0.5, (0.0, 1.0))))
    graph.add("delay", nodes.Delay(samples=40))
    graph.add("echo", nodes.VCA(gain=0.4))
    graph.add("env", nodes.ADSR(attack_s=0.002, decay_s=0.1, sustain=0.5, release_s=0.05))
    graph.add("vca", nodes.VCA(gain="velocity"))
    graph.add("room", nodes.Reverb(ir_duration_s=0.3, seed=2, decay_s=Learnable(0.4, (0.1, 2.0), "log")))
    graph.connect("osc", "filter")
    graph.connect("fenv", "cutoff")
    graph.connect("lfo", "cutoff.offset", mode="add")
    graph.connect("cutoff", "filter.cutoff_hz")
    graph.connect("filter", "mix.in0")
    graph.connect("add", "mix.in1")
    graph.connect("echo", "mix.in2")
    graph.connect("noise", "mix.in3")
    graph.chain("mix", "delay", "echo")
    graph.connect("mix", "vca")
    graph.connect("env", "vca.gain", mode="multiply")
    graph.connect("vca", "room")
    graph.set_output("room.out")
    # Stored values that no decimal literal reproduces by accident.
    for parameter in graph.learnable_parameters().values():
        with torch.no_grad():
            parameter.normalized.mul_(0.987654321).add_(0.00123456789)
    return graph


def render(graph):
    notes = [Note(50, 90, 0.0, 0.1), Note(62, 40, 0.01, 0.05)]
    lfo = torch.tensor([[0.2], [0.8]])
    with torch.no_grad():
        return graph.render_notes(notes, duration_s=0.2, controls={"lfo_rate": lfo})


def test_round_trip_renders_identical_samples(tmp_path):
    graph = rich_graph()
    path = save_preset(graph, tmp_path / "rich.json")
    loaded = load_preset(path)
    assert torch.equal(render(graph), render(loaded))
    assert loaded.parameter_values() == graph.parameter_values()
    assert graph_to_dict(loaded) == graph_to_dict(graph)
    assert loaded.summary() == graph.summary()


def test_preset_is_readable_versioned_json(tmp_path):
    path = save_preset(rich_graph(), tmp_path / "rich.json")
    data = json.loads(open(path).read())
    assert data["format"] == "ddsp_lab.graph" and data["version"] == 1
    assert (data["sample_rate"], data["hop_length"], data["output"]) == (SR, HOP, "room.out")
    filter_entry = next(n for n in data["nodes"] if n["name"] == "cutoff")
    offset = filter_entry["parameters"]["offset"]
    assert offset["kind"] == "learnable" and offset["range"] == [50.0, 2000.0] and offset["curve"] == "log"
    # The physical value is what the stored normalised value maps to.
    assert offset["value"] == pytest.approx(50.0 * 40.0 ** offset["normalized"], rel=1e-12)
    assert {"from": "lfo.out", "to": "cutoff.offset", "mode": "add"} in data["connections"]
    assert "\n  " in open(path).read()  # indented, one field per line


def test_hand_edited_value_takes_effect(tmp_path):
    path = save_preset(rich_graph(), tmp_path / "rich.json")
    data = json.loads(open(path).read())
    entry = next(n for n in data["nodes"] if n["name"] == "room")["parameters"]["decay_s"]
    entry["value"] = 1.25
    (tmp_path / "edited.json").write_text(json.dumps(data))
    loaded = load_preset(tmp_path / "edited.json")
    assert loaded.parameter("room.decay_s").value == pytest.approx(1.25, rel=1e-6)


def test_preset_renders_at_another_sample_rate(tmp_path):
    path = save_preset(rich_graph(), tmp_path / "rich.json")
    loaded = load_preset(path, sample_rate=16000)
    assert (loaded.sample_rate, loaded.hop_length) == (16000, 64)
    audio = render(loaded)
    assert audio.shape == (2, 50 * 64) and torch.isfinite(audio).all()


def _write(tmp_path, data, name="bad.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format="something"), "not a ddsp_lab graph preset"),
        (lambda d: d.update(version=2), "preset version 2 is newer than this ddsp_lab reads"),
        (lambda d: d.update(version="1"), "'version' must be an integer"),
        (lambda d: d.pop("nodes"), "preset is missing the field 'nodes'"),
        (lambda d: d.pop("output"), "preset is missing the field 'output'"),
        (lambda d: d["nodes"][0].update(type="Theremin"), "unknown node type 'Theremin'.*known types: ADSR"),
        (lambda d: d["nodes"][0].pop("name"), r"nodes\[0\] is missing the field 'name'"),
        (lambda d: d["nodes"][0]["options"].update(waveform="zigzag"), "node 'osc'.*waveform must be one of"),
        (lambda d: d["nodes"][0]["options"].update(colour="red"), "node 'osc'.*bad options.*colour"),
        (lambda d: d["nodes"][0]["parameters"]["amplitude"].update(kind="random"), "'kind' must be one of"),
        (lambda d: d["nodes"][0]["parameters"]["amplitude"].pop("range"), "needs the field 'range'"),
        (lambda d: d["nodes"][0]["parameters"]["amplitude"].update(value=7.0), "outside its range"),
        (lambda d: d["connections"][0].update(to="filter.inn"), r"connections\[0\].*no input or parameter 'inn'"),
        (lambda d: d["connections"].pop(0), "'filter' .* input 'in' .* is not connected"),
        (lambda d: d["connections"][0].update(mode="xor"), "'mode' must be one of"),
        (lambda d: d.update(sample_rate=-1), "sample_rate must be a positive integer"),
    ],
)
def test_load_errors_name_the_problem(tmp_path, change, message):
    data = graph_to_dict(rich_graph())
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(GraphError, match=message):
        load_preset(path)


def test_load_rejects_files_that_are_not_presets(tmp_path):
    with pytest.raises(FileNotFoundError, match="preset not found"):
        load_preset(tmp_path / "missing.json")
    with pytest.raises(GraphError, match="not valid JSON"):
        load_preset(_write(tmp_path, "{nodes: ["))
    with pytest.raises(GraphError, match="must be a JSON object"):
        load_preset(_write(tmp_path, "[1, 2]"))
    with pytest.raises(GraphError, match="is a directory"):
        load_preset(tmp_path)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    graph = rich_graph()
    save_preset(graph, tmp_path / "a.json")
    save_preset(graph, tmp_path / "a.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    with pytest.raises(FileNotFoundError):
        save_preset(graph, tmp_path / "no_such_folder" / "a.json")


def test_summary_lists_nodes_parameters_and_connections():
    text = summary(rich_graph())
    assert text.startswith("Graph 'rich': 8000 Hz, hop 32 (4 ms frames), 13 nodes, 13 connections, "
                           "6 learnable parameters (11 values)")
    assert "External controls: f0_hz -> osc.f0_hz, add.f0_hz; gate -> fenv.gate, env.gate; lfo_rate -> lfo.rate_hz;" in text
    assert "room.decay_s" in text and "learnable (per note)" in text and "[0.1, 2] s log" in text
    assert re.search(r"lfo\.out\s+cutoff\.offset \(add\)\s+control \[B, F, 1\]", text)
    assert re.search(r"delay\.out\s+echo\.in\s+audio \[B, T\] \(feedback\)", text)
    assert re.search(r"filter\.cutoff_hz\s+fixed\s+\(replaced\)\s+cutoff\.out", text)


def test_dot_export_is_valid_looking_dot(tmp_path):
    graph = rich_graph()
    dot = to_dot(graph)
    assert dot.startswith('digraph "rich" {') and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}") + dot.count("\\{") - dot.count("\\}")
    assert '"osc":o_out -> "filter":i_in;' in dot
    assert '"lfo":o_out -> "cutoff":i_offset [style=dashed, label="+"];' in dot
    assert '"delay":o_out -> "echo":i_in [color=firebrick];' in dot
    assert '"control:lfo_rate" -> "lfo":i_rate_hz [style=dashed];' in dot
    assert "offset* = " in dot
    path = write_dot(graph, tmp_path / "rich.dot")
    assert open(path).read() == dot
    png = plot_graph(graph, tmp_path / "rich.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_render_preset_writes_the_note(tmp_path):
    path = save_preset(rich_graph(), tmp_path / "rich.json")
    graph = load_preset(path)
    graph.set_parameter("lfo.rate_hz", 2.0)
    simple = save_preset(graph, tmp_path / "simple.json")
    out = render_preset(simple, note=57, velocity=110, duration_s=0.3, gate_s=0.1, out_path=tmp_path / "n.wav")
    audio, rate = sf.read(out)
    assert rate == SR and audio.shape == (round(0.3 * SR),)
    with torch.no_grad():
        expected = load_preset(simple).render_notes(Note(57, 110, 0.0, 0.1), 0.3)[0, : round(0.3 * SR)]
    # Written as 32-bit float WAV: the samples come back exactly.
    np.testing.assert_array_equal(audio.astype(np.float32), expected.numpy())
    out48 = render_preset(simple, duration_s=0.1, sample_rate=16000, out_path=tmp_path / "n16.wav")
    assert sf.info(out48).samplerate == 16000
    with pytest.raises(ValueError, match="gate_s must be finite and > 0"):
        render_preset(simple, gate_s=0.0, out_path=tmp_path / "x.wav")
    with pytest.raises(ValueError, match=".wav or .flac"):
        render_preset(simple, out_path=tmp_path / "x.mp3")
    with pytest.raises(GraphError, match="pitch must be a MIDI note"):
        render_preset(simple, note=200, out_path=tmp_path / "x.wav")


def test_cli_graph_render(tmp_path, capsys):
    from ddsp_lab.cli import main

    graph = load_preset(save_preset(rich_graph(), tmp_path / "rich.json"))
    graph.set_parameter("lfo.rate_hz", 2.0)
    preset = save_preset(graph, tmp_path / "simple.json")
    out = tmp_path / "out.wav"
    assert main(["graph", "render", str(preset), "--note", "60", "--duration", "0.25", "-o", str(out)]) == 0
    audio, rate = sf.read(out)
    assert rate == SR and audio.shape == (2000,) and np.abs(audio).max() > 0
    assert main(["graph", "render", str(tmp_path / "missing.json"), "-o", str(out)]) == 2
    assert "preset not found" in capsys.readouterr().err
