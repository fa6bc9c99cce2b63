import math

import pytest
import torch

from ddsp_lab.metrics import (
    f0_l1_semitones,
    f0_outlier_ratio,
    loudness_l1_db,
    multiscale_spectral_distance,
)
from ddsp_lab.models import LossConfig
from ddsp_lab.workflows.train import SpectralLoss

SAMPLE_RATE = 16000


def _f64(values):
    return torch.tensor(values, dtype=torch.float64)


def test_identical_signals_score_zero():
    f0 = _f64([[220.0, 330.0, 440.0, 0.0], [100.0, 100.0, 100.0, 100.0]])
    confidence = _f64([[0.9, 0.95, 0.85, 0.9], [1.0, 1.0, 1.0, 1.0]])
    loudness = _f64([[-20.0, -30.5, -120.0, -3.0], [-60.0, -50.0, -40.0, -30.0]])
    assert torch.equal(loudness_l1_db(loudness, loudness), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(f0_l1_semitones(f0, f0, confidence), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(f0_outlier_ratio(f0, f0, confidence, out_confidence=confidence),
                       torch.zeros(2, dtype=torch.float64))
    audio = torch.randn(2, 4001, generator=torch.Generator().manual_seed(0))
    assert torch.equal(multiscale_spectral_distance(audio, audio), torch.zeros(2))


def test_loudness_l1_hand_computed():
    reference = _f64([-20.0, -30.0, -40.0])
    output = _f64([-22.0, -30.0, -35.0])
    # |−2| + 0 + |5| over 3 frames.
    assert float(loudness_l1_db(reference, output)) == pytest.approx(7.0 / 3.0, abs=1e-12)
    assert loudness_l1_db(reference, output).shape == ()


def test_an_octave_is_twelve_semitones_and_every_frame_an_outlier():
    reference = _f64([110.0, 220.0, 440.0, 880.0])
    confidence = torch.ones(4, dtype=torch.float64)
    for output in (reference * 2.0, reference / 2.0):
        # 12 * log2(2) is exactly 12 in binary floating point.
        assert float(f0_l1_semitones(reference, output, confidence)) == pytest.approx(12.0, abs=1e-12)
        assert float(f0_outlier_ratio(reference, output, confidence)) == 1.0


def test_f0_metrics_use_only_confident_reference_frames():
    reference = _f64([440.0, 440.0, 440.0, 440.0])
    # Errors: half a semitone, none, an octave (on an unconfident frame), 3 semitones.
    output = _f64([440.0 * 2.0 ** (0.5 / 12.0), 440.0, 880.0, 440.0 * 2.0 ** (3.0 / 12.0)])
    confidence = _f64([0.9, 0.85, 0.5, 0.99])  # 0.85 is at the threshold: it counts
    assert float(f0_l1_semitones(reference, output, confidence)) == pytest.approx(3.5 / 3.0, abs=1e-9)
    # Only the 3-semitone frame is more than 1 semitone off.
    assert float(f0_outlier_ratio(reference, output, confidence)) == pytest.approx(1.0 / 3.0)
    # An untrackable output frame (low confidence) where the reference is confident is an outlier too;
    # the unconfident reference frame never counts.
    out_confidence = _f64([0.9, 0.1, 0.0, 0.9])
    assert float(f0_outlier_ratio(reference, output, confidence, out_confidence=out_confidence)) == pytest.approx(
        2.0 / 3.0)
    # A wider tolerance forgives the 3-semitone frame; a lower threshold lets the octave frame in.
    assert float(f0_outlier_ratio(reference, output, confidence, tolerance_semitones=4.0)) == 0.0
    assert float(f0_l1_semitones(reference, output, confidence, threshold=0.5)) == pytest.approx(
        (0.5 + 0.0 + 12.0 + 3.0) / 4.0, abs=1e-9)


def test_batches_give_one_value_per_example_and_nan_without_confident_frames():
    reference = _f64([[440.0, 440.0], [220.0, 220.0]])
    output = _f64([[880.0, 880.0], [220.0, 220.0]])
    confidence = _f64([[0.2, 0.3], [0.9, 0.9]])
    l1 = f0_l1_semitones(reference, output, confidence)
    ratio = f0_outlier_ratio(reference, output, confidence)
    assert l1.shape == ratio.shape == (2,)
    assert math.isnan(float(l1[0])) and math.isnan(float(ratio[0]))
    assert float(l1[1]) == 0.0 and float(ratio[1]) == 0.0


def test_unvoiced_output_gives_a_finite_error_and_an_outlier():
    reference = _f64([440.0])
    output = _f64([0.0])
    confidence = _f64([1.0])
    # 0 Hz is read as the 1 Hz floor: 12 * log2(440) semitones.
    assert float(f0_l1_semitones(reference, output, confidence)) == pytest.approx(12.0 * math.log2(440.0))
    assert float(f0_outlier_ratio(reference, output, confidence)) == 1.0


def test_spectral_distance_is_the_trainers_loss_per_example():
    generator = torch.Generator().manual_seed(1)
    reference = torch.randn(3, 8000, generator=generator) * 0.1
    output = reference + 0.05 * torch.randn(3, 8000, generator=generator)
    config = LossConfig()
    per_example = multiscale_spectral_distance(
        reference, output, fft_sizes=config.resolved_fft_sizes(SAMPLE_RATE), overlap=config.overlap,
        linear_weight=config.linear_weight, log_weight=config.log_weight, log_floor_db=config.log_floor_db,
    )
    assert per_example.shape == (3,)
    for row in range(3):
        expected, _ = SpectralLoss(config, SAMPLE_RATE)(output[row:row + 1], reference[row:row + 1])
        # Same float32 computation, summed in the same order.
        assert float(per_example[row]) == pytest.approx(float(expected), rel=1e-6)
    # The loss averages its batch, so the per-example values average to the batch loss (equal lengths).
    batch_loss, _ = SpectralLoss(config, SAMPLE_RATE)(output, reference)
    assert float(per_example.mean()) == pytest.approx(float(batch_loss), rel=1e-5)
    # A worse output scores worse.
    worse = reference + 0.5 * torch.randn(3, 8000, generator=generator)
    assert bool((multiscale_spectral_distance(reference, worse) > per_example).all())


def test_bad_input_is_rejected_with_the_argument_named():
    f0 = _f64([440.0, 440.0])
    confidence = _f64([0.9, 0.9])
    with pytest.raises(ValueError, match="same shape"):
        loudness_l1_db(_f64([1.0, 2.0]), _f64([1.0]))
    with pytest.raises(ValueError, match="out_loudness contains NaN"):
        loudness_l1_db(_f64([1.0]), _f64([math.nan]))
    with pytest.raises(TypeError, match="ref_loudness"):
        loudness_l1_db(torch.tensor([1, 2]), _f64([1.0, 2.0]))
    with pytest.raises(ValueError, match="ref_f0 must have 1 or 2 dimensions"):
        f0_l1_semitones(f0[None, None], f0[None, None], confidence)
    with pytest.raises(ValueError, match="out_f0 must be >= 0"):
        f0_l1_semitones(f0, -f0, confidence)
    with pytest.raises(ValueError, match="ref_confidence must have the shape"):
        f0_l1_semitones(f0, f0, _f64([0.9]))
    with pytest.raises(ValueError, match="threshold"):
        f0_outlier_ratio(f0, f0, confidence, threshold=1.5)
    with pytest.raises(ValueError, match="tolerance_semitones"):
        f0_outlier_ratio(f0, f0, confidence, tolerance_semitones=0.0)
    with pytest.raises(ValueError, match="out_confidence must have the shape"):
        f0_outlier_ratio(f0, f0, confidence, out_confidence=_f64([0.9]))
    audio = torch.zeros(1, 1000)
    with pytest.raises(ValueError, match="fft_sizes"):
        multiscale_spectral_distance(audio, audio, fft_sizes=(256.5,))
    with pytest.raises(ValueError, match="log_floor_db"):
        multiscale_spectral_distance(audio, audio, log_floor_db=3.0)
