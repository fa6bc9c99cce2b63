"""Benchmark every unit generator and the loss against straightforward baselines.

Workload H (from the design notes): batch 16 x 4 s at 16 kHz, hop 64,
100 harmonics, 65 noise bands. For each unit the optimised ddsp_lab code and a
straightforward formulation of the same computation (written plainly in
``cases_synths.py`` and ``cases_effects.py``) are timed in the same run,
forward and forward+backward, with peak memory, each case in its own
subprocess.

Two kinds of baseline cannot run at the full size: the per-sample Python
loops (Biquad, StateVariableFilter, KarplusStrong) run on 16 x 0.256 s, and
the direct-convolution reverbs' backward pass takes about 15 s per 4 s item
on a 2-thread CPU, so both reverb rows (ours and baseline alike) run on
1 x 4 s. Every time in the table is therefore normalised to milliseconds
of wall time per second of audio processed (batch x duration), which
compares like with like whatever size each side ran at; the workload column
states both sizes. The loop baselines cost time in proportion to their
length (they are written so that no step touches the whole signal), so the
normalisation does not flatter ddsp_lab.

Not benchmarked: Add and Gain (an elementwise sum and product; a frame-rate
gain takes the same upsample-and-multiply path as Mix, which is measured),
Noise (white noise times an upsampled amplitude: the same path again) and
LFO (its output is frame rate: 250 values per item and second at hop 64).

    python benchmarks/bench_units.py                 # all units, CPU
    python benchmarks/bench_units.py --only harmonic loss
    python benchmarks/bench_units.py --device cuda
    python benchmarks/bench_units.py --quick         # smoke test: batch 2 x 1 s, in-process

Results are appended to benchmarks/results/units_<device>.json as they are
measured (an interrupted run resumes where it stopped; --fresh starts over)
and printed as a markdown table for docs/performance.md. ``--quick`` writes
units_<device>_quick.json, always from scratch; its figures are a smoke test
(one repetition, all cases in one process), not for publication.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases_effects  # noqa: E402,F401  (registers its cases)
import cases_synths  # noqa: E402,F401  (registers its cases)
import harness  # noqa: E402
from cases_common import CASES, audio_seconds, configure, describe_size, workload  # noqa: E402

# (name shown, our case, baseline case, description of the workload; {ir} is
# the reverb impulse response length in seconds)
PAIRS = [
    ("Harmonic", "harmonic", "harmonic_naive", "100 harmonics, f0 100-1000 Hz"),
    ("Harmonic, all partials audible", "harmonic_low", "harmonic_low_naive", "100 harmonics, f0 40-78 Hz"),
    ("Sinusoidal", "sinusoidal", "sinusoidal_naive", "100 free partials, 30 Hz-7 kHz"),
    (
        "Oscillator (saw)", "oscillator", "oscillator_naive",
        "band-limited saw, f0 100-1000 Hz; baseline additive over [B, T, H]",
    ),
    (
        "Wavetable", "wavetable", "wavetable_naive",
        "2 tables x 2048, crossfade sweep, f0 100-1000 Hz; baseline plain lookup without mip-maps (aliases)",
    ),
    ("FilteredNoise", "filtered_noise", "filtered_noise_loop", "65 bands, Hann crossfade; baseline loops over frames"),
    ("FIRFilter", "fir", "fir_loop", "65 bands on audio, Hann crossfade; baseline loops over frames"),
    ("Reverb", "reverb", "reverb_direct", "learned {ir:g} s IR; baseline direct conv1d"),
    (
        "ParametricReverb", "parametric_reverb", "parametric_reverb_direct",
        "{ir:g} s IR from decay, damping, mix; baseline direct conv1d",
    ),
    (
        "Biquad", "biquad", "biquad_loop",
        "lowpass, cutoff sweep 200 Hz-4 kHz, float64 inside; baseline per-sample loop",
    ),
    ("StateVariableFilter", "svf", "svf_loop", "lowpass, cutoff sweep 200 Hz-4 kHz; baseline per-sample loop"),
    ("ADSR", "adsr", "adsr_loop", "audio rate, retriggered notes; baseline steps frame by frame"),
    ("KarplusStrong", "karplus", "karplus_loop", "f0 80-600 Hz, 1-period pluck; baseline per-sample recursion"),
    ("Mix", "mix", "mix_interpolate", "frame-rate crossfade; baseline F.interpolate"),
    ("MultiScaleSpectralLoss", "loss", "loss_naive", "FFT 2048..64, hop n/4, lin+log L1"),
]

NOT_MEASURED = (
    "Not measured: Add and Gain (an elementwise sum and product; a frame-rate gain takes the same "
    "upsample-and-multiply path as Mix), Noise (white noise times an upsampled amplitude, the same path) "
    "and LFO (frame-rate output, a few hundred values per item and second)."
)

# Below this a baseline's peak is mostly allocator noise: no memory ratio is shown.
MIN_MEMORY_MB = 1.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", nargs="*", help="our case keys (second column of PAIRS) to measure")
    parser.add_argument("--repeats", type=int, default=None, help="timed repetitions (default 3, quick 1)")
    parser.add_argument("--fresh", action="store_true", help="ignore earlier results")
    parser.add_argument("--quick", action="store_true", help="smoke test: batch 2 x 1 s, in-process, one repetition")
    args = parser.parse_args(argv)
    unknown = set(args.only or ()) - {p[1] for p in PAIRS}
    if unknown:
        parser.error(f"unknown case keys {sorted(unknown)}; choose from {[p[1] for p in PAIRS]}")
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    configure(quick=args.quick)

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    os.makedirs(folder, exist_ok=True)
    suffix = "_quick" if args.quick else ""
    path = os.path.join(folder, f"units_{args.device.split(':')[0]}{suffix}.json")
    fresh = args.fresh or args.quick or not os.path.exists(path)
    results = {}
    if not fresh:
        with open(path) as f:
            results = json.load(f)
    pairs = [p for p in PAIRS if not args.only or p[1] in args.only]
    for _, ours, baseline, _ in pairs:
        for case in (ours, baseline):
            for mode in ("forward", "backward"):
                key = f"{case}/{mode}"
                if key in results:
                    continue
                print(f"measuring {key} ...", flush=True)
                if args.quick:
                    result = harness.measure(CASES[case], torch.device(args.device), mode == "backward", repeats)
                else:
                    result = harness.measure_in_subprocess(
                        "bench_units", case, args.device, mode == "backward", repeats
                    )
                result["audio_seconds"] = audio_seconds(case)
                result["size"] = describe_size(case)
                results[key] = result
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(results, f, indent=1)
                os.replace(tmp, path)
    print(table(results, pairs, args.device))


def _megabytes(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def format_number(value: float) -> str:
    """Three significant figures, without exponents for values of 100 and more."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def format_ratio(value: float) -> str:
    """Two decimals, or two significant figures below 0.1."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def _size(results, case, mode) -> str:
    return results.get(f"{case}/{mode}", {}).get("size") or describe_size(case)


def table(results, pairs, device) -> str:
    """The markdown table (with its header lines) of the measured pairs."""
    current = workload()
    lines = [
        f"Measured on {harness.describe_machine(device)}.",
        f"Workload {current.name}: batch {current.batch} x {current.seconds:g} s at {current.sample_rate} Hz, "
        f"hop {current.hop}, {current.harmonics} harmonics, {current.bands} noise bands, "
        f"{str(current.dtype).replace('torch.', '')}.",
        "",
        "Times are normalised to milliseconds of wall time per second of audio processed "
        "(batch x duration), so rows whose baseline ran on a shorter input (workload column) "
        "compare like with like; speed-up is baseline time / ddsp_lab time. "
        "x real time is seconds of audio processed per wall-clock second. "
        "Memory is the peak above the inputs in MB at each side's own size; the memory ratio is "
        "ddsp_lab / baseline, per second of audio where the sizes differ (marked *), and not shown "
        f"where the baseline's peak is below {MIN_MEMORY_MB:g} MB.",
        "",
        "| unit | workload | pass | ddsp_lab ms per audio s | baseline ms per audio s | speed-up "
        "| ddsp_lab x real time | baseline x real time | ddsp_lab MB | baseline MB | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fields = {"ir": current.reverb_ir_seconds}
    for name, ours, baseline, what in pairs:
        for mode, label in (("forward", "fwd"), ("backward", "fwd+bwd")):
            a, b = results.get(f"{ours}/{mode}"), results.get(f"{baseline}/{mode}")
            if not a or not b:
                continue
            size_a, size_b = _size(results, ours, mode), _size(results, baseline, mode)
            sizes = size_a if size_a == size_b else f"ddsp_lab {size_a}, baseline {size_b}"
            audio_a = a.get("audio_seconds") or audio_seconds(ours)
            audio_b = b.get("audio_seconds") or audio_seconds(baseline)
            per_a, per_b = a["seconds"] / audio_a, b["seconds"] / audio_b
            mb_a, mb_b = a["peak_bytes"] / 2**20, b["peak_bytes"] / 2**20
            if mb_b < MIN_MEMORY_MB:
                memory_ratio = "-"
            elif size_a == size_b:
                memory_ratio = format_ratio(mb_a / mb_b)
            else:
                memory_ratio = format_ratio((mb_a / audio_a) / (mb_b / audio_b)) + "*"
            lines.append(
                f"| {name} | {what.format(**fields)}; {sizes} | {label} | "
                f"{format_number(1000 * per_a)} | {format_number(1000 * per_b)} | {per_b / per_a:.1f}x | "
                f"{format_number(1 / per_a)} | {format_number(1 / per_b)} | "
                f"{_megabytes(mb_a)} | {_megabytes(mb_b)} | {memory_ratio} |"
            )
    lines += ["", NOT_MEASURED]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
