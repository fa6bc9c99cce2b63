"""Resynthesis metrics of the DDSP paper (Engel et al., 2020, section 5.2 and table 2).

A model resynthesises a recording from the recording's own f0 and loudness;
the output is then analysed again and compared with the reference:

* :func:`loudness_l1_db`: mean absolute loudness difference, dB;
* :func:`f0_l1_semitones`: mean absolute pitch difference in semitones on
  the frames where the reference pitch track is confident (CREPE confidence
  >= 0.85, the ``MIN_F0_CONFIDENCE`` of ``ddsp/training/metrics.py`` in
  magenta/ddsp);
* :func:`f0_outlier_ratio`: share of those confident frames whose output
  pitch is wrong or untrackable (see its docstring for the definition);
* :func:`multiscale_spectral_distance`: the multi-scale spectral loss the
  trainer minimises, per example.

All functions take ``[frames]`` or ``[batch, frames]`` tensors (audio:
``[samples]`` or ``[batch, samples]``) and return one value per example:
a 0-d tensor for 1-D input, ``[batch]`` otherwise. They run without
gradients and keep the inputs' device and dtype.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch

from .core.checks import check_nonnegative, check_positive, check_tensor
from .losses import MultiScaleSpectralLoss

DEFAULT_CONFIDENCE_THRESHOLD = 0.85
DEFAULT_OUTLIER_TOLERANCE_SEMITONES = 1.0
DEFAULT_FFT_SIZES = (2048, 1024, 512, 256, 128, 64)
# f0 below this is clamped before the logarithm: an unvoiced 0 Hz frame reads
# as a very large (finite) pitch error instead of an infinite one.
F0_FLOOR_HZ = 1.0


def _pair(reference, output, reference_name: str, output_name: str) -> Tuple[torch.Tensor, torch.Tensor, bool]:
    """Check two ``[F]`` / ``[B, F]`` tensors of the same shape; return them as ``[B, F]``."""
    check_tensor(reference, reference_name, ndim=(1, 2))
    check_tensor(output, output_name, ndim=(1, 2))
    if reference.shape != output.shape:
        raise ValueError(
            f"{reference_name} and {output_name} must have the same shape, got {tuple(reference.shape)} "
            f"and {tuple(output.shape)}"
        )
    if reference.shape[-1] == 0:
        raise ValueError(f"{reference_name} has no frames")
    was_1d = reference.dim() == 1
    if was_1d:
        reference, output = reference[None], output[None]
    return reference, output, was_1d


def _confidence_mask(ref_confidence, shape, threshold: float, name: str = "ref_confidence") -> torch.Tensor:
    check_tensor(ref_confidence, name, ndim=(1, 2))
    confidence = ref_confidence if ref_confidence.dim() == 2 else ref_confidence[None]
    if tuple(confidence.shape) != tuple(shape):
        raise ValueError(f"{name} must have the shape of the f0 tensors, got {tuple(ref_confidence.shape)}")
    return confidence >= threshold


def _check_threshold(threshold) -> float:
    threshold = check_positive(threshold, "threshold", allow_zero=True)
    if threshold > 1.0:
        raise ValueError(f"threshold must be a confidence in [0, 1], got {threshold}")
    return threshold


def _semitone_error(ref_f0: torch.Tensor, out_f0: torch.Tensor) -> torch.Tensor:
    """``|12 log2(out / ref)|`` per frame, f0 clamped at :data:`F0_FLOOR_HZ`."""
    ref = ref_f0.clamp_min(F0_FLOOR_HZ)
    out = out_f0.clamp_min(F0_FLOOR_HZ)
    return (12.0 * torch.log2(out / ref)).abs()


def _finish(value: torch.Tensor, was_1d: bool) -> torch.Tensor:
    return value[0] if was_1d else value


@torch.no_grad()
def loudness_l1_db(ref_loudness: torch.Tensor, out_loudness: torch.Tensor) -> torch.Tensor:
    """Mean absolute loudness difference over all frames, in dB.

    Args:
        ref_loudness: reference loudness ``[F]`` or ``[B, F]`` in dB (for
            instance :func:`~ddsp_lab.features.compute_loudness` of the recording).
        out_loudness: loudness of the output, same shape and settings, dB.

    Returns:
        ``mean_f |out - ref|`` in dB: 0-d for 1-D input, ``[B]`` otherwise.

    Raises:
        TypeError, ValueError: not floating-point tensors, NaN/inf, wrong
            ndim, different shapes or no frames.
    """
    reference, output, was_1d = _pair(ref_loudness, out_loudness, "ref_loudness", "out_loudness")
    return _finish((output - reference).abs().mean(dim=-1), was_1d)


@torch.no_grad()
def f0_l1_semitones(
    ref_f0: torch.Tensor,
    out_f0: torch.Tensor,
    ref_confidence: torch.Tensor,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
) -> torch.Tensor:
    """Mean absolute pitch difference in semitones on the reference's confident frames.

    ``mean |12 log2(out_f0 / ref_f0)|`` over the frames with
    ``ref_confidence >= threshold``, as ``f0_dist_conf_thresh`` in
    magenta/ddsp (``ddsp/training/metrics.py``) computes it in MIDI units.
    Every confident frame counts, outliers included (an octave error adds 12).

    Args:
        ref_f0: reference f0 ``[F]`` or ``[B, F]`` in Hz (>= 0; values below
            1 Hz are taken as 1 Hz so that 0 Hz gives a finite error).
        out_f0: f0 tracked on the output, same shape, Hz.
        ref_confidence: the reference's pitch confidence, same shape, 0..1.
        threshold: confidence in [0, 1] a frame needs to count (DDSP: 0.85).

    Returns:
        Semitones, 0-d for 1-D input, ``[B]`` otherwise; NaN for an example
        without a confident frame (its pitch cannot be judged).

    Raises:
        TypeError, ValueError: bad tensors (as :func:`loudness_l1_db`),
            negative f0, or a threshold outside [0, 1].
    """
    reference, output, was_1d = _pair(ref_f0, out_f0, "ref_f0", "out_f0")
    check_nonnegative(reference, "ref_f0")
    check_nonnegative(output, "out_f0")
    mask = _confidence_mask(ref_confidence, reference.shape, _check_threshold(threshold))
    error = _semitone_error(reference, output)
    count = mask.sum(dim=-1)
    total = torch.where(mask, error, torch.zeros_like(error)).sum(dim=-1)
    mean = total / count.clamp_min(1).to(total.dtype)
    return _finish(torch.where(count > 0, mean, torch.full_like(mean, math.nan)), was_1d)


@torch.no_grad()
def f0_outlier_ratio(
    ref_f0: torch.Tensor,
    out_f0: torch.Tensor,
    ref_confidence: torch.Tensor,
    threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    tolerance_semitones: float = DEFAULT_OUTLIER_TOLERANCE_SEMITONES,
    out_confidence: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Share of the reference's confident frames whose output pitch is an outlier.

    Definition used here (per frame): among the frames with
    ``ref_confidence >= threshold``, a frame is an outlier when its pitch
    error ``|12 log2(out_f0 / ref_f0)|`` exceeds ``tolerance_semitones``, or,
    when ``out_confidence`` is given, when the output is untrackable there
    (``out_confidence < threshold``) although the reference is confident.

    magenta/ddsp (``F0CrepeMetrics`` in ``ddsp/training/metrics.py``) counts
    outliers per example instead: an example whose output pitch is
    untrackable, or whose mean error exceeds 12 semitones
    (``OUTLIER_MIDI_THRESH``), is an outlier. Counting frames keeps the same
    two causes (a wrong pitch, no pitch) but grades an example instead of
    passing or failing it whole; the default tolerance of 1 semitone calls
    a frame wrong once it is nearer another note than its own (the raw pitch
    accuracy of mir_eval, also reported by DDSP, uses half of that).

    Args:
        ref_f0, out_f0, ref_confidence: as :func:`f0_l1_semitones`.
        threshold: confidence in [0, 1] (DDSP: 0.85), for both signals.
        tolerance_semitones: largest error in semitones (> 0) that is not an
            outlier; the comparison is strict (an error of exactly the
            tolerance is not an outlier).
        out_confidence: the output's pitch confidence, same shape, 0..1;
            ``None`` judges the pitch error only.

    Returns:
        A ratio in [0, 1]: 0-d for 1-D input, ``[B]`` otherwise; NaN for an
        example without a confident reference frame.

    Raises:
        TypeError, ValueError: as :func:`f0_l1_semitones`, or a tolerance <= 0.
    """
    reference, output, was_1d = _pair(ref_f0, out_f0, "ref_f0", "out_f0")
    check_nonnegative(reference, "ref_f0")
    check_nonnegative(output, "out_f0")
    threshold = _check_threshold(threshold)
    tolerance = check_positive(tolerance_semitones, "tolerance_semitones")
    mask = _confidence_mask(ref_confidence, reference.shape, threshold)
    outlier = _semitone_error(reference, output) > tolerance
    if out_confidence is not None:
        outlier = outlier | ~_confidence_mask(out_confidence, reference.shape, threshold, "out_confidence")
    count = mask.sum(dim=-1)
    outliers = (outlier & mask).sum(dim=-1).to(reference.dtype)
    ratio = outliers / count.clamp_min(1).to(reference.dtype)
    return _finish(torch.where(count > 0, ratio, torch.full_like(ratio, math.nan)), was_1d)


@torch.no_grad()
def multiscale_spectral_distance(
    ref_audio: torch.Tensor,
    out_audio: torch.Tensor,
    fft_sizes: Sequence[int] = DEFAULT_FFT_SIZES,
    overlap: float = 0.75,
    linear_weight: float = 1.0,
    log_weight: float = 1.0,
    log_floor_db: float = -80.0,
) -> torch.Tensor:
    """The trainer's multi-scale spectral loss, one value per example.

    For every FFT size ``n``: ``linear_weight * mean |S_out - S_ref| +
    log_weight * mean |log(S_out + eps_n) - log(S_ref + eps_n)|`` of the STFT
    magnitudes (Hann window, hop ``n * (1 - overlap)``), summed over the
    sizes, with ``eps_n = n / 4 * 10 ** (log_floor_db / 20)`` as in
    :meth:`~ddsp_lab.models.LossConfig.log_eps`. With a run's loss settings it
    is the validation loss the trainer reports, per example instead of per
    batch.

    Args:
        ref_audio: reference ``[T]`` or ``[B, T]``, full scale ±1.
        out_audio: output, same shape.
        fft_sizes: FFT sizes in samples (>= 4); the default is DDSP's at 16 kHz.
        overlap: frame overlap in [0, 1).
        linear_weight, log_weight: weights (>= 0) of the two terms.
        log_floor_db: floor of the log term in dB (< 0) below a full-scale
            sine's peak bin.

    Returns:
        0-d for 1-D input, ``[B]`` otherwise (0 for identical signals).

    Raises:
        TypeError, ValueError: bad audio or settings (named).
    """
    reference, output, was_1d = _pair(ref_audio, out_audio, "ref_audio", "out_audio")
    if isinstance(log_floor_db, bool) or not isinstance(log_floor_db, (int, float)) or not (
        -math.inf < log_floor_db < 0
    ):
        raise ValueError(f"log_floor_db must be a finite negative number of dB, got {log_floor_db!r}")
    if (isinstance(fft_sizes, (str, bytes)) or not isinstance(fft_sizes, Sequence) or not fft_sizes
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 4 for n in fft_sizes)):
        raise ValueError(f"fft_sizes must be a non-empty sequence of integers >= 4, got {fft_sizes!r}")
    terms = [
        MultiScaleSpectralLoss(
            fft_sizes=(n,), overlap=overlap, linear_weight=linear_weight, log_weight=log_weight,
            eps=n / 4.0 * 10.0 ** (log_floor_db / 20.0),
        ).to(reference.device)
        for n in fft_sizes
    ]
    # The loss averages over its batch: one call per example gives each its own value.
    values = torch.stack([
        sum(term(output[row:row + 1], reference[row:row + 1]) for term in terms)
        for row in range(reference.shape[0])
    ])
    return _finish(values, was_1d)
