"""Fit a graph to a real recorded note (from ``../shared/data/notes``).

The graph is a small DDSP-style voice: a harmonic oscillator whose level
follows a learnable ADSR and whose brightness follows it too (a low-pass
with the envelope on its cutoff), plus filtered noise with its own
envelope, through a reverb. Its learnable parameters (harmonic levels on a log curve,
envelope times, noise band levels, reverb decay and mix) are fitted to the
first seconds of the note with the multi-scale spectral loss; the pitch
comes from the file name (``harp_C5`` is MIDI 72; the recordings are
pitch-corrected). The fit writes ``fitted_preset.json``,
``loss_curve.png``, the fitted audio next to the target, and an attribution
file for the recording (CC-BY).

When the data folder is absent the script says so and exits cleanly.

Run: ``python examples/graph_fit_real_note.py --out examples_output``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import List, Optional


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ddsp_lab.graph import Graph, Learnable, Note, fit, nodes, plot_graph  # noqa: E402
from ddsp_lab.io import load_audio, save_audio  # noqa: E402
from ddsp_lab.plotting import save_spectrograms  # noqa: E402

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
NOTE_FILE = os.path.join("notes", "harp", "harp_C5.flac")
_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def midi_from_file_name(path: str) -> int:
    """MIDI note from names like ``harp_C5``, ``organ_Ds3``, ``trombone_As1`` (``s`` is sharp)."""
    match = re.search(r"_([A-G])(s?)(-?\d)\.[a-z0-9]+$", os.path.basename(path))
    if match is None:
        raise ValueError(f"cannot read a note name such as _C5 or _Ds3 from {path!r}")
    letter, sharp, octave = match.groups()
    return 12 * (int(octave) + 1) + _SEMITONES[letter] + (1 if sharp else 0)


def build_graph(sample_rate: int = 16000, hop_length: int = 64, n_harmonics: int = 24, n_bands: int = 16) -> Graph:
    """A harmonic-plus-noise voice with a reverb; the pitch comes from the note."""
    graph = Graph(sample_rate, hop_length, name="fitted_note",
                  description="harmonic + filtered noise + reverb, fitted to a recorded note")
    levels = [1.0 / k for k in range(1, n_harmonics + 1)]
    graph.add("env", nodes.ADSR(curve=[0.0, 4.0, 4.0],
                                attack_s=Learnable(0.01, (0.001, 0.3), "log"),
                                decay_s=Learnable(0.8, (0.05, 8.0), "log"),
                                sustain=Learnable(0.2, (0.0, 1.0)),
                                release_s=0.3))
    graph.add("harmonic", nodes.Harmonic(n_harmonics=n_harmonics,
                                         amplitude=Learnable(0.2, (0.005, 1.0), "log"),
                                         harmonic_distribution=Learnable(levels, (1e-4, 1.0), "log")))
    graph.add("noise", nodes.FilteredNoise(n_bands=n_bands, seed=0,
                                           magnitudes=Learnable([0.002] * n_bands, (1e-5, 0.1), "log")))
    # The brightness dies away faster than the level, as in a plucked string:
    # a low-pass whose cutoff follows the envelope.
    graph.add("cutoff", nodes.ScaleOffset(scale=Learnable(4000.0, (100.0, 7000.0), "log"),
                                          offset=Learnable(800.0, (100.0, 7000.0), "log")))
    graph.add("tone", nodes.StateVariableFilter(q=0.707))
    graph.add("noise_env", nodes.ADSR(attack_s=0.002, decay_s=Learnable(0.08, (0.01, 2.0), "log"),
                                      sustain=Learnable(0.05, (0.0, 1.0)), release_s=0.05))
    graph.add("noise_vca", nodes.VCA())
    graph.add("mix", nodes.Mixer(inputs=2))
    graph.add("room", nodes.Reverb(ir_duration_s=1.0, decay_s=Learnable(0.5, (0.1, 2.0), "log"),
                                   damping=0.4, mix=Learnable(0.1, (0.0, 0.6))))
    graph.connect("env", "harmonic.amplitude", mode="multiply")
    graph.connect("noise", "noise_vca")
    graph.connect("noise_env", "noise_vca.gain")
    graph.connect("env", "cutoff")
    graph.connect("cutoff", "tone.cutoff_hz")
    graph.connect("harmonic", "tone")
    graph.connect("tone", "mix.in0")
    graph.connect("noise_vca", "mix.in1")
    graph.connect("mix", "room")
    graph.set_output("room.out")
    return graph


def _credit(data_dir: str, relative: str) -> str:
    try:
        with open(os.path.join(data_dir, "manifest.json"), encoding="utf-8") as stream:
            entry = next(e for e in json.load(stream) if e["file"] == relative.replace(os.sep, "/"))
        return f"{relative}: {entry['credit']}; licence {entry['license']} ({entry.get('license_url', '')})"
    except (OSError, StopIteration, KeyError, ValueError):
        return f"{relative}: see {os.path.join(data_dir, 'README.md')} for its licence and credit"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="examples_output", help="output folder (default: %(default)s)")
    parser.add_argument("--data", default=DEFAULT_DATA, help="the shared data folder (default: ../shared/data)")
    parser.add_argument("--note-file", default=NOTE_FILE,
                        help="note, relative to the data folder (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=1.5, help="seconds of the note fitted (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=0.03, help="learning rate, normalised units (default: %(default)s)")
    parser.add_argument("--sample-rate", type=int, default=16000, help="Hz (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--fresh", action="store_true",
                        help="start over instead of resuming an interrupted fit in the output folder")
    args = parser.parse_args(argv)
    path = os.path.join(args.data, args.note_file)
    if not os.path.exists(path):
        print(f"skipping: the recording {path} is not here (the shared data folder is optional)")
        return 0
    pitch = midi_from_file_name(path)
    audio, rate = load_audio(path, sample_rate=args.sample_rate)
    target = audio[:, : round(args.seconds * rate)]
    target = target / target.abs().max().clamp(min=1e-9) * 0.7
    graph = build_graph(rate, hop_length=max(1, round(rate * 0.004)))
    out_dir = os.path.join(args.out, "fit_real_note")
    os.makedirs(out_dir, exist_ok=True)
    print(f"fitting {graph.name} to {path} (MIDI {pitch}, {target.shape[1] / rate:.2f} s at {rate} Hz)")
    # A plucked note: held to the end, it simply decays.
    result = fit(graph, target, rate, notes=Note(pitch), steps=args.steps, lr=args.lr, out_dir=out_dir,
                 progress=not args.no_progress, resume=not args.fresh)
    print(f"loss {result.losses[0]:.4g} -> {result.best_loss:.4g} (best at step {result.best_step})")
    for name, value in result.parameters.items():
        shown = f"{value:.4g}" if isinstance(value, float) else f"[{value[0]:.3g}, {value[1]:.3g}, ...]"
        print(f"  {name:32s} {shown}")
    fitted = result.audio[0]
    save_audio(os.path.join(out_dir, "target.wav"), target[0], rate)
    save_audio(os.path.join(out_dir, "fitted.wav"), fitted, rate, subtype="float")
    save_spectrograms(os.path.join(out_dir, "target_vs_fitted.png"), [target[0], fitted], rate,
                      [f"target: {args.note_file}", f"fitted graph (loss {result.best_loss:.3g})"])
    plot_graph(graph, os.path.join(out_dir, "graph.png"))
    with open(os.path.join(out_dir, "ATTRIBUTION.txt"), "w", encoding="utf-8") as stream:
        stream.write("The target audio and every file fitted to it derive from:\n")
        stream.write(_credit(args.data, args.note_file) + "\n")
    print(f"wrote {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
