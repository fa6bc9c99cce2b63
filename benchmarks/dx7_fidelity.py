"""Fidelity and speed of the DX7 engine against Dexed's reference renders; writes docs/dx7_fidelity.md.

    .venv/bin/python benchmarks/dx7_fidelity.py
    .venv/bin/python benchmarks/dx7_fidelity.py --shared /path/to/shared --out docs/dx7_fidelity.md

1. **Fidelity**: the 24 reference renders in ``shared/reference/dx7/renders``
   (12 factory voices, note 60, velocity 100, note-off at the first 64-sample
   block at or after 1.0 s, 2.0 s at 16 kHz and 44.1 kHz, Dexed's "modern"
   core, raw output ``v / 2**28``) are rendered with
   :func:`ddsp_lab.dx7.engine.render_voice` and compared: signal-to-error
   ratio ``10 log10(sum ref**2 / sum (ref - ours)**2)`` in dB, largest sample
   error, and the multi-scale spectral distance
   (:class:`ddsp_lab.MultiScaleSpectralLoss` with its defaults).
2. **Speed**: one thread (torch and numba), compiled code already loaded;
   median wall time of several renders per voice, as a multiple of real time,
   split into the control stage and the audio stage; plus the first render in
   a fresh process (imports and loading the cached compiled code).
3. **Beyond the reference** (which covers note 60, velocity 100 only): every
   voice of the eight factory banks at notes 24..96 and velocities 1..127
   renders finite and bounded; envelope times, velocity, detune and LFO
   frequencies measured from the control stage against the values the
   engine description quotes; the same notes rendered at 16, 44.1 and 48 kHz
   have the same loudness envelopes.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import soundfile
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ddsp_lab import MultiScaleSpectralLoss  # noqa: E402
from ddsp_lab.dx7 import Operator, Voice, read_syx  # noqa: E402
from ddsp_lab.dx7.controls import voice_controls  # noqa: E402
from ddsp_lab.dx7.engine import render_controls, render_voice  # noqa: E402
from ddsp_lab.dx7.tables import LFO_SPEEDS, Q24, logfreq_to_phase_increment, operator_logfreq  # noqa: E402

BLOCK = 64
DB_PER_DOUBLING = 20 * math.log10(2)
RENDER_NAME = re.compile(r"(\w+?)_(rom\w\w)_(\d+)_n60_v100_(\d+)\.wav$")


def _load_bank(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_syx(path)


def _ser_db(reference: np.ndarray, ours: np.ndarray) -> float:
    error = float(np.sum((reference - ours) ** 2))
    return math.inf if error == 0.0 else 10 * math.log10(float(np.sum(reference ** 2)) / error)


def _fmt_db(value: float) -> str:
    return "∞ (identical)" if math.isinf(value) else f"{value:.1f}"


# ------------------------------------------------------------------ 1. fidelity


def fidelity(shared: Path):
    renders = sorted((shared / "reference" / "dx7" / "renders").glob("*_n60_v100_*.wav"))
    if not renders:
        raise SystemExit(f"no reference renders under {shared / 'reference' / 'dx7' / 'renders'}")
    banks, rows = {}, []
    loss = MultiScaleSpectralLoss()
    for path in renders:
        match = RENDER_NAME.match(path.name)
        label, bank, index, rate = match.group(1), match.group(2), int(match.group(3)), int(match.group(4))
        if bank not in banks:
            banks[bank] = _load_bank(shared / "data" / "dx7" / "factory_rom" / f"{bank}.syx")
        voice = banks[bank][index]
        reference, file_rate = soundfile.read(path, dtype="float32")
        assert file_rate == rate, path
        ours = render_voice(voice, 60, 100, 1.0, 2.0, rate)
        ref64, ours64 = reference.astype(np.float64), ours[0].double().numpy()
        target = torch.from_numpy(reference)[None, :]
        with torch.no_grad():
            distance = float(loss(ours, target))
        rows.append({
            "label": label, "name": voice.display_name, "bank": bank, "index": index, "rate": rate,
            "algorithm": voice.algorithm, "feedback": voice.feedback,
            "ser": _ser_db(ref64, ours64), "max_error": float(np.max(np.abs(ref64 - ours64))),
            "identical": float(np.mean(ref64 == ours64)), "mss": distance,
            "peak": float(np.max(np.abs(ref64))),
        })
        print(f"  {path.name:42s} SER {_fmt_db(rows[-1]['ser'])}", flush=True)
    return rows


# ------------------------------------------------------------------ 2. speed


def _median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(voices, repeats: int = 7):
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    results = {}
    for rate in (16000, 44100):
        full, control, audio = [], [], []
        for voice in voices:
            render_voice(voice, 60, 100, 1.0, 2.0, rate)  # warm (compiled code loaded)
            full.append(2.0 / _median_time(lambda: render_voice(voice, 60, 100, 1.0, 2.0, rate), repeats))
            controls = voice_controls(voice, 60, 100, 1.0, 2.0, rate)
            control.append(2.0 / _median_time(lambda: voice_controls(voice, 60, 100, 1.0, 2.0, rate), repeats))
            audio.append(2.0 / _median_time(lambda: render_controls(controls), repeats))
        results[rate] = {
            "full_median": statistics.median(full), "full_min": min(full),
            "control_median": statistics.median(control), "audio_median": statistics.median(audio),
        }
    return results


def first_render_seconds(bank_path: Path) -> float:
    """Wall time of imports plus the first render in a fresh process (compiled code from the on-disk cache)."""
    code = (
        "import time; t = time.perf_counter();\n"
        "import warnings; warnings.simplefilter('ignore')\n"
        "from ddsp_lab.dx7 import read_syx; from ddsp_lab.dx7.engine import render_voice\n"
        f"render_voice(read_syx({str(bank_path)!r})[10], 60, 100, 1.0, 2.0, 44100)\n"
        "print(time.perf_counter() - t)\n"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ 3. beyond the reference


def robustness(bank_paths):
    notes, velocities = (24, 36, 48, 60, 72, 84, 96), (1, 64, 127)
    count = bad = 0
    peaks, worst = [], (0.0, "")
    for path in bank_paths:
        for index, voice in enumerate(_load_bank(path)):
            for note in notes:
                for velocity in velocities:
                    audio = render_voice(voice, note, velocity, 0.5, 1.0, 16000)
                    count += 1
                    if not bool(torch.isfinite(audio).all()):
                        bad += 1
                        continue
                    peak = float(audio.abs().max())
                    peaks.append(peak)
                    if peak > worst[0]:
                        case = f"{path.stem} #{index + 1} {voice.display_name!r}, note {note}, velocity {velocity}"
                        worst = (peak, case)
    return {"renders": count, "nonfinite": bad, "median_peak": statistics.median(peaks), "max_peak": worst[0],
            "max_peak_case": worst[1], "banks": len(bank_paths), "notes": notes, "velocities": velocities}


def _one_operator(**fields) -> Voice:
    voice = Voice(algorithm=32)
    voice.operators[0] = Operator(output_level=99, **fields)
    return voice


def envelope_times(rate: int, sample_rate: int = 44100):
    full, floor = 3840 << 16, 16 << 16
    duration = 400.0 if rate < 10 else 60.0 if rate <= 30 else 8.0
    attack = voice_controls(_one_operator(eg_rates=[rate, 99, 99, 99], eg_levels=[99, 99, 99, 0]),
                            60, 100, duration, duration, sample_rate).eg_level[:, 0]
    decay = voice_controls(_one_operator(eg_rates=[99, rate, 99, 99], eg_levels=[99, 0, 0, 0]),
                           60, 100, duration, duration, sample_rate).eg_level[:, 0]
    top = int(np.argmax(decay >= full))
    return ((int(np.argmax(attack >= full)) + 1) * BLOCK / sample_rate,
            (int(np.argmax(decay <= floor)) - top) * BLOCK / sample_rate)


# (rate, attack s, decay s) quoted in DX7_ENGINE.md §5 at 44.1 kHz, OL 99.
QUOTED_TIMES = [(99, 0.0015, 0.007), (90, 0.0015, 0.017), (80, 0.0058, 0.051), (70, 0.020, 0.174),
                (60, 0.057, 0.46), (50, 0.17, 1.39), (40, 0.55, 4.4), (30, 1.6, 12.7), (20, 5.5, 44.0),
                (0, 44.0, 355.0)]


def _hz(note, fixed, coarse, fine, detune, rate=44100):
    return logfreq_to_phase_increment(operator_logfreq(note, fixed, coarse, fine, detune), rate) * rate / Q24


def control_checks():
    rows = []
    for rate, attack_quoted, decay_quoted in QUOTED_TIMES:
        attack, decay = envelope_times(rate)
        rows.append((f"EG rate {rate}: attack 0→L99 / decay L99→L0", f"{attack_quoted:g} s / {decay_quoted:g} s",
                     f"{attack:.4g} s / {decay:.4g} s"))
    for v, microsteps in ((127, 224), (100, 16), (64, -448), (1, -3344)):
        sensitive = voice_controls(_one_operator(velocity_sensitivity=7), 60, v, 1.0, 0.3, 44100).gain[-1, 0]
        insensitive = voice_controls(_one_operator(), 60, v, 1.0, 0.3, 44100).gain[-1, 0]
        rows.append((f"operator gain, KVS 7 vs KVS 0, velocity {v}",
                     f"{microsteps / 256 * DB_PER_DOUBLING:+.2f} dB ({microsteps:+d} microsteps)",
                     f"{20 * math.log10(sensitive / insensitive):+.2f} dB"))
    for note, cents in ((36, 2.0), (60, 1.2), (84, 0.68)):
        step = 1200 * math.log2(_hz(note, False, 1, 0, 14) / _hz(note, False, 1, 0, 7)) / 7
        rows.append((f"detune, cents per step at MIDI {note}", f"about {cents}", f"{step:.3f}"))
    for coarse, fine in ((0, 0), (2, 0), (3, 50)):
        hz = 10 ** ((coarse % 4) + fine / 100)
        measured = _hz(60, True, coarse, fine, 7)
        rows.append((f"fixed mode coarse {coarse} fine {fine}", f"{hz:.4g} Hz", f"{measured:.4g} Hz"))
    for speed_value in (0, 35, 99):
        voice = _one_operator()
        voice.lfo_speed, voice.lfo_waveform = speed_value, 2
        seconds = 40.0 if speed_value == 0 else 4.0
        lfo = voice_controls(voice, 60, 100, seconds, seconds, 44100).lfo_value
        measured = np.mean(np.diff(lfo) % Q24) / Q24 * 44100 / BLOCK
        table = LFO_SPEEDS[speed_value]
        quoted = f"≈ 1.0332 × {table} = {1.0332 * table:.4g} Hz"
        rows.append((f"LFO speed {speed_value}", quoted, f"{measured:.4g} Hz"))
    return rows


def _frame_db(audio: np.ndarray, rate: int, frame_s: float = 0.01) -> np.ndarray:
    hop = int(round(frame_s * rate))
    frames = audio[: audio.size // hop * hop].reshape(-1, hop)
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-20)


def rate_consistency(voices):
    """Median |dB| between 10 ms loudness envelopes at pairs of sample rates (frames above -60 dBFS)."""
    rows = []
    for voice in voices:
        envelopes = {rate: _frame_db(render_voice(voice, 60, 100, 1.0, 2.0, rate)[0].double().numpy(), rate)
                     for rate in (16000, 44100, 48000)}
        diffs = []
        for low, high in ((16000, 44100), (16000, 48000), (44100, 48000)):
            n = min(envelopes[low].size, envelopes[high].size)
            a, b = envelopes[low][:n], envelopes[high][:n]
            keep = np.maximum(a, b) > -60
            diffs.append(float(np.median(np.abs(a - b)[keep])))
        rows.append((voice.display_name, *diffs))
    return rows


# ------------------------------------------------------------------ report


def write_report(path: Path, rows, speeds, first_s, robust, checks, consistency, command: str):
    lines = [
        "# DX7 engine fidelity",
        "",
        "How closely `ddsp_lab.dx7.engine.render_voice` reproduces Dexed's DX7 engine, and how fast it",
        "is. Generated by",
        "",
        "```bash",
        command,
        "```",
        "",
        "The reference: 24 renders made with Dexed's engine (\"modern\" core, raw output `v / 2**28` before",
        "Dexed's 16-bit quantisation, no DC blocker) of 12 factory voices, **note 60, velocity 100 only**,",
        "note-off at the first 64-sample block at or after 1.0 s, 2.0 s long, at 16 kHz and 44.1 kHz",
        "(`shared/reference/dx7/renders`). Other notes and velocities have no reference; section 3 checks",
        "them against the engine description instead.",
        "",
        "## 1. Signal-to-error ratio against the reference renders",
        "",
        "SER = `10 log10(sum ref² / sum (ref − ours)²)`; MSS = `ddsp_lab.MultiScaleSpectralLoss()` (FFT",
        "2048…64, linear + log magnitude) of our render against the reference (0 for identical signals).",
        "",
        "| voice | bank / index | alg | fb | rate | SER dB | max abs error | identical samples | MSS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['bank']} / {r['index']} | {r['algorithm']} | {r['feedback']} | {r['rate']} "
            f"| {_fmt_db(r['ser'])} | {r['max_error']:.3g} | {100 * r['identical']:.2f} % | {r['mss']:.4g} |"
        )
    lines += ["", "| sample rate | renders | median SER dB | minimum SER dB | identical renders "
              "| largest MSS |",
              "|---|---|---|---|---|---|"]
    for rate in (16000, 44100):
        subset = [r for r in rows if r["rate"] == rate]
        sers = [r["ser"] for r in subset]
        identical = sum(1 for r in subset if r["identical"] == 1.0)
        lines.append(f"| {rate} | {len(subset)} | {_fmt_db(statistics.median(sers))} | {_fmt_db(min(sers))} "
                     f"| {identical} / {len(subset)} | {max(r['mss'] for r in subset):.3g} |")
    lines += [
        "",
        "Targets: median ≥ 60 dB, none below 30 dB (an independent float model written from the engine",
        "description reaches 95–110 dB). The engine reproduces the integer arithmetic of Dexed's engine",
        "(Q24 levels and phases, its interpolated 1024-point sine and exp2 tables, its 64-bit frequency",
        "table), so renders that agree in every sample are the expected outcome; that includes the voices",
        "with feedback 7 on a loud operator (BASS 1, BRASS 1, TIMPANI …), whose chaotic feedback loop",
        "diverges from any model that rounds differently within milliseconds. `tests/test_dx7_engine.py`",
        "checks all 24 renders (when `../shared` is present) and two bundled ones always.",
        "",
        "## 2. Speed",
        "",
        "One voice, 2.0 s, one CPU thread (`torch.set_num_threads(1)`, `numba.set_num_threads(1)`), compiled",
        "code loaded; median of 7 renders per voice over the 12 reference voices, as multiples of real time",
        "(audio seconds per wall-clock second). The control stage is the per-block envelope/LFO/pitch loop",
        "(`voice_controls`), the audio stage the six operators per sample (`render_controls`).",
        "",
        "| sample rate | whole render, median | whole render, slowest voice | control stage | audio stage |",
        "|---|---|---|---|---|",
    ]
    for rate, s in speeds.items():
        lines.append(f"| {rate} | {s['full_median']:.0f}x | {s['full_min']:.0f}x | {s['control_median']:.0f}x "
                     f"| {s['audio_median']:.0f}x |")
    lines += [
        "",
        "Target: at least 200x real time on one core. First render in a fresh process (imports, loading the",
        f"numba code cached on disk by an earlier run, rendering 2 s at 44.1 kHz): {first_s:.2f} s. The very",
        "first run after installation also compiles the kernels (a few seconds) and caches them.",
        "",
        "## 3. Beyond the reference",
        "",
        f"**Every factory voice, other notes and velocities.** {robust['renders']} renders (all 32 voices of",
        f"the {robust['banks']} factory banks, including the out-of-range values of rom3a/rom3b, at notes",
        f"{', '.join(map(str, robust['notes']))} and velocities {', '.join(map(str, robust['velocities']))};",
        f"16 kHz, gate 0.5 s, 1 s): {robust['nonfinite']} with NaN or infinite samples; median peak",
        f"{robust['median_peak']:.3f}, largest peak {robust['max_peak']:.3f} ({robust['max_peak_case']}).",
        "",
        "**Control stage against the values the engine description quotes** (`DX7_ENGINE.md` §5, §7, §9,",
        "§10; envelope times at 44.1 kHz for an OL-99 operator, measured to the 64-sample block):",
        "",
        "| quantity | description | measured |",
        "|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in checks]
    lines += [
        "",
        "**Sample-rate independence.** The engine scales envelope increments, hold times, pitch-EG and LFO",
        "steps with the sample rate. Median absolute difference between 10 ms loudness envelopes of the same",
        "note rendered at two sample rates (frames above −60 dBFS):",
        "",
        "| voice | 16 vs 44.1 kHz | 16 vs 48 kHz | 44.1 vs 48 kHz |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} | {a:.2f} dB | {b:.2f} dB | {c:.2f} dB |" for name, a, b, c in consistency]
    lines += [
        "",
        "Blocks are 64 samples at every rate, so envelopes advance in steps of 4 ms at 16 kHz and 1.45 ms at",
        "44.1 kHz, and increments are rounded to integers after scaling, as in Dexed itself (a fast attack",
        "ends up to one block later at 16 kHz, which shifts the decay after it: MARIMBA). The larger",
        "differences at 16 kHz come from a quirk of the engine that is reproduced here on purpose: EG *hold*",
        "times (a stage whose target equals the current level, e.g. L1 = 99 and L2 = 98, and the delay",
        "before an attack from L1 = 0) are counted in samples and multiplied by 44100 / sr, where the",
        "sample count should have been divided by it; in seconds a hold lasts (44100 / sr)² times its",
        "44.1 kHz length: 7.6x at 16 kHz, 0.84x at 48 kHz. CHIMES (two operators with L1 = 0) and",
        "BRASS 1 (L1 = 99, L2 = 98) show it; the 16 kHz reference renders of both agree with this engine",
        "sample for sample, so Dexed behaves the same way. Voices that rely on holds therefore sound",
        "most like the DX7 at 44.1 kHz (and close to it at 48 kHz).",
        "",
        "## Not modelled",
        "",
        "Dexed's \"Mark I\" core (log-sine/exp ROM operators, the 3- and 2-operator feedback loops of algorithms",
        "4 and 6), its 16-bit output quantisation and DC blocker, pitch bend, mod wheel, breath and other",
        "controllers, portamento, polyphony and voice stealing.",
        "",
    ]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".md", dir=path.parent)
    with os.fdopen(handle, "w") as f:
        f.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="folder holding reference/ and data/ (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "dx7_fidelity.md", help="report to write")
    args = parser.parse_args(argv)
    command = ".venv/bin/python benchmarks/dx7_fidelity.py" + (
        "" if args.shared == REPO.parent / "shared" else f" --shared {args.shared}")

    print("1. fidelity", flush=True)
    rows = fidelity(args.shared)
    factory = args.shared / "data" / "dx7" / "factory_rom"
    voices = [_load_bank(factory / f"{r['bank']}.syx")[r["index"]] for r in rows if r["rate"] == 16000]
    print("2. speed", flush=True)
    speeds = speed(voices)
    first_s = first_render_seconds(factory / "rom1a.syx")
    print("3. beyond the reference", flush=True)
    robust = robustness(sorted(factory.glob("rom*.syx")))
    checks = control_checks()
    consistency = rate_consistency(voices)
    write_report(args.out, rows, speeds, first_s, robust, checks, consistency, command)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
