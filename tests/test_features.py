"""Tests for ddsp_lab.features (loudness, pitch, MFCC) and ddsp_lab.core.weighting."""

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from ddsp_lab.core.weighting import a_weighting_db, rfft_a_weighting_db, rfft_a_weighting_power
from ddsp_lab.features import compute_f0, compute_loudness, compute_mfcc, frame_count
from ddsp_lab.features import pitch as pitch_module
from ddsp_lab.io import load_audio

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]
NOTES = {  # file -> nominal pitch in Hz (equal temperament, A4 = 440 Hz)
    "violin_A4": 440.0,
    "flute_C5": 440.0 * 2 ** (3 / 12),
    "trumpet_F4": 440.0 * 2 ** (-4 / 12),
    "cello_C3": 440.0 * 2 ** (-21 / 12),
}
# CREPE's salience of the chosen bin is above 0.9 on the sustained part of these
# notes and drops at onsets, bow/breath noise and silence, where a pitch is not
# defined; 0.85 keeps the sustained frames and leaves out those transients.
CONFIDENT = 0.85
# A quarter of a semitone: any wrong note, octave error or misaligned decoding
# exceeds it, while vibrato on these notes stays within about 20 cents.
NOTE_TOLERANCE_CENTS = 25.0


def _load(name):
    audio, rate = load_audio(DATA / f"{name}.flac")
    return audio, rate


def _cents(f0_hz, reference_hz):
    return 1200.0 * np.log2(np.asarray(f0_hz, dtype=np.float64) / reference_hz)


# ----------------------------------------------------------------------------- weighting


def test_a_weighting_reference_values():
    # IEC 61672 table: -19.1 dB at 100 Hz, 0 dB at 1 kHz, +1.2 dB at 2 kHz, -2.5 dB at 10 kHz.
    values = a_weighting_db(torch.tensor([100.0, 1000.0, 2000.0, 10000.0]))
    torch.testing.assert_close(values, torch.tensor([-19.1, 0.0, 1.2, -2.5]), atol=0.05, rtol=0)
    assert float(a_weighting_db([0.0])[0]) == -80.0  # floor at DC


def test_rfft_weights_follow_bin_frequencies_device_and_dtype():
    weights = rfft_a_weighting_db(512, 16000, dtype=torch.float64)
    assert weights.shape == (257,) and weights.dtype == torch.float64
    expected = librosa.A_weighting(np.arange(1, 257) * 16000 / 512)
    np.testing.assert_allclose(weights[1:].numpy(), expected, rtol=1e-12)
    power = rfft_a_weighting_power(512, 16000, dtype=torch.float64)
    torch.testing.assert_close(power, 10 ** (weights / 10))


def test_weighting_bad_input():
    with pytest.raises(ValueError, match="frequencies_hz must be >= 0"):
        a_weighting_db([-1.0])
    with pytest.raises(ValueError, match="NaN"):
        a_weighting_db(torch.tensor([float("nan")]))
    with pytest.raises(ValueError, match="n_fft"):
        rfft_a_weighting_db(0, 16000)
    with pytest.raises(ValueError, match="min_db"):
        rfft_a_weighting_db(512, 16000, min_db=3.0)


# ----------------------------------------------------------------------------- loudness


@pytest.mark.parametrize("sample_rate", [16000, 22050, 44100, 48000])
def test_loudness_of_full_scale_1khz_sine(sample_rate):
    n = torch.arange(sample_rate, dtype=torch.float64)
    sine = torch.sin(2 * math.pi * 1000.0 * n / sample_rate)
    loudness = compute_loudness(sine, sample_rate, hop_length=sample_rate // 100)
    n_fft = 2 * round(0.032 * sample_rate / 2)
    # Mean square 1/2, times n_fft / (n_fft + 2) because the one-sided spectrum's
    # energy is averaged over n_fft / 2 + 1 bins, times the A-weight at 1 kHz.
    expected = 10 * math.log10(0.5 * n_fft / (n_fft + 2)) + float(a_weighting_db([1000.0])[0])
    interior = loudness[10:-10]
    # The A-curve's slope across the Hann main lobe (+-2 bins, < 70 Hz) shifts the
    # weighted mean by well under 0.01 dB.
    assert (interior - expected).abs().max().item() < 0.01


def _numpy_loudness(audio, sample_rate, hop, n_fft, range_db=120.0):
    """Independent reference: explicit framing, numpy FFT, librosa A-weighting."""
    frames = -(-audio.size // hop)
    padded = np.pad(audio, (n_fft // 2, n_fft + hop))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    values = []
    weights = 10 ** (librosa.A_weighting(np.arange(1, n_fft // 2 + 1) * sample_rate / n_fft) / 10)
    weights = np.concatenate([[1e-8], weights])  # DC sits at the -80 dB floor
    for index in range(frames):
        segment = padded[index * hop: index * hop + n_fft] * window
        power = np.abs(np.fft.rfft(segment)) ** 2 / np.sum(window ** 2)
        values.append(10 * np.log10(max(np.mean(power * weights), 10 ** (-range_db / 10))))
    return np.array(values)


@pytest.mark.parametrize("name,hop,n_fft", [("violin_A4", 64, 512), ("violin_A4_44k", 441, 1412), ("cello_C3", 100, 300)])
def test_loudness_matches_numpy_reference(name, hop, n_fft):
    audio, rate = _load(name)
    ours = compute_loudness(audio.double(), rate, hop_length=hop, n_fft=n_fft)[0].numpy()
    expected = _numpy_loudness(audio[0].double().numpy(), rate, hop, n_fft)
    assert ours.shape == expected.shape
    # Both in float64: round-off is ~1e-13 relative in power, ~1e-12 dB.
    np.testing.assert_allclose(ours, expected, atol=1e-9, rtol=0)


def test_doubling_the_signal_adds_6_02_db_on_a_real_recording():
    audio, rate = _load("trumpet_F4")
    quiet = compute_loudness(audio, rate, frame_rate=250)
    loud = compute_loudness(2.0 * audio, rate, frame_rate=250)
    above_floor = quiet > -100.0
    assert above_floor.float().mean() > 0.9  # the check below covers the note, not the floor
    # Loudness is 10 log10 of a power that scales by exactly 4; float32 round-off in
    # the STFT is ~1e-6 relative, i.e. ~1e-5 dB.
    difference = (loud - quiet)[above_floor]
    assert (difference - 20 * math.log10(2)).abs().max().item() < 1e-3


def test_loudness_floor_and_reference():
    audio, rate = _load("flute_C5")
    silent = torch.zeros(1, 1600)
    assert torch.all(compute_loudness(silent, rate, hop_length=160) == -120.0)
    assert torch.all(compute_loudness(silent, rate, hop_length=160, range_db=60.0) == -60.0)
    plain = compute_loudness(audio, rate, hop_length=160)
    shifted = compute_loudness(audio, rate, hop_length=160, ref_db=-20.0)
    torch.testing.assert_close(shifted, plain + 20.0)


def test_loudness_frame_rate_equals_hop_and_sample_rates():
    audio, rate = _load("violin_A4")
    torch.testing.assert_close(
        compute_loudness(audio, rate, frame_rate=250), compute_loudness(audio, rate, hop_length=64)
    )
    with pytest.raises(ValueError, match="whole number of samples"):
        compute_loudness(audio, 44100, frame_rate=250)


def test_loudness_batch_and_1d():
    violin, rate = _load("violin_A4")
    flute, _ = _load("flute_C5")
    batch = torch.cat([violin, flute], dim=0)
    together = compute_loudness(batch, rate, hop_length=160)
    torch.testing.assert_close(together[0], compute_loudness(violin[0], rate, hop_length=160))
    torch.testing.assert_close(together[1:], compute_loudness(flute, rate, hop_length=160))


def test_loudness_gradcheck_and_silence():
    audio = torch.randn(2, 45, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: compute_loudness(x, 16000, hop_length=8, n_fft=16), (audio,), fast_mode=True
    )
    for signal in [torch.zeros(1, 320), torch.cat([torch.zeros(1, 160), torch.randn(1, 160)], dim=1)]:
        signal.requires_grad_(True)
        compute_loudness(signal, 16000, hop_length=64).sum().backward()
        assert torch.isfinite(signal.grad).all()


# ----------------------------------------------------------------------------- frames


@pytest.mark.parametrize("hop,frames", [(64, 30), (160, 7), (441, 3)])
def test_all_features_share_the_frame_count(hop, frames):
    # F * hop samples give F frames; one more sample starts frame F + 1.
    torch.manual_seed(0)
    for extra, expected in [(0, frames), (1, frames + 1), (-1, frames)]:
        audio = 0.1 * torch.randn(1, frames * hop + extra)
        assert frame_count(audio.shape[-1], hop) == expected
        assert compute_loudness(audio, 16000, hop_length=hop).shape == (1, expected)
        assert compute_mfcc(audio, 16000, hop_length=hop, n_fft=256, n_mels=40).shape == (1, expected, 30)


def test_f0_frame_count_matches_the_other_features():
    torch.manual_seed(0)
    for rate, hop, samples, expected in [(16000, 160, 7 * 160, 7), (16000, 160, 7 * 160 + 1, 8), (44100, 441, 1, 1)]:
        f0, confidence = compute_f0(0.1 * torch.randn(samples), rate, hop_length=hop, model="tiny")
        assert f0.shape == confidence.shape == (expected,)


def test_frame_n_is_centred_on_sample_n_times_hop():
    hop, centre_frame = 160, 10
    audio = torch.zeros(1, 4000, dtype=torch.float64)
    burst = torch.hann_window(101, periodic=False, dtype=torch.float64)
    # Even about its centre, so frames centre_frame - 1 and + 1 see mirror images.
    burst = burst * torch.cos(2 * math.pi * 1000.0 * torch.arange(-50, 51) / 16000)
    audio[0, centre_frame * hop - 50: centre_frame * hop + 51] = burst
    loudness = compute_loudness(audio, 16000, hop_length=hop, n_fft=512)
    mfcc = compute_mfcc(audio, 16000, hop_length=hop, n_fft=512)
    assert int(loudness[0].argmax()) == centre_frame
    assert int(mfcc[0, :, 0].argmax()) == centre_frame
    # The periodic Hann window is symmetric about its centre sample n_fft // 2, so the
    # neighbours' spectra have equal magnitudes; float64 round-off only.
    torch.testing.assert_close(loudness[0, centre_frame - 1], loudness[0, centre_frame + 1], rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- MFCC


@pytest.mark.parametrize("name,kwargs", [
    ("violin_A4", dict(hop_length=160)),
    ("violin_A4_44k", dict(hop_length=441, n_fft=2048, n_mfcc=20, n_mels=64, fmin=0.0, fmax=8000.0)),
    ("cello_C3", dict(hop_length=64, n_fft=512, n_mfcc=13, n_mels=40)),
])
def test_mfcc_matches_librosa(name, kwargs):
    audio, rate = _load(name)
    params = dict(n_mfcc=30, n_mels=128, n_fft=1024, fmin=20.0, fmax=None)
    params.update(kwargs)
    ours = compute_mfcc(audio.double(), rate, **params)[0].numpy()
    mel = librosa.feature.melspectrogram(
        y=audio[0].double().numpy(), sr=rate, n_fft=params["n_fft"], hop_length=params["hop_length"],
        n_mels=params["n_mels"], fmin=params["fmin"], fmax=params["fmax"], center=True, pad_mode="constant",
        power=2.0, dtype=np.float64,
    )
    expected = librosa.feature.mfcc(
        S=librosa.power_to_db(mel, amin=1e-10, top_db=None), n_mfcc=params["n_mfcc"], dct_type=2, norm="ortho"
    ).T
    frames = frame_count(audio.shape[-1], params["hop_length"])
    assert ours.shape == (frames, params["n_mfcc"])
    # float64 on both sides; dB values are O(100), round-off stays below 1e-9.
    np.testing.assert_allclose(ours, expected[:frames], atol=1e-6, rtol=0)


def test_mfcc_batch_dtype_and_gradients():
    violin, rate = _load("violin_A4")
    cello, _ = _load("cello_C3")
    batch = torch.cat([violin, cello], dim=0)
    mfcc = compute_mfcc(batch, rate, hop_length=256)
    assert mfcc.shape == (2, frame_count(batch.shape[-1], 256), 30) and mfcc.dtype == torch.float32
    torch.testing.assert_close(mfcc[1], compute_mfcc(cello[0], rate, hop_length=256))
    audio = torch.randn(1, 100, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: compute_mfcc(x, 16000, hop_length=32, n_fft=64, n_mels=10, n_mfcc=5), (audio,), fast_mode=True
    )
    silent = torch.zeros(1, 512, requires_grad=True)
    compute_mfcc(silent, 16000, hop_length=128).sum().backward()
    assert torch.isfinite(silent.grad).all()


# ----------------------------------------------------------------------------- bad input


BAD_AUDIO = [
    (torch.tensor([[0.0, float("nan")] * 200]), ValueError, "NaN"),
    (torch.tensor([[0.0, float("inf")] * 200]), ValueError, "NaN or infinite"),
    (torch.zeros(1, 1, 400), ValueError, "1 or 2 dimensions"),
    (torch.zeros(1, 0), ValueError, "empty"),
    (torch.zeros(1, 400, dtype=torch.int32), TypeError, "floating-point"),
    (np.zeros(400), TypeError, "torch.Tensor"),
]


@pytest.mark.parametrize("audio,error,match", BAD_AUDIO)
@pytest.mark.parametrize("feature", [compute_loudness, compute_mfcc, compute_f0])
def test_features_reject_bad_audio(feature, audio, error, match):
    with pytest.raises(error, match=match):
        feature(audio, 16000, hop_length=160)


@pytest.mark.parametrize("feature", [compute_loudness, compute_mfcc, compute_f0])
def test_features_reject_bad_framing(feature):
    audio = torch.zeros(1, 1600)
    with pytest.raises(ValueError, match="exactly one of hop_length"):
        feature(audio, 16000)
    with pytest.raises(ValueError, match="exactly one of hop_length"):
        feature(audio, 16000, hop_length=160, frame_rate=100)
    with pytest.raises(ValueError, match="hop_length"):
        feature(audio, 16000, hop_length=0)
    with pytest.raises(ValueError, match="sample_rate"):
        feature(audio, -16000, hop_length=160)
    with pytest.raises(ValueError, match="frame_rate"):
        feature(audio, 16000, frame_rate=-100.0)


def test_feature_specific_bad_arguments():
    audio = torch.zeros(1, 1600)
    with pytest.raises(ValueError, match="range_db"):
        compute_loudness(audio, 16000, hop_length=160, range_db=0.0)
    with pytest.raises(ValueError, match="ref_db"):
        compute_loudness(audio, 16000, hop_length=160, ref_db=float("nan"))
    with pytest.raises(ValueError, match="n_fft"):
        compute_loudness(audio, 16000, hop_length=160, n_fft=1)
    with pytest.raises(ValueError, match="n_mfcc"):
        compute_mfcc(audio, 16000, hop_length=160, n_mfcc=40, n_mels=20)
    with pytest.raises(ValueError, match="fmax"):
        compute_mfcc(audio, 16000, hop_length=160, fmax=9000.0)
    with pytest.raises(ValueError, match="model"):
        compute_f0(audio, 16000, hop_length=160, model="huge")
    with pytest.raises(ValueError, match="fmin must be below fmax"):
        compute_f0(audio, 16000, hop_length=160, fmin=500.0, fmax=400.0)
    with pytest.raises(ValueError, match="no CREPE pitch bin"):
        compute_f0(audio, 16000, hop_length=160, fmin=2500.0, fmax=3000.0)
    with pytest.raises(ValueError, match="batch_size"):
        compute_f0(audio, 16000, hop_length=160, batch_size=0)


# ----------------------------------------------------------------------------- pitch


@pytest.mark.parametrize("name", sorted(NOTES))
def test_f0_of_real_notes_tiny_model(name):
    audio, rate = _load(name)
    f0, confidence = compute_f0(audio, rate, hop_length=320, model="tiny")
    assert f0.shape == confidence.shape == (1, frame_count(audio.shape[-1], 320))
    confident = confidence[0] >= CONFIDENT
    assert confident.float().mean() > 0.6  # the check runs on most of the note
    cents = _cents(f0[0][confident], NOTES[name])
    assert np.abs(cents).max() < NOTE_TOLERANCE_CENTS
    assert abs(np.median(cents)) < 10.0  # the notes were pitch-corrected at the source


@pytest.mark.slow
def test_f0_full_model_on_a_short_clip():
    audio, rate = _load("trumpet_F4")
    f0, confidence = compute_f0(audio[:, :16000], rate, hop_length=1600, model="full", device="cpu")
    assert f0.shape == (1, 10)
    confident = confidence[0] >= CONFIDENT
    assert confident.sum() >= 8
    assert np.abs(_cents(f0[0][confident], NOTES["trumpet_F4"])).max() < NOTE_TOLERANCE_CENTS


def test_f0_salience_matches_torchcrepe_pipeline():
    # torchcrepe's own framing (pad 512, unfold by hop) and network on the same 16 kHz audio.
    torchcrepe = pitch_module.import_torchcrepe()
    audio, rate = _load("violin_A4")
    audio = audio[:, :8000]
    frames = next(torchcrepe.preprocess(audio, rate, 160, None, "cpu", True))
    # torchcrepe divides by the unbiased standard deviation, CREPE (and we) by the biased one.
    frames = frames * math.sqrt(1024 / 1023)
    network = pitch_module._crepe_model("tiny", torch.device("cpu"))
    with torch.no_grad():
        expected = network(frames).double()
    centres = torch.arange(frame_count(audio.shape[-1], 160)) * 160
    ours = pitch_module._salience(audio, centres, network, torch.device("cpu"), batch_size=64)[0]
    # Same float32 network on identical windows; only the summation order of the
    # convolutions (different batch sizes) differs, ~1e-7 on outputs in [0, 1].
    torch.testing.assert_close(ours, expected[: ours.shape[0]], atol=1e-5, rtol=0)


def test_f0_frames_align_across_sample_rates():
    # Same recording at 44.1 kHz (hop 441) and 16 kHz (hop 160): frame n is the same
    # instant in both. Vibrato moves the pitch by up to ~800 cents/s, so a frame off by
    # even 3 ms would differ by over 2 cents; different resampling filters and 16-bit
    # requantisation of the 16 kHz copy change the estimate by far less.
    native, _ = _load("violin_A4_44k")
    low, _ = _load("violin_A4")
    f0_native, conf_native = compute_f0(native[:, :22050], 44100, hop_length=441, model="tiny")
    f0_low, conf_low = compute_f0(low[:, :8000], 16000, hop_length=160, model="tiny")
    assert f0_native.shape == f0_low.shape == (1, 50)
    both = (conf_native >= CONFIDENT) & (conf_low >= CONFIDENT)
    assert both.sum() > 30
    difference = _cents(f0_native[both].numpy(), f0_low[both].numpy())
    assert np.abs(difference).max() < 2.0


def test_f0_batch_decoding_options_and_dtype():
    flute, rate = _load("flute_C5")
    cello, _ = _load("cello_C3")
    batch = torch.cat([flute, cello], dim=0)[:, 4000:12000].double()
    f0, confidence = compute_f0(batch, rate, hop_length=400, model="tiny", batch_size=7)
    assert f0.dtype == confidence.dtype == torch.float64 and f0.shape == (2, 20)
    single, _ = compute_f0(cello[0, 4000:12000], rate, hop_length=400, model="tiny")
    torch.testing.assert_close(f0[1], single.double(), rtol=1e-6, atol=0)
    assert torch.all((confidence >= 0) & (confidence <= 1))
    # Without Viterbi smoothing, steady confident frames keep their pitch: at most the
    # chosen bin moves to a neighbour, which shifts the +-4-bin weighted average by a
    # fraction of a cent (a wrong bin choice would be 20 cents or more off).
    plain, _ = compute_f0(batch, rate, hop_length=400, model="tiny", viterbi=False)
    confident = confidence >= CONFIDENT
    assert np.abs(_cents(plain[confident].numpy(), f0[confident].numpy())).max() < 1.0
    # The search range is respected even when the true pitch lies outside it.
    limited, _ = compute_f0(flute[:, 4000:8000], rate, hop_length=400, model="tiny", fmin=100.0, fmax=300.0)
    assert torch.all((limited >= 100.0) & (limited <= 300.0))


PLACEHOLDER_CHECK = textwrap.dedent(
    """
    import importlib.util, json, sys
    {setup}
    try:
        spec = importlib.util.find_spec("torchaudio")
    except ModuleNotFoundError:
        spec = None
    import numpy as np, soundfile, torch
    from ddsp_lab.features import compute_f0
    audio, rate = soundfile.read({path!r}, dtype="float32")
    f0, confidence = compute_f0(torch.from_numpy(audio[:8000]), rate, hop_length=320, model="tiny")
    placeholder = sys.modules["torchaudio"]
    try:
        placeholder.load("anything.wav")
        message = ""
    except RuntimeError as error:
        message = str(error)
    confident = (confidence >= {threshold}).numpy()
    cents = 1200 * np.log2(f0.numpy()[confident] / {nominal})
    print(json.dumps({{
        "torchaudio_found_at": spec.origin if spec else None,
        "placeholder": bool(getattr(placeholder, "__ddsp_lab_placeholder__", False)),
        "message": message,
        "confident": int(confident.sum()),
        "max_cents": float(np.abs(cents).max()),
    }}))
    """
)

BLOCK_TORCHAUDIO = textwrap.dedent(
    """
    import importlib.abc
    class _NoTorchaudio(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torchaudio" or name.startswith("torchaudio."):
                raise ModuleNotFoundError("No module named 'torchaudio'", name=name)
            return None
    sys.meta_path.insert(0, _NoTorchaudio())
    sys.modules.pop("torchaudio", None)
    """
)


def _start_placeholder_check(setup, extra_path=None):
    code = PLACEHOLDER_CHECK.format(
        setup=setup, path=str(DATA / "trumpet_F4.flac"), threshold=CONFIDENT, nominal=NOTES["trumpet_F4"]
    )
    env = dict(os.environ)
    paths = ([str(extra_path)] if extra_path else []) + [str(REPO)]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def placeholder_runs(tmp_path_factory):
    """Both fresh interpreters, started together so they overlap in time."""
    folder = tmp_path_factory.mktemp("broken_torchaudio")
    broken = folder / "torchaudio"
    broken.mkdir()
    (broken / "__init__.py").write_text(
        'raise OSError("libtorchaudio.so: undefined symbol: _ZN3c1017RegisterOperators (built for another torch)")\n'
    )
    runs = {
        "absent": (_start_placeholder_check(BLOCK_TORCHAUDIO), None),
        "broken": (_start_placeholder_check("", extra_path=folder), str(broken / "__init__.py")),
    }
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def _check_placeholder_run(process, expected_origin):
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report["torchaudio_found_at"] == expected_origin
    assert report["placeholder"]
    assert "ddsp_lab.load_audio" in report["message"]
    assert report["confident"] >= 20
    assert report["max_cents"] < NOTE_TOLERANCE_CENTS


@pytest.mark.slow
def test_torchcrepe_works_without_torchaudio(placeholder_runs):
    _check_placeholder_run(*placeholder_runs["absent"])


@pytest.mark.slow
def test_torchcrepe_works_with_a_broken_torchaudio(placeholder_runs):
    # The broken package is found first on the path and raises OSError when imported.
    _check_placeholder_run(*placeholder_runs["broken"])
