"""A two-operator FM bell as a graph.

A sine modulator at 3.5 times the pitch (an inharmonic ratio, hence the
bell) drives the phase of a sine carrier. The modulation index (the
modulator's amplitude, in radians) starts at up to 6 rad with velocity and
decays faster than the carrier, so the strike is bright and the tail pure,
as in a struck bell. Three notes render as one batch (one row each) and are
mixed into a chord.

Run: ``python examples/graph_fm_bell.py --out examples_output``
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


def build_graph(sample_rate: int = 16000, hop_length: int = 64, ratio: float = 3.5, index: float = 6.0) -> Graph:
    """Modulator -> carrier phase; envelopes on the index and on the carrier's level."""
    graph = Graph(sample_rate, hop_length, name="fm_bell",
                  description=f"two-operator FM, modulator at {ratio} x f0, index up to {index} rad")
    graph.add("index_env", nodes.ADSR(attack_s=0.001, decay_s=1.2, sustain=0.0, release_s=1.0, curve=5.0,
                                      peak=index))
    graph.add("level_env", nodes.ADSR(attack_s=0.002, decay_s=3.5, sustain=0.0, release_s=2.0, curve=5.0))
    # The index is velocity (0..1) times its envelope: harder strikes are brighter.
    graph.add("modulator", nodes.SineOperator(ratio=ratio, amplitude="velocity"))
    graph.add("carrier", nodes.SineOperator(ratio=1.0))
    graph.connect("index_env", "modulator.amplitude", mode="multiply")
    graph.connect("modulator", "carrier.phase_mod")
    graph.connect("level_env", "carrier.amplitude")
    graph.set_output("carrier.out")
    return graph


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_output", help="output folder (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=4.0, help="length (default: %(default)s)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    args = parser.parse_args(argv)
    graph = build_graph(args.sample_rate, hop_length=max(1, round(args.sample_rate * 0.004)))
    print(graph.summary())
    # A bell ignores the note-off: the notes are held (duration_s=None) and ring out.
    chord = [Note(72, velocity=110), Note(76, velocity=70, start_s=0.15), Note(79, velocity=90, start_s=0.3)]
    with torch.no_grad():
        batch = graph.render_notes(chord, duration_s=args.seconds)  # [3, T]: one row per note
    mix = batch.sum(dim=0)
    written = write_outputs(args.out, "fm_bell", graph, [mix, batch[0]],
                            ["FM bell chord (three notes rendered as a batch, summed)", "C5 alone"])
    print("\n".join(f"wrote {path}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
