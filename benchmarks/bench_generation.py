"""Generation speed of the neural baselines and the DDSP voice, in samples per second.

Measured in one run, one thread, batch 1, untrained models of the tiny size
presets at 16 kHz (speed does not depend on the weights):

* **WaveNet, incremental**: :meth:`~ddsp_lab.models.WaveNet.generate`, one
  column of every convolution per sample with cached past activations;
* **WaveNet, naive**: :meth:`~ddsp_lab.models.WaveNet.generate_naive`, the
  whole receptive field recomputed for every sample (the baseline of the
  issue's 20x target). Once the field is full each of its steps is one
  teacher-forced pass over the last receptive field of samples, so that pass
  is timed (best of 20) instead of minutes of generation;
* **SampleRNN**: :meth:`~ddsp_lab.models.SampleRNN.generate`;
* **DDSP voice**: one pass of the tiny voice (decoder, harmonic oscillator,
  filtered noise, reverb).

    python benchmarks/bench_generation.py            # writes benchmarks/results/generation_cpu.json
    python benchmarks/bench_generation.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ddsp_lab.io import write_text_atomic  # noqa: E402
from ddsp_lab.models import Config, SampleRNN, WaveNet, build_model  # noqa: E402

RATE, HOP = 16000, 64
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "generation_cpu.json")


def _controls(frames: int):
    return torch.full((1, frames), 330.0), torch.full((1, frames), -30.0)


def _rate(function, samples: int, repeats: int) -> float:
    """Best samples per second over ``repeats`` calls (the least disturbed by other load)."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = max(best, samples / (time.perf_counter() - started))
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: few samples")
    parser.add_argument("--out", default=RESULTS, help="JSON results (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    frames = 8 if args.quick else 64  # 0.5 s / 4 s ... of audio at hop 64
    repeats = 1 if args.quick else 3
    wavenet = WaveNet.from_size("tiny", RATE, HOP).eval()
    samplernn = SampleRNN.from_size("tiny", RATE, HOP).eval()
    config = Config.preset("ddsp", "tiny")
    config.model.sample_rate, config.model.hop_length = RATE, HOP
    voice = build_model(config.model).eval()
    f0, loudness = _controls(frames)
    samples = frames * HOP

    rows = {}
    with torch.no_grad():
        rows["WaveNet, incremental"] = _rate(lambda: wavenet.generate(f0, loudness), samples, repeats)
        # Once its receptive field is full, every step of the naive generator is one pass of the
        # network over the last receptive field of samples: time that pass instead of minutes of audio.
        field_frames = -(-wavenet.receptive_field // HOP)
        f0_field, loudness_field = _controls(field_frames)
        window = torch.zeros(1, field_frames * HOP)
        per_step = 1.0 / _rate(lambda: wavenet(window, f0_field, loudness_field), 1, 5 if args.quick else 20)
        rows["WaveNet, naive (full receptive field per sample)"] = 1.0 / per_step
        rows["SampleRNN"] = _rate(lambda: samplernn.generate(f0, loudness), samples, repeats)
        long_f0, long_loudness = _controls(frames * 16)
        rows["DDSP voice (tiny), one pass"] = _rate(lambda: voice(long_f0, long_loudness), samples * 16, repeats)

    ratio = rows["WaveNet, incremental"] / rows["WaveNet, naive (full receptive field per sample)"]
    print(f"one thread, batch 1, {RATE} Hz; WaveNet tiny receptive field {wavenet.receptive_field} samples")
    for name, value in rows.items():
        print(f"  {name:<52} {value:>12,.0f} samples/s  {value / RATE:8.3f}x real time")
    print(f"  WaveNet incremental / naive: {ratio:.0f}x")
    if not args.quick:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        write_text_atomic(args.out, json.dumps({"samples_per_second": rows, "incremental_over_naive": ratio,
                                                "receptive_field": wavenet.receptive_field}, indent=2) + "\n")
        print(f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
