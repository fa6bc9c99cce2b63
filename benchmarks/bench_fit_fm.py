"""The DX7 patch fitter against the nearest-preset baseline, and what each stage contributes.

Targets:

* **dx7**: 20 factory voices (every 13th of the 256, from ``rom1a/01``)
  rendered by ddsp_lab's DX7 engine at note 60, velocity 100, key-up at
  1.5 s, 2 s at 44.1 kHz. Each is fitted with the voice, and every copy of
  it in the banks (any voice whose render is sample-identical), removed from
  the preset pool, so the nearest preset is another voice.
* **real**: one recorded note per instrument of ``../shared/data/notes``
  (piano, French horn, organ, xylophone, harp, trombone), with the note taken
  from the file name.

For every target the fitted patch and the nearest preset are rendered by the
engine over the whole target and compared by the multi-scale spectral
distance (:func:`ddsp_lab.fitting.spectral_distance`); the fit wins when its
distance is smaller. The nearest preset here is exact: every voice of the
pool rendered and scored over the whole note, outside the fit's time (the
fitter itself shortlists on its window to save time).

``--ablation`` fits a subset with stages switched off or changed, to measure
what each contributes.

Results are written after every fit to ``benchmarks/results/fit_fm_<main|ablation>_<mode>.json``
(a rerun skips targets already there, so an interrupted run resumes; runs on
different target sets may share the file at the same time) and the tables to
``docs/fit_fm_results.md``.

    python benchmarks/bench_fit_fm.py                 # default settings (up to 4 min per fit)
    python benchmarks/bench_fit_fm.py --quick         # --quick settings (about 1 min per fit)
    python benchmarks/bench_fit_fm.py --quick --ablation --targets 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ddsp_lab.dx7 import render_voice  # noqa: E402
from ddsp_lab.fitting import analyze_note, factory_voices, nearest_preset  # noqa: E402
from ddsp_lab.fitting.fit import STAGES, FitSettings, fit_patch, note_metrics  # noqa: E402
from ddsp_lab.io import load_audio, write_text_atomic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTES = os.path.join(os.path.dirname(ROOT), "shared", "data", "notes")
REAL_NOTES = ("piano/piano_C4.ogg", "french_horn/french-horn_A3.mp3", "organ/organ_C4.mp3",
              "xylophone/xylophone_C6.flac", "harp/harp_C5.flac", "trombone/trombone_F3.mp3")
DX7_RATE, DX7_NOTE, DX7_GATE_S, DX7_SECONDS = 44100, 60, 1.5, 2.0
# Variants of --ablation: (name, stages, settings changes).
ABLATIONS = (
    ("full method", STAGES, {}),
    ("no preset starts", tuple(s for s in STAGES if s != "presets"), {}),
    ("no analysis builds", tuple(s for s in STAGES if s not in ("analysis", "ratios")), {}),
    ("no ratio search", tuple(s for s in STAGES if s != "ratios"), {}),
    ("no descent", tuple(s for s in STAGES if s != "descent"), {}),
    ("no grid search", tuple(s for s in STAGES if s != "discrete"), {}),
    ("no whole-note search", tuple(s for s in STAGES if s != "whole"), {}),
    ("descent on frequencies too", STAGES, {"frequency_learning_rate": 0.003}),
    ("descent on frequencies + transport loss", STAGES, {"frequency_learning_rate": 0.003, "transport_weight": 4.0}),
)
NOTE_NAMES = {"C": 0, "Cs": 1, "D": 2, "Ds": 3, "E": 4, "F": 5, "Fs": 6, "G": 7, "Gs": 8, "A": 9, "As": 10, "B": 11}


def _midi_from_name(path: str) -> int:
    match = re.search(r"_([A-G]s?)(-?\d)\.", os.path.basename(path))
    if not match:
        raise ValueError(f"no note name in {path}")
    return 12 * (int(match.group(2)) + 1) + NOTE_NAMES[match.group(1)]


def dx7_targets(pool):
    """``(name, audio, rate, note, pool without the voice)`` for the 20 engine-rendered targets."""
    for index in range(0, 256, 13)[:20]:
        name, voice = pool[index]
        settings = dict(note=DX7_NOTE, velocity=100, gate_s=DX7_GATE_S, duration_s=DX7_SECONDS, sample_rate=DX7_RATE)
        audio = render_voice(voice, **settings)
        # The factory banks hold copies of some voices under other slots (same sound, other bytes in
        # settings that do not matter at this note): every voice that renders the target exactly is out.
        others = [(other, v) for other, v in pool if not torch.equal(render_voice(v, **settings), audio)]
        yield f"dx7 {name}", audio, DX7_RATE, DX7_NOTE, others


def real_targets(pool):
    for relative in REAL_NOTES:
        path = os.path.join(NOTES, relative)
        if not os.path.isfile(path):
            print(f"skipping {relative}: ../shared/data/notes is not present")
            continue
        audio, rate = load_audio(path)
        yield f"real {relative}", audio, rate, _midi_from_name(path), pool


_BASELINES = {}


def _baseline(target):
    """The nearest preset over the whole note: every voice of the pool rendered and scored (not timed)."""
    name, audio, rate, note, pool = target
    if name in _BASELINES:
        return _BASELINES[name]
    gate = analyze_note(audio, rate, note=note)
    gate_s = gate.release_start_s if gate.released else gate.duration_s
    match = nearest_preset(audio, rate, note, pool, gate_s=gate_s)
    _BASELINES[name] = {"preset_" + key: value for key, value in note_metrics(match.audio, audio, rate).items()
                        } | {"nearest_preset": match.name}
    return _BASELINES[name]


def _fit(target, stages, settings):
    name, audio, rate, note, pool = target
    result = fit_patch(audio, rate, note=note, settings=settings, presets=pool, stages=stages)
    row = {
        "target": name, "note": note, "seconds": result.seconds, "algorithm": result.voice.algorithm,
        **result.metrics, "fitter_preset": result.preset_name,
        "stages": [dataclasses.asdict(stage) for stage in result.stages],
    }
    # Judged against the exact baseline (every voice over the whole note), not the fitter's shortlist.
    row.update(_baseline(target))
    row["wins"] = row["spectral_distance"] < row["preset_spectral_distance"]
    return row


def _load(path):
    if os.path.isfile(path):
        with open(path) as stream:
            return json.load(stream)
    return {}


def _main_table(rows, mode):
    lines = [
        f"## Fitted patch against the nearest preset ({mode} settings)",
        "",
        "| target | note | nearest preset | preset distance | fitted distance | wins | log-spectral (dB) fit / preset "
        "| envelope (dB) fit / preset | time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda row: row["target"]):
        lines.append(
            f"| {row['target']} | {row['note']} | {row['nearest_preset']} | {row['preset_spectral_distance']:.3f} "
            f"| {row['spectral_distance']:.3f} | {'yes' if row['wins'] else 'no'} "
            f"| {row['log_spectral_distance_db']:.2f} / {row['preset_log_spectral_distance_db']:.2f} "
            f"| {row['envelope_distance_db']:.2f} / {row['preset_envelope_distance_db']:.2f} | {row['seconds']:.0f} |")
    for group in ("dx7", "real"):
        chosen = [row for row in rows if row["target"].startswith(group)]
        if chosen:
            wins = sum(row["wins"] for row in chosen)
            longest = max(row["seconds"] for row in chosen)
            lines.append(f"\n**{group}**: the fit wins on {wins} of {len(chosen)}; longest fit {longest:.0f} s.")
    return "\n".join(lines) + "\n"


def _ablation_table(results, mode):
    names = [name for name, _, _ in ABLATIONS if name in results]
    full = {row["target"]: row["spectral_distance"] for row in results.get("full method", [])}
    groups = [group for group in ("dx7", "real") if any(target.startswith(group) for target in full)]
    counts = ", ".join(f"{sum(t.startswith(group) for t in full)} {group}" for group in groups)
    lines = [
        f"## Ablation ({mode} settings, {counts} targets)",
        "",
        "Per target set: the mean over the targets of each variant's multi-scale spectral distance "
        "relative to the full method's, and wins against the nearest preset.",
        "",
        "| variant | " + " | ".join(f"{group}: vs full method | {group}: wins" for group in groups) + " |",
        "|---|" + "---|---|" * len(groups),
    ]
    for name in names:
        cells = []
        for group in groups:
            rows = [row for row in results[name] if row["target"] in full and row["target"].startswith(group)]
            if rows:
                ratio = sum(row["spectral_distance"] / full[row["target"]] for row in rows) / len(rows)
                cells += [f"{ratio:.2f}x", f"{sum(row['wins'] for row in rows)}/{len(rows)}"]
            else:
                cells += ["", ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the fitter's --quick settings")
    parser.add_argument("--ablation", action="store_true", help="fit a subset with each stage switched off")
    parser.add_argument("--targets", type=int, help="use only the first N targets of each set")
    parser.add_argument("--sets", default="dx7,real", help="target sets (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    mode = "quick" if args.quick else "default"
    settings = FitSettings.quick() if args.quick else FitSettings()
    pool = factory_voices()
    targets = []
    for group in args.sets.split(","):
        chosen = list((dx7_targets if group == "dx7" else real_targets)(pool))
        targets += chosen[: args.targets] if args.targets else chosen

    kind = "ablation" if args.ablation else "main"
    path = os.path.join(ROOT, "benchmarks", "results", f"fit_fm_{kind}_{mode}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    variants = ABLATIONS if args.ablation else (ABLATIONS[0],)
    for name, stages, changes in variants:
        for target in targets:
            if target[0] in {row["target"] for row in _load(path).get(name, [])}:
                continue
            started = time.perf_counter()
            row = _fit(target, stages, dataclasses.replace(settings, **changes))
            # Read again before writing: another run (say, the other target set) may share the file.
            results = _load(path)
            results.setdefault(name, []).append(row)
            write_text_atomic(path, json.dumps(results, indent=2) + "\n")
            print(f"[{name}] {target[0]}: fit {row['spectral_distance']:.3f} vs preset "
                  f"{row['preset_spectral_distance']:.3f} ({row['nearest_preset']}), "
                  f"{time.perf_counter() - started:.0f} s", flush=True)

    docs = os.path.join(ROOT, "docs", "fit_fm_results.md")
    sections = {}
    for saved_kind in ("main", "ablation"):
        for saved_mode in ("default", "quick"):
            saved = _load(os.path.join(ROOT, "benchmarks", "results", f"fit_fm_{saved_kind}_{saved_mode}.json"))
            if saved and saved_kind == "main":
                sections[f"main {saved_mode}"] = _main_table(saved["full method"], saved_mode)
            elif saved:
                sections[f"ablation {saved_mode}"] = _ablation_table(saved, saved_mode)
    header = ("# DX7 patch fitting: benchmark results\n\nWritten by `benchmarks/bench_fit_fm.py` (see its docstring "
              "for the targets and the protocol); the method is described in [fit_fm.md](fit_fm.md).\n\n")
    write_text_atomic(docs, header + "\n".join(sections[key] for key in sorted(sections)))
    print(f"Wrote {path} and {docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
