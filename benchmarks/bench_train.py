"""Seconds per training step of the voices, measured through ``ddsp_lab.workflows.train.train``.

Workload: batch 16 x 4 s at 16 kHz, hop 64 (1000 frames per example),
float32, the default loss (FFT 2048 .. 64) and the default voices of each
size (DDSP: 60 harmonics, 65 noise bands, 1 s learned reverb; FM: DX7
algorithm 1, ratios 1, 1, 1, 1, 3, 14, no feedback, 1 s reverb). The data are
synthetic: a harmonic tone per example with f0 between 196 and 988 Hz
(violin range) and a 5.5 Hz vibrato, loudness from
:func:`~ddsp_lab.features.compute_loudness`; the step time does not depend on
the sound, only on how many harmonics lie below Nyquist, which this range
sets as for violin recordings.

A step is everything the training loop does per step: fetching the batch,
forward, loss, backward, gradient clipping, the Adam update and logging
(the training log's ``seconds_per_step`` column). Each configuration runs
``--steps`` steps of a fresh run, ``--rounds`` times, the configurations
taking turns round by round because a shared machine's speed drifts by
several times within seconds; the first step of every run (allocations,
kernel warm-up) is dropped. The table gives the median and the fastest of
the timed steps: the fastest is the best estimate of the unshared speed.

    python benchmarks/bench_train.py                     # tiny and small, DDSP and FM, 2 threads
    python benchmarks/bench_train.py --sizes full --device cuda
    python benchmarks/bench_train.py --quick             # smoke test: batch 2 x 0.5 s, 2 steps
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ddsp_lab.features import compute_loudness  # noqa: E402
from ddsp_lab.models import Config  # noqa: E402
from ddsp_lab.workflows.train import train  # noqa: E402

SAMPLE_RATE, HOP = 16000, 64


class Tones(torch.utils.data.Dataset):
    """Harmonic tones with vibrato and a swell, one pitch per example, with their loudness."""

    sample_rate, hop_length = SAMPLE_RATE, HOP

    def __init__(self, count: int, seconds: float):
        self.items = []
        frames = int(round(seconds * SAMPLE_RATE / HOP))
        t = torch.arange(frames * HOP, dtype=torch.float64) / SAMPLE_RATE
        frame_t = torch.arange(frames, dtype=torch.float64) * HOP / SAMPLE_RATE
        for number in range(count):
            base = 196.0 * 2.0 ** (number * 28 / 12 / max(count - 1, 1))  # G3 .. about B5
            f0 = base * 2.0 ** (0.2 / 12 * torch.sin(2 * math.pi * 5.5 * t))
            phase = 2 * math.pi * torch.cumsum(f0, 0) / SAMPLE_RATE
            swell = torch.sin(math.pi * t / t[-1]).clamp(min=0.05)
            audio = sum(0.3 / k * torch.sin(k * phase) for k in range(1, 30) if k * base < SAMPLE_RATE / 2)
            audio = (audio * swell).float()
            frame_f0 = (base * 2.0 ** (0.2 / 12 * torch.sin(2 * math.pi * 5.5 * frame_t))).float()
            self.items.append({
                "audio": audio, "f0_hz": frame_f0,
                "loudness_db": compute_loudness(audio, SAMPLE_RATE, hop_length=HOP),
            })

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


def step_times(synth: str, size: str, data: Tones, steps: int, device: str):
    """``(parameters, [seconds of steps 2..steps])`` of a fresh run."""
    config = Config.preset(synth, size)
    config.training.batch_size = len(data)
    config.training.steps = steps
    config.training.log_interval = 1
    config.training.validation_interval = 0
    config.training.checkpoint_interval = steps
    with tempfile.TemporaryDirectory() as run_dir:
        result = train((data, None), run_dir, config, device=device, progress=False)
    times = [row["seconds_per_step"] for row in result.history[1:]] or [result.history[0]["seconds_per_step"]]
    return result.model.parameter_counts()["total"], times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"], choices=["tiny", "small", "full"])
    parser.add_argument("--synths", nargs="+", default=["ddsp", "fm"], choices=["ddsp", "fm"])
    parser.add_argument("--steps", type=int, default=4, help="steps per run, the first untimed")
    parser.add_argument("--rounds", type=int, default=3, help="runs per configuration, interleaved")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default %(default)s)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 2 x 0.5 s, 2 steps")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    batch, seconds, steps, rounds = (2, 0.5, 2, 1) if args.quick else (16, 4.0, args.steps, args.rounds)
    data = Tones(batch, seconds)
    cases = [(synth, size) for size in args.sizes for synth in args.synths]
    times = {case: [] for case in cases}
    parameters = {}
    for number in range(rounds):
        for synth, size in cases:
            print(f"round {number + 1}/{rounds}: {synth} {size} ...", file=sys.stderr, flush=True)
            parameters[synth, size], measured = step_times(synth, size, data, steps, args.device)
            times[synth, size] += measured
    rows = [
        {"synth": synth, "size": size, "parameters": parameters[synth, size],
         "median_seconds_per_step": statistics.median(times[synth, size]),
         "fastest_seconds_per_step": min(times[synth, size]), "steps_timed": len(times[synth, size])}
        for synth, size in cases
    ]
    import platform

    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, {args.device}; "
          f"torch {torch.__version__}; batch {batch} x {seconds:g} s at {SAMPLE_RATE} Hz, hop {HOP}")
    print()
    print("| voice | size | parameters | seconds per step (median) | seconds per step (fastest) | steps timed |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['synth']} | {row['size']} | {row['parameters']:,} | {row['median_seconds_per_step']:.2f} | "
              f"{row['fastest_seconds_per_step']:.2f} | {row['steps_timed']} |")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
