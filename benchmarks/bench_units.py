"""Benchmark every unit generator and the loss against straightforward baselines.

Workload H (from the design notes): batch 16 x 4 s at 16 kHz, hop 64,
100 harmonics, 65 noise bands. For each unit the optimised ddsp_lab code and a
straightforward formulation of the same computation are timed in the same
run, forward and forward+backward, with peak memory, each case in its own
subprocess.

    python benchmarks/bench_units.py                 # all units, CPU
    python benchmarks/bench_units.py --only harmonic loss
    python benchmarks/bench_units.py --device cuda

Results are appended to benchmarks/results/units_<device>.json as they are
measured (an interrupted run resumes where it stopped; --fresh starts over)
and printed as a markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BATCH, SR, SECONDS, HOP, HARMONICS, BANDS = 16, 16000, 4.0, 64, 100, 65
SAMPLES = int(SR * SECONDS)
FRAMES = SAMPLES // HOP


def _gen(device, seed=0):
    return torch.Generator(device="cpu").manual_seed(seed)


def _rand(*shape, device, seed=0, low=0.0, high=1.0, grad=False):
    t = (torch.rand(*shape, generator=_gen(device, seed)) * (high - low) + low).to(device)
    return t.requires_grad_(grad)


def _f0(device, low, high):
    """A vibrato melody per batch item between ``low`` and ``high`` Hz, ``[B, F, 1]``."""
    base = _rand(BATCH, 1, 1, device=device, seed=1, low=low, high=high)
    vibrato = 1 + 0.01 * torch.sin(torch.linspace(0, 2 * math.pi * 5 * SECONDS, FRAMES, device=device))
    return (base * vibrato[None, :, None]).clamp(max=high)


# Harmonic ---------------------------------------------------------------------------

def _harmonic_inputs(device, low, high):
    f0 = _f0(device, low, high)
    amp = _rand(BATCH, FRAMES, 1, device=device, seed=2, grad=True)
    dist = _rand(BATCH, FRAMES, HARMONICS, device=device, seed=3, grad=True)
    return f0, amp, dist


def harmonic_ours(device, low=100.0, high=1000.0):
    from ddsp_lab import Harmonic

    synth = Harmonic(SR, HOP).to(device)
    f0, amp, dist = _harmonic_inputs(device, low, high)
    return (lambda: synth.get_signal(f0, amp, dist)), [amp, dist]


def harmonic_naive(device, low=100.0, high=1000.0):
    """Amplitudes upsampled to audio rate, cumulative-sum phase, sin per partial, sum."""
    from ddsp_lab.core.upsample import upsample_linear

    f0, amp, dist = _harmonic_inputs(device, low, high)
    numbers = torch.arange(1, HARMONICS + 1, device=device, dtype=torch.float32)

    def run():
        amps = upsample_linear(amp * dist * (f0 * numbers < SR / 2), HOP)
        phase = torch.cumsum(2 * math.pi * upsample_linear(f0, HOP) / SR, dim=1)
        return (amps * torch.sin(phase * numbers)).sum(-1)

    return run, [amp, dist]


def harmonic_low_ours(device):
    return harmonic_ours(device, 40.0, 78.0)


def harmonic_low_naive(device):
    return harmonic_naive(device, 40.0, 78.0)


# Loss -------------------------------------------------------------------------------

def _loss_inputs(device):
    pred = (_rand(BATCH, SAMPLES, device=device, seed=4) * 2 - 1).requires_grad_(True)
    target = _rand(BATCH, SAMPLES, device=device, seed=5) * 2 - 1
    return pred, target


def loss_ours(device):
    from ddsp_lab import MultiScaleSpectralLoss

    loss = MultiScaleSpectralLoss().to(device)
    pred, target = _loss_inputs(device)
    return (lambda: loss(pred, target)), [pred]


def loss_naive(device):
    """A loop of torch.stft per resolution, L1 on linear and log magnitudes."""
    pred, target = _loss_inputs(device)
    windows = {n: torch.hann_window(n, device=device) for n in (2048, 1024, 512, 256, 128, 64)}

    def run():
        total = 0.0
        for n, window in windows.items():
            spec = lambda x: torch.stft(x, n, n // 4, window=window, return_complex=True).abs()
            p, t = spec(pred), spec(target)
            total = total + (p - t).abs().mean() + (torch.log(p + 1e-7) - torch.log(t + 1e-7)).abs().mean()
        return total

    return run, [pred]


CASES = {
    "harmonic": harmonic_ours,
    "harmonic_naive": harmonic_naive,
    "harmonic_low": harmonic_low_ours,
    "harmonic_low_naive": harmonic_low_naive,
    "loss": loss_ours,
    "loss_naive": loss_naive,
}

# (name shown, our case, baseline case, description of the workload)
PAIRS = [
    ("Harmonic", "harmonic", "harmonic_naive", "100 harmonics, f0 100-1000 Hz"),
    ("Harmonic, all partials audible", "harmonic_low", "harmonic_low_naive", "100 harmonics, f0 40-78 Hz"),
    ("MultiScaleSpectralLoss", "loss", "loss_naive", "FFT 2048..64, hop n/4, lin+log L1"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", help="case names of PAIRS' first column (case keys)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fresh", action="store_true", help="ignore earlier results")
    args = parser.parse_args(argv)

    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    path = os.path.join(os.path.dirname(__file__), "results", f"units_{args.device.split(':')[0]}.json")
    results = {} if args.fresh or not os.path.exists(path) else json.load(open(path))
    pairs = [p for p in PAIRS if not args.only or p[1] in args.only]
    for _, ours, baseline, _ in pairs:
        for case in (ours, baseline):
            for mode in ("forward", "backward"):
                key = f"{case}/{mode}"
                if key in results:
                    continue
                print(f"measuring {key} ...", flush=True)
                results[key] = harness.measure_in_subprocess(
                    "bench_units", case, args.device, mode == "backward", args.repeats
                )
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(results, f, indent=1)
                os.replace(tmp, path)
    print(table(results, pairs, args.device))


def table(results, pairs, device):
    lines = [
        f"Measured on {harness.describe_machine(device)}. Workload: batch {BATCH} x {SECONDS:g} s at {SR} Hz, hop {HOP}.",
        "",
        "| unit | workload | pass | ddsp_lab s | baseline s | speed-up | x real time | ddsp_lab MB | baseline MB | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    audio_seconds = BATCH * SECONDS
    for name, ours, baseline, what in pairs:
        for mode, label in (("forward", "fwd"), ("backward", "fwd+bwd")):
            a, b = results.get(f"{ours}/{mode}"), results.get(f"{baseline}/{mode}")
            if not a or not b:
                continue
            lines.append(
                f"| {name} | {what} | {label} | {a['seconds']:.3f} | {b['seconds']:.3f} | "
                f"{b['seconds'] / a['seconds']:.1f}x | {audio_seconds / a['seconds']:.0f} | "
                f"{a['peak_bytes'] / 2**20:.0f} | {b['peak_bytes'] / 2**20:.0f} | "
                f"{a['peak_bytes'] / max(b['peak_bytes'], 1):.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
