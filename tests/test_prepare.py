"""Tests for ddsp_lab.data: prepare_dataset (scan, cache, resume, splits, report) and PreparedDataset."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from ddsp_lab.core.resample import resample
from ddsp_lab.data import PreparedDataset, load_manifest, prepare_dataset, read_cache
from ddsp_lab.data import prepare as prepare_module
from ddsp_lab.features import compute_f0, compute_loudness, compute_mfcc
from ddsp_lab.io import load_audio

DATA = Path(__file__).parent / "data"
RATE = 16000
HOP = 64
EXAMPLE_SECONDS = 0.5  # 125 frames, 8000 samples at 16 kHz
EXAMPLE_FRAMES = 125
# CREPE "tiny" keeps the tests fast; the pipeline is the same for "full".
FAST = dict(sample_rate=RATE, hop_length=HOP, example_seconds=EXAMPLE_SECONDS, crepe_model="tiny", progress=False)

EXPECTED_FILES = {  # relative path -> examples (1.5 s clips give 3 examples of 0.5 s, the 1.0 s clip 2)
    "strings/cello_C3.flac": 3,
    "strings/violin_A4_44k.flac": 2,
    "violin_A4.flac": 3,
    "winds/flute_C5.flac": 3,
    "winds/trumpet_F4.flac": 3,
}
EXPECTED_SKIPS = {
    "notes.wav": "unreadable",
    "README.txt": "not audio",
    "empty.flac": "empty",
    "quiet.wav": "silent",
    "short.wav": "too short",
    "winds/zz_violin_copy.flac": "duplicate",
}


def _write_tree(root: Path) -> Path:
    """An audio folder with real recordings in subfolders and one file of every kind that must be skipped."""
    audio = root / "audio"
    (audio / "strings").mkdir(parents=True)
    (audio / "winds").mkdir()
    (audio / ".cache").mkdir()
    shutil.copy(DATA / "violin_A4.flac", audio / "violin_A4.flac")
    shutil.copy(DATA / "flute_C5.flac", audio / "winds" / "flute_C5.flac")
    shutil.copy(DATA / "trumpet_F4.flac", audio / "winds" / "trumpet_F4.flac")
    shutil.copy(DATA / "cello_C3.flac", audio / "strings" / "cello_C3.flac")
    shutil.copy(DATA / "violin_A4_44k.flac", audio / "strings" / "violin_A4_44k.flac")
    shutil.copy(DATA / "violin_A4.flac", audio / "winds" / "zz_violin_copy.flac")
    shutil.copy(DATA / "flute_C5.flac", audio / ".cache" / "hidden.flac")
    (audio / "notes.wav").write_text("not a wave file, only text with a .wav name\n")
    (audio / "README.txt").write_text("recordings for the tests\n")
    (audio / "empty.flac").write_bytes(b"")
    # Noise at -80 dBFS RMS: below the default -60 dB threshold, not digital silence.
    noise = np.random.default_rng(0).standard_normal(RATE) * 10 ** (-80 / 20)
    soundfile.write(audio / "quiet.wav", noise, RATE, subtype="FLOAT")
    violin, _ = soundfile.read(DATA / "violin_A4.flac", dtype="float32")
    soundfile.write(audio / "short.wav", violin[: int(0.3 * RATE)], RATE, subtype="FLOAT")
    return audio


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run this module's CREPE analyses on one CPU thread.

    The Viterbi decoding in compute_f0 is a loop of tiny tensor operations;
    on a shared 2-core machine their thread synchronisation, not arithmetic,
    dominates (measured here: 0.02 s on one thread, up to 6 s on two for a
    1.5 s clip). One thread gives the same numbers, only sooner.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("prepare")
    audio = _write_tree(root)
    dataset = root / "dataset"
    report = prepare_dataset(audio, dataset, validation_files=["*cello*"], **FAST)
    return audio, dataset, report


def _cache_of(dataset: Path, source: str) -> dict:
    entry = next(entry for entry in load_manifest(dataset)["files"] if entry["source"] == source)
    return read_cache(dataset / entry["cache"])


def _copy_dataset(dataset: Path, destination: Path) -> Path:
    shutil.copytree(dataset, destination)
    return destination


def _failing_f0(*args, **kwargs):
    raise AssertionError("compute_f0 must not run: every recording is cached")


# ----------------------------------------------------------------------------- report and manifest


def test_report_lists_every_file_and_every_skip_with_its_reason(prepared):
    audio, dataset, report = prepared
    assert {item.source: item.reason for item in report.skipped} == EXPECTED_SKIPS
    assert set(EXPECTED_SKIPS.values()) == set(prepare_module.SKIP_REASONS)  # every reason is exercised
    assert {item.source: item.examples for item in report.files} == EXPECTED_FILES
    assert report.computed == 5 and report.reused == 0
    assert report.example_seconds == EXAMPLE_SECONDS
    details = {item.source: item.detail for item in report.skipped}
    assert "same bytes as violin_A4.flac" in details["winds/zz_violin_copy.flac"]
    assert "below min_rms_db=-60" in details["quiet.wav"]
    assert "0.300 s is shorter than one example (0.500 s)" in details["short.wav"]
    # Hidden folders are not scanned at all.
    assert not any(".cache" in item.source for item in report.files + report.skipped)

    table = str(report)
    for source, reason in EXPECTED_SKIPS.items():
        assert any(reason in line and source in line for line in table.splitlines())
    assert "train           4        11" in table and "validation      1         3" in table

    manifest = json.loads((dataset / "dataset.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "ddsp_lab.prepared_dataset" and manifest["version"] == 1
    assert {s["source"]: s["reason"] for s in manifest["skipped"]} == EXPECTED_SKIPS
    assert manifest["features"] == {
        "feature_version": 1, "sample_rate": RATE, "hop_length": HOP, "crepe_model": "tiny",
        "normalize": False, "mfcc_coefficients": 30,
    }
    assert manifest["examples"]["example_frames"] == EXAMPLE_FRAMES and manifest["examples"]["example_samples"] == 8000
    assert manifest["totals"]["train"] == {"files": 4, "examples": 11, "minutes": pytest.approx((3 * 1.5 + 1.0) / 60)}
    assert manifest["totals"]["validation"] == {"files": 1, "examples": 3, "minutes": pytest.approx(1.5 / 60)}
    assert sorted(os.listdir(dataset / "files")) == sorted(f"{entry['id']}.npz" for entry in manifest["files"])


def test_split_is_by_recording_and_follows_the_patterns(prepared):
    _, dataset, report = prepared
    splits = {item.source: item.split for item in report.files}
    assert splits == {source: "validation" if "cello" in source else "train" for source in EXPECTED_FILES}
    train = PreparedDataset(dataset, "train")
    validation = PreparedDataset(dataset, "validation")
    train_sources = {train.describe(index)["source"] for index in range(len(train))}
    validation_sources = {validation.describe(index)["source"] for index in range(len(validation))}
    assert validation_sources == {"strings/cello_C3.flac"}
    assert train_sources.isdisjoint(validation_sources) and len(train) == 11 and len(validation) == 3


def test_validation_fraction_picks_whole_files_deterministically():
    sources = [f"take_{index:02d}.flac" for index in range(10)]
    first = prepare_module._assign_splits(sources, 0.2, None, seed=0)
    assert first == prepare_module._assign_splits(list(reversed(sources)), 0.2, None, seed=0)
    held_out = {source for source, split in first.items() if split == "validation"}
    assert len(held_out) == 2
    # Adding a recording moves at most one other recording across the cut.
    grown = prepare_module._assign_splits(sources + ["take_10.flac"], 0.2, None, seed=0)
    assert len(held_out - {source for source, split in grown.items() if split == "validation"}) <= 1
    # Other seeds pick other recordings (20 seeds all picking the same pair of ten would be a broken hash).
    picks = set()
    for seed in range(20):
        splits = prepare_module._assign_splits(sources, 0.2, None, seed)
        picks.add(frozenset(source for source, split in splits.items() if split == "validation"))
    assert len(picks) > 1
    # A small positive fraction still holds out one recording, and never all of them.
    assert list(prepare_module._assign_splits(sources[:2], 0.01, None, 0).values()).count("validation") == 1
    assert list(prepare_module._assign_splits(sources[:2], 0.99, None, 0).values()).count("train") == 1
    assert set(prepare_module._assign_splits(sources, 0.0, None, 0).values()) == {"train"}


# ----------------------------------------------------------------------------- cached features


@pytest.mark.parametrize("source,original", [
    ("violin_A4.flac", "violin_A4.flac"),
    ("strings/violin_A4_44k.flac", "violin_A4_44k.flac"),  # resampled from 44.1 kHz
])
def test_cache_holds_the_features_of_the_whole_recording(prepared, source, original):
    _, dataset, _ = prepared
    cache = _cache_of(dataset, source)
    audio, _ = load_audio(DATA / original, sample_rate=RATE)
    np.testing.assert_array_equal(cache["audio"], audio[0].numpy())
    frames = -(-audio.shape[-1] // HOP)
    f0_hz, confidence = compute_f0(audio, RATE, hop_length=HOP, model="tiny")
    loudness = compute_loudness(audio, RATE, hop_length=HOP)
    mfcc = compute_mfcc(audio, RATE, hop_length=HOP, n_mfcc=30)
    assert cache["f0_hz"].shape == cache["confidence"].shape == cache["loudness_db"].shape == (frames,)
    assert cache["mfcc"].shape == (frames, 30)
    # The same functions on the same samples, stored as the float32 they return:
    # only the order of CPU reductions may differ between calls, a few float32 ulps.
    for name, expected in [("f0_hz", f0_hz), ("confidence", confidence), ("loudness_db", loudness), ("mfcc", mfcc)]:
        np.testing.assert_allclose(cache[name], expected[0].numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    meta = cache["meta"]
    assert meta["source"] == source and meta["gain_db"] == 0.0
    assert meta["sha256"] == prepare_module._sha256(str(DATA / original))


def test_examples_are_frame_aligned_slices_of_the_recording(prepared):
    _, dataset, _ = prepared
    validation = PreparedDataset(dataset, "validation", include_mfcc=True)
    cache = _cache_of(dataset, "strings/cello_C3.flac")
    assert validation.item_samples == EXAMPLE_FRAMES * HOP
    for index in range(len(validation)):
        item = validation[index]
        start = validation.describe(index)["start_frame"]
        assert start == index * EXAMPLE_FRAMES  # no overlap by default
        assert item["audio"].shape == (EXAMPLE_FRAMES * HOP,) and item["audio"].dtype == torch.float32
        for name in ("f0_hz", "confidence", "loudness_db"):
            assert item[name].shape == (EXAMPLE_FRAMES,)
            np.testing.assert_array_equal(item[name].numpy(), cache[name][start:start + EXAMPLE_FRAMES])
        assert item["mfcc"].shape == (EXAMPLE_FRAMES, 30)
        np.testing.assert_array_equal(item["audio"].numpy(), cache["audio"][start * HOP:(start + EXAMPLE_FRAMES) * HOP])
        # Independent alignment check: loudness recomputed on the example alone equals the
        # cached frames wherever the 512-sample window stays inside the example (4 frames
        # from each end); a shift of even one frame would change every value on a real note.
        alone = compute_loudness(item["audio"], RATE, hop_length=HOP)
        torch.testing.assert_close(alone[4:-4], item["loudness_db"][4:-4], rtol=0, atol=1e-4)


def test_overlapping_examples_and_silent_examples(prepared, tmp_path):
    audio, dataset, _ = prepared
    copy = _copy_dataset(dataset, tmp_path / "dataset")
    report = prepare_dataset(
        audio, copy, validation_files=["*cello*"], **{**FAST, "example_seconds": 1.0}, hop_seconds=0.25
    )
    # 1.5 s gives starts at 0, 0.25 and 0.5 s; the 1.0 s recording exactly one example.
    assert {item.source: item.examples for item in report.files}["violin_A4.flac"] == 3
    assert {item.source: item.examples for item in report.files}["strings/violin_A4_44k.flac"] == 1
    entry = next(e for e in load_manifest(copy)["files"] if e["source"] == "violin_A4.flac")
    assert entry["example_starts"] == [0, 62, 124]  # 0.25 s is 62.5 frames, rounded to 62

    # With a threshold above the level of every example, all examples are dropped and the
    # recordings are reported as silent (their caches stay).
    with pytest.raises(ValueError, match="every file .* was skipped") as error:
        prepare_dataset(audio, copy, validation_files=["*cello*"], min_rms_db=0.0, **FAST)
    assert "silent" in str(error.value) and "violin_A4.flac" in str(error.value)
    assert len(os.listdir(copy / "files")) == 5


# ----------------------------------------------------------------------------- dataset


def test_training_items_are_random_frame_aligned_crops(prepared):
    _, dataset, _ = prepared
    crop_frames = 50  # 0.2 s at 250 frames per second
    train = PreparedDataset(dataset, "train", crop_seconds=0.2)
    assert train.crop_frames == crop_frames and train.item_samples == crop_frames * HOP
    assert set(train.statistics) == {"loudness_db_mean", "loudness_db_std"}
    torch.manual_seed(0)
    offsets = []
    for _ in range(20):
        item = train[0]
        assert set(item) == {"audio", "f0_hz", "confidence", "loudness_db"}
        assert item["audio"].shape == (crop_frames * HOP,) and item["f0_hz"].shape == (crop_frames,)
        where = train.describe(0)
        cache = _cache_of(dataset, where["source"])
        candidates = [
            offset for offset in range(EXAMPLE_FRAMES - crop_frames + 1)
            if np.array_equal(
                cache["audio"][(where["start_frame"] + offset) * HOP:][:crop_frames * HOP], item["audio"].numpy()
            )
        ]
        assert len(candidates) == 1
        start = where["start_frame"] + candidates[0]
        np.testing.assert_array_equal(item["f0_hz"].numpy(), cache["f0_hz"][start:start + crop_frames])
        np.testing.assert_array_equal(item["loudness_db"].numpy(), cache["loudness_db"][start:start + crop_frames])
        offsets.append(candidates[0])
    # 76 possible offsets: twenty equal draws would mean the crop is not random.
    assert len(set(offsets)) > 1

    batch = next(iter(torch.utils.data.DataLoader(train, batch_size=4)))
    assert batch["audio"].shape == (4, crop_frames * HOP) and batch["confidence"].shape == (4, crop_frames)

    # Validation items are whole examples, the same every time, even with random draws around.
    validation = PreparedDataset(dataset, "validation")
    first = validation[1]
    torch.manual_seed(1)
    again = validation[1]
    assert all(torch.equal(first[name], again[name]) for name in first)
    fixed = PreparedDataset(dataset, "validation", crop_seconds=0.2)
    assert torch.equal(fixed[1]["audio"], first["audio"][:crop_frames * HOP])


def test_dataset_bad_arguments(prepared, tmp_path):
    _, dataset, _ = prepared
    with pytest.raises(ValueError, match="split must be"):
        PreparedDataset(dataset, "test")
    with pytest.raises(ValueError, match="longer than the examples"):
        PreparedDataset(dataset, crop_seconds=0.6)
    with pytest.raises(ValueError, match="crop_seconds"):
        PreparedDataset(dataset, crop_seconds=-1.0)
    with pytest.raises(ValueError, match="not a prepared dataset"):
        PreparedDataset(tmp_path)
    # A cache that no longer matches the manifest (a recording changed, and the run that
    # re-analysed it was interrupted before writing the manifest) is refused.
    copy = _copy_dataset(dataset, tmp_path / "copy")
    entry = next(e for e in load_manifest(copy)["files"] if e["split"] == "validation")
    manifest = json.loads((copy / "dataset.json").read_text(encoding="utf-8"))
    next(e for e in manifest["files"] if e["id"] == entry["id"])["sha256"] = "0" * 64
    (copy / "dataset.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match="does not match"):
        PreparedDataset(copy, "validation")


# ----------------------------------------------------------------------------- resume


def test_rerun_reuses_every_cache_and_can_recut_examples(prepared, tmp_path, monkeypatch, capsys):
    audio, dataset, _ = prepared
    copy = _copy_dataset(dataset, tmp_path / "dataset")
    stamps = {name: os.stat(copy / "files" / name).st_mtime_ns for name in os.listdir(copy / "files")}
    monkeypatch.setattr(prepare_module, "compute_f0", _failing_f0)
    report = prepare_dataset(audio, copy, validation_files=["*cello*"], **{**FAST, "progress": True})
    assert report.computed == 0 and report.reused == 5
    assert {item.source: item.examples for item in report.files} == EXPECTED_FILES
    assert {item.source: item.reason for item in report.skipped} == EXPECTED_SKIPS
    # The progress bar names the file it is working on.
    assert "winds/trumpet_F4.flac" in capsys.readouterr().err
    # Example length, overlap and split only re-cut the cached audio.
    # (0.4 s keeps short.wav, 0.3 s, too short: it is never analysed.)
    report = prepare_dataset(
        audio, copy, **{**FAST, "example_seconds": 0.4}, hop_seconds=0.2, validation_fraction=0.2
    )
    # 100-frame examples every 50 frames: 6 in each 375-frame recording, 4 in the 250-frame one.
    assert report.reused == 5 and sum(item.examples for item in report.files) == 4 * 6 + 4
    assert sum(item.split == "validation" for item in report.files) == 1
    assert {name: os.stat(copy / "files" / name).st_mtime_ns for name in os.listdir(copy / "files")} == stamps


def test_changed_recording_is_analysed_again_alone(prepared, tmp_path, monkeypatch):
    audio, dataset, _ = prepared
    moved = tmp_path / "moved_audio"
    shutil.copytree(audio, moved)  # a moved audio folder keeps its caches
    copy = _copy_dataset(dataset, tmp_path / "dataset")
    flute, rate = soundfile.read(moved / "winds" / "flute_C5.flac", dtype="float32")
    soundfile.write(moved / "winds" / "flute_C5.flac", 0.5 * flute, rate, subtype="PCM_16")
    calls = []

    def counting_f0(audio_tensor, *args, **kwargs):
        calls.append(audio_tensor.shape[-1])
        return compute_f0(audio_tensor, *args, **kwargs)

    monkeypatch.setattr(prepare_module, "compute_f0", counting_f0)
    report = prepare_dataset(moved, copy, validation_files=["*cello*"], **FAST)
    assert len(calls) == 1 and report.computed == 1 and report.reused == 4
    assert [item.source for item in report.files if not item.reused] == ["winds/flute_C5.flac"]
    cache = _cache_of(copy, "winds/flute_C5.flac")
    # Halving the samples lowers the stored RMS level by 20 log10(2) = 6.02 dB (PCM_16 rounding
    # moves it by far less than 0.01 dB at these levels).
    original = _cache_of(dataset, "winds/flute_C5.flac")
    assert cache["meta"]["rms_db"] == pytest.approx(original["meta"]["rms_db"] - 6.0206, abs=0.01)


def _small_tree(root: Path) -> Path:
    """Three 0.6 s excerpts of real notes (one example each) and a quiet file."""
    audio = root / "small"
    audio.mkdir()
    for name in ("violin_A4", "flute_C5", "trumpet_F4"):
        data, rate = soundfile.read(DATA / f"{name}.flac", dtype="float32")
        soundfile.write(audio / f"{name}.wav", data[: int(0.6 * rate)], rate, subtype="FLOAT")
    soundfile.write(audio / "quiet.wav", np.full(RATE, 10 ** (-70 / 20), dtype=np.float32), RATE, subtype="FLOAT")
    return audio


def test_interrupted_run_keeps_finished_files_and_a_rerun_completes(tmp_path, monkeypatch):
    audio = _small_tree(tmp_path)
    dataset = tmp_path / "dataset"
    real_savez = np.savez
    writes = []

    def interrupted_savez(handle, *args, **kwargs):
        writes.append(1)
        if len(writes) == 2:
            handle.write(b"PK\x03\x04 partial")  # the first bytes of a zip, then the interruption
            raise KeyboardInterrupt
        return real_savez(handle, *args, **kwargs)

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(audio, dataset, validation_fraction=0.34, **FAST)
    monkeypatch.setattr(np, "savez", real_savez)
    left = os.listdir(dataset / "files")
    assert len(left) == 1 and left[0].startswith("flute_C5-") and left[0].endswith(".npz")  # no temporary file
    assert not (dataset / "dataset.json").exists()
    finished = read_cache(dataset / "files" / left[0])
    assert finished["meta"]["source"] == "flute_C5.wav" and finished["f0_hz"].shape == (150,)

    # Other feature settings must not be mixed into the folder, even without a manifest.
    with pytest.raises(ValueError, match=r"hop_length=64 there, 80 requested.*overwrite=True"):
        prepare_dataset(audio, dataset, **{**FAST, "hop_length": 80})

    # A run killed while writing (no exception, no clean-up) leaves a temporary file behind.
    (dataset / "files" / ".tmp-killed.npz").write_bytes(b"PK\x03\x04 partial")
    calls = []
    real_f0 = prepare_module.compute_f0
    monkeypatch.setattr(prepare_module, "compute_f0", lambda *a, **k: calls.append(1) or real_f0(*a, **k))
    report = prepare_dataset(audio, dataset, validation_fraction=0.34, **FAST)
    assert len(calls) == 2 and report.computed == 2 and report.reused == 1
    assert {item.source for item in report.files} == {"flute_C5.wav", "trumpet_F4.wav", "violin_A4.wav"}
    assert [(item.source, item.reason) for item in report.skipped] == [("quiet.wav", "silent")]
    assert report.splits["validation"].files == 1 and report.splits["train"].files == 2
    assert sum(item.examples for item in report.files) == 3
    assert len(os.listdir(dataset / "files")) == 3 and not report.stale_caches


def test_feature_settings_mismatch_needs_overwrite(tmp_path):
    audio = _small_tree(tmp_path)
    dataset = tmp_path / "dataset"
    prepare_dataset(audio, dataset, validation_fraction=0.0, mfcc_coefficients=None, **FAST)
    for change, message in [
        ({"hop_length": 80}, "hop_length=64 there, 80 requested"),
        ({"sample_rate": 22050}, "sample_rate=16000 there, 22050 requested"),
        ({"crepe_model": "full"}, "crepe_model='tiny' there, 'full' requested"),
        ({"mfcc_coefficients": 20}, "mfcc_coefficients=None there, 20 requested"),
    ]:
        with pytest.raises(ValueError, match=message):
            prepare_dataset(audio, dataset, validation_fraction=0.0, **{**FAST, "mfcc_coefficients": None, **change})
    with pytest.raises(ValueError, match="prepared without MFCCs"):
        PreparedDataset(dataset, include_mfcc=True)
    with pytest.raises(ValueError, match="no validation examples"):
        PreparedDataset(dataset, "validation")

    # overwrite lets other settings in, but a run that fails still loses nothing.
    before = {path.name: path.read_bytes() for path in [dataset / "dataset.json", *(dataset / "files").iterdir()]}
    with pytest.raises(ValueError, match="every file .* was skipped"):
        prepare_dataset(audio, dataset, overwrite=True, min_rms_db=0.0, **{**FAST, "hop_length": 80})
    assert before == {path.name: path.read_bytes() for path in [dataset / "dataset.json", *(dataset / "files").iterdir()]}

    (audio / "trumpet_F4.wav").unlink()  # its cache, made with the old settings, goes too
    report = prepare_dataset(
        audio, dataset, validation_fraction=0.0, overwrite=True, normalize=True, mfcc_coefficients=None,
        **{**FAST, "hop_length": 80},
    )
    assert report.computed == 2 and len(os.listdir(dataset / "files")) == 2
    assert [name.split("-")[0] for name in report.removed_caches] == ["trumpet_F4"]
    manifest = load_manifest(dataset)
    assert manifest["features"]["hop_length"] == 80 and manifest["examples"]["example_frames"] == 100
    for entry in manifest["files"]:
        cache = read_cache(dataset / entry["cache"])
        # Peak-normalised to exactly 1.0 in float32 (audio / peak rounds the peak to 1).
        assert float(np.abs(cache["audio"]).max()) == pytest.approx(1.0, abs=1e-6)
        assert entry["gain_db"] == pytest.approx(-entry["peak_db"])
        assert cache["f0_hz"].shape == (-(-cache["audio"].size // 80),)
    # Normalisation does not rescue a quiet file: silence is judged on the recorded level.
    assert [(item.source, item.reason) for item in report.skipped] == [("quiet.wav", "silent")]


# ----------------------------------------------------------------------------- bad input


def test_bad_folders_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        prepare_dataset(tmp_path / "missing", tmp_path / "out", **FAST)
    (tmp_path / "file.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="not a folder"):
        prepare_dataset(tmp_path / "file.wav", tmp_path / "out", **FAST)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="contains no files"):
        prepare_dataset(empty, tmp_path / "out", **FAST)
    with pytest.raises(ValueError, match="must not be audio_dir"):
        prepare_dataset(empty, empty, **FAST)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a picture")
    (junk / "take.flac").write_bytes(b"")
    with pytest.raises(ValueError, match="no readable audio") as error:
        prepare_dataset(junk, tmp_path / "out", **FAST)
    assert "cover.jpg" in str(error.value) and "not audio" in str(error.value) and "take.flac" in str(error.value)
    assert not (tmp_path / "out").exists()

    for arguments, message in [
        ({"example_seconds": 0.0}, "example_seconds"),
        ({"hop_seconds": -1.0}, "hop_seconds"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"validation_files": "*cello*"}, "list of glob patterns"),
        ({"crepe_model": "huge"}, "crepe_model"),
        ({"mfcc_coefficients": 0}, "mfcc_coefficients"),
        ({"min_rms_db": float("nan")}, "min_rms_db"),
        ({"hop_length": 0}, "hop_length"),
        ({"sample_rate": -16000}, "sample_rate"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message):
            prepare_dataset(junk, tmp_path / "out", **{**FAST, **arguments})


def test_bad_input_never_loses_a_prepared_dataset(prepared, tmp_path):
    audio, dataset, _ = prepared
    copy = _copy_dataset(dataset, tmp_path / "dataset")
    before = {path.name: path.read_bytes() for path in [copy / "dataset.json", *(copy / "files").iterdir()]}
    # A validation pattern with a typo fails before any work.
    with pytest.raises(ValueError, match=r"\['\*celo\*'\] match no file"):
        prepare_dataset(audio, copy, validation_files=["*celo*"], **FAST)
    with pytest.raises(ValueError, match="match every readable recording"):
        prepare_dataset(audio, copy, validation_files=["*"], **FAST)
    # A folder where every file is skipped: the error lists each one and why.
    bad = tmp_path / "bad"
    bad.mkdir()
    soundfile.write(bad / "silence.wav", np.zeros(RATE), RATE)
    violin, _ = soundfile.read(DATA / "violin_A4.flac", dtype="float32")
    soundfile.write(bad / "blip.flac", violin[:1000], RATE)
    (bad / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(ValueError, match="every file .* was skipped") as error:
        prepare_dataset(bad, copy, **FAST)
    message = str(error.value)
    for source, reason in [("silence.wav", "silent"), ("blip.flac", "too short"), ("broken.wav", "unreadable")]:
        assert any(source in line and reason in line for line in message.splitlines())
    after = {path.name: path.read_bytes() for path in [copy / "dataset.json", *(copy / "files").iterdir()]}
    assert after == before


def test_long_recordings_are_analysed_in_chunks_with_the_same_result(monkeypatch):
    violin, rate = load_audio(DATA / "violin_A4_44k.flac")
    # At 48 kHz with a hop of 64 (21.33 samples at 16 kHz) only every third frame sits on
    # CREPE's 16 kHz grid: chunks of 0.15 s (112.5 frames) round up to 114 frames and the
    # 0.05 s of context to 39, so 0.6 s (450 frames) is analysed in four overlapping chunks.
    audio = resample(violin, rate, 48000)[:, :28800]
    whole = prepare_module.analyse_recording(audio, 48000, HOP, crepe_model="tiny")
    pieces = []
    real_features = prepare_module._features
    monkeypatch.setattr(prepare_module, "ANALYSIS_CHUNK_SECONDS", 0.15)
    monkeypatch.setattr(prepare_module, "ANALYSIS_CONTEXT_SECONDS", 0.05)
    monkeypatch.setattr(
        prepare_module, "_features", lambda a, *rest: pieces.append(a.shape[-1]) or real_features(a, *rest)
    )
    chunked = prepare_module.analyse_recording(audio, 48000, HOP, crepe_model="tiny")
    assert pieces == [(114 + 39) * HOP, (39 + 114 + 39) * HOP, (39 + 114 + 39) * HOP, 28800 - (342 - 39) * HOP]
    for name in whole:
        assert chunked[name].shape == whole[name].shape
        # Every kept frame is computed from the same samples on the same 16 kHz grid (the
        # context covers every analysis window and lets the Viterbi path settle); only
        # batched CPU reductions may differ, by a few float32 ulps.
        torch.testing.assert_close(chunked[name], whole[name], rtol=1e-5, atol=1e-5, msg=name)
