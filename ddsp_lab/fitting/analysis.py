"""What a recorded note is made of: pitch, partials, spectral and amplitude envelopes.

:func:`analyze_note` measures one isolated note (a recording, or a render of
a DX7 voice) and returns a :class:`NoteAnalysis`: the numbers an FM patch
fit starts from (which note to play, which frequency ratios the operators
need, how long the key is held) and reports on.

Pitch comes from CREPE (:func:`~ddsp_lab.features.compute_f0`); everything
else from plain spectral analysis in float64:

* **amplitude envelope**: frame RMS in dB (0 dB = an RMS of 1, so a
  full-scale sine reads -3.01 dB) at :data:`ENVELOPE_FRAME_RATE_HZ` frames
  per second (:func:`frame_rms_db`);
* **long-term spectrum**: the power spectrum averaged over the held part of
  the note (onset to release start) with a 4-term Blackman-Harris window
  (side lobes at -92 dB, so a partial's leakage never looks like another
  partial) covering at least :data:`SPECTRUM_PERIODS` periods of f0;
* **partials**: the strongest local maxima of that spectrum, located with
  parabolic interpolation of the dB magnitudes of a 4x zero-padded FFT;
* **spectral envelope**: the valleys between partials filled with straight
  lines from peak to peak, then the "true envelope" of that (iterated
  cepstral smoothing that rises onto the peaks instead of averaging peaks
  and valleys; Röbel and Rodet, DAFx 2005), sampled on a log-frequency grid.

Levels of the spectrum, the partials and the spectral envelope are in dB
relative to a full-scale sine: a sine of amplitude ``A`` reads ``20 log10 A``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Optional

import torch

from ..core.checks import check_hop_length, check_positive, check_sample_rate, check_tensor
from ..features.pitch import CREPE_MIN_HZ, compute_f0

A4_HZ = 440.0
A4_MIDI = 69
MIN_DURATION_S = 0.1
SILENCE_PEAK_DBFS = -70.0
# Channels beyond this suggest a [samples, channels] array passed the wrong way round.
MAX_CHANNELS = 16
DEFAULT_CONFIDENCE_THRESHOLD = 0.5
ENVELOPE_FRAME_RATE_HZ = 200.0
# Frames more than this far below the loudest frame do not count as the note sounding.
SOUNDING_RANGE_DB = 40.0
ONSET_THRESHOLD_DB = 30.0
ATTACK_WITHIN_DB = 3.0
# Rise per envelope frame below which the attack counts as finished.
ATTACK_MIN_RISE_DB = 0.1
DECAY_DROP_DB = 20.0
# Release search: lowest level considered, and how far above the noise floor.
RELEASE_RANGE_DB = 60.0
RELEASE_FLOOR_MARGIN_DB = 6.0
RELEASE_MIN_SEGMENT_S = 0.05
RELEASE_MIN_STEEPENING_DB_PER_S = 30.0
RELEASE_MIN_SLOPE_DB_PER_S = 30.0
RELEASE_MAX_RESIDUAL_RATIO = 0.5
SPECTRUM_PERIODS = 16
SPECTRUM_MIN_WINDOW_S = 0.04
SPECTRUM_ZERO_PAD = 4
# Half-width of the Blackman-Harris main lobe in FFT bins.
MAIN_LOBE_BINS = 4
DEFAULT_MAX_PARTIALS = 32
DEFAULT_PARTIAL_FLOOR_DB = -60.0
# A peak must stand this far above the running median of the spectrum (its noise floor).
PARTIAL_NOISE_MARGIN_DB = 12.0
MIN_PARTIAL_HZ = 20.0
INHARMONICITY_PARTIALS = 8
# Longer notes get a coarser pitch hop: a median needs no more frames, and CREPE dominates the cost.
MAX_PITCH_FRAMES = 300
ENVELOPE_GRID_POINTS = 128
ENVELOPE_GRID_MIN_HZ = 20.0
TRUE_ENVELOPE_ITERATIONS = 200
TRUE_ENVELOPE_TOLERANCE_DB = 1.0
# The spectral envelope follows the spectrum down to this far below its maximum.
SPECTRUM_RANGE_DB = 60.0
# 4-term Blackman-Harris coefficients (Harris, Proc. IEEE 1978).
_BLACKMAN_HARRIS = (0.35875, 0.48829, 0.14128, 0.01168)


class NoPitchError(ValueError):
    """The note has no pitch CREPE is confident about, and none was given."""


class NoPitchWarning(UserWarning):
    """The note has no confident pitch; the given MIDI note is used instead."""


@dataclasses.dataclass
class NoteAnalysis:
    """Measurements of one note (see :func:`analyze_note` for the definitions).

    1-D tensors are float64 on the analysed audio's device.

    Attributes:
        sample_rate: Hz of the analysed audio.
        duration_s: length of the audio, seconds.
        f0_hz: fundamental used for ratios: the measured f0, or the equal
            tempered frequency of ``note`` when one was given (A4 = 440 Hz).
        midi_note: MIDI note 0..127 of ``f0_hz`` (nearest note when measured).
        measured_f0_hz: median CREPE f0 over confident sounding frames, Hz;
            None when no frame is confident.
        pitch_confidence: median CREPE confidence (0..1) over sounding frames.
        tuning_cents: ``1200 log2(measured_f0_hz / f0_hz)``, None without a
            measured f0 (an octave error of CREPE, or a wrong ``note``, shows
            as about ±1200).
        pitch_track_hz, pitch_confidence_track: CREPE f0 (Hz) and confidence
            per pitch frame ``[frames]``, at ``pitch_frame_rate_hz``.
        pitch_frame_rate_hz: frames per second of the pitch track: half the
            amplitude envelope's rate (pitch frame ``m`` is envelope frame
            ``2m``), or less for notes longer than 3 s (at most 300 pitch
            frames; the frame rate divides the envelope's by an even number).
        partial_frequencies_hz: ``[P]`` partial frequencies, ascending, Hz.
        partial_amplitudes_db: ``[P]`` their levels in the long-term spectrum,
            dB re a full-scale sine.
        partial_ratios: ``[P]`` ``partial_frequencies_hz / f0_hz``.
        inharmonicity: mean distance in cents of the ratios of the
            :data:`INHARMONICITY_PARTIALS` strongest partials (those with a
            ratio >= 0.5) from their nearest whole multiple of f0 (at least 1):
            ``mean 1200 |log2(r / max(1, round(r)))|``. About 0 for a harmonic
            tone; NaN when no partial qualifies.
        spectral_envelope_hz: ``[G]`` log-spaced grid frequencies, Hz.
        spectral_envelope_db: ``[G]`` smooth envelope of the long-term
            spectrum on that grid (passes through the partial peaks), dB re a
            full-scale sine.
        amplitude_envelope_db: ``[F]`` frame RMS in dB (0 dB = RMS 1; floored
            at -120 dB); frame ``n`` is centred on sample ``n * sample_rate /
            amplitude_frame_rate_hz``.
        amplitude_frame_rate_hz: frames per second of that envelope.
        peak_db: level of the loudest frame, dB (same scale).
        onset_s: when the envelope first comes within 30 dB of ``peak_db``
            (linearly interpolated), seconds from the start; a sudden onset
            reads up to half an RMS window (10 ms) early.
        peak_time_s: end of the attack: from the first frame within 3 dB of
            ``peak_db``, the envelope is followed while it rises by more than
            0.1 dB a frame; where that stops at a local maximum, a parabola
            through three frames refines it. Seconds from the start; a
            plateau reached by a ramp reads up to half an RMS window late.
        attack_s: ``peak_time_s - onset_s``, seconds.
        decay_s: seconds from ``peak_time_s`` until the envelope first falls
            20 dB below its level there (interpolated); None if it never does.
        sustain_db: median envelope level over the second half of the time
            from ``peak_time_s`` to ``release_start_s``, relative to
            ``peak_db`` (<= 0 dB).
        release_start_s: estimated key-up: where a held or slowly decaying
            level turns into a markedly steeper fall (see :func:`analyze_note`);
            ``duration_s`` when the note decays freely or is cut while held.
    """

    sample_rate: int
    duration_s: float
    f0_hz: float
    midi_note: int
    measured_f0_hz: Optional[float]
    pitch_confidence: float
    tuning_cents: Optional[float]
    pitch_track_hz: torch.Tensor
    pitch_confidence_track: torch.Tensor
    pitch_frame_rate_hz: float
    partial_frequencies_hz: torch.Tensor
    partial_amplitudes_db: torch.Tensor
    partial_ratios: torch.Tensor
    inharmonicity: float
    spectral_envelope_hz: torch.Tensor
    spectral_envelope_db: torch.Tensor
    amplitude_envelope_db: torch.Tensor
    amplitude_frame_rate_hz: float
    peak_db: float
    onset_s: float
    peak_time_s: float
    attack_s: float
    decay_s: Optional[float]
    sustain_db: float
    release_start_s: float

    @property
    def released(self) -> bool:
        """True when a release (key-up) was found before the end of the audio."""
        return self.release_start_s < self.duration_s

    def to_dict(self) -> dict:
        """The fields as plain Python values (tensors become lists), ready for JSON."""
        result = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().tolist()
            elif isinstance(value, float) and math.isnan(value):
                value = None
            result[field.name] = value
        return result


def midi_to_hz(note: float) -> float:
    """Equal-tempered frequency in Hz of MIDI note ``note`` (A4 = 69 = 440 Hz)."""
    return A4_HZ * 2.0 ** ((note - A4_MIDI) / 12.0)


def hz_to_midi(frequency_hz: float) -> float:
    """MIDI note number (fractional) of ``frequency_hz`` > 0 (A4 = 69 = 440 Hz)."""
    return A4_MIDI + 12.0 * math.log2(frequency_hz / A4_HZ)


def frame_rms_db(audio: torch.Tensor, hop_length: int, window_length: int) -> torch.Tensor:
    """Hann-weighted frame RMS in dB: ``[B, T] -> [B, ceil(T / hop_length)]``.

    Frame ``n`` is the Hann-weighted mean square of the samples around
    sample ``n * hop_length`` (the window has ``2 * (window_length // 2) + 1``
    taps, symmetric about that sample; samples outside the signal count as
    zeros), in dB with 0 dB = a mean square of 1 (a full-scale sine reads
    -3.01 dB), floored at -120 dB.

    Args:
        audio: ``[batch, samples]`` float audio, full scale ±1.
        hop_length: samples between frame centres (>= 1).
        window_length: span of the window in samples (>= 1).

    Returns:
        ``[batch, frames]`` in the audio's dtype and device.
    """
    check_tensor(audio, "audio", ndim=2)
    hop = check_hop_length(hop_length)
    half = check_hop_length(window_length, "window_length") // 2
    taps = 2 * half + 1
    frames = -(-audio.shape[-1] // hop)
    # A symmetric window of odd length centres frame n exactly on sample n * hop.
    window = torch.hann_window(taps + 2, periodic=False, dtype=audio.dtype, device=audio.device)[1:-1]
    window = window / window.sum()
    needed = (frames - 1) * hop + taps
    squared = torch.nn.functional.pad(audio.square(), (half, max(0, needed - audio.shape[-1] - half)))
    windows = squared.unfold(-1, taps, hop)[:, :frames]
    mean_square = audio.new_empty(audio.shape[0], frames)
    # Frames in blocks bound the memory. A row-wise product and sum (rather
    # than conv1d) gives every row the same value whatever the batch size, so
    # identical signals score exactly 0 in a batch of candidates.
    block = max(1, (1 << 22) // (taps * max(1, audio.shape[0])))
    for start in range(0, frames, block):
        mean_square[:, start:start + block] = (windows[:, start:start + block] * window).sum(dim=-1)
    return 10.0 * torch.log10(mean_square.clamp_min(1e-12))


def _mono(audio) -> torch.Tensor:
    """``[T]``, ``[1, T]`` or ``[C, T]`` audio as a float64 ``[T]`` channel mix."""
    check_tensor(audio, "audio", ndim=(1, 2))
    if audio.dim() == 2:
        if audio.shape[0] > MAX_CHANNELS:
            raise ValueError(
                f"audio must be [samples] or [channels, samples] with at most {MAX_CHANNELS} channels, got "
                f"shape {tuple(audio.shape)}; pass [channels, samples], not [samples, channels]"
            )
        audio = audio.mean(dim=0)
    return audio.detach().to(torch.float64)


def _check_note(note) -> Optional[int]:
    if note is None:
        return None
    if isinstance(note, bool) or not isinstance(note, int):
        raise TypeError(f"note must be a MIDI note number (int 0..127) or None, got {type(note).__name__}")
    if not 0 <= note <= 127:
        raise ValueError(f"note must be a MIDI note number 0..127, got {note}")
    return note


def _crossing(envelope: torch.Tensor, index: int, level: float) -> float:
    """Fractional frame where the envelope crosses ``level`` between ``index - 1`` and ``index``."""
    if index == 0:
        return 0.0
    before, after = float(envelope[index - 1]), float(envelope[index])
    if before == after:
        return float(index)
    return index - 1 + (before - level) / (before - after)


def _parabolic_offset(left: float, centre: float, right: float) -> float:
    """Offset in [-0.5, 0.5] of the vertex of the parabola through three equally spaced values."""
    curvature = left - 2.0 * centre + right
    if curvature >= 0.0:
        return 0.0
    return max(-0.5, min(0.5, 0.5 * (left - right) / curvature))


def _release_frame(envelope: torch.Tensor, start: int, frame_rate: float) -> Optional[int]:
    """Frame where the decay turns markedly steeper (the key-up), or None.

    Two straight lines (in dB) are fitted by least squares to the envelope
    from ``start`` to the last frame above the higher of
    :data:`RELEASE_RANGE_DB` below the level at ``start`` and the floor (the
    lowest level after ``start``) plus :data:`RELEASE_FLOOR_MARGIN_DB`, one on each side of every breakpoint that
    leaves :data:`RELEASE_MIN_SEGMENT_S` on both sides. Breakpoints qualify
    when the second slope is at least 30 dB/s steeper than the first and
    falls by at least 30 dB/s; the best qualifying one is the release if its
    two lines leave at most half the squared residual of one line through
    the whole span.
    """
    minimum_frames = max(2, int(math.ceil(RELEASE_MIN_SEGMENT_S * frame_rate)))
    tail = envelope[start:]
    top = float(tail[0])
    threshold = max(top - RELEASE_RANGE_DB, float(tail.min()) + RELEASE_FLOOR_MARGIN_DB)
    above = torch.nonzero(tail >= threshold).flatten()
    count = int(above[-1]) + 1 if above.numel() else 0
    if count < 2 * minimum_frames:
        return None
    y = tail[:count]
    x = torch.arange(count, dtype=y.dtype, device=y.device)
    zero = y.new_zeros(1)
    # Prefix sums give every split's least-squares lines in one pass.
    sums = [torch.cat([zero, torch.cumsum(v, 0)]) for v in (torch.ones_like(y), x, y, x * x, x * y, y * y)]

    def fit(lo: torch.Tensor, hi: torch.Tensor):
        n, sx, sy, sxx, sxy, syy = (s[hi] - s[lo] for s in sums)
        sxx_c = sxx - sx * sx / n
        sxy_c = sxy - sx * sy / n
        syy_c = syy - sy * sy / n
        slope = sxy_c / sxx_c
        return slope, (syy_c - slope * sxy_c).clamp_min(0.0)

    splits = torch.arange(minimum_frames, count - minimum_frames + 1, device=y.device)
    slope_left, residual_left = fit(torch.zeros_like(splits), splits)
    slope_right, residual_right = fit(splits, torch.full_like(splits, count))
    _, residual_single = fit(torch.zeros(1, dtype=torch.long, device=y.device),
                             torch.full((1,), count, dtype=torch.long, device=y.device))
    residual = residual_left + residual_right
    qualifies = ((slope_right * frame_rate <= slope_left * frame_rate - RELEASE_MIN_STEEPENING_DB_PER_S)
                 & (slope_right * frame_rate <= -RELEASE_MIN_SLOPE_DB_PER_S))
    if not bool(qualifies.any()):
        return None
    residual = torch.where(qualifies, residual, torch.full_like(residual, math.inf))
    best = int(torch.argmin(residual))
    if float(residual[best]) > RELEASE_MAX_RESIDUAL_RATIO * float(residual_single[0]):
        return None
    return start + int(splits[best])


def _blackman_harris(length: int, dtype, device) -> torch.Tensor:
    phase = 2.0 * math.pi * torch.arange(length, dtype=dtype, device=device) / length
    a0, a1, a2, a3 = _BLACKMAN_HARRIS
    return a0 - a1 * torch.cos(phase) + a2 * torch.cos(2 * phase) - a3 * torch.cos(3 * phase)


def _long_term_spectrum(mono: torch.Tensor, start: int, stop: int, f0_hz: float, sample_rate: int):
    """Averaged, calibrated power spectrum of ``mono[start:stop]``.

    Returns ``(power [4N/2 + 1], window_length N)``; ``power`` is scaled so
    that a sine of amplitude ``A`` peaks at ``A ** 2``.
    """
    wanted = max(SPECTRUM_PERIODS * sample_rate / f0_hz, SPECTRUM_MIN_WINDOW_S * sample_rate)
    length = 2 ** int(math.ceil(math.log2(wanted)))
    if stop - start < length:
        start, stop = 0, mono.shape[-1]
    while length > stop - start:
        length //= 2
    segment = mono[start:stop]
    hop = max(1, length // 4)
    window = _blackman_harris(length, mono.dtype, mono.device)
    frames = segment.unfold(0, length, hop)
    n_fft = SPECTRUM_ZERO_PAD * length
    power = torch.zeros(n_fft // 2 + 1, dtype=mono.dtype, device=mono.device)
    # Frames in groups bound the memory of long notes.
    for first in range(0, frames.shape[0], 64):
        spectrum = torch.fft.rfft(frames[first:first + 64] * window, n=n_fft)
        power += (spectrum.real.square() + spectrum.imag.square()).sum(dim=0)
    power = power / frames.shape[0] * (2.0 / window.sum()) ** 2
    return power, length


def _running_median(values: torch.Tensor, width: int) -> torch.Tensor:
    """Median of ``values`` ``[M]`` over ``width`` (odd) neighbours, edges extended."""
    half = width // 2
    padded = torch.cat([values[:1].expand(half), values, values[-1:].expand(half)])
    return padded.unfold(0, width, 1).median(dim=-1).values


def _partials(power_db: torch.Tensor, bin_hz: float, f0_hz: float, max_partials: int, floor_db: float):
    """Strongest spectral peaks ``(frequencies_hz [P], levels_db [P])``, ascending in frequency.

    ``power_db`` is the 4x zero-padded spectrum (``bin_hz`` apart). The noise
    floor under a peak is the median of the plain spectrum over two f0 around
    it: partials spaced f0 apart cover about a quarter of such a span, so the
    median sits between them.
    """
    inner = power_db[1:-1]
    is_peak = (inner > power_db[:-2]) & (inner >= power_db[2:])
    index = torch.nonzero(is_peak).flatten() + 1
    index = index[index * bin_hz >= MIN_PARTIAL_HZ]
    empty = power_db.new_zeros(0)
    if index.numel() == 0:
        return empty, empty
    plain = power_db[::SPECTRUM_ZERO_PAD]
    plain_bin_hz = bin_hz * SPECTRUM_ZERO_PAD
    width = max(4 * MAIN_LOBE_BINS, int(round(2.0 * f0_hz / plain_bin_hz))) | 1
    # The plain spectrum has n_fft / 2 + 1 bins, an odd count for the even FFT sizes used here.
    noise_floor = _running_median(plain, min(width, plain.shape[-1]))
    levels = power_db[index]
    local_floor = noise_floor[torch.div(index + SPECTRUM_ZERO_PAD // 2, SPECTRUM_ZERO_PAD, rounding_mode="floor")
                              .clamp_max(plain.shape[-1] - 1)]
    keep = (levels >= float(levels.max()) + floor_db) & (levels >= local_floor + PARTIAL_NOISE_MARGIN_DB)
    index, levels = index[keep], levels[keep]
    order = torch.argsort(levels, descending=True)
    min_distance = MAIN_LOBE_BINS * SPECTRUM_ZERO_PAD
    chosen = []
    # Strongest first; a peak inside an accepted peak's main lobe is part of it.
    for candidate in index[order].tolist():
        if all(abs(candidate - other) >= min_distance for other in chosen):
            chosen.append(candidate)
            if len(chosen) == max_partials:
                break
    if not chosen:
        return empty, empty
    chosen = torch.tensor(sorted(chosen), device=power_db.device)
    left, centre, right = power_db[chosen - 1], power_db[chosen], power_db[chosen + 1]
    curvature = left - 2.0 * centre + right
    offset = torch.where(curvature < 0, 0.5 * (left - right) / curvature.clamp_max(-1e-12), torch.zeros_like(centre))
    offset = offset.clamp(-0.5, 0.5)
    frequencies = (chosen.to(power_db.dtype) + offset) * bin_hz
    levels = centre - 0.25 * (left - right) * offset
    return frequencies, levels


def _inharmonicity(ratios: torch.Tensor, levels_db: torch.Tensor) -> float:
    usable = ratios >= 0.5
    ratios, levels_db = ratios[usable], levels_db[usable]
    if ratios.numel() == 0:
        return math.nan
    strongest = torch.argsort(levels_db, descending=True)[:INHARMONICITY_PARTIALS]
    ratios = ratios[strongest]
    harmonic = torch.round(ratios).clamp_min(1.0)
    return float((1200.0 * torch.log2(ratios / harmonic)).abs().mean())


def _true_envelope(power_db: torch.Tensor, order: int) -> torch.Tensor:
    """Cepstrally smoothed envelope (dB) that rises onto the peaks of ``power_db`` ``[M]``.

    Iterates ``current = max(power_db, smooth(current))`` (Röbel and Rodet's
    true envelope) until the smoothed curve is nowhere more than
    :data:`TRUE_ENVELOPE_TOLERANCE_DB` below ``power_db``, or for
    :data:`TRUE_ENVELOPE_ITERATIONS` rounds.
    """
    n_fft = 2 * (power_db.shape[-1] - 1)
    order = max(1, min(order, n_fft // 2 - 1))
    # A tapered lifter: a rectangular one rings on sharp steps, lifting the
    # envelope well above every peak.
    quefrency = torch.arange(order + 1, dtype=power_db.dtype, device=power_db.device)
    taper = 0.5 * (1.0 + torch.cos(math.pi * quefrency / (order + 1)))
    lifter = torch.zeros(n_fft, dtype=power_db.dtype, device=power_db.device)
    lifter[: order + 1] = taper
    lifter[n_fft - order:] = taper[1:].flip(0)
    current = power_db
    smooth = power_db
    for _ in range(TRUE_ENVELOPE_ITERATIONS):
        smooth = torch.fft.rfft(torch.fft.irfft(current, n=n_fft) * lifter).real
        if float((power_db - smooth).max()) <= TRUE_ENVELOPE_TOLERANCE_DB:
            break
        current = torch.maximum(power_db, smooth)
    return smooth


def _spectral_envelope(
    plain_db: torch.Tensor, bin_hz: float, frequencies: torch.Tensor, levels_db: torch.Tensor, order: int
) -> torch.Tensor:
    """Smooth envelope (dB) over the bins of ``plain_db`` ``[M]`` resting on the partial peaks.

    The valleys between neighbouring partials are first filled with the
    straight line (in dB) joining their peaks, the bins below the lowest
    partial take its level, and the spectrum is floored
    :data:`SPECTRUM_RANGE_DB` under its maximum: what is left for
    :func:`_true_envelope` has no deep valleys or cliffs to ring on or to
    climb out of slowly.
    """
    floor = float(plain_db.max()) - SPECTRUM_RANGE_DB
    filled = plain_db.clamp_min(floor)
    if frequencies.numel():
        bins = torch.arange(plain_db.shape[-1], dtype=plain_db.dtype, device=plain_db.device) * bin_hz
        # Plain bins miss a peak by up to 0.8 dB (the window's scalloping):
        # the interpolated peak levels go to the partials' nearest bins.
        nearest = torch.round(frequencies / bin_hz).long().clamp_max(plain_db.shape[-1] - 1)
        filled[nearest] = torch.maximum(filled[nearest], levels_db)
        inside = (bins >= frequencies[0]) & (bins <= frequencies[-1])
        if frequencies.numel() > 1:
            upper = torch.searchsorted(frequencies, bins[inside]).clamp(1, frequencies.numel() - 1)
            fraction = (bins[inside] - frequencies[upper - 1]) / (frequencies[upper] - frequencies[upper - 1])
            joined = levels_db[upper - 1] + fraction * (levels_db[upper] - levels_db[upper - 1])
            filled[inside] = torch.maximum(filled[inside], joined)
        filled = torch.where(bins < frequencies[0], levels_db[0].clamp_min(floor), filled)
    return _true_envelope(filled, order)


def _interpolate(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``fp(xp)`` at ``x`` for ascending, equally spaced ``xp``."""
    position = ((x - xp[0]) / (xp[1] - xp[0])).clamp(0, xp.shape[-1] - 1)
    lower = position.floor().long().clamp_max(xp.shape[-1] - 2)
    fraction = position - lower
    return fp[lower] * (1 - fraction) + fp[lower + 1] * fraction


def analyze_note(
    audio: torch.Tensor,
    sample_rate: int,
    note: Optional[int] = None,
    crepe_model: str = "tiny",
    device=None,
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    max_partials: int = DEFAULT_MAX_PARTIALS,
    partial_floor_db: float = DEFAULT_PARTIAL_FLOOR_DB,
) -> NoteAnalysis:
    """Measure the pitch, partials and envelopes of one isolated note.

    **Pitch.** CREPE runs at half the envelope frame rate (10 ms hop; a
    coarser hop beyond 300 frames) over the whole note, 31.7 Hz .. 2 kHz. ``measured_f0_hz`` is the median f0
    of the frames that are *sounding* (within 40 dB of the loudest envelope
    frame) and *confident* (confidence >= ``confidence_threshold``, 0.5 by
    default). Why 0.5: steady pitched frames read about 0.7 to 0.95 with the
    tiny model (a little less than with the full one), while silence,
    breath noise and white noise stay well below 0.5; attacks and late
    decays fall in between. DDSP's evaluation threshold of 0.85 would leave
    too few frames on short or decaying notes (xylophone, harp), and the
    median shrugs off the odd wrong frame that passes 0.5.

    **Timing** (amplitude envelope, see :class:`NoteAnalysis` for each
    definition): the RMS window spans max(20 ms, two periods of f0), which
    keeps low notes from rippling. The release start is found by fitting two
    straight lines in dB to the envelope after the attack peak (down to 60 dB
    below it or 6 dB above the lowest level, whichever is higher) and taking
    the breakpoint with the smallest residual among those where the fall
    becomes at least 30 dB/s steeper and reaches 30 dB/s; it counts only if
    the two lines halve the residual of a single line. A free decay (piano,
    xylophone) or a note cut while held gives ``duration_s``.

    **Spectrum.** The long-term spectrum is averaged from the onset to the
    release start (the whole note when that is shorter than one window).
    Partials are its local maxima above 20 Hz, at most ``partial_floor_db``
    below the strongest and at least 12 dB above the spectrum's median (its
    noise floor), taken strongest first at least one main lobe (4 bins)
    apart, up to ``max_partials``.

    Args:
        audio: the note, ``[samples]``, ``[1, samples]`` or ``[channels,
            samples]`` (channels are averaged), full scale ±1, at least 0.1 s.
        sample_rate: Hz.
        note: MIDI note 0..127 if known. Then ``f0_hz`` is its equal-tempered
            frequency (A4 = 440 Hz) whatever CREPE measures; without a
            confident pitch only a :class:`NoPitchWarning` is issued.
        crepe_model: ``"tiny"`` (default, fast) or ``"full"`` (more accurate).
        device: where CREPE runs; default the audio's device.
        confidence_threshold: CREPE confidence in [0, 1] a frame needs to count.
        max_partials: most partials reported (>= 1).
        partial_floor_db: lowest partial level relative to the strongest, dB (< 0).

    Returns:
        A :class:`NoteAnalysis`.

    Raises:
        TypeError: audio not a floating-point tensor, or ``note`` not an int.
        ValueError: wrong shape, NaN/inf samples, shorter than 0.1 s, silent
            (peak below -70 dBFS), bad settings.
        NoPitchError: no confident pitch and ``note`` is None.
    """
    sample_rate = check_sample_rate(sample_rate)
    note = _check_note(note)
    mono = _mono(audio)
    threshold = check_positive(confidence_threshold, "confidence_threshold", allow_zero=True)
    if threshold > 1.0:
        raise ValueError(f"confidence_threshold must be in [0, 1], got {confidence_threshold}")
    if isinstance(max_partials, bool) or not isinstance(max_partials, int) or max_partials < 1:
        raise ValueError(f"max_partials must be a positive integer, got {max_partials!r}")
    if isinstance(partial_floor_db, bool) or not isinstance(partial_floor_db, (int, float)) or not (
        -math.inf < partial_floor_db < 0
    ):
        raise ValueError(f"partial_floor_db must be a finite negative number of dB, got {partial_floor_db!r}")

    num_samples = mono.shape[-1]
    duration_s = num_samples / sample_rate
    if duration_s < MIN_DURATION_S:
        raise ValueError(
            f"audio is too short to analyse: {num_samples} samples = {duration_s * 1000:.1f} ms at "
            f"{sample_rate} Hz; at least {MIN_DURATION_S} s is needed"
        )
    peak_sample = float(mono.abs().max())
    if peak_sample == 0.0 or 20.0 * math.log10(peak_sample) < SILENCE_PEAK_DBFS:
        level = "all zeros" if peak_sample == 0.0 else f"peak {20.0 * math.log10(peak_sample):.1f} dBFS"
        raise ValueError(f"audio is silent ({level}, below {SILENCE_PEAK_DBFS:.0f} dBFS); there is no note to analyse")

    hop = max(1, int(round(sample_rate / ENVELOPE_FRAME_RATE_HZ)))
    frame_rate = sample_rate / hop
    base_window = 4 * hop
    rough_envelope = frame_rms_db(mono[None], hop, base_window)[0]

    # Pitch frame m is envelope frame m * stride.
    stride = 2 * max(1, -(-rough_envelope.shape[-1] // (2 * MAX_PITCH_FRAMES)))
    pitch_track, confidence_track = compute_f0(
        mono[None].to(audio.dtype), sample_rate, hop_length=stride * hop, model=crepe_model, device=device,
        fmin=CREPE_MIN_HZ,
    )
    pitch_track = pitch_track[0].to(torch.float64)
    confidence_track = confidence_track[0].to(torch.float64)
    levels_at_pitch_frames = rough_envelope[::stride][: pitch_track.shape[-1]]
    sounding = levels_at_pitch_frames >= float(rough_envelope.max()) - SOUNDING_RANGE_DB
    if not bool(sounding.any()):
        sounding = torch.ones_like(sounding)
    pitch_confidence = float(torch.quantile(confidence_track[sounding], 0.5))
    confident = sounding & (confidence_track >= threshold)
    measured_f0_hz = float(torch.quantile(pitch_track[confident], 0.5)) if bool(confident.any()) else None
    if note is None:
        if measured_f0_hz is None:
            raise NoPitchError(
                f"no pitch found: no sounding frame reaches CREPE confidence {threshold} (median confidence "
                f"{pitch_confidence:.2f}); the sound may be noise or strongly inharmonic. Give the MIDI note "
                "(note=... in Python, --note on the command line)"
            )
        midi_note = int(min(127, max(0, round(hz_to_midi(measured_f0_hz)))))
        f0_hz = measured_f0_hz
        tuning_cents = 100.0 * (hz_to_midi(measured_f0_hz) - midi_note)
    else:
        midi_note = note
        f0_hz = midi_to_hz(note)
        if measured_f0_hz is None:
            warnings.warn(
                f"no confident pitch found (median CREPE confidence {pitch_confidence:.2f}); using the given "
                f"note {note} ({f0_hz:.2f} Hz)",
                NoPitchWarning,
                stacklevel=2,
            )
            tuning_cents = None
        else:
            tuning_cents = 1200.0 * math.log2(measured_f0_hz / f0_hz)

    # Two periods of f0 per window keep the envelope of low notes free of ripple.
    window = max(base_window, int(round(2.0 * sample_rate / f0_hz)))
    envelope = frame_rms_db(mono[None], hop, window)[0]
    peak_db = float(envelope.max())
    onset_index = int(torch.nonzero(envelope >= peak_db - ONSET_THRESHOLD_DB)[0])
    onset_frame = _crossing(envelope, onset_index, peak_db - ONSET_THRESHOLD_DB)
    peak_index = int(torch.nonzero(envelope >= peak_db - ATTACK_WITHIN_DB)[0])
    # Climb while the level still rises markedly: on a plateau the smallest
    # ripple would otherwise count as the end of the attack.
    while (peak_index + 1 < envelope.shape[-1]
           and envelope[peak_index + 1] > envelope[peak_index] + ATTACK_MIN_RISE_DB):
        peak_index += 1
    peak_frame = float(peak_index)
    if 0 < peak_index < envelope.shape[-1] - 1 and envelope[peak_index + 1] <= envelope[peak_index]:
        peak_frame += _parabolic_offset(*(float(v) for v in envelope[peak_index - 1: peak_index + 2]))
    onset_s = onset_frame / frame_rate
    peak_time_s = peak_frame / frame_rate

    drop_level = float(envelope[peak_index]) - DECAY_DROP_DB
    below = torch.nonzero(envelope[peak_index:] <= drop_level).flatten()
    decay_s = None
    if below.numel():
        decay_frame = _crossing(envelope, peak_index + int(below[0]), drop_level)
        decay_s = max(0.0, decay_frame / frame_rate - peak_time_s)

    release_index = _release_frame(envelope, peak_index, frame_rate)
    release_start_s = duration_s if release_index is None else min(duration_s, release_index / frame_rate)
    release_frame = envelope.shape[-1] if release_index is None else release_index
    held = envelope[peak_index + (release_frame - peak_index) // 2: release_frame]
    sustain_db = (float(held.median()) if held.numel() else float(envelope[peak_index])) - peak_db

    start_sample = int(round(onset_s * sample_rate))
    stop_sample = min(num_samples, int(round(release_start_s * sample_rate)))
    power, window_length = _long_term_spectrum(mono, start_sample, stop_sample, f0_hz, sample_rate)
    power_db = 10.0 * torch.log10(power.clamp_min(1e-30))
    bin_hz = sample_rate / (SPECTRUM_ZERO_PAD * window_length)
    frequencies, amplitudes = _partials(power_db, bin_hz, f0_hz, max_partials, float(partial_floor_db))
    ratios = frequencies / f0_hz

    # The zero-padded FFT at every 4th bin is the plain window-length FFT.
    plain_db = power_db[::SPECTRUM_ZERO_PAD]
    plain_bin_hz = sample_rate / window_length
    envelope_db = _spectral_envelope(plain_db, plain_bin_hz, frequencies, amplitudes, int(sample_rate / f0_hz))
    grid = torch.logspace(
        math.log10(ENVELOPE_GRID_MIN_HZ), math.log10(sample_rate / 2.0), ENVELOPE_GRID_POINTS,
        dtype=mono.dtype, device=mono.device,
    )
    bins = torch.arange(plain_db.shape[-1], dtype=mono.dtype, device=mono.device) * plain_bin_hz
    spectral_envelope_db = _interpolate(grid, bins, envelope_db)

    return NoteAnalysis(
        sample_rate=sample_rate,
        duration_s=duration_s,
        f0_hz=f0_hz,
        midi_note=midi_note,
        measured_f0_hz=measured_f0_hz,
        pitch_confidence=pitch_confidence,
        tuning_cents=tuning_cents,
        pitch_track_hz=pitch_track,
        pitch_confidence_track=confidence_track,
        pitch_frame_rate_hz=frame_rate / stride,
        partial_frequencies_hz=frequencies,
        partial_amplitudes_db=amplitudes,
        partial_ratios=ratios,
        inharmonicity=_inharmonicity(ratios, amplitudes),
        spectral_envelope_hz=grid,
        spectral_envelope_db=spectral_envelope_db,
        amplitude_envelope_db=envelope,
        amplitude_frame_rate_hz=frame_rate,
        peak_db=peak_db,
        onset_s=onset_s,
        peak_time_s=peak_time_s,
        attack_s=max(0.0, peak_time_s - onset_s),
        decay_s=decay_s,
        sustain_db=sustain_db,
        release_start_s=release_start_s,
    )
