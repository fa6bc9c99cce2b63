"""Benchmark the differentiable DX7 voice against the exact engine, in the same run.

Workload: one note (60, velocity 100, key up at 1 s), 2 s at 16 kHz (32000
samples, 500 blocks), for factory voices of ROM1A: E.PIANO 1 (algorithm 5,
feedback 6) and MARIMBA (algorithm 7, no feedback), plus a batch of 8 notes
of E.PIANO 1. Cases:

* ``engine``: :func:`ddsp_lab.dx7.engine.render_voice`, the exact integer
  engine (numba control and audio loops), not differentiable;
* ``relaxed forward``: :meth:`ddsp_lab.dx7.relaxed.RelaxedVoice.render`,
  float32, under ``torch.no_grad()``;
* ``relaxed forward+backward``: the same with every parameter group learnable,
  then the backward pass of ``audio.square().mean()`` into all of them.

Timing: after a warm-up (numba compilation is cached on disk) the cases take
turns call by call for ``--rounds`` rounds; the table gives each case's
median and the median ratio to the engine within a round, because a shared
machine's speed drifts.

    python benchmarks/bench_dx7_relaxed.py
    python benchmarks/bench_dx7_relaxed.py --rounds 5 --json dx7_relaxed.json
    python benchmarks/bench_dx7_relaxed.py --threads 1   # steadier on a shared machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Callable, Dict, List

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ddsp_lab.dx7 import read_syx  # noqa: E402
from ddsp_lab.dx7.engine import render_voice  # noqa: E402
from ddsp_lab.dx7.relaxed import RelaxedVoice  # noqa: E402

ROM1A = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "dx7", "rom1a.syx")
SAMPLE_RATE = 16000
DURATION_S = 2.0
GATE_S = 1.0
BATCH_NOTES = [48, 52, 55, 60, 64, 67, 72, 76]


def _voices():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bank = read_syx(ROM1A)
    return {"E.PIANO 1": bank[10], "MARIMBA": bank[21]}


def _cases(voice, notes: List[int]) -> Dict[str, Callable[[], None]]:
    plain = RelaxedVoice.from_voice(voice, learnable=())
    learnable = RelaxedVoice.from_voice(voice)

    def engine():
        for note in notes:
            render_voice(voice, note, 100, GATE_S, DURATION_S, SAMPLE_RATE)

    def forward():
        with torch.no_grad():
            plain.render(notes, 100, GATE_S, DURATION_S, SAMPLE_RATE)

    def forward_backward():
        learnable.zero_grad(set_to_none=True)
        learnable.render(notes, 100, GATE_S, DURATION_S, SAMPLE_RATE).square().mean().backward()

    return {"engine": engine, "relaxed forward": forward, "relaxed forward+backward": forward_backward}


def measure(rounds: int) -> List[Dict[str, object]]:
    rows = []
    workloads = [(name, voice, [60]) for name, voice in _voices().items()]
    workloads.append(("E.PIANO 1, 8 notes", _voices()["E.PIANO 1"], BATCH_NOTES))
    for label, voice, notes in workloads:
        cases = _cases(voice, notes)
        for run in cases.values():  # warm-up: compilation, caches
            run()
        times: Dict[str, List[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, run in cases.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        engine = times["engine"]
        for name, values in times.items():
            ratios = [value / base for value, base in zip(values, engine)]
            rows.append({
                "workload": label,
                "case": name,
                "median_ms": 1000 * statistics.median(values),
                "x_engine": statistics.median(ratios),
                "x_real_time": DURATION_S * len(notes) / statistics.median(values),
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed calls per case (median reported)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = measure(args.rounds)
    print(
        f"{platform.machine()}, {torch.get_num_threads()} threads; torch {torch.__version__}; "
        f"2 s at {SAMPLE_RATE} Hz per note, median of {args.rounds}"
    )
    print("| workload | case | ms | x engine time | x real time |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['workload']} | {row['case']} | {row['median_ms']:.1f} | {row['x_engine']:.1f} | "
            f"{row['x_real_time']:.0f} |"
        )
    if args.json:
        with open(args.json + ".tmp", "w") as handle:
            json.dump(rows, handle, indent=2)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
