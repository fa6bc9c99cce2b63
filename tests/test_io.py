"""Tests for ddsp_lab.io (load_audio / save_audio)."""

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from ddsp_lab.core.resample import resample
from ddsp_lab.io import load_audio, save_audio

DATA = Path(__file__).parent / "data"
VIOLIN = DATA / "violin_A4.flac"  # 1.5 s, 16 kHz mono PCM_16
VIOLIN_44K = DATA / "violin_A4_44k.flac"  # 1.0 s, 44.1 kHz mono PCM_16


def _reference(path):
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return data.T, rate


def test_load_real_flac_as_batch_of_one():
    audio, rate = load_audio(VIOLIN)
    expected, expected_rate = _reference(VIOLIN)
    assert rate == expected_rate == 16000
    assert audio.dtype == torch.float32 and audio.shape == (1, expected.shape[1])
    np.testing.assert_array_equal(audio.numpy(), expected)


def test_load_with_resampling_matches_core_resample():
    audio, rate = load_audio(VIOLIN_44K, sample_rate=16000)
    native, _ = load_audio(VIOLIN_44K)
    assert rate == 16000 and audio.shape == (1, 16000)
    torch.testing.assert_close(audio, resample(native, 44100, 16000))


def test_load_keeps_rate_when_equal():
    audio, rate = load_audio(VIOLIN, sample_rate=16000.0)
    assert rate == 16000 and audio.shape[1] == _reference(VIOLIN)[0].shape[1]


def test_stereo_mixdown_and_channels(tmp_path):
    left, _ = _reference(VIOLIN)
    right, _ = _reference(DATA / "flute_C5.flac")
    stereo = np.concatenate([left, right], axis=0)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, stereo.T, 16000, subtype="FLOAT")
    channels, _ = load_audio(path, mono=False)
    assert channels.shape == (2, stereo.shape[1])
    np.testing.assert_array_equal(channels.numpy(), stereo)
    mono, _ = load_audio(path)
    np.testing.assert_allclose(mono.numpy(), stereo.mean(axis=0, keepdims=True), atol=1e-7)


@pytest.mark.parametrize("extension,format_name,subtype", [
    ("mp3", "MP3", "MPEG_LAYER_III"),
    ("ogg", "OGG", "VORBIS"),
    ("opus", "OGG", "OPUS"),
])
def test_lossy_formats_decode_to_the_recording(tmp_path, extension, format_name, subtype):
    original, rate = _reference(VIOLIN)
    path = tmp_path / f"violin.{extension}"
    try:
        soundfile.write(path, original[0], rate, format=format_name, subtype=subtype)
    except (soundfile.LibsndfileError, TypeError, ValueError) as error:
        pytest.skip(f"this libsndfile cannot encode {subtype}: {error}")
    audio, loaded_rate = load_audio(path)
    assert loaded_rate == rate
    decoded = audio[0].numpy()
    count = min(decoded.size, original.shape[1])
    assert abs(decoded.size - original.shape[1]) < 0.05 * original.shape[1]
    # These encoders at their default quality keep the waveform with a correlation
    # above 0.99 (about 20 dB SNR); 0.95 leaves room for other encoder versions and
    # still fails on a misaligned, wrongly scaled or garbled decode.
    keep = slice(2000, count - 2000)
    assert np.corrcoef(decoded[keep], original[0, keep])[0, 1] > 0.95
    level_db = 20 * np.log10(decoded[keep].std() / original[0, keep].std())
    assert abs(level_db) < 1.0


def test_normalize_brings_over_full_scale_peak_to_one(tmp_path):
    original, rate = _reference(VIOLIN)
    loud = original * (1.5 / np.abs(original).max())
    path = tmp_path / "hot.wav"
    soundfile.write(path, loud.T, rate, subtype="FLOAT")
    raw, _ = load_audio(path)
    assert raw.abs().max().item() == pytest.approx(1.5, rel=1e-6)
    normalized, _ = load_audio(path, normalize=True)
    assert normalized.abs().max().item() == pytest.approx(1.0, rel=1e-6)
    torch.testing.assert_close(normalized * 1.5, raw, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("extension,subtype,tolerance", [
    (".wav", None, 0.0),  # 32-bit float: exact
    (".wav", "float", 0.0),
    (".wav", "PCM_16", 0.5 / 2 ** 15 + 1e-7),  # rounding to the nearest 16-bit step
    (".flac", "PCM_16", 0.5 / 2 ** 15 + 1e-7),
    (".flac", None, 0.5 / 2 ** 23 + 1e-7),  # PCM_24 by default for FLAC
    (".flac", "PCM_24", 0.5 / 2 ** 23 + 1e-7),
])
def test_save_round_trip(tmp_path, extension, subtype, tolerance):
    audio, rate = load_audio(VIOLIN)
    audio = audio * 0.9
    path = tmp_path / f"out{extension}"
    save_audio(path, audio, rate, subtype=subtype)
    loaded, loaded_rate = load_audio(path)
    assert loaded_rate == rate and loaded.shape == audio.shape
    assert (loaded - audio).abs().max().item() <= tolerance
    assert soundfile.info(path).format == {".wav": "WAV", ".flac": "FLAC"}[extension]


def test_pcm16_file_survives_load_and_save_unchanged(tmp_path):
    audio, rate = load_audio(VIOLIN)  # the file is PCM_16
    save_audio(tmp_path / "copy.flac", audio, rate, subtype="PCM_16")
    original = soundfile.read(VIOLIN, dtype="int16")[0]
    copy = soundfile.read(tmp_path / "copy.flac", dtype="int16")[0]
    np.testing.assert_array_equal(copy, original)


def test_save_accepts_1d_multichannel_and_numpy(tmp_path):
    audio, rate = load_audio(VIOLIN)
    save_audio(tmp_path / "mono.wav", audio[0], rate)
    assert soundfile.info(tmp_path / "mono.wav").channels == 1
    stereo = torch.cat([audio, -audio], dim=0)
    save_audio(tmp_path / "stereo.flac", stereo.numpy().astype(np.float64), rate)
    loaded, _ = load_audio(tmp_path / "stereo.flac", mono=False)
    assert loaded.shape == (2, audio.shape[1])


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    audio, rate = load_audio(VIOLIN)
    path = tmp_path / "take.wav"
    save_audio(path, audio, rate)
    before = path.read_bytes()
    save_audio(path, audio * 0.5, rate)  # overwriting works
    assert load_audio(path)[0].abs().max().item() == pytest.approx(0.5 * audio.abs().max().item())
    assert os.listdir(tmp_path) == ["take.wav"]
    path.write_bytes(before)

    def broken_write(file, data, *args, **kwargs):
        with open(file, "wb") as handle:
            handle.write(b"RIFF partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(soundfile, "write", broken_write)
    with pytest.raises(KeyboardInterrupt):
        save_audio(path, audio * 0.25, rate)
    # The interrupted write neither touched the destination nor left its temporary file.
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["take.wav"]


def test_saved_file_gets_ordinary_permissions(tmp_path):
    audio, rate = load_audio(VIOLIN)
    path = tmp_path / "perm.wav"
    save_audio(path, audio, rate)
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


def test_missing_file(tmp_path):
    missing = tmp_path / "nowhere.wav"
    with pytest.raises(FileNotFoundError, match="nowhere.wav"):
        load_audio(missing)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        load_audio(path)


def test_file_with_zero_samples(tmp_path):
    path = tmp_path / "no_samples.wav"
    soundfile.write(path, np.zeros((0, 1), dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="no samples"):
        load_audio(path)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(ValueError, match="notes.wav.*not a readable audio file"):
        load_audio(path)


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        load_audio(tmp_path)


def test_non_finite_samples_in_file(tmp_path):
    path = tmp_path / "nan.wav"
    data = np.zeros(100, dtype=np.float32)
    data[10] = np.nan
    soundfile.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        load_audio(path)


def test_normalize_silent_file(tmp_path):
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(100, dtype=np.float32), 16000)
    assert load_audio(path)[0].abs().max().item() == 0.0  # silence itself is valid audio
    with pytest.raises(ValueError, match="silent"):
        load_audio(path, normalize=True)


def test_bad_target_rate():
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(VIOLIN, sample_rate=-16000)


@pytest.mark.parametrize("audio,kwargs,error,match", [
    (torch.tensor([0.0, float("nan")]), {}, ValueError, "NaN"),
    (torch.tensor([0.0, float("inf")]), {}, ValueError, "NaN or infinite"),
    (torch.zeros(1, 1, 10), {}, ValueError, "1 or 2 dimensions"),
    (torch.zeros(1, 0), {}, ValueError, "no samples"),
    (torch.zeros(10, dtype=torch.int16), {}, TypeError, "floating-point"),
    ([0.0, 0.1], {}, TypeError, "torch.Tensor or numpy.ndarray"),
    (torch.full((10,), 1.5), {"subtype": "PCM_16"}, ValueError, "peaks at 1.5"),
    (torch.zeros(10), {"subtype": "PCM_8"}, ValueError, "subtype"),
])
def test_save_bad_audio(tmp_path, audio, kwargs, error, match):
    with pytest.raises(error, match=match):
        save_audio(tmp_path / "bad.wav", audio, 16000, **kwargs)
    assert os.listdir(tmp_path) == []


def test_save_bad_destination(tmp_path):
    audio = torch.zeros(10)
    with pytest.raises(ValueError, match=r"\.wav or \.flac"):
        save_audio(tmp_path / "out.mp3", audio, 16000)
    with pytest.raises(ValueError, match="FLAC cannot store subtype FLOAT"):
        save_audio(tmp_path / "out.flac", audio, 16000, subtype="float")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_audio(tmp_path / "missing" / "out.wav", audio, 16000)
    with pytest.raises(ValueError, match="sample_rate"):
        save_audio(tmp_path / "out.wav", audio, 0)
