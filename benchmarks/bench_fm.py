"""Benchmark FMSynth against a DDX7-style straightforward FM synth, in the same run.

Workload (the design notes' DDX7 row): batch 16 x 4 s at 16 kHz, hop 64,
6 operators, frame-rate levels, float32, DX7 algorithm 1 with DDX7's
"strings" ratios (1, 1, 1, 1, 3, 14). Cases:

* ``ddx7``: the straightforward formulation as DDX7 writes it (its
  ``fm_string_synth``, which is DX7 algorithm 1 without feedback): levels and
  f0 upsampled to audio rate with ``F.interpolate``, one float32 cumulative
  sum of the phase, ``ratio * phase`` wrapped per operator, ``sin``, and the
  routing spelled out operator by operator in Python;
* ``fmsynth``: :class:`ddsp_lab.units.fm.FMSynth`, feedback 0;
* ``fmsynth_feedback``: the same with DX7 feedback 7 on OP6 (the compiled
  recursion and its adjoint);
* ``fmsynth_feedback_learnable``: feedback 7 as a learnable parameter (its
  gradient is computed too).

Timing: all cases are built in one process and take turns call by call
(``--rounds`` calls each after a warm-up); the table gives each case's
median time and, for the ratios, the median over rounds of the ratio within
a round, because a shared machine's speed drifts by several times within
seconds and alternating exposes both sides of a ratio to the same spells.
Peak memory (above the inputs) is measured afterwards with one call per case
in a fresh subprocess (``harness.measure_in_subprocess``). Forward+backward
is the backward pass of ``audio.square().mean()`` into the levels (and the
feedback parameter where learnable).

    python benchmarks/bench_fm.py              # full workload, CPU
    python benchmarks/bench_fm.py --quick      # smoke test: batch 2 x 1 s, no memory
    python benchmarks/bench_fm.py --device cuda
    python benchmarks/bench_fm.py --json fm_cpu.json   # also write the figures
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ddsp_lab.units.fm import FMSynth  # noqa: E402

RATIOS = (1.0, 1.0, 1.0, 1.0, 3.0, 14.0)
SIZE = {"batch": 16, "seconds": 4.0, "sample_rate": 16000, "hop": 64}


def configure(batch: int = 16, seconds: float = 4.0, sample_rate: int = 16000, hop: int = 64) -> None:
    """Set the workload of the cases built afterwards (subprocesses get it as options)."""
    SIZE.update(batch=batch, seconds=seconds, sample_rate=sample_rate, hop=hop)


def _inputs(device: torch.device):
    """f0 gliding between 100 and 400 Hz per item, levels in [0, 1) (leaves)."""
    generator = torch.Generator().manual_seed(0)
    batch, hop, sr = SIZE["batch"], SIZE["hop"], SIZE["sample_rate"]
    frames = int(SIZE["seconds"] * sr) // hop
    start = 100 + 300 * torch.rand(batch, 1, 1, generator=generator)
    end = 100 + 300 * torch.rand(batch, 1, 1, generator=generator)
    t = torch.linspace(0, 1, frames).view(1, frames, 1)
    f0 = (start + (end - start) * t).to(device)
    levels = torch.rand(batch, frames, 6, generator=generator).to(device).requires_grad_()
    return f0, levels


def _ddx7_upsample(signal: torch.Tensor, factor: int) -> torch.Tensor:
    signal = signal.permute(0, 2, 1)
    signal = F.interpolate(signal, size=signal.shape[-1] * factor, mode="linear")
    return signal.permute(0, 2, 1)


def ddx7_algorithm1(f0_hz, levels, ratios, sample_rate, hop):
    """DDX7's ``fm_string_synth`` (DX7 algorithm 1 without feedback), written as DDX7 writes it.

    OP6 -> OP5 -> OP4 -> OP3 and OP2 -> OP1; carriers OP1 and OP3.
    """
    ol = _ddx7_upsample(levels, hop)
    pitch = _ddx7_upsample(f0_hz, hop)
    omega = torch.cumsum(2 * math.pi * pitch / sample_rate, 1)
    two_pi = 2 * math.pi
    op6 = ol[:, :, 5:6] * torch.sin((ratios[5] * omega) % two_pi)
    op5 = ol[:, :, 4:5] * torch.sin((ratios[4] * omega + two_pi * op6) % two_pi)
    op4 = ol[:, :, 3:4] * torch.sin((ratios[3] * omega + two_pi * op5) % two_pi)
    op3 = ol[:, :, 2:3] * torch.sin((ratios[2] * omega + two_pi * op4) % two_pi)
    op2 = ol[:, :, 1:2] * torch.sin((ratios[1] * omega) % two_pi)
    op1 = ol[:, :, 0:1] * torch.sin((ratios[0] * omega + two_pi * op2) % two_pi)
    return (op3 + op1).squeeze(-1)


def case_ddx7(device):
    f0, levels = _inputs(device)
    return (lambda: ddx7_algorithm1(f0, levels, RATIOS, SIZE["sample_rate"], SIZE["hop"])), [levels]


def _fmsynth_case(feedback: float, learnable: bool):
    def case(device):
        f0, levels = _inputs(device)
        synth = FMSynth(
            SIZE["sample_rate"], SIZE["hop"], algorithm=1, ratios=RATIOS, feedback=feedback,
            learnable_feedback=learnable,
        ).to(device)
        leaves = [levels] + ([synth.feedback] if learnable else [])
        return (lambda: synth.get_signal(f0, levels)), leaves

    return case


CASES: Dict[str, Callable[[torch.device], Tuple[Callable[[], torch.Tensor], list]]] = {
    "ddx7": case_ddx7,
    "fmsynth": _fmsynth_case(0.0, False),
    "fmsynth_feedback": _fmsynth_case(7.0, False),
    "fmsynth_feedback_learnable": _fmsynth_case(7.0, True),
}

LABELS = {
    "ddx7": "DDX7-style baseline (no feedback)",
    "fmsynth": "FMSynth, feedback 0",
    "fmsynth_feedback": "FMSynth, feedback 7",
    "fmsynth_feedback_learnable": "FMSynth, feedback 7, learnable",
}


def _timed_call(run: Callable[[], torch.Tensor], leaves: list, backward: bool, device: torch.device) -> float:
    for leaf in leaves:
        leaf.grad = None
    start = time.perf_counter()
    if backward:
        run().square().mean().backward()
    else:
        with torch.no_grad():
            run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure_interleaved(device: torch.device, rounds: int) -> Dict[str, dict]:
    """Median seconds of every case and pass, the cases taking turns call by call.

    A shared machine's speed drifts by several times within seconds; when
    the cases alternate, every case sees the same conditions, and the ratio
    of two cases is taken round by round (median over rounds) so that a slow
    spell affects both sides of a ratio alike.
    """
    built = {name: build(device) for name, build in CASES.items()}
    times: Dict[str, List[float]] = {f"{name}/{mode}": [] for name in CASES for mode in ("forward", "backward")}
    for mode in ("forward", "backward"):
        for name, (run, leaves) in built.items():
            _timed_call(run, leaves, mode == "backward", device)  # warm-up (compilation, allocator)
        for _ in range(rounds):
            for name, (run, leaves) in built.items():
                times[f"{name}/{mode}"].append(_timed_call(run, leaves, mode == "backward", device))
    return {key: {"seconds": statistics.median(values), "all_seconds": values} for key, values in times.items()}


def _ratio(results, case, reference, mode) -> str:
    mine = results[f"{case}/{mode}"]["all_seconds"]
    other = results[f"{reference}/{mode}"]["all_seconds"]
    return f"{statistics.median(a / b for a, b in zip(mine, other)):.2f}"


def table(results: Dict[str, dict]) -> str:
    """Markdown table: median seconds, peak MB and median round-by-round ratios."""
    lines = [
        "| case | pass | seconds | peak MB | time / DDX7-style | time / FMSynth feedback 0 |",
        "|---|---|---|---|---|---|",
    ]
    for mode, label in (("forward", "fwd"), ("backward", "fwd+bwd")):
        for case in CASES:
            result = results[f"{case}/{mode}"]
            peak = result.get("peak_bytes")
            peak = f"{peak / 2**20:.0f}" if peak is not None else "-"
            versus_plain = _ratio(results, case, "fmsynth", mode) if case != "ddx7" else "-"
            lines.append(
                f"| {LABELS[case]} | {label} | {result['seconds']:.4f} | {peak} "
                f"| {_ratio(results, case, 'ddx7', mode)} | {versus_plain} |"
            )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--rounds", type=int, default=None, help="timed calls per case and pass (default 20, quick 2)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 2 x 1 s, no memory measurement")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 20)
    options = {"batch": 2, "seconds": 1.0} if args.quick else {}
    configure(**options)
    device = torch.device(args.device)
    print("timing (cases interleaved) ...", file=sys.stderr, flush=True)
    results = measure_interleaved(device, rounds)
    if not args.quick:
        for case in CASES:
            for mode in ("forward", "backward"):
                print(f"peak memory of {case}/{mode} ...", file=sys.stderr, flush=True)
                memory = harness.measure_in_subprocess(
                    "bench_fm", case, args.device, mode == "backward", 1, options or None
                )
                results[f"{case}/{mode}"]["peak_bytes"] = memory["peak_bytes"]
    print(f"Measured on {harness.describe_machine(args.device)}.")
    print(
        f"Batch {SIZE['batch']} x {SIZE['seconds']:g} s at {SIZE['sample_rate']} Hz, hop {SIZE['hop']}, "
        f"6 operators, DX7 algorithm 1, ratios {RATIOS}, float32; median of {rounds} interleaved rounds."
    )
    print()
    print(table(results))
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"size": SIZE, "rounds": rounds, "results": results}, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
