"""Render the pictures of docs/graphs.md into docs/images/.

    python docs/figures/graphs.py
"""

import os
import sys
import tempfile

import torch

from ddsp_lab.graph import Graph, Learnable, Note, fit, nodes, plot_graph, save_loss_curve
from ddsp_lab.plotting import save_spectrograms

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "..", "images")
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples"))

from graph_karplus_strong import build_loop_graph  # noqa: E402


def tutorial_graph() -> Graph:
    """The subtractive graph built step by step in docs/graphs.md."""
    graph = Graph(sample_rate=16000, hop_length=64, name="subtractive")
    graph.add("osc", nodes.Oscillator(waveform="saw", amplitude=0.5))
    graph.add("filter_env", nodes.ADSR(attack_s=0.003, decay_s=Learnable(0.2, (0.02, 2.0), "log"),
                                       sustain=0.1, release_s=0.1))
    graph.add("cutoff", nodes.ScaleOffset(scale=3000.0, offset=Learnable(300.0, (50.0, 4000.0), "log")))
    graph.add("filter", nodes.StateVariableFilter(output="lowpass", q=2.0))
    graph.add("amp_env", nodes.ADSR(attack_s=0.005, decay_s=0.1, sustain=0.7, release_s=0.15))
    graph.add("vca", nodes.VCA(gain="velocity"))
    graph.chain("osc", "filter", "vca")
    graph.connect("filter_env", "cutoff.in")
    graph.connect("cutoff", "filter.cutoff_hz")
    graph.connect("amp_env", "vca.gain", mode="multiply")
    graph.set_output("vca.out")
    graph.add("lfo", nodes.LFO(rate_hz=0.5, depth=150.0))
    graph.connect("lfo", "cutoff.offset", mode="add")
    return graph


def main():
    graph = tutorial_graph()
    plot_graph(graph, os.path.join(IMAGES, "graph_subtractive.png"), title="the tutorial's subtractive graph")
    melody = [[Note(p, velocity=v, start_s=0.25 * i, duration_s=0.15)
               for i, (p, v) in enumerate(zip([45, 48, 52, 57, 55, 52, 48, 45], [120, 70, 90, 70] * 2))]]
    with torch.no_grad():
        taps = graph.render_notes(melody, duration_s=2.2, outputs=["vca.out", "osc.out"])
    save_spectrograms(os.path.join(IMAGES, "graph_subtractive_render.png"),
                      [taps["osc.out"][0], taps["vca.out"][0]], 16000,
                      ["osc.out: the band-limited saw", "vca.out: low-passed (ADSR + LFO on the cutoff), enveloped"])

    with torch.no_grad():
        graph.set_parameter("filter_env.decay_s", Learnable(0.35, (0.02, 2.0), "log"))
        graph.set_parameter("cutoff.offset", Learnable(500.0, (50.0, 4000.0), "log"))
        target = graph.render_notes(Note(45, duration_s=0.4), duration_s=0.5)
    student = tutorial_graph()
    with torch.no_grad():
        before = student.render_notes(Note(45, duration_s=0.4), duration_s=0.5)
    with tempfile.TemporaryDirectory() as folder:
        result = fit(student, target, 16000, notes=Note(45, duration_s=0.4), steps=150, lr=0.02, out_dir=folder,
                     progress=False)
    save_loss_curve(os.path.join(IMAGES, "graph_fit_loss.png"), result.losses, result.best_step,
                    title="fitting filter_env.decay_s and cutoff.offset (multi-scale spectral loss)")
    save_spectrograms(os.path.join(IMAGES, "graph_fit_spectrograms.png"), [target[0], before[0], result.audio[0]],
                      16000, ["target (decay 0.35 s, offset 500 Hz)", "before the fit (0.2 s, 300 Hz)",
                              "after the fit ({:.3g} s, {:.4g} Hz)".format(result.parameters["filter_env.decay_s"],
                                                                        result.parameters["cutoff.offset"])])
    plot_graph(build_loop_graph(57.0), os.path.join(IMAGES, "graph_feedback.png"),
               title="Karplus-Strong from parts: a cycle closed by a Delay")


if __name__ == "__main__":
    main()
