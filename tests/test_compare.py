"""ddsp-lab compare: the DDSP voice and the neural baselines on the same data."""

import json
import pathlib
import shutil

import pytest

from ddsp_lab.cli import main
from ddsp_lab.data import prepare_dataset
from ddsp_lab.workflows.compare import parse_budget

DATA = pathlib.Path(__file__).parent / "data"


pytestmark = pytest.mark.usefixtures("one_thread")


def test_budget_parsing():
    assert parse_budget("20m") == 1200.0 and parse_budget("90s") == 90.0 and parse_budget("1.5h") == 5400.0
    assert parse_budget("42") == 42.0
    for text in ("", "0m", "-3s", "5 minutes"):
        with pytest.raises(ValueError, match="budget"):
            parse_budget(text)


def test_compare_runs_end_to_end(tmp_path, capsys):
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("violin_A4.flac", "trumpet_F4.flac", "flute_C5.flac"):
        shutil.copy(DATA / name, audio / name)
    prepare_dataset(audio, tmp_path / "dataset", crepe_model="tiny", example_seconds=0.5,
                    validation_files=["*flute*"], progress=False)
    out = tmp_path / "compare"
    assert main(["compare", str(tmp_path / "dataset"), "-o", str(out), "--steps", "1", "--eval-examples", "1",
                 "--no-progress"]) == 0
    report = json.loads((out / "comparison.json").read_text())
    assert [row["model"] for row in report["rows"]] == ["ddsp", "wavenet", "samplernn"]
    for row in report["rows"]:
        assert row["steps"] == 1 and row["parameters"] > 100_000 and row["training_seconds"] > 0
        assert row["eval_examples"] == 1 and row["spectral_distance"] > 0
        assert row["render_real_time_factor"] > 0 and row["samples_per_second"] > 0
        assert (out / "audio" / row["model"] / "example_0_model.wav").is_file()
    # The voice renders in one pass; the baselines generate sample by sample and are far slower.
    speed = {row["model"]: row["samples_per_second"] for row in report["rows"]}
    assert speed["ddsp"] > 10 * max(speed["wavenet"], speed["samplernn"])
    table = (out / "comparison.md").read_text()
    assert "| ddsp |" in table and "| wavenet |" in table and "| samplernn |" in table
    assert (out / "spectrograms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| wavenet |" in capsys.readouterr().out

    # Nothing to retrain when run again with the same step count.
    assert main(["compare", str(tmp_path / "dataset"), "-o", str(out), "--steps", "1", "--eval-examples", "1",
                 "--no-progress", "--models", "samplernn"]) == 0
    assert json.loads((out / "comparison.json").read_text())["rows"][0]["steps"] == 1


def test_compare_bad_arguments(tmp_path, capsys):
    assert main(["compare", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "--budget" in capsys.readouterr().err
    assert main(["compare", str(tmp_path), "-o", str(tmp_path / "out"), "--steps", "1", "--models", "mlp"]) == 2
    assert "models" in capsys.readouterr().err
