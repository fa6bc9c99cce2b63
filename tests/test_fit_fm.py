"""Fitting DX7 patches to a note: ddsp-lab fit-fm."""

import dataclasses
import json
import math
import pathlib

import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_lab.cli import main
from ddsp_lab.dx7 import Voice, read_syx, render_voice
from ddsp_lab.fitting import NoPitchError
from ddsp_lab.fitting.analysis import analyze_note, frame_rms_db
from ddsp_lab.fitting.fit import (
    _ENVELOPE_MOVES,
    FitSettings,
    _coordinate_search,
    _engine_distance,
    _tail_full_scale_seconds,
    analysis_voice,
    fit_patch,
)

DATA = pathlib.Path(__file__).parent / "data"
RATE = 22050


pytestmark = pytest.mark.usefixtures("one_thread")


def _two_operator_patch(carrier_rates=(95, 60, 50, 70), carrier_levels=(99, 90, 80, 0)):
    """OP2 at ratio 3 modulating OP1 at ratio 1 (algorithm 1), every other operator silent."""
    voice = Voice(algorithm=1)
    for operator in voice.operators:
        operator.output_level = 0
    carrier, modulator = voice.operator(1), voice.operator(2)
    carrier.output_level, carrier.eg_rates, carrier.eg_levels = 99, list(carrier_rates), list(carrier_levels)
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
    # No stage made the fit worse on the fit window (the whole-note choice is measured on the whole note).
    judged = [stage.distance for stage in result.stages if not stage.stage.startswith("whole")]
    assert judged == sorted(judged, reverse=True)


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


def test_a_free_decay_builds_a_knee_and_the_tail_slope():
    # A struck tone: 20 dB in the first 0.2 s, then 6 dB/s, as a piano's two-stage decay.
    rate, f0 = 22050, 261.63
    t = torch.arange(5 * rate, dtype=torch.float64) / rate
    level_db = torch.where(t < 0.01, 20 * torch.log10((t / 0.01).clamp_min(1e-6)),
                           torch.where(t < 0.21, -100 * (t - 0.01), -20 - 6 * (t - 0.21)))
    audio = (sum(0.4 / k * torch.sin(2 * math.pi * f0 * k * t) for k in range(1, 6)) * 10 ** (level_db / 20)).float()
    analysis = analyze_note(audio, rate, note=60)
    assert not analysis.released
    assert _tail_full_scale_seconds(analysis) == pytest.approx(96.0 / 6.0, rel=0.05)
    voice = analysis_voice(analysis, 32)
    # The build falls to a knee 20 dB down (level 72), then towards silence at the tail's rate.
    assert voice.operator(1).eg_levels == [99, 72, 0, 0]
    fitted = render_voice(voice, note=60, velocity=100, gate_s=5.0, duration_s=5.0, sample_rate=rate)
    envelope = frame_rms_db(fitted, 110, 441)[0]
    frames_per_second = rate / 110
    slope = (float(envelope[int(3.5 * frames_per_second)]) - float(envelope[int(1.5 * frames_per_second)])) / 2.0
    # The EG's rates are coarse steps (rate 28: -5.1 dB/s); falling through at the first 20 dB's rate
    # would be over 20 dB/s.
    assert -7.5 < slope < -4.5


def test_the_whole_note_search_recovers_a_slow_decay():
    # The tail after the knee (R3) shapes seconds of the note: the search over envelope settings
    # against the whole note at a low rate finds it again from a start that decays too fast.
    render = dict(note=57, velocity=100, gate_s=4.0, duration_s=4.0, sample_rate=11025)
    target = render_voice(_two_operator_patch((95, 50, 35, 70), (99, 85, 0, 0)), **render)
    start = _two_operator_patch((95, 50, 47, 70), (99, 85, 0, 0))
    before = float(_engine_distance([start], target, render)[0])
    found, after = _coordinate_search(start, before, target, render, 8, math.inf, _ENVELOPE_MOVES, ())
    assert before > 1.0
    assert found.operator(1).eg_rates == [95, 50, 35, 70] and after == pytest.approx(0.0, abs=1e-6)


def test_a_long_note_is_searched_again_over_its_whole_length():
    target = render_voice(_two_operator_patch((95, 50, 35, 70), (99, 85, 0, 0)), note=57, velocity=100,
                          gate_s=3.5, duration_s=4.0, sample_rate=RATE)
    settings = dataclasses.replace(FitSettings.quick(), time_budget_s=20.0)
    result = fit_patch(target, RATE, note=57, algorithm=1, settings=settings)
    searched = [stage for stage in result.stages if stage.stage.startswith("whole-note search")]
    assert len(searched) == 1  # from the windowed fit (there is no preset pool)
    assert result.stages[-1].stage == "whole-note choice"
    # The choice is judged on the whole note at the target's rate, as the reported metrics are.
    assert result.metrics["spectral_distance"] == pytest.approx(result.stages[-1].distance, rel=1e-5)
    assert result.metrics["spectral_distance"] < 0.2


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
