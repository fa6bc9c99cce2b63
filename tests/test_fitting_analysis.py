"""Note analysis, fit distances and the nearest-preset baseline (ddsp_lab.fitting)."""

import math
import warnings
from pathlib import Path

import pytest
import torch

from ddsp_lab.dx7 import read_syx, render_voice
from ddsp_lab.dx7.voice import DX7RangeWarning
from ddsp_lab.fitting import (
    DEFAULT_FACTORY_ROM,
    NoPitchError,
    NoPitchWarning,
    NoteAnalysis,
    analyze_note,
    envelope_distance,
    factory_voices,
    frame_rms_db,
    log_spectral_distance,
    midi_to_hz,
    nearest_preset,
    spectral_distance,
)
from ddsp_lab.io import load_audio
from ddsp_lab.metrics import multiscale_spectral_distance

DATA = Path(__file__).parent / "data"
BANK = DATA / "dx7" / "rom1a.syx"
SAMPLE_RATE = 16000
# Envelope frames: 5 ms (80 samples at 16 kHz); the RMS window spans 20 ms.
FRAME_S = 0.005
HALF_WINDOW_S = 0.01


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def bank():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DX7RangeWarning)
        return read_syx(BANK)


def _tone(ratios, amplitudes, f0_hz, envelope, duration_s, sample_rate=SAMPLE_RATE):
    """Sum of sines ``sum a sin(2 pi f0 r t)`` times ``envelope(t)``, float32 ``[T]``."""
    t = torch.arange(int(round(duration_s * sample_rate)), dtype=torch.float64) / sample_rate
    partials = sum(a * torch.sin(2.0 * math.pi * f0_hz * r * t) for a, r in zip(amplitudes, ratios))
    return (partials * envelope(t)).float()


def _cents(measured, expected):
    return 1200.0 * math.log2(measured / expected)


# ----------------------------------------------------------------------------- analysis


BELL_RATIOS = (1.0, 2.76, 5.40)
BELL_AMPLITUDES = (0.5, 0.3, 0.2)
BELL_ATTACK_S = 0.05
BELL_TAU_S = 0.25


def _bell():
    def envelope(t):
        return torch.where(t < BELL_ATTACK_S, t / BELL_ATTACK_S, torch.exp(-(t - BELL_ATTACK_S) / BELL_TAU_S))

    return _tone(BELL_RATIOS, BELL_AMPLITUDES, 220.0, envelope, 1.5)


def test_bell_partials_ratios_and_envelope_times():
    # MIDI 57 is A3 = 220 Hz exactly, so the ratios are against the true f0.
    result = analyze_note(_bell(), SAMPLE_RATE, note=57)
    assert isinstance(result, NoteAnalysis)
    assert result.f0_hz == pytest.approx(220.0, abs=1e-9)
    assert result.midi_note == 57
    assert result.partial_ratios.numel() == 3
    # Parabolic interpolation of a Blackman-Harris peak on a 4x padded grid
    # is off by a few hundredths of a padded bin at most (2048-point window at
    # 16 kHz: 2 Hz bins, so < 0.1 Hz, under 1 cent at 220 Hz): 2 cents bounds it.
    for ratio, expected in zip(result.partial_ratios.tolist(), BELL_RATIOS):
        assert abs(_cents(ratio, expected)) < 2.0
    for frequency, expected in zip(result.partial_frequencies_hz.tolist(), BELL_RATIOS):
        assert abs(_cents(frequency, 220.0 * expected)) < 2.0
    # Levels are averages over the note, but every partial shares the envelope,
    # so their differences are those of the amplitudes (scalloping is gone after
    # interpolation on the padded grid: 0.1 dB).
    levels = result.partial_amplitudes_db
    for index in (1, 2):
        expected = 20.0 * math.log10(BELL_AMPLITUDES[index] / BELL_AMPLITUDES[0])
        assert float(levels[index] - levels[0]) == pytest.approx(expected, abs=0.1)
    # Inharmonicity: 2.76 is 144 cents below 3, 5.40 is 133 cents above 5, 1 is exact.
    expected = (0.0 + abs(_cents(2.76, 3.0)) + abs(_cents(5.40, 5.0))) / 3.0
    assert result.inharmonicity == pytest.approx(expected, abs=1.0)

    # Timing. A linear attack to a corner, smoothed by a 20 ms window, peaks
    # within a frame or two of the corner; the -20 dB point of an exponential
    # decay is tau * ln(10) after the peak, its level is smoothed alike.
    assert result.onset_s == pytest.approx(0.0, abs=FRAME_S)
    assert result.peak_time_s == pytest.approx(BELL_ATTACK_S, abs=2 * FRAME_S)
    assert result.attack_s == pytest.approx(BELL_ATTACK_S, abs=2 * FRAME_S)
    assert result.decay_s == pytest.approx(BELL_TAU_S * math.log(10.0), abs=2 * FRAME_S)
    # A free decay has no key-up.
    assert result.release_start_s == result.duration_s == pytest.approx(1.5)
    assert not result.released
    # Peak level: the mean square of the partials at the corner, sum a^2 / 2.
    peak = 10.0 * math.log10(sum(a * a for a in BELL_AMPLITUDES) / 2.0)
    assert result.peak_db == pytest.approx(peak, abs=0.5)
    assert result.amplitude_frame_rate_hz == pytest.approx(1.0 / FRAME_S)


def test_harmonic_tone_pitch_release_and_sustain():
    f0 = midi_to_hz(60)
    attack_s, gate_s, release_db_per_s = 0.03, 0.8, 60.0

    def envelope(t):
        ramp = torch.clamp(t / attack_s, max=1.0)
        release = torch.exp(-(t - gate_s).clamp_min(0.0) * release_db_per_s / 20.0 * math.log(10.0))
        return ramp * release

    audio = _tone(range(1, 9), [0.4 / k for k in range(1, 9)], f0, envelope, 1.5)
    result = analyze_note(audio, SAMPLE_RATE)
    assert result.midi_note == 60
    # CREPE (tiny) is good to a few cents on a clean tone; 10 cents is a tenth of a semitone.
    assert abs(result.tuning_cents) < 10.0
    assert result.f0_hz == result.measured_f0_hz
    assert result.pitch_confidence > 0.5
    assert result.partial_ratios.numel() == 8
    for harmonic, frequency in enumerate(result.partial_frequencies_hz.tolist(), 1):
        assert abs(_cents(frequency, harmonic * f0)) < 2.0
    # Ratios are taken against the measured f0, so they carry its error and nothing else.
    assert result.inharmonicity == pytest.approx(abs(result.tuning_cents), abs=1.0)
    # A ramp into a plateau reads up to half a window late, plus a frame.
    assert attack_s <= result.peak_time_s <= attack_s + HALF_WINDOW_S + FRAME_S
    # The key-up is a corner between a flat level and a straight fall in dB.
    assert result.released
    assert result.release_start_s == pytest.approx(gate_s, abs=2 * FRAME_S)
    assert result.sustain_db == pytest.approx(0.0, abs=0.1)
    # 20 dB at 60 dB/s after the key-up.
    assert result.decay_s == pytest.approx(gate_s + 20.0 / release_db_per_s - result.peak_time_s, abs=2 * FRAME_S)


def test_channels_are_mixed_down():
    mono = _bell()
    stereo = torch.stack([mono * 0.5, mono * 1.5])
    from_stereo = analyze_note(stereo, SAMPLE_RATE, note=57)
    from_mono = analyze_note(mono[None], SAMPLE_RATE, note=57)
    torch.testing.assert_close(from_stereo.partial_frequencies_hz, from_mono.partial_frequencies_hz)
    torch.testing.assert_close(from_stereo.amplitude_envelope_db, from_mono.amplitude_envelope_db)


def test_violin_recording_is_a_harmonic_a4():
    audio, rate = load_audio(DATA / "violin_A4.flac")
    result = analyze_note(audio, rate)
    assert result.midi_note == 69
    assert result.measured_f0_hz == pytest.approx(440.0, rel=2.0 ** (25 / 1200) - 1)
    strongest = torch.argsort(result.partial_amplitudes_db, descending=True)[:8]
    ratios = result.partial_ratios[strongest]
    # A bowed string's partials are locked to whole multiples; what remains is
    # CREPE's error on f0 (a few cents) and vibrato smearing the averaged peaks.
    # A quarter of a semitone per partial, and a mean under 15 cents, separates
    # that from inharmonic sounds (the bell above reads about 92 cents).
    deviation = (1200.0 * torch.log2(ratios / torch.round(ratios))).abs()
    assert bool((deviation < 25.0).all()), ratios
    assert result.inharmonicity < 15.0
    assert result.spectral_envelope_hz.shape == result.spectral_envelope_db.shape
    assert bool(torch.isfinite(result.spectral_envelope_db).all())

    given = analyze_note(audio, rate, note=69)
    assert given.f0_hz == 440.0
    assert given.measured_f0_hz == pytest.approx(result.measured_f0_hz)
    assert given.tuning_cents == pytest.approx(_cents(result.measured_f0_hz, 440.0))


def test_spectral_envelope_lies_on_the_partials():
    audio = _tone(range(1, 7), [0.5 / k for k in range(1, 7)], 440.0, lambda t: torch.ones_like(t), 0.5)
    result = analyze_note(audio, SAMPLE_RATE, note=69)
    grid, envelope = result.spectral_envelope_hz, result.spectral_envelope_db
    for frequency, level in zip(result.partial_frequencies_hz, result.partial_amplitudes_db):
        index = int(torch.searchsorted(grid, frequency))
        # The envelope is smooth over about one f0 and converged to 0.5 dB of
        # the peaks; grid points sit 4.8 % apart, so a neighbour of the peak
        # on the grid may be lower by the envelope's slope over 2.4 % of f.
        nearby = envelope[max(0, index - 1): index + 1]
        assert float(nearby.max()) >= float(level) - 3.0
    # Never far above the loudest partial, never above it by more than the ringing of the smoothing.
    assert float(envelope.max()) <= float(result.partial_amplitudes_db.max()) + 3.0
    # Far above the partials (8 kHz is 18 harmonics up), the envelope falls away.
    assert float(envelope[-1]) < float(result.partial_amplitudes_db.min()) - 20.0


@pytest.mark.parametrize("slot, note, expected", [
    (8, 60, 60),    # PIANO 1
    (11, 57, 57),   # E.PIANO 1
    (24, 72, 72),   # FLUTE 1
    (14, 60, 72),   # SYN-LEAD 1: its transpose is +12 semitones
])
def test_dx7_renders_analyse_to_the_rendered_note(bank, slot, note, expected):
    voice = bank[slot - 1]
    assert voice.transpose_semitones == expected - note
    audio = render_voice(voice, note=note, velocity=100, gate_s=0.7, duration_s=1.2, sample_rate=SAMPLE_RATE)
    result = analyze_note(audio, SAMPLE_RATE)
    assert result.midi_note == expected
    # Dexed's tuning is within a few cents of equal temperament, CREPE likewise.
    assert abs(result.tuning_cents) < 20.0


def test_dx7_flute_release_is_found_at_the_key_up(bank):
    gate_s = 0.7
    audio = render_voice(bank[23], note=72, velocity=100, gate_s=gate_s, duration_s=1.5, sample_rate=SAMPLE_RATE)
    result = analyze_note(audio, SAMPLE_RATE, note=72)
    # The engine lifts the key at the first 64-sample block at or after the gate (4 ms here).
    assert gate_s - FRAME_S <= result.release_start_s <= gate_s + 64 / SAMPLE_RATE + 2 * FRAME_S
    assert result.sustain_db < 0.0


def test_silence_and_short_audio_are_rejected():
    with pytest.raises(ValueError, match="silent"):
        analyze_note(torch.zeros(SAMPLE_RATE), SAMPLE_RATE)
    quiet = _tone([1.0], [10.0 ** (-80.0 / 20.0)], 440.0, lambda t: torch.ones_like(t), 0.5)
    with pytest.raises(ValueError, match="silent"):
        analyze_note(quiet, SAMPLE_RATE)
    short = _tone([1.0], [0.5], 440.0, lambda t: torch.ones_like(t), 0.05)
    with pytest.raises(ValueError, match="too short"):
        analyze_note(short, SAMPLE_RATE)


def test_bad_input_is_rejected():
    audio = _tone([1.0], [0.5], 440.0, lambda t: torch.ones_like(t), 0.2)
    with pytest.raises(ValueError, match="dimensions"):
        analyze_note(audio[None, None], SAMPLE_RATE)
    with pytest.raises(ValueError, match="samples, channels"):
        analyze_note(torch.stack([audio, audio], dim=1), SAMPLE_RATE)
    with pytest.raises(ValueError, match="NaN"):
        analyze_note(torch.full_like(audio, math.nan), SAMPLE_RATE)
    with pytest.raises(TypeError):
        analyze_note(audio.numpy(), SAMPLE_RATE)
    with pytest.raises(ValueError, match="note"):
        analyze_note(audio, SAMPLE_RATE, note=128)
    with pytest.raises(TypeError, match="note"):
        analyze_note(audio, SAMPLE_RATE, note=60.0)
    with pytest.raises(ValueError, match="sample_rate"):
        analyze_note(audio, 0)


def test_noise_has_no_pitch():
    noise = 0.1 * torch.randn(SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
    with pytest.raises(NoPitchError, match="--note") as caught:
        analyze_note(noise, SAMPLE_RATE)
    assert isinstance(caught.value, ValueError)
    with pytest.warns(NoPitchWarning, match="60"):
        result = analyze_note(noise, SAMPLE_RATE, note=60)
    assert result.measured_f0_hz is None and result.tuning_cents is None
    assert result.f0_hz == pytest.approx(midi_to_hz(60))
    assert result.pitch_confidence < 0.5
    assert isinstance(result.to_dict()["partial_ratios"], list)


def test_frame_rms_of_a_sine_and_its_frame_layout():
    amplitude, hop, window = 0.5, 80, 320
    audio = _tone([1.0], [amplitude], 1000.0, lambda t: torch.ones_like(t), 0.1).double()[None]
    levels = frame_rms_db(audio, hop, window)
    assert levels.shape == (1, math.ceil(audio.shape[-1] / hop))
    # Away from the edges the Hann-weighted mean square of a sine is A^2 / 2
    # plus the window's transform at the cos(2wt) term, 40 bins out (321 taps,
    # 8-sample period), where a Hann window's leakage is below 1e-5: 1e-4 dB.
    inner = levels[0, 3:-3]
    expected = torch.full_like(inner, 10.0 * math.log10(amplitude ** 2 / 2.0))
    torch.testing.assert_close(inner, expected, atol=1e-4, rtol=0)
    # Frame 0 is centred on sample 0, where the sine starts at 0: sin^2 is even
    # about that sample, so the zeros before the signal take exactly half the
    # mean square of an inner frame (the same up to the leakage above).
    assert float(levels[0, 0]) == pytest.approx(float(inner[0]) + 10.0 * math.log10(0.5), abs=1e-3)


# ----------------------------------------------------------------------------- distances


DISTANCES = [spectral_distance, log_spectral_distance, envelope_distance]


def _signals(count=4, seconds=0.5):
    generator = torch.Generator().manual_seed(1)
    return 0.1 * torch.randn(count, int(seconds * SAMPLE_RATE), generator=generator)


@pytest.mark.parametrize("distance", DISTANCES)
def test_distances_are_zero_for_identical_signals(distance):
    signals = _signals()
    assert torch.equal(distance(signals, signals, SAMPLE_RATE), torch.zeros(4))
    assert torch.equal(distance(signals[:1], signals[0], SAMPLE_RATE), torch.zeros(1))


@pytest.mark.parametrize("distance", DISTANCES)
def test_batched_distances_equal_per_item_distances(distance):
    signals = _signals()
    target = signals[:1] * 0.7 + 0.01
    batched = distance(signals, target, SAMPLE_RATE)
    single = torch.cat([distance(signals[i:i + 1], target, SAMPLE_RATE) for i in range(4)])
    torch.testing.assert_close(batched, single, rtol=1e-6, atol=0)
    # Chunking changes nothing either, nor does one target row per candidate.
    torch.testing.assert_close(distance(signals, target, SAMPLE_RATE, chunk_size=3), batched, rtol=1e-6, atol=0)
    torch.testing.assert_close(distance(signals, target.expand(4, -1), SAMPLE_RATE), batched, rtol=1e-6, atol=0)


@pytest.mark.parametrize("distance", [spectral_distance, log_spectral_distance])
def test_spectral_distances_are_symmetric(distance):
    first, second = _signals(2)
    forward = distance(first[None], second[None], SAMPLE_RATE)
    backward = distance(second[None], first[None], SAMPLE_RATE)
    torch.testing.assert_close(forward, backward, rtol=1e-6, atol=0)
    assert float(forward) > 0


def test_spectral_distance_is_the_trainer_metric():
    signals = _signals()
    target = _signals(1, 0.5) * 0.3
    sizes = [1024, 256, 64]
    ours = spectral_distance(signals, target, SAMPLE_RATE, fft_sizes=sizes, log_floor_db=-60.0)
    theirs = multiscale_spectral_distance(target.expand(4, -1), signals, fft_sizes=tuple(sizes), log_floor_db=-60.0)
    # Magnitudes here are sqrt(re^2 + im^2), the loss uses abs(): equal up to float32 rounding.
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=0)


def test_distances_grow_with_detuning():
    target = _tone(range(1, 6), [0.3 / k for k in range(1, 6)], 440.0, lambda t: torch.ones_like(t), 0.5)[None]
    detunes = [0.0, 10.0, 50.0, 100.0]
    amplitudes = [0.3 / k for k in range(1, 6)]
    candidates = torch.cat([
        _tone(range(1, 6), amplitudes, 440.0 * 2.0 ** (c / 1200.0), lambda t: torch.ones_like(t), 0.5)[None]
        for c in detunes
    ])
    for distance in (spectral_distance, log_spectral_distance):
        values = distance(candidates, target, SAMPLE_RATE)
        assert float(values[0]) == 0.0
        assert bool((values[1:] > values[:-1]).all()), (distance.__name__, values)


def test_distances_grow_with_level_and_match_closed_forms():
    signal = _signals(1, 0.5)
    gains = torch.tensor([1.0, 1.5, 2.0, 4.0])
    candidates = signal * gains[:, None]
    for distance in DISTANCES:
        values = distance(candidates, signal, SAMPLE_RATE)
        assert bool((values[1:] > values[:-1]).all()), (distance.__name__, values)
    expected_db = 20.0 * torch.log10(gains)
    # White noise at 0.1 sits some 30 dB above the -80 dB floor in nearly
    # every bin and frame, so every difference is the gain in dB.
    torch.testing.assert_close(log_spectral_distance(candidates, signal, SAMPLE_RATE), expected_db, atol=0.01, rtol=0)
    torch.testing.assert_close(envelope_distance(candidates, signal, SAMPLE_RATE), expected_db, atol=1e-3, rtol=0)
    # Normalised, a louder copy is the same sound (up to float32 rounding of the gain).
    normalised = spectral_distance(candidates, signal, SAMPLE_RATE, normalize=True)
    assert float(normalised.max()) < 1e-4
    lsd_normalised = log_spectral_distance(candidates, signal, SAMPLE_RATE, normalize=True)
    assert float(lsd_normalised.max()) < 1e-3


def test_envelope_distance_floors_at_the_target_peak():
    signal = _signals(1, 0.5)
    silent = torch.zeros_like(signal)
    # Silence against the noise: every frame sits at the floor, 80 dB under the target's peak
    # frame; the noise frames are within a few dB of that peak.
    value = float(envelope_distance(silent, signal, SAMPLE_RATE))
    assert 70.0 < value <= 80.0
    # The other way round the target is silent: its peak is the -120 dB floor of
    # frame_rms_db and both envelopes are floored below it only by -80 dB.
    assert float(envelope_distance(signal, silent, SAMPLE_RATE)) > value


def test_distance_errors():
    signals = _signals()
    with pytest.raises(ValueError, match="same number of samples"):
        spectral_distance(signals, signals[:1, :-1], SAMPLE_RATE)
    with pytest.raises(ValueError, match="1 row or one per candidate"):
        log_spectral_distance(signals, signals[:2], SAMPLE_RATE)
    with pytest.raises(ValueError, match="NaN"):
        envelope_distance(signals, torch.full_like(signals[:1], math.nan), SAMPLE_RATE)
    with pytest.raises(ValueError, match="log_floor_db"):
        spectral_distance(signals, signals, SAMPLE_RATE, log_floor_db=0.0)
    with pytest.raises(ValueError, match="chunk_size"):
        spectral_distance(signals, signals, SAMPLE_RATE, chunk_size=0)


# ----------------------------------------------------------------------------- presets


def test_factory_voices_from_a_bank_file_and_a_folder(tmp_path):
    voices = factory_voices(BANK)
    assert len(voices) == 32
    assert voices[0][0] == "rom1a/01 BRASS   1"
    assert voices[10][0] == "rom1a/11 E.PIANO 1"
    assert [name for name, _ in factory_voices(BANK.parent)] == [name for name, _ in voices]
    with pytest.raises(FileNotFoundError, match="not found"):
        factory_voices(tmp_path / "missing.syx")
    with pytest.raises(FileNotFoundError, match="no DX7 bank"):
        factory_voices(tmp_path)


def test_default_factory_voices_are_the_256_bundled_rom_voices():
    voices = factory_voices()
    assert DEFAULT_FACTORY_ROM.is_dir()
    assert len(voices) == 256
    assert len({name for name, _ in voices}) == 256
    assert voices[0][0].startswith("rom1a/01 ") and voices[-1][0].startswith("rom4b/32 ")


def test_nearest_preset_finds_the_voice_a_target_was_rendered_from():
    voices = factory_voices(BANK)
    name, voice = voices[7]
    assert name == "rom1a/08 PIANO   1"
    gate_s, duration_s = 0.4, 0.8
    target = render_voice(voice, note=60, velocity=100, gate_s=gate_s, duration_s=duration_s, sample_rate=SAMPLE_RATE)
    match = nearest_preset(target, SAMPLE_RATE, 60, voices, gate_s=gate_s)
    # The engine is deterministic: the same voice renders the same samples.
    assert match.name == name
    assert match.distance == 0.0
    assert torch.equal(match.audio, target)
    assert match.voice == voice and match.voice is not voice
    assert len(match.ranking) == 32
    distances = [value for _, value in match.ranking]
    assert distances == sorted(distances)
    assert distances[1] > 0.0

    excluded = nearest_preset(target, SAMPLE_RATE, 60, voices, exclude=[name], gate_s=gate_s)
    assert excluded.name != name
    assert excluded.distance > 0.0
    assert excluded.name == match.ranking[1][0]
    assert excluded.distance == pytest.approx(match.ranking[1][1])
    assert name not in {entry for entry, _ in excluded.ranking} and len(excluded.ranking) == 31
    assert float(spectral_distance(excluded.audio, target, SAMPLE_RATE)) == pytest.approx(excluded.distance)


def test_nearest_preset_takes_other_distances_and_plain_voices(bank):
    target = render_voice(bank[23], note=72, velocity=100, gate_s=0.3, duration_s=0.5, sample_rate=SAMPLE_RATE)
    match = nearest_preset(target[0], SAMPLE_RATE, 72, bank[20:26], gate_s=0.3, distance=envelope_distance)
    assert match.name == "04 FLUTE   1"
    assert match.distance == 0.0


def test_nearest_preset_errors():
    voices = factory_voices(BANK)[:3]
    target = torch.zeros(1, SAMPLE_RATE // 2)
    with pytest.raises(ValueError, match="not in the pool"):
        nearest_preset(target, SAMPLE_RATE, 60, voices, exclude=["rom1a/99 NOTHING"])
    with pytest.raises(ValueError, match="empty"):
        nearest_preset(target, SAMPLE_RATE, 60, voices, exclude=[name for name, _ in voices])
    with pytest.raises(ValueError, match="one note"):
        nearest_preset(torch.zeros(2, 100), SAMPLE_RATE, 60, voices)
    with pytest.raises(ValueError, match="note"):
        nearest_preset(target, SAMPLE_RATE, 130, voices)
    with pytest.raises(ValueError, match="gate_s"):
        nearest_preset(target, SAMPLE_RATE, 60, voices, gate_s=-1.0)
    with pytest.raises(TypeError, match="voices"):
        nearest_preset(target, SAMPLE_RATE, 60, voices[0][1])
    with pytest.raises(ValueError, match="unique"):
        nearest_preset(target, SAMPLE_RATE, 60, voices + voices[:1])
    with pytest.raises(ValueError, match="distance must return"):
        nearest_preset(target, SAMPLE_RATE, 60, voices, distance=lambda c, t, r: c.sum())
