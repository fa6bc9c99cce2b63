"""The ddsp-lab command line."""

import numpy as np
import pytest
import soundfile as sf
import torch

from ddsp_lab.cli import main
from ddsp_lab.workflows.demo import SHOWCASE


def test_demo_writes_audible_wavs_and_a_png(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seconds", "0.5", "--sample-rate", "22050", "--no-transfer"]) == 0
    for name in SHOWCASE:
        audio, sr = sf.read(tmp_path / f"{name}.wav")
        assert sr == 22050
        assert audio.shape[0] == pytest.approx(0.5 * 22050, rel=0.02)
        assert np.all(np.isfinite(audio))
        # Normalised to a 0.8 peak: a silent or exploding render would not be.
        assert np.abs(audio).max() == pytest.approx(0.8, abs=1e-3)
    png = (tmp_path / "showcase.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Wrote 5 files" in capsys.readouterr().out


def test_demo_plays_the_bundled_melody_with_the_bundled_violin(tmp_path):
    from ddsp_lab.features import compute_f0
    from ddsp_lab.pretrained import TRUMPET_MELODY
    from ddsp_lab.workflows.demo import transfer_demo

    written = transfer_demo(str(tmp_path))
    assert [path.rsplit("/", 1)[-1] for path in written] == [
        "trumpet.wav", "violin_from_trumpet.wav", "violin_from_trumpet.png"]
    melody, melody_rate = sf.read(TRUMPET_MELODY)
    violin, rate = sf.read(tmp_path / "violin_from_trumpet.wav")
    assert rate == 16000 and violin.ndim == 1
    # The melody's length at the voice's rate, to within the resampler's rounding.
    assert abs(len(violin) - len(melody) * rate / melody_rate) <= 1
    assert np.all(np.isfinite(violin)) and np.abs(violin).max() > 0.05
    # The violin plays the trumpet's pitch (shifted by whole octaves): compare CREPE on both
    # where both are confident; 50 cents is half a semitone.
    trumpet_f0, trumpet_conf = compute_f0(torch.from_numpy(melody.mean(axis=1)).float()[None], melody_rate,
                                          hop_length=melody_rate // 100, model="tiny")
    violin_f0, violin_conf = compute_f0(torch.from_numpy(violin).float()[None], rate, hop_length=rate // 100,
                                        model="tiny")
    frames = min(trumpet_f0.shape[-1], violin_f0.shape[-1])
    both = (trumpet_conf[0, :frames] > 0.85) & (violin_conf[0, :frames] > 0.85)
    assert int(both.sum()) > 100
    semitones = 12 * torch.log2(violin_f0[0, :frames][both] / trumpet_f0[0, :frames][both])
    octaves = torch.round(semitones.median() / 12)
    cents = 100 * (semitones - 12 * octaves).abs()
    assert float(cents.median()) < 50 and float((cents < 50).float().mean()) > 0.9


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seconds", "-1"]) == 2
    assert "seconds must be finite and > 0" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--sample-rate", "4000"]) == 2
    assert "at least 8000 Hz" in capsys.readouterr().err


BANK = __import__("pathlib").Path(__file__).parent / "data" / "dx7" / "rom1a.syx"


def test_syx_list_prints_every_voice(capsys):
    assert main(["syx", "list", str(BANK)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # A header and the 32 voices of the bank, first and last by name.
    assert len(lines) == 33
    assert "BRASS   1" in lines[1] and lines[1].split()[0] == "1"
    assert lines[-1].split()[0] == "32"


def test_render_writes_the_engine_output(tmp_path):
    from ddsp_lab.dx7 import read_syx, render_voice

    out = tmp_path / "epiano.wav"
    args = ["render", str(BANK), "--voice", "e.piano 1", "--note", "64", "--velocity", "90",
            "--gate", "0.3", "--duration", "0.5", "--sample-rate", "16000", "-o", str(out)]
    assert main(args) == 0
    audio, sr = sf.read(out, dtype="float32")
    assert sr == 16000 and audio.shape == (8000,)
    voice = next(v for v in read_syx(BANK) if v.display_name == "E.PIANO 1")
    expected = render_voice(voice, note=64, velocity=90, gate_s=0.3, duration_s=0.5, sample_rate=16000)[0].numpy()
    # Written as 32-bit float WAV: identical samples.
    assert np.array_equal(audio, expected)


def test_render_reports_unknown_voices(tmp_path, capsys):
    assert main(["render", str(BANK), "--voice", "EPIANO", "-o", str(tmp_path / "x.wav")]) == 2
    assert "close matches" in capsys.readouterr().err
    assert main(["render", str(BANK), "--voice", "40", "-o", str(tmp_path / "x.wav")]) == 2
    assert "out of range" in capsys.readouterr().err


def test_prepare_then_train_from_the_command_line(tmp_path, capsys):
    import shutil

    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("violin_A4.flac", "flute_C5.flac", "trumpet_F4.flac"):
        shutil.copy(BANK.parent.parent / name, audio / name)
    dataset, run = tmp_path / "dataset", tmp_path / "run"
    assert main(["prepare", str(audio), str(dataset), "--crepe-model", "tiny", "--example-seconds", "0.5",
                 "--no-progress"]) == 0
    assert "validation" in capsys.readouterr().out
    assert main(["train", str(dataset), "--out", str(run), "--size", "tiny", "--steps", "2", "--no-progress"]) == 0
    assert "Trained to step 2" in capsys.readouterr().out
    assert (run / "checkpoints" / "step_000002.pt").exists()
    # Asking for more steps resumes the same run instead of starting over.
    assert main(["train", str(dataset), "--out", str(run), "--steps", "3", "--no-progress"]) == 0
    assert "Trained to step 3" in capsys.readouterr().out
    assert main(["eval", str(run), "--data", str(dataset), "--crepe-model", "tiny", "--no-progress"]) == 0
    assert "loudness" in capsys.readouterr().out.lower()
    assert (run / "eval.json").exists() and (run / "eval.md").exists()
    out, plot = tmp_path / "transferred.wav", tmp_path / "transfer.png"
    args = ["transfer", str(run), str(audio / "trumpet_F4.flac"), "-o", str(out), "--crepe-model", "tiny",
            "--plot", str(plot), "--no-progress"]
    assert main(args) == 0
    assert "octave shift" in capsys.readouterr().out
    rendered, rate = sf.read(out)
    reference, reference_rate = sf.read(audio / "trumpet_F4.flac")
    assert rate == 16000 and reference_rate == 16000 and rendered.shape[0] == reference.shape[0]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["transfer", str(run), str(audio / "missing.wav"), "-o", str(out)]) == 2
    assert main(["prepare", str(tmp_path / "missing"), str(dataset)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_transfer_command_forms(tmp_path, capsys, monkeypatch):
    trumpet = str(__import__("pathlib").Path(__file__).parent / "data" / "trumpet_F4.flac")
    out = tmp_path / "given.wav"
    assert main(["transfer", "violin", trumpet, "-o", str(out), "--crepe-model", "tiny", "--no-progress"]) == 0
    # The form with --model, and the default output name: the input's and the model's, here.
    monkeypatch.chdir(tmp_path)
    assert main(["transfer", "--model", "violin", trumpet, "--crepe-model", "tiny", "--no-progress"]) == 0
    first, rate = sf.read(out)
    second, _ = sf.read(tmp_path / "trumpet_F4_violin.wav")
    assert rate == 16000 and first.shape == second.shape
    capsys.readouterr()
    assert main(["transfer", "violin"]) == 2
    assert "give the model and the input" in capsys.readouterr().err
    assert main(["transfer", "no-such-model", trumpet, "-o", str(out)]) == 2
    assert "bundled models: violin" in capsys.readouterr().err
