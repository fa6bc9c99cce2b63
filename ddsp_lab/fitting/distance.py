"""Distances that judge a fitted patch, and the baselines it is compared with, against a target note.

Every function takes ``candidate [B, T]`` (B renders to score), ``target
[1, T]`` (one note, compared with every candidate) or ``[B, T]`` (one target
per candidate), and the sample rate, and returns ``[B]`` (lower is closer, 0
for identical signals). ``[T]`` is accepted for either and counts as one row.
Nothing is normalised unless asked: a candidate that sounds right but 6 dB too
quiet is farther than one at the right level.

* :func:`spectral_distance`: the multi-scale spectral loss the trainer
  minimises (:func:`ddsp_lab.metrics.multiscale_spectral_distance`), per
  candidate: timbre and level over time at several time/frequency resolutions.
* :func:`log_spectral_distance`: the log-spectral distance (LSD) in dB.
* :func:`envelope_distance`: mean dB difference of the amplitude envelopes.

They run without gradients, in the candidate's dtype and on its device, in
chunks of candidates sized so that no intermediate tensor grows with the
batch (256 two-second candidates at 44.1 kHz score in a few seconds on one
CPU thread).
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch

from ..core.checks import check_sample_rate, check_tensor
from ..core.spectral import stft
from ..losses import MAGNITUDE_FLOOR
from ..models.config import LossConfig
from .analysis import frame_rms_db

DEFAULT_LOG_FLOOR_DB = -80.0
DEFAULT_ENVELOPE_FLOOR_DB = -80.0
DEFAULT_ENVELOPE_HOP_S = 0.005
DEFAULT_ENVELOPE_WINDOW_S = 0.02
# Candidates per chunk: about this many samples, so spectrograms stay in the tens of MB.
CHUNK_SAMPLES = 1 << 21

Distance = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def _pair(candidate, target) -> Tuple[torch.Tensor, torch.Tensor]:
    """Check ``candidate [B, T]`` and ``target [1 or B, T]`` (or ``[T]``); return both 2-D."""
    check_tensor(candidate, "candidate", ndim=(1, 2))
    check_tensor(target, "target", ndim=(1, 2))
    candidate = candidate if candidate.dim() == 2 else candidate[None]
    target = target if target.dim() == 2 else target[None]
    if candidate.shape[-1] == 0 or candidate.shape[0] == 0:
        raise ValueError(f"candidate is empty (shape {tuple(candidate.shape)})")
    if target.shape[-1] != candidate.shape[-1]:
        raise ValueError(
            f"candidate and target must have the same number of samples, got {candidate.shape[-1]} and "
            f"{target.shape[-1]}; render or trim the candidates to the target's length"
        )
    if target.shape[0] not in (1, candidate.shape[0]):
        raise ValueError(
            f"target must have 1 row or one per candidate ({candidate.shape[0]}), got shape {tuple(target.shape)}"
        )
    if target.device != candidate.device:
        raise ValueError(f"candidate is on {candidate.device} but target is on {target.device}")
    return candidate.detach(), target.detach().to(candidate.dtype)


def _chunks(batch: int, num_samples: int, chunk_size: Optional[int]) -> Iterator[slice]:
    if chunk_size is None:
        chunk_size = max(1, CHUNK_SAMPLES // num_samples)
    elif isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer number of candidates, got {chunk_size!r}")
    for start in range(0, batch, chunk_size):
        yield slice(start, min(batch, start + chunk_size))


def _target_rows(target: torch.Tensor, rows: slice) -> torch.Tensor:
    return target if target.shape[0] == 1 else target[rows]


def _check_floor(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (-math.inf < value < 0):
        raise ValueError(f"{name} must be a finite negative number of dB, got {value!r}")
    return float(value)


def _rms(audio: torch.Tensor) -> torch.Tensor:
    return audio.square().mean(dim=-1, keepdim=True).sqrt()


def _match_rms(candidate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``candidate`` scaled to the RMS of ``target`` row by row (a silent candidate stays silent)."""
    candidate_rms = _rms(candidate)
    gain = _rms(target) / candidate_rms.clamp_min(1e-30)
    gain = torch.where(candidate_rms > 0, gain, torch.zeros_like(gain))
    return candidate * gain


def default_fft_sizes(sample_rate: int) -> List[int]:
    """FFT sizes of the distances at ``sample_rate``: DDSP's 2048..64 at 16 kHz, scaled.

    The scale is the power of two nearest to ``sample_rate / 16000``
    (:meth:`~ddsp_lab.models.LossConfig.resolved_fft_sizes`): 4096..128 at
    44.1 and 48 kHz, so each size spans about the same time at every rate.
    """
    return LossConfig().resolved_fft_sizes(check_sample_rate(sample_rate))


@torch.no_grad()
def spectral_distance(
    candidate: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    normalize: bool = False,
    fft_sizes: Optional[Sequence[int]] = None,
    overlap: float = 0.75,
    linear_weight: float = 1.0,
    log_weight: float = 1.0,
    log_floor_db: float = DEFAULT_LOG_FLOOR_DB,
    chunk_size: Optional[int] = None,
) -> torch.Tensor:
    """Multi-scale spectral distance of every candidate to the target.

    For every FFT size ``n`` (Hann window, hop ``n * (1 - overlap)``, frames
    centred) with magnitudes ``S`` (floored at 1e-6 as in the loss):
    ``linear_weight * mean|S_c - S_t| + log_weight * mean|log(S_c + eps_n) -
    log(S_t + eps_n)|``, summed over the sizes. ``eps_n = n / 4 * 10 **
    (log_floor_db / 20)`` puts the log floor ``log_floor_db`` below the peak
    bin of a full-scale sine (the trainer's
    :meth:`~ddsp_lab.models.LossConfig.log_eps`): bins far below it count as
    equal whatever their level, so differences in near-silent bins (a
    recording's noise floor, partials a band-limited render leaves out) do
    not dominate. Per candidate this is
    :func:`ddsp_lab.metrics.multiscale_spectral_distance` (and the trainer's
    validation loss with the same settings) up to float rounding; here the
    target's spectrograms are computed once and the candidates in chunks.
    Symmetric when ``normalize`` is False.

    Args:
        candidate: ``[B, T]`` audio, full scale ±1.
        target: ``[1, T]`` or ``[B, T]`` audio.
        sample_rate: Hz; sets the default FFT sizes (:func:`default_fft_sizes`).
        normalize: scale each candidate to the RMS of its target first, so
            that only the shape of the spectrum over time counts, not the
            overall level (the target is left as it is; not symmetric then).
        fft_sizes: FFT sizes in samples (>= 4); default scaled to the rate.
        overlap: frame overlap in [0, 1).
        linear_weight, log_weight: weights (>= 0) of the two terms.
        log_floor_db: floor of the log term in dB (< 0) below a full-scale
            sine's peak bin (default -80 dB).
        chunk_size: candidates per chunk; default about 2 M samples a chunk.

    Returns:
        ``[B]`` distances (0 for identical signals).

    Raises:
        TypeError, ValueError: bad tensors (named), different lengths,
            target rows neither 1 nor B, bad settings.
    """
    candidate, target = _pair(candidate, target)
    sample_rate = check_sample_rate(sample_rate)
    log_floor_db = _check_floor(log_floor_db, "log_floor_db")
    sizes = default_fft_sizes(sample_rate) if fft_sizes is None else list(fft_sizes)
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 4 for n in sizes):
        raise ValueError(f"fft_sizes must be a non-empty sequence of integers >= 4, got {fft_sizes!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    for value, name in ((linear_weight, "linear_weight"), (log_weight, "log_weight")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < math.inf:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

    resolutions = []
    for n in sizes:
        hop = max(1, int(round(n * (1.0 - overlap))))
        # Made in float64 and cast, as the loss does.
        window = torch.hann_window(n, dtype=torch.float64, device=candidate.device).to(candidate.dtype)
        eps = n / 4.0 * 10.0 ** (log_floor_db / 20.0)
        resolutions.append((n, hop, window, eps))

    def spectra(audio: torch.Tensor, n: int, hop: int, window: torch.Tensor, eps: float):
        spectrum = stft(audio, n, hop, window)
        # Same values as abs() up to rounding, about twice as fast.
        magnitude = (spectrum.real.square() + spectrum.imag.square()).sqrt_().clamp_min_(MAGNITUDE_FLOOR)
        return magnitude, torch.log(magnitude + eps) if log_weight else None

    shared_target = [spectra(target, *resolution) for resolution in resolutions] if target.shape[0] == 1 else None
    result = candidate.new_zeros(candidate.shape[0])
    for rows in _chunks(candidate.shape[0], candidate.shape[-1], chunk_size):
        chunk, reference = candidate[rows], _target_rows(target, rows)
        if normalize:
            chunk = _match_rms(chunk, reference)
        for index, resolution in enumerate(resolutions):
            if shared_target is not None:
                mag_target, log_target = shared_target[index]
            else:
                mag_target, log_target = spectra(reference, *resolution)
            mag_candidate, log_candidate = spectra(chunk, *resolution)
            value = chunk.new_zeros(chunk.shape[0])
            if linear_weight:
                value = value + linear_weight * (mag_candidate - mag_target).abs().mean(dim=(1, 2))
            if log_weight:
                value = value + log_weight * (log_candidate - log_target).abs().mean(dim=(1, 2))
            result[rows] += value
    return result


@torch.no_grad()
def log_spectral_distance(
    candidate: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    n_fft: Optional[int] = None,
    overlap: float = 0.75,
    floor_db: float = DEFAULT_LOG_FLOOR_DB,
    normalize: bool = False,
    chunk_size: Optional[int] = None,
) -> torch.Tensor:
    """Log-spectral distance (LSD) in dB of every candidate to the target.

    ``LSD = mean over frames of sqrt(mean over bins of (10 log10 P_c -
    10 log10 P_t) ** 2)`` with ``P`` the STFT power (Hann window of ``n_fft``,
    hop ``n_fft * (1 - overlap)``, frames centred), both floored at
    ``floor_db`` below the peak bin of a full-scale sine (``(n_fft / 4) ** 2
    * 10 ** (floor_db / 10)``), so bins where both are below the floor agree
    and silence on both sides costs nothing. Symmetric when ``normalize``
    is False.

    Args:
        candidate: ``[B, T]`` audio, full scale ±1.
        target: ``[1, T]`` or ``[B, T]`` audio.
        sample_rate: Hz.
        n_fft: FFT size in samples (>= 4); default the largest of
            :func:`default_fft_sizes` (2048 at 16 kHz, 4096 at 44.1 kHz).
        overlap: frame overlap in [0, 1).
        floor_db: power floor in dB (< 0) below a full-scale sine's peak bin.
        normalize: scale each candidate to its target's RMS first.
        chunk_size: candidates per chunk; default about 2 M samples a chunk.

    Returns:
        ``[B]`` distances in dB (0 for identical signals).
    """
    candidate, target = _pair(candidate, target)
    sample_rate = check_sample_rate(sample_rate)
    floor_db = _check_floor(floor_db, "floor_db")
    if n_fft is None:
        n_fft = max(default_fft_sizes(sample_rate))
    elif isinstance(n_fft, bool) or not isinstance(n_fft, int) or n_fft < 4:
        raise ValueError(f"n_fft must be an integer >= 4, got {n_fft!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap!r}")
    hop = max(1, int(round(n_fft * (1.0 - overlap))))
    window = torch.hann_window(n_fft, dtype=candidate.dtype, device=candidate.device)
    floor = (n_fft / 4.0) ** 2 * 10.0 ** (floor_db / 10.0)

    def power_db(audio: torch.Tensor) -> torch.Tensor:
        spectrum = stft(audio, n_fft, hop, window)
        return 10.0 * torch.log10((spectrum.real.square() + spectrum.imag.square()).clamp_min(floor))

    shared_target = power_db(target) if target.shape[0] == 1 else None
    result = candidate.new_zeros(candidate.shape[0])
    for rows in _chunks(candidate.shape[0], candidate.shape[-1], chunk_size):
        chunk, reference = candidate[rows], _target_rows(target, rows)
        if normalize:
            chunk = _match_rms(chunk, reference)
        reference_db = shared_target if shared_target is not None else power_db(reference)
        difference = power_db(chunk) - reference_db
        result[rows] = difference.square().mean(dim=-1).sqrt().mean(dim=-1)
    return result


@torch.no_grad()
def envelope_distance(
    candidate: torch.Tensor,
    target: torch.Tensor,
    sample_rate: int,
    hop_s: float = DEFAULT_ENVELOPE_HOP_S,
    window_s: float = DEFAULT_ENVELOPE_WINDOW_S,
    floor_db: float = DEFAULT_ENVELOPE_FLOOR_DB,
    chunk_size: Optional[int] = None,
) -> torch.Tensor:
    """Mean absolute difference in dB of the amplitude envelopes.

    Both envelopes are Hann-weighted frame RMS in dB
    (:func:`~ddsp_lab.fitting.analysis.frame_rms_db`, a window of ``window_s``
    every ``hop_s``), floored at ``floor_db`` below the target's loudest
    frame, so the tails under that floor (noise, reverb) count as equal. The
    floor follows the target, so the distance is not symmetric.

    Args:
        candidate: ``[B, T]`` audio, full scale ±1.
        target: ``[1, T]`` or ``[B, T]`` audio.
        sample_rate: Hz.
        hop_s: seconds between frames (> 0, default 5 ms; rounded to whole samples).
        window_s: seconds spanned by the RMS window (> 0, default 20 ms).
        floor_db: floor in dB (< 0) relative to the target's peak frame.
        chunk_size: candidates per chunk; default about 2 M samples a chunk.

    Returns:
        ``[B]`` distances in dB (0 for identical signals).
    """
    candidate, target = _pair(candidate, target)
    sample_rate = check_sample_rate(sample_rate)
    floor_db = _check_floor(floor_db, "floor_db")
    for value, name in ((hop_s, "hop_s"), (window_s, "window_s")):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value < math.inf:
            raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
    hop = max(1, int(round(hop_s * sample_rate)))
    window = max(1, int(round(window_s * sample_rate)))

    def floored(envelope: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return torch.maximum(envelope, reference.amax(dim=-1, keepdim=True) + floor_db)

    shared_target = frame_rms_db(target, hop, window) if target.shape[0] == 1 else None
    result = candidate.new_zeros(candidate.shape[0])
    for rows in _chunks(candidate.shape[0], candidate.shape[-1], chunk_size):
        reference = shared_target if shared_target is not None else frame_rms_db(target[rows], hop, window)
        difference = floored(frame_rms_db(candidate[rows], hop, window), reference) - floored(reference, reference)
        result[rows] = difference.abs().mean(dim=-1)
    return result


__all__ = [
    "Distance",
    "default_fft_sizes",
    "envelope_distance",
    "log_spectral_distance",
    "spectral_distance",
]
