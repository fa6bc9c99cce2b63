import math
import pathlib

import pytest
import torch

from ddsp_lab.features import compute_f0
from ddsp_lab.io import load_audio
from ddsp_lab.cli import main
from ddsp_lab.models import DDSPVoice, FMVoice
from ddsp_lab.workflows.export import load_streaming
from ddsp_lab.workflows.train import CheckpointError
from ddsp_lab.workflows.transfer import (
    DEFAULT_REFERENCE_F0_HZ,
    LOUDNESS_FLOOR_DB,
    auto_octave_shift,
    bridge_short_gaps,
    transfer,
)

DATA = pathlib.Path(__file__).parent / "data"
TRUMPET = DATA / "trumpet_F4.flac"
F4_HZ = 440.0 * 2.0 ** (-4 / 12)
RATE, HOP = 16000, 64


@pytest.fixture(scope="module")
def sine_voice():
    """An untrained voice whose only partial is the fundamental: it plays the f0 it is given, exactly.

    The decoder is random, but it only sets the amplitude; the oscillator
    frequency is the f0 control itself, so pitch following is checkable
    without training.
    """
    torch.manual_seed(0)
    return DDSPVoice(RATE, HOP, n_harmonics=1, n_noise_bands=0, reverb_seconds=None,
                     hidden_size=16, gru_size=16, mlp_layers=1, loudness_mean_db=-30.0, loudness_std_db=12.0)


@pytest.fixture(scope="module")
def trumpet_down(sine_voice):
    return transfer(sine_voice, TRUMPET, octave_shift=-1, crepe_model="tiny", device="cpu", progress=False)


def test_output_follows_the_shifted_input_pitch(sine_voice, trumpet_down):
    result = trumpet_down
    audio, _ = load_audio(TRUMPET)
    assert result.audio.shape == audio.shape and result.sample_rate == RATE
    assert result.octave_shift == -1 and result.blocks == 1
    torch.testing.assert_close(result.f0_out_hz, result.f0_in_hz / 2)
    f0_out, confidence_out = compute_f0(result.audio, RATE, hop_length=HOP, model="tiny")
    # Tiny CREPE is less sure of a pure tone than of an instrument (about 0.75 here); 0.5
    # still excludes the onset and release, where it reads below 0.3.
    confident = result.voiced & (confidence_out >= 0.5)
    # The note is held for most of the clip; at least half its frames must be comparable.
    assert int(confident.sum()) >= result.voiced.shape[-1] // 2
    cents = 1200.0 * torch.log2(f0_out[confident] / result.f0_out_hz[confident]).abs()
    # 50 cents is half a semitone: any octave or harmonic error is far beyond it, while
    # CREPE tiny's own error on a pure tone is a few cents.
    assert float(cents.max()) < 50.0
    # And the shifted pitch really is F3 (the clip is a trumpet F4).
    assert abs(1200.0 * math.log2(float(f0_out[confident].median()) / (F4_HZ / 2))) < 50.0


def test_loudness_is_shifted_to_the_training_mean_and_unvoiced_frames_masked(sine_voice, trumpet_down):
    result = trumpet_down
    voiced = result.voiced
    assert bool(voiced.any()) and not bool(voiced.all())
    assert float(result.loudness_out_db[voiced].double().mean()) == pytest.approx(sine_voice.loudness_mean_db,
                                                                                  abs=1e-3)
    shift = result.loudness_out_db[voiced] - result.loudness_in_db[voiced]
    # A constant shift keeps the dynamics (float32 sums of ~-30 dB values: 1e-4 dB).
    torch.testing.assert_close(shift, torch.full_like(shift, result.loudness_shift_db), atol=1e-4, rtol=0)
    assert bool((result.loudness_out_db[~voiced] == LOUDNESS_FLOOR_DB).all())
    # The one-pass render is the model on exactly these controls.
    with torch.no_grad():
        expected = sine_voice(result.f0_out_hz, result.loudness_out_db)[:, :result.audio.shape[-1]]
    torch.testing.assert_close(result.audio, expected)


def test_fixed_loudness_shift_and_no_mask(sine_voice, tmp_path):
    audio, _ = load_audio(TRUMPET)
    result = transfer(sine_voice, audio[0], sample_rate=RATE, octave_shift=0, loudness_shift_db=-6.0,
                      mask_unvoiced=False, crepe_model="tiny", device="cpu", progress=False,
                      out_path=tmp_path / "out.wav", plot_path=tmp_path / "plot.png")
    torch.testing.assert_close(result.loudness_out_db, result.loudness_in_db - 6.0)
    written, rate = load_audio(tmp_path / "out.wav")
    assert rate == RATE
    torch.testing.assert_close(written, result.audio)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_automatic_octave_shift(sine_voice):
    # The trumpet plays F4, one octave above a reference of F3: one octave down.
    result = transfer(sine_voice, TRUMPET, reference_f0_hz=F4_HZ / 2, crepe_model="tiny", device="cpu",
                      progress=False)
    assert result.octave_shift == -1 and result.reference_source == "argument"
    # Against the default reference (middle C, MIDI 60), F4 (MIDI 65) is 5 semitones away: no shift.
    f0 = torch.full((1, 10), F4_HZ)
    voiced = torch.ones(1, 10, dtype=torch.bool)
    assert auto_octave_shift(f0, voiced, DEFAULT_REFERENCE_F0_HZ) == 0
    # A4 (MIDI 69) is 9 semitones above: one octave down is closer (3 semitones).
    assert auto_octave_shift(torch.full((1, 10), 440.0), voiced, DEFAULT_REFERENCE_F0_HZ) == -1
    # Two octaves below C4 plus a few unvoiced outliers that must not count.
    f0 = torch.cat([torch.full((1, 10), 65.0), torch.full((1, 3), 1500.0)], dim=1)
    voiced = torch.cat([torch.ones(1, 10, dtype=torch.bool), torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    assert auto_octave_shift(f0, voiced, DEFAULT_REFERENCE_F0_HZ) == 2


def test_long_input_streams_in_blocks_with_carried_state(sine_voice):
    audio, file_rate = load_audio(DATA / "violin_A4_44k.flac")
    result = transfer(sine_voice, audio, sample_rate=file_rate, octave_shift=0, crepe_model="tiny",
                      block_seconds=0.256, device="cpu", progress=False)
    # 1 s at 44.1 kHz is 16000 samples at the model's 16 kHz: 250 frames, plus the stream's
    # two frames of latency, in blocks of 64 frames.
    assert result.audio.shape == (1, 16000)
    assert result.blocks == 4
    whole = transfer(sine_voice, audio, sample_rate=file_rate, octave_shift=0, crepe_model="tiny",
                     device="cpu", progress=False)
    assert whole.blocks == 1
    # State carried across blocks: equal to the one-pass render up to float rounding, except
    # the last two frames (the stream conditions them on the held last frame).
    assert float(whole.audio.abs().max()) > 0.1
    torch.testing.assert_close(result.audio[:, :-2 * HOP], whole.audio[:, :-2 * HOP], atol=1e-4, rtol=0)


def test_voice_without_streaming_state_renders_crossfaded_blocks():
    torch.manual_seed(0)
    voice = FMVoice(RATE, HOP, channels=8, blocks=2, reverb_seconds=0.05, loudness_mean_db=-30.0,
                    loudness_std_db=12.0).eval()
    audio, file_rate = load_audio(DATA / "violin_A4_44k.flac")
    result = transfer(voice, audio, sample_rate=file_rate, octave_shift=0, crepe_model="tiny",
                      block_seconds=0.256, device="cpu", progress=False)
    assert result.audio.shape == (1, 16000) and result.blocks == 4
    whole = transfer(voice, audio, sample_rate=file_rate, octave_shift=0, crepe_model="tiny",
                     device="cpu", progress=False)
    # The 1 s warm-up context covers this whole 1 s input, so every block's decoder sees the
    # full history and its oscillators start at sample 0, as in the one-pass render: the
    # waveforms agree everywhere, crossfades included, up to float32 rounding (a phase or
    # state mismatch at a joint would be ~0.1).
    assert float(whole.audio.abs().max()) > 0.01
    torch.testing.assert_close(result.audio, whole.audio, atol=1e-3, rtol=0)


def test_bad_inputs(sine_voice, tmp_path):
    with pytest.raises(FileNotFoundError, match="audio file not found"):
        transfer(sine_voice, tmp_path / "missing.wav", crepe_model="tiny", progress=False)
    with pytest.raises(ValueError, match="silent"):
        transfer(sine_voice, torch.zeros(4000), sample_rate=RATE, crepe_model="tiny", progress=False)
    with pytest.raises(ValueError, match="sample_rate"):
        transfer(sine_voice, torch.randn(4000) * 0.1, crepe_model="tiny", progress=False)
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        transfer(corrupt, TRUMPET, crepe_model="tiny", progress=False)
    with pytest.raises(FileNotFoundError, match="no intact checkpoint"):
        transfer(tmp_path, TRUMPET, crepe_model="tiny", progress=False)
    with pytest.raises(FileNotFoundError, match="model_or_run_dir"):
        transfer(tmp_path / "nothing", TRUMPET, crepe_model="tiny", progress=False)
    with pytest.raises(ValueError, match="octave_shift"):
        transfer(sine_voice, TRUMPET, octave_shift="up", progress=False)
    with pytest.raises(ValueError, match="loudness_shift_db"):
        transfer(sine_voice, TRUMPET, loudness_shift_db=float("nan"), progress=False)
    with pytest.raises(ValueError, match="confidence_threshold"):
        transfer(sine_voice, TRUMPET, confidence_threshold=1.5, progress=False)
    with pytest.raises(ValueError, match="crepe_model"):
        transfer(sine_voice, TRUMPET, crepe_model="large", progress=False)
    # Noise has no confident frame: "auto" cannot place it.
    torch.manual_seed(1)
    with pytest.raises(ValueError, match="voiced"):
        transfer(sine_voice, torch.randn(8000) * 0.1, sample_rate=RATE, crepe_model="tiny",
                 confidence_threshold=0.999, device="cpu", progress=False)


def model_config_median(run_dir):
    from ddsp_lab.workflows.train import load_run

    return load_run(run_dir)[2].model.f0_hz_median


def test_trained_run_folder(tmp_path):
    """A tiny DDSP voice trained for 2 steps: loaded from its run folder, with its loudness statistics."""
    import shutil

    from ddsp_lab.data import prepare_dataset
    from ddsp_lab.models import Config
    from ddsp_lab.workflows.train import load_trained_model, train

    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("violin_A4.flac", "trumpet_F4.flac"):
        shutil.copy(DATA / name, audio / name)
    prepare_dataset(audio, tmp_path / "dataset", crepe_model="tiny", example_seconds=0.5, progress=False)
    config = Config()
    config.model.size = "tiny"
    train(tmp_path / "dataset", tmp_path / "run", config=config, device="cpu", max_steps=2, progress=False)
    model = load_trained_model(tmp_path / "run")

    result = transfer(tmp_path / "run", TRUMPET, crepe_model="tiny", device="cpu", progress=False)
    assert result.checkpoint_path is not None and result.checkpoint_path.endswith(".pt")
    # The run recorded its training data's median f0 (A4 violin or F4 trumpet), which the trumpet melody is near.
    assert result.reference_source == "checkpoint" and result.octave_shift == 0
    assert result.reference_f0_hz == pytest.approx(model_config_median(tmp_path / "run"))
    assert 349.2 * 0.97 < result.reference_f0_hz < 440.0 * 1.03
    assert result.audio.shape == load_audio(TRUMPET)[0].shape
    assert bool(torch.isfinite(result.audio).all())
    # "auto" aims at the training data's mean loudness, which the run stored in its config.
    assert model.loudness_mean_db != -40.0
    assert float(result.loudness_out_db[result.voiced].double().mean()) == pytest.approx(model.loudness_mean_db,
                                                                                         abs=1e-3)

    # The same run exported for streaming from the command line plays the transfer's controls
    # like the one-pass model, one hop at a time, delayed by the stream's latency.
    assert main(["export", str(tmp_path / "run"), "-o", str(tmp_path / "voice.ts")]) == 0
    stream, metadata = load_streaming(tmp_path / "voice.ts")
    assert metadata["f0_hz_median"] == pytest.approx(result.reference_f0_hz)
    assert metadata["loudness_mean_db"] == pytest.approx(model.loudness_mean_db)
    f0, loudness = result.f0_out_hz[:, :80], result.loudness_out_db[:, :80]
    torch.manual_seed(3)
    with torch.no_grad():
        offline = model(f0, loudness)
    torch.manual_seed(3)
    noise = 2.0 * torch.rand(1, 80 * HOP) - 1.0
    state, pieces = stream.initial_state(1), []
    for frame in range(80):
        audio, state = stream.process(f0[:, frame:frame + 1], loudness[:, frame:frame + 1],
                                      noise[:, frame * HOP:(frame + 1) * HOP], state)
        pieces.append(audio)
    latency = metadata["latency_samples"]
    torch.testing.assert_close(torch.cat(pieces, 1)[:, latency:], offline[:, :-latency], atol=1e-4, rtol=0)


def test_short_unvoiced_runs_are_bridged_in_log_frequency():
    f0 = torch.tensor([[100.0, 200.0, 50.0, 30.0, 800.0, 400.0, 10.0, 10.0, 10.0, 400.0, 99.0]])
    voiced = torch.tensor([[False, True, False, False, False, True, False, False, False, True, False]])
    bridged_f0, bridged = bridge_short_gaps(f0, voiced, max_frames=3)
    # Runs 2..4 and 6..8 lie between voiced frames; the leading and trailing runs have one side only.
    assert bridged.tolist() == [[False, True, True, True, True, True, True, True, True, True, False]]
    # 200 Hz to 400 Hz in four steps of a quarter octave each; 400 Hz held across the second run.
    expected = 200.0 * 2.0 ** (torch.arange(1, 4) / 4.0)
    torch.testing.assert_close(bridged_f0[0, 2:5], expected)
    torch.testing.assert_close(bridged_f0[0, 6:9], torch.full((3,), 400.0))
    assert bridged_f0[0, 0] == 100.0 and bridged_f0[0, 10] == 99.0
    # Longer runs stay unvoiced; 0 bridges nothing; the inputs are not modified.
    assert bridge_short_gaps(f0, voiced, max_frames=2)[1][0, 2:5].tolist() == [False] * 3
    assert torch.equal(bridge_short_gaps(f0, voiced, max_frames=0)[1], voiced)
    assert voiced[0, 3].item() is False
