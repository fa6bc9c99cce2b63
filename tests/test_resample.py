"""Tests for ddsp_lab.core.resample."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

from ddsp_lab.core.resample import (
    DEFAULT_KAISER_BETA,
    DEFAULT_ROLLOFF,
    DEFAULT_ZERO_CROSSINGS,
    _phase_table,
    _resample_gather,
    _resample_polyphase,
    resample,
    resampled_length,
)

RATE_PAIRS = [(44100, 16000), (16000, 44100), (48000, 16000), (16000, 48000), (22050, 16000), (16000, 22050)]

# Kaiser's design formula for beta = 8.555 gives A = 8.7 + beta / 0.1102 = 86 dB of
# stop-band attenuation and a pass-band ripple of 10 ** (-86 / 20) = 5e-5 (0.0004 dB).
# The formula is an approximation, so the checks allow 6 dB (a factor 2) on top.
STOPBAND_DB = -80.0
PASSBAND_RIPPLE_DB = 0.001


def _design(orig_sr, new_sr):
    divisor = math.gcd(orig_sr, new_sr)
    return (new_sr // divisor, orig_sr // divisor, DEFAULT_ROLLOFF, DEFAULT_ZERO_CROSSINGS, DEFAULT_KAISER_BETA)


def _prototype_fir(orig_sr, new_sr):
    """Our windowed sinc sampled on the upsampled grid, as resample_poly expects its FIR."""
    up, down = _design(orig_sr, new_sr)[:2]
    table, reach = _phase_table(*_design(orig_sr, new_sr))
    # h(j / up) for j = -reach * up .. reach * up, read back out of the phase table:
    # row r, column k holds h(r / up - (k - reach)).
    taps = []
    for j in range(-reach * up, reach * up + 1):
        column = reach - math.floor(j / up)
        row = j - math.floor(j / up) * up
        taps.append(float(table[row, column]) if 0 <= column < table.shape[1] else 0.0)
    return np.array(taps) / up  # resample_poly multiplies its FIR by `up`


@pytest.mark.parametrize("orig_sr,new_sr", RATE_PAIRS)
def test_matches_scipy_resample_poly_with_the_same_filter(orig_sr, new_sr):
    # With the same FIR, scipy's polyphase implementation must give the same samples:
    # this checks alignment, phase selection and edge handling independently. Both run
    # in float64, so only round-off (well below 1e-12 on unit-scale audio) may differ.
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((2, 1001))
    up, down = _design(orig_sr, new_sr)[:2]
    expected = scipy.signal.resample_poly(audio, up, down, axis=-1, window=_prototype_fir(orig_sr, new_sr))
    result = resample(torch.from_numpy(audio), orig_sr, new_sr).numpy()
    assert result.shape == (2, resampled_length(1001, orig_sr, new_sr))
    # resample_poly returns ceil(T * up / down) samples, we return the rounded count.
    count = min(result.shape[-1], expected.shape[-1])
    np.testing.assert_allclose(result[:, :count], expected[:, :count], atol=1e-12, rtol=0)


def _fit_tone(signal, frequency, sample_rate):
    """Least-squares amplitude of a tone at ``frequency`` and the RMS of what is left."""
    n = np.arange(signal.size)
    basis = np.stack([np.cos(2 * np.pi * frequency * n / sample_rate), np.sin(2 * np.pi * frequency * n / sample_rate)], 1)
    coefficients, *_ = np.linalg.lstsq(basis, signal, rcond=None)
    residual = signal - basis @ coefficients
    return float(np.hypot(*coefficients)), float(np.sqrt(np.mean(residual ** 2)))


def _interior(signal):
    # Skip the first and last quarter, well beyond the filter's reach (< 300 samples).
    return signal[signal.size // 4: 3 * signal.size // 4]


@pytest.mark.parametrize("orig_sr,new_sr", RATE_PAIRS)
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.84])
def test_pass_band_tone_keeps_frequency_and_level(orig_sr, new_sr, fraction):
    frequency = fraction * min(orig_sr, new_sr) / 2
    n = np.arange(orig_sr // 4)
    tone = 0.5 * np.cos(2 * np.pi * frequency * n / orig_sr + 0.3)
    out = _interior(resample(torch.from_numpy(tone)[None], orig_sr, new_sr)[0].numpy())
    amplitude, residual = _fit_tone(out, frequency, new_sr)
    assert abs(20 * np.log10(amplitude / 0.5)) < PASSBAND_RIPPLE_DB
    # Whatever is not the tone at the same frequency (images, aliases, a frequency
    # error) must sit in the stop band.
    assert 20 * np.log10(residual * math.sqrt(2) / 0.5) < STOPBAND_DB


# Fractions of the new Nyquist frequency, all below the input's own Nyquist frequency.
ALIAS_CASES = [
    (orig_sr, new_sr, fraction)
    for orig_sr, new_sr in [(44100, 16000), (48000, 16000), (22050, 16000)]
    for fraction in [1.0, 1.02, 1.3, 1.9, 2.7]
    if fraction * new_sr < orig_sr
]


@pytest.mark.parametrize("orig_sr,new_sr,fraction", ALIAS_CASES)
def test_tones_above_the_new_nyquist_are_rejected(orig_sr, new_sr, fraction):
    frequency = fraction * new_sr / 2
    n = np.arange(orig_sr // 4)
    tone = np.cos(2 * np.pi * frequency * n / orig_sr + 0.7)
    out = _interior(resample(torch.from_numpy(tone)[None], orig_sr, new_sr)[0].numpy())
    level_db = 20 * np.log10(np.sqrt(2 * np.mean(out ** 2)) + 1e-300)
    assert level_db < STOPBAND_DB


def test_gather_path_matches_polyphase_path():
    rng = np.random.default_rng(1)
    audio = torch.from_numpy(rng.standard_normal((3, 777)))
    for orig_sr, new_sr in RATE_PAIRS:
        design = _design(orig_sr, new_sr)
        count = resampled_length(777, orig_sr, new_sr)
        # Same sums in a different order: float64 round-off only.
        torch.testing.assert_close(
            _resample_gather(audio, design, count), _resample_polyphase(audio, design, count), atol=1e-12, rtol=0
        )


def test_awkward_ratio_uses_gather_path_and_keeps_a_tone():
    # 16001 -> 16000 cannot be reduced; its convolution weight would be huge.
    orig_sr, new_sr = 16001, 16000
    n = np.arange(4000)
    tone = np.cos(2 * np.pi * 1000.0 * n / orig_sr)
    out = _interior(resample(torch.from_numpy(tone)[None], orig_sr, new_sr)[0].numpy())
    amplitude, residual = _fit_tone(out, 1000.0, new_sr)
    assert abs(20 * np.log10(amplitude)) < PASSBAND_RIPPLE_DB
    assert 20 * np.log10(residual * math.sqrt(2)) < STOPBAND_DB


@pytest.mark.parametrize("length", [1, 2, 3, 441, 1000, 1001, 4410])
def test_output_length_is_rounded_ratio(length):
    audio = torch.randn(1, length)
    for orig_sr, new_sr in RATE_PAIRS:
        expected = math.floor(length * new_sr / orig_sr + 0.5)
        if expected == 0:
            with pytest.raises(ValueError, match="too short"):
                resample(audio, orig_sr, new_sr)
        else:
            assert resample(audio, orig_sr, new_sr).shape == (1, expected)


def test_shapes_dtype_and_identity():
    audio = torch.randn(5, 333, dtype=torch.float64)
    out = resample(audio, 22050, 16000)
    assert out.shape == (5, 242) and out.dtype == torch.float64
    one_d = resample(audio[0], 22050, 16000)
    assert one_d.shape == (242,)
    torch.testing.assert_close(one_d, out[0])
    assert resample(audio, 16000, 16000) is audio


def test_batch_rows_are_independent():
    audio = torch.randn(3, 500, dtype=torch.float64)
    together = resample(audio, 16000, 44100)
    for row in range(3):
        torch.testing.assert_close(resample(audio[row:row + 1], 16000, 44100), together[row:row + 1])


def test_gradcheck_float64():
    for orig_sr, new_sr in [(3, 2), (2, 3), (44100, 16000)]:
        audio = torch.randn(2, 23, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda x: resample(x, orig_sr, new_sr, zero_crossings=4), (audio,), fast_mode=True)


def test_gradient_finite_at_silence():
    audio = torch.zeros(1, 400, requires_grad=True)
    resample(audio, 44100, 16000).pow(2).sum().backward()
    assert torch.isfinite(audio.grad).all()


@pytest.mark.parametrize(
    "audio,orig_sr,new_sr,kwargs,error,match",
    [
        (torch.tensor([[0.0, float("nan"), 0.0]]), 16000, 8000, {}, ValueError, "NaN"),
        (torch.tensor([[0.0, float("inf"), 0.0]]), 16000, 8000, {}, ValueError, "NaN or infinite"),
        (torch.zeros(1, 1, 10), 16000, 8000, {}, ValueError, "audio must have 1 or 2 dimensions"),
        (torch.zeros(1, 0), 16000, 8000, {}, ValueError, "empty"),
        (torch.zeros(1, 10, dtype=torch.long), 16000, 8000, {}, TypeError, "floating-point"),
        (torch.zeros(1, 10), 0, 8000, {}, ValueError, "orig_sr"),
        (torch.zeros(1, 10), 16000, 22050.5, {}, ValueError, "new_sr"),
        (torch.zeros(1, 10), 16000, 8000, {"rolloff": 1.5}, ValueError, "rolloff"),
        (torch.zeros(1, 10), 16000, 8000, {"zero_crossings": 0}, ValueError, "zero_crossings"),
    ],
)
def test_bad_input(audio, orig_sr, new_sr, kwargs, error, match):
    with pytest.raises(error, match=match):
        resample(audio, orig_sr, new_sr, **kwargs)
