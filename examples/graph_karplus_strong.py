"""Karplus-Strong plucked strings as graphs, two ways.

1. ``build_loop_graph``: the classic algorithm wired from parts, a feedback
   cycle closed by an explicit ``Delay``: a noise burst enters a mixer whose
   output is delayed by about one period, low-passed by a two-tap
   ``OneZero`` and attenuated by a ``VCA`` before it returns to the mixer.
   The graph renders the cycle block by block (a block is the delay
   length). The delay is an integer number of samples, so the loop is tuned
   to within half a sample of the period, and to one pitch: the graph is
   built for a note.
2. ``build_node_graph``: the ``KarplusStrong`` node, the same loop rendered
   in closed form with exact (fractional) tuning, which plays any note; a
   batch of notes renders an arpeggio.

Run: ``python examples/graph_karplus_strong.py --out examples_output``
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from graph_example_outputs import write_outputs  # noqa: E402

from ddsp_lab.core.conversions import midi_to_hz  # noqa: E402
from ddsp_lab.graph import Graph, Note, nodes  # noqa: E402


def build_loop_graph(pitch: float = 57.0, decay_s: float = 2.0, brightness: float = 0.2,
                     sample_rate: int = 16000, hop_length: int = 64) -> Graph:
    """A Karplus-Strong loop from a Delay, a OneZero low-pass and a VCA, tuned to ``pitch`` (MIDI)."""
    period = sample_rate / float(midi_to_hz(torch.tensor(float(pitch), dtype=torch.float64)))
    # The two-tap low-pass delays low frequencies by (1 - brightness) / 2 samples.
    delay = max(1, round(period - (1.0 - brightness) / 2.0))
    # One trip round the loop takes one period; 60 dB of loss over decay_s seconds.
    loop_gain = 10.0 ** (-3.0 * period / (sample_rate * decay_s))
    graph = Graph(sample_rate, hop_length, name="karplus_strong_loop",
                  description=f"feedback loop tuned to MIDI {pitch}: delay {delay} samples, gain {loop_gain:.5f}")
    graph.add("noise", nodes.Noise(amplitude=1.0, seed=0))
    # The burst lasts one period: an audio-rate envelope resolves it within a frame.
    graph.add("burst_env", nodes.ADSR(rate="audio", attack_s=1e-4, decay_s=period / sample_rate, sustain=0.0,
                                      release_s=1e-3))
    graph.add("burst", nodes.Multiply())
    graph.add("string", nodes.Mixer(inputs=2))
    graph.add("delay", nodes.Delay(samples=delay))
    graph.add("damping", nodes.OneZero(brightness=brightness))
    graph.add("loss", nodes.VCA(gain=loop_gain))
    graph.connect("noise", "burst.a")
    graph.connect("burst_env", "burst.b")
    graph.connect("burst", "string.in0")
    graph.chain("string", "delay", "damping", "loss")
    graph.connect("loss", "string.in1")
    graph.set_output("string.out")
    return graph


def build_node_graph(sample_rate: int = 16000, hop_length: int = 64) -> Graph:
    """The KarplusStrong node with a touch of reverb; pitch and pluck time from note events."""
    graph = Graph(sample_rate, hop_length, name="karplus_strong",
                  description="closed-form Karplus-Strong string with reverb")
    graph.add("string", nodes.KarplusStrong(decay_s=2.5, brightness=0.35))
    graph.add("room", nodes.Reverb(ir_duration_s=0.8, decay_s=0.7, mix=0.15))
    graph.chain("string", "room")
    graph.set_output("room.out")
    return graph


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_output", help="output folder (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=2.5, help="length (default: %(default)s)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    args = parser.parse_args(argv)
    hop = max(1, round(args.sample_rate * 0.004))

    loop = build_loop_graph(57.0, sample_rate=args.sample_rate, hop_length=hop)
    print(loop.summary())
    node = build_node_graph(args.sample_rate, hop)
    arpeggio = [52, 56, 59, 64, 68, 71]
    step = args.seconds / (len(arpeggio) + 2)
    notes = [Note(p, velocity=100, start_s=i * step) for i, p in enumerate(arpeggio)]
    with torch.no_grad():
        plucked = loop.render_notes(Note(57.0), duration_s=args.seconds)
        strings = node.render_notes(notes, duration_s=args.seconds).sum(dim=0)  # one row per note, mixed
        single = node.render_notes(Note(57.0), duration_s=args.seconds)
    written = write_outputs(args.out, "karplus_strong_loop", loop, [plucked[0], single[0]],
                            ["feedback-loop graph (Delay + OneZero + VCA), A3",
                             "KarplusStrong node (closed form, exact tuning), A3"])
    written += write_outputs(args.out, "karplus_strong", node, [strings],
                             ["KarplusStrong node: an arpeggio rendered as a batch and mixed"])
    print("\n".join(f"wrote {path}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
