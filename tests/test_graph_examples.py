"""The graph examples run as scripts and write what they promise (short renders)."""

import importlib.util
import os

import pytest
import soundfile as sf

from ddsp_lab.graph import load_preset

EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name, stems",
    [
        ("graph_subtractive", ["subtractive"]),
        ("graph_fm_bell", ["fm_bell"]),
        ("graph_ddsp_voice", ["ddsp_voice"]),
        ("graph_karplus_strong", ["karplus_strong_loop", "karplus_strong"]),
    ],
)
def test_example_writes_audio_preset_and_pictures(tmp_path, name, stems, capsys):
    assert load_example(name).main(["--out", str(tmp_path), "--seconds", "0.4", "--sample-rate", "8000"]) == 0
    for stem in stems:
        audio, rate = sf.read(tmp_path / f"{stem}.wav")
        assert rate == 8000 and audio.shape[0] >= 0.4 * 8000
        # Normalised to a 0.8 peak: a silent or exploding render would not be.
        assert abs(abs(audio).max() - 0.8) < 1e-3
        graph = load_preset(tmp_path / f"{stem}.json")
        assert graph.sample_rate == 8000
        for suffix in ("_graph.png", "_spectrogram.png"):
            assert (tmp_path / f"{stem}{suffix}").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / f"{stem}.dot").read_text().startswith("digraph")
    assert "Graph '" in capsys.readouterr().out


def test_fit_example_runs_or_skips_cleanly(tmp_path, capsys):
    module = load_example("graph_fit_real_note")
    assert module.midi_from_file_name("harp_C5.flac") == 72
    assert module.midi_from_file_name("/x/organ_Ds3.mp3") == 51
    assert module.midi_from_file_name("trombone_As1.mp3") == 34
    with pytest.raises(ValueError, match="note name"):
        module.midi_from_file_name("violin.flac")
    assert module.main(["--out", str(tmp_path), "--data", str(tmp_path / "absent")]) == 0
    assert "skipping" in capsys.readouterr().out
    if not os.path.isdir(module.DEFAULT_DATA):
        pytest.skip("the shared data folder is absent")
    args = ["--out", str(tmp_path), "--steps", "2", "--seconds", "0.3", "--sample-rate", "8000", "--no-progress"]
    assert module.main(args) == 0
    out = tmp_path / "fit_real_note"
    for name in ("fitted_preset.json", "loss_curve.png", "fitted.wav", "target.wav", "ATTRIBUTION.txt"):
        assert (out / name).exists()
    assert "CC-BY" in (out / "ATTRIBUTION.txt").read_text()
