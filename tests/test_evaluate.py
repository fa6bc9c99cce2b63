import json
import pathlib
import shutil

import pytest

from ddsp_lab.data import PreparedDataset, prepare_dataset
from ddsp_lab.models import Config
from ddsp_lab.workflows.evaluate import METRIC_NAMES, evaluate
from ddsp_lab.workflows.train import train

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny DDSP voice trained for 2 steps on 0.5 s examples of three clips (tiny CREPE)."""
    root = tmp_path_factory.mktemp("evaluate")
    audio = root / "audio"
    audio.mkdir()
    for name in ("violin_A4.flac", "flute_C5.flac", "trumpet_F4.flac"):
        shutil.copy(DATA / name, audio / name)
    dataset, run = root / "dataset", root / "run"
    prepare_dataset(audio, dataset, crepe_model="tiny", example_seconds=0.5, progress=False)
    config = Config()
    config.model.size = "tiny"
    train(dataset, run, config=config, device="cpu", max_steps=2, progress=False)
    return dataset, run


def test_evaluate_writes_per_example_and_mean_metrics(trained, tmp_path):
    dataset, run = trained
    report = evaluate(run, dataset, crepe_model="tiny", device="cpu", progress=False, out_dir=tmp_path / "eval")
    validation = PreparedDataset(dataset, "validation")
    assert report.step == 2 and report.split == "validation"
    assert report.reference_crepe_model == "tiny"
    assert len(report.examples) == len(validation) == report.aggregate["examples"]
    for example in report.examples:
        assert example["loudness_l1_db"] >= 0.0 and example["spectral_distance"] > 0.0
        if example["confident_frames"]:
            assert example["f0_l1_semitones"] >= 0.0
            assert 0.0 <= example["f0_outlier_ratio"] <= 1.0
        else:
            assert example["f0_l1_semitones"] is None and example["f0_outlier_ratio"] is None
    # Real instrument notes: CREPE is confident on some reference frames.
    assert report.aggregate["examples_with_pitch"] >= 1
    for name in METRIC_NAMES:
        values = [example[name] for example in report.examples if example[name] is not None]
        assert report.aggregate[name] == pytest.approx(sum(values) / len(values))

    saved = json.loads(pathlib.Path(report.json_path).read_text())
    assert saved["aggregate"] == report.aggregate
    assert saved["examples"] == report.examples
    table = pathlib.Path(report.markdown_path).read_text()
    assert "| loudness L1 (dB) |" in table and "| f0 outlier ratio |" in table
    # One row per example after the per-example header.
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(report.examples)
    assert not list((tmp_path / "eval").glob(".tmp-*"))

    # The synthesiser noise is seeded per example: the checkpoint file scores exactly the same.
    again = evaluate(run / "checkpoints" / "step_000002.pt", dataset, crepe_model="tiny", device="cpu",
                     progress=False, out_dir=tmp_path / "again")
    assert again.examples == report.examples


def test_evaluate_rejects_bad_arguments(trained, tmp_path):
    dataset, run = trained
    with pytest.raises(ValueError, match="crepe_model"):
        evaluate(run, dataset, crepe_model="large", progress=False, out_dir=tmp_path)
    with pytest.raises(ValueError, match="split"):
        evaluate(run, dataset, split="test", crepe_model="tiny", progress=False, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset folder"):
        evaluate(run, tmp_path / "missing", crepe_model="tiny", progress=False, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="no intact checkpoint"):
        evaluate(tmp_path, dataset, crepe_model="tiny", progress=False, out_dir=tmp_path)
    assert not (tmp_path / "eval.json").exists()


def test_baseline_is_evaluated_on_generated_audio(trained, tmp_path):
    dataset, _ = trained
    config = Config()
    config.model.synth, config.model.size = "samplernn", "tiny"
    config.training.batch_size = 2
    train(dataset, tmp_path / "run", config=config, device="cpu", max_steps=1, progress=False)
    report = evaluate(tmp_path / "run", dataset, crepe_model="tiny", device="cpu", progress=False, max_examples=1)
    assert report.aggregate["examples"] == 1 and report.examples[0]["index"] == 0
    assert report.examples[0]["spectral_distance"] > 0.0
    # Sample-by-sample generation: the time per second of audio is measured and reported.
    assert report.aggregate["render_real_time_factor"] > 0.0
    assert "rendering time / audio time" in pathlib.Path(report.markdown_path).read_text()
    with pytest.raises(ValueError, match="max_examples"):
        evaluate(tmp_path / "run", dataset, max_examples=0, progress=False)


def test_bundled_violin_is_evaluated_by_name(trained, tmp_path):
    dataset, _ = trained
    with pytest.raises(ValueError, match="out_dir is required"):
        evaluate("violin", dataset, progress=False, max_examples=1)
    report = evaluate("violin", dataset, crepe_model="tiny", device="cpu", progress=False, max_examples=1,
                      out_dir=tmp_path / "eval", audio_dir=tmp_path / "audio")
    assert report.checkpoint.endswith("model.pt") and report.aggregate["examples"] == 1
    index = report.examples[0]["index"]
    assert (tmp_path / "audio" / f"example_{index}_model.wav").is_file()
    assert (tmp_path / "audio" / f"example_{index}_target.wav").is_file()
