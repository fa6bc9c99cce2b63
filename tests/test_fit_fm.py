"""Fitting DX7 patches to a note: ddsp-lab fit-fm."""

import json
import pathlib

import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_lab.cli import main
from ddsp_lab.dx7 import Voice, read_syx, render_voice
from ddsp_lab.fitting import NoPitchError
from ddsp_lab.fitting.fit import FitSettings, analysis_voice, fit_patch
from ddsp_lab.fitting.analysis import analyze_note

DATA = pathlib.Path(__file__).parent / "data"
RATE = 22050


pytestmark = pytest.mark.usefixtures("one_thread")


def _two_operator_patch():
    """OP2 at ratio 3 modulating OP1 at ratio 1 (algorithm 1), every other operator silent."""
    voice = Voice(algorithm=1)
    for operator in voice.operators:
        operator.output_level = 0
    carrier, modulator = voice.operator(1), voice.operator(2)
    carrier.output_level, carrier.eg_rates, carrier.eg_levels = 99, [95, 60, 50, 70], [99, 90, 80, 0]
    modulator.output_level, modulator.coarse = 78, 3
    modulator.eg_rates, modulator.eg_levels = [95, 50, 50, 70], [99, 85, 75, 0]
    return voice


def test_a_two_operator_patch_is_recovered():
    target = render_voice(_two_operator_patch(), note=57, velocity=100, gate_s=0.8, duration_s=1.1,
                          sample_rate=RATE)
    result = fit_patch(target, RATE, note=57, algorithm=1, settings=FitSettings.quick())
    sounding = [op for op in result.voice.operators if op.output_level > 40]
    carrier, modulator = result.voice.operator(1), result.voice.operator(2)
    # The structure found is the target's: one carrier at ratio 1 and its modulator at exactly 3.
    assert len(sounding) == 2 and carrier.output_level > 40 and modulator.output_level > 40
    assert (carrier.frequency_ratio, modulator.frequency_ratio) == (1.0, 3.0)
    assert (carrier.detune, modulator.detune) == (7, 7)
    # Small against the distance of the analysis build it started from (about 0.8) and of a plain
    # sine at the same envelope (about 1.5).
    assert result.metrics["spectral_distance"] < 0.15
    judged = [stage.distance for stage in result.stages]
    assert judged == sorted(judged, reverse=True)  # no stage made the fit worse


def test_analysis_builds_follow_the_measured_partials():
    target = render_voice(read_syx(DATA / "dx7" / "rom1a.syx")[23], note=60, velocity=100, gate_s=0.8,
                          duration_s=1.0, sample_rate=RATE)  # FLUTE 1
    analysis = analyze_note(target, RATE, note=60)
    voice = analysis_voice(analysis, 32)
    ratios = [op.frequency_ratio for op in voice.operators]
    assert ratios[0] == 1.0  # the strongest partial of the flute is its fundamental
    assert all(op.eg_levels[0] == 99 for op in voice.operators)
    single = analysis_voice(analysis, 5, carriers=1)
    # Algorithm 5: OP2 modulates OP1; OP3..OP6 are silent with one carrier.
    assert [op.output_level > 0 for op in single.operators] == [True, True, False, False, False, False]


def test_fit_fm_writes_a_patch_that_plays_the_fitted_audio(tmp_path, capsys):
    note_path = tmp_path / "note.wav"
    target = render_voice(_two_operator_patch(), note=60, velocity=100, gate_s=0.6, duration_s=0.9,
                          sample_rate=RATE)
    sf.write(note_path, target[0].numpy(), RATE, subtype="FLOAT")
    assert main(["fit-fm", str(note_path), "-o", str(tmp_path / "out"), "--quick", "--no-progress"]) == 0
    out = tmp_path / "out"
    assert "nearest preset" in capsys.readouterr().out
    voices = read_syx(out / "patch.syx")
    assert len(voices) == 1 and (out / "patch.syx").stat().st_size == 163
    patch = json.loads((out / "patch.json").read_text())
    fitted, rate = sf.read(out / "fitted.wav", dtype="float32")
    assert rate == RATE and len(fitted) == target.shape[-1]
    # The .syx as written, rendered again, is fitted.wav sample for sample (WAV float32 holds it exactly).
    again = render_voice(voices[0], note=patch["note"], velocity=patch["velocity"], gate_s=patch["gate_s"],
                         duration_s=target.shape[-1] / RATE, sample_rate=RATE)[0, : target.shape[-1]]
    assert np.array_equal(again.numpy(), fitted)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["note"] == 60 and metrics["spectral_distance"] < metrics["preset_spectral_distance"]
    for name in ("log_spectral_distance_db", "envelope_distance_db", "seconds", "nearest_preset", "stages"):
        assert name in metrics
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sf.info(out / "target.wav").frames == target.shape[-1]


def test_bad_targets_are_clear_errors(tmp_path, capsys):
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(RATE), RATE)
    assert main(["fit-fm", str(silent), "-o", str(tmp_path / "a"), "--quick", "--no-progress"]) == 2
    assert "silent" in capsys.readouterr().err.lower()
    short = tmp_path / "short.wav"
    sf.write(short, 0.3 * np.sin(np.arange(1000) * 0.1), RATE)
    assert main(["fit-fm", str(short), "-o", str(tmp_path / "b"), "--quick", "--no-progress"]) == 2
    assert "short" in capsys.readouterr().err.lower()
    noise = tmp_path / "noise.wav"
    sf.write(noise, np.random.default_rng(0).uniform(-0.3, 0.3, RATE), RATE)
    with pytest.raises(NoPitchError, match="--note"):
        fit_patch(torch.from_numpy(sf.read(noise, dtype="float32")[0]), RATE, settings=FitSettings.quick())
    assert main(["fit-fm", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "c")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["fit-fm", str(short), "-o", str(tmp_path / "d"), "--algorithm", "33"]) == 2
