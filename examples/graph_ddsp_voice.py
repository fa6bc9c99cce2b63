"""A DDSP-style voice as a graph: harmonic oscillator plus filtered noise plus reverb.

In DDSP a decoder network turns pitch and loudness into the synthesiser's
controls. Here those controls are graph parameters bound to *external
controls* by name:

* ``harmonic.amplitude`` <- ``"amplitude"`` (physical, linear);
* ``harmonic.harmonic_distribution`` <- ``"harmonics"`` (``[B, F, 40]``,
  normalised by the node);
* ``noise.magnitudes`` <- ``"noise"``, a network-style output in ``[0, 1]``
  mapped onto 1e-5 .. 0.02 on a log curve by ``External(range=..., curve="log")``.

The stand-in "decoder" below is a few lines of arithmetic (brighter and
breathier when louder) so the example needs no trained model; a trained
decoder's outputs plug in under the same names. The pitch contour is given
directly as the ``"f0_hz"`` control rather than as note events.

Run: ``python examples/graph_ddsp_voice.py --out examples_output``
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Dict, List, Optional

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from graph_example_outputs import write_outputs  # noqa: E402

from ddsp_lab.core.conversions import midi_to_hz  # noqa: E402
from ddsp_lab.graph import External, Graph, nodes  # noqa: E402

N_HARMONICS = 40
N_BANDS = 33


def build_graph(sample_rate: int = 16000, hop_length: int = 64) -> Graph:
    """Harmonic + filtered noise -> mixer -> reverb, driven by external controls."""
    graph = Graph(sample_rate, hop_length, name="ddsp_voice",
                  description="harmonic plus filtered noise plus reverb, driven by decoder outputs")
    graph.add("harmonic", nodes.Harmonic(n_harmonics=N_HARMONICS, amplitude="amplitude",
                                         harmonic_distribution="harmonics"))
    graph.add("noise", nodes.FilteredNoise(n_bands=N_BANDS, seed=0,
                                           magnitudes=External("noise", range=(1e-5, 0.02), curve="log")))
    graph.add("mix", nodes.Mixer(inputs=2))
    graph.add("reverb", nodes.Reverb(ir_duration_s=1.5, decay_s=1.2, damping=0.4, mix=0.2))
    graph.connect("harmonic", "mix.in0")
    graph.connect("noise", "mix.in1")
    graph.connect("mix", "reverb")
    graph.set_output("reverb.out")
    return graph


def melody(frames: int, frame_rate: float) -> Dict[str, torch.Tensor]:
    """Pitch (with vibrato) and loudness curves of a four-note phrase: ``[1, F, 1]`` each."""
    t = torch.arange(frames, dtype=torch.float64) / frame_rate
    notes = torch.tensor([67.0, 71.0, 74.0, 72.0], dtype=torch.float64)
    index = torch.clamp((t / t[-1].clamp(min=1e-9) * len(notes)).long(), max=len(notes) - 1)
    slot = (t * len(notes) / max(float(t[-1]), 1e-9)) % 1.0
    vibrato = 0.3 * torch.sin(2 * math.pi * 5.5 * t) * torch.clamp(slot * 3 - 0.5, 0.0, 1.0)
    f0 = midi_to_hz(notes[index] + vibrato)
    loudness = torch.sin(math.pi * torch.clamp(slot * 1.15, 0.0, 1.0)) ** 0.7
    return {"f0_hz": f0.float().reshape(1, -1, 1), "loudness": loudness.float().reshape(1, -1, 1)}


def decoder(f0_hz: torch.Tensor, loudness: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Stand-in for a trained decoder: synthesiser controls from pitch and loudness.

    Returns ``amplitude`` ``[B, F, 1]``, ``harmonics`` ``[B, F, 40]`` and
    ``noise`` ``[B, F, 33]`` in ``[0, 1]`` (as a sigmoid output would be).
    """
    numbers = torch.arange(1, N_HARMONICS + 1, dtype=f0_hz.dtype)
    rolloff = 1.2 + 2.5 * (1.0 - loudness)  # louder -> brighter
    harmonics = numbers.pow(-rolloff) * (1.0 + 0.5 * (numbers % 2 == 1))  # a hollow, reedy spectrum
    bands = torch.linspace(0.0, 1.0, N_BANDS, dtype=f0_hz.dtype)
    noise = torch.clamp(0.35 + 0.45 * loudness - 0.4 * bands, 0.0, 1.0)
    return {"amplitude": 0.4 * loudness, "harmonics": harmonics, "noise": noise}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_output", help="output folder (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length (default: %(default)s)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    args = parser.parse_args(argv)
    hop = max(1, round(args.sample_rate * 0.004))
    graph = build_graph(args.sample_rate, hop)
    print(graph.summary())
    frames = max(8, round(args.seconds * args.sample_rate / hop))
    features = melody(frames, args.sample_rate / hop)
    controls = {"f0_hz": features["f0_hz"], **decoder(features["f0_hz"], features["loudness"])}
    with torch.no_grad():
        taps = graph(controls, outputs=["reverb.out", "harmonic.out", "noise.out"])
    written = write_outputs(args.out, "ddsp_voice", graph,
                            [taps["reverb.out"][0], taps["harmonic.out"][0], taps["noise.out"][0]],
                            ["DDSP-style voice: harmonic + noise + reverb", "harmonic part", "noise part"])
    print("\n".join(f"wrote {path}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
