"""A subtractive synthesiser as a graph: band-limited saw, resonant low-pass, VCA.

The filter cutoff follows its own ADSR (through ``ScaleOffset``: 180 Hz plus
up to 3.5 kHz), a slow LFO is added to the cutoff's base, and the amplifier
multiplies the amplitude envelope by the note velocity. Renders a short
bass line (one batch item playing a sequence of notes) and writes the audio,
the preset, a summary, the DOT source and pictures.

Run: ``python examples/graph_subtractive.py --out examples_output``
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from graph_example_outputs import write_outputs  # noqa: E402

from ddsp_lab.graph import Graph, Note, nodes  # noqa: E402


def build_graph(sample_rate: int = 16000, hop_length: int = 64) -> Graph:
    """The subtractive voice; pitch, velocity and gate come from note events."""
    graph = Graph(sample_rate, hop_length, name="subtractive",
                  description="band-limited saw -> resonant low-pass with an ADSR on the cutoff -> VCA")
    graph.add("osc", nodes.Oscillator(waveform="saw", amplitude=0.5))
    graph.add("filter_env", nodes.ADSR(attack_s=0.003, decay_s=0.25, sustain=0.15, release_s=0.12, curve=4.0))
    graph.add("cutoff", nodes.ScaleOffset(scale=3500.0, offset=180.0))
    graph.add("sweep", nodes.LFO(waveform="sine", rate_hz=0.25, depth=120.0))
    graph.add("filter", nodes.StateVariableFilter(output="lowpass", q=4.0))
    graph.add("amp_env", nodes.ADSR(attack_s=0.004, decay_s=0.2, sustain=0.6, release_s=0.1))
    graph.add("vca", nodes.VCA(gain="velocity"))
    graph.chain("osc", "filter", "vca")
    graph.connect("filter_env", "cutoff.in")
    graph.connect("sweep", "cutoff.offset", mode="add")
    graph.connect("cutoff", "filter.cutoff_hz")
    graph.connect("amp_env", "vca.gain", mode="multiply")
    graph.set_output("vca.out")
    return graph


def bass_line(seconds: float) -> List[Note]:
    """Eighth notes of an A-minor riff filling ``seconds``, with accents."""
    pitches = [45, 45, 57, 45, 48, 45, 52, 50]
    step = 0.2
    count = max(1, int(seconds / step))
    return [Note(pitches[i % 8], velocity=120 if i % 4 == 0 else 80, start_s=i * step, duration_s=0.12)
            for i in range(count)]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_output", help="output folder (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=3.2, help="length of the riff (default: %(default)s)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    args = parser.parse_args(argv)
    graph = build_graph(args.sample_rate, hop_length=max(1, round(args.sample_rate * 0.004)))
    print(graph.summary())
    with torch.no_grad():
        riff = graph.render_notes([bass_line(args.seconds)], duration_s=args.seconds)
        envelope = graph.render_notes([bass_line(args.seconds)], duration_s=args.seconds,
                                      outputs=["filter.out", "osc.out"])
    written = write_outputs(args.out, "subtractive", graph, [riff[0], envelope["osc.out"][0]],
                            ["subtractive graph: saw -> low-pass (ADSR + LFO on the cutoff) -> VCA",
                             "the oscillator alone"])
    print("\n".join(f"wrote {path}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
