"""Fitting a DX7 patch to one recorded note: the method behind ``ddsp-lab fit-fm``.

Plain gradient descent on a spectral loss fails on FM: the loss over
frequency ratios and modulation indices is full of local minima, and a
start far from the answer stays far. The fit therefore combines search and
descent, stage by stage (each stage's contribution is measured in
``docs/fit_fm.md``):

1. **Analysis** (:func:`~ddsp_lab.fitting.analysis.analyze_note`): pitch (or
   the given note), partial frequency ratios and levels, amplitude envelope
   timing (attack, decay, sustain, key-up).
2. **Starting points**, two kinds:

   * *presets*: the factory voices closest to the target by the judged
     distance (the nearest-preset baseline is the best of them);
   * *analysis builds*: for each algorithm of a small set (or the one
     given), the carriers are tuned to the strongest partial ratios at their
     measured levels, modulators to small multiples of their carrier, and
     every envelope to the measured attack, decay, sustain and release.

   Every analysis build then gets a **ratio search**: operator by operator,
   each of the DX7's common whole ratios is tried and the best kept (a wrong
   modulator ratio puts every sideband elsewhere, which small steps cannot
   repair).
3. **Continuous refinement**: every start becomes a
   :class:`~ddsp_lab.dx7.RelaxedVoice` and takes a few Adam steps on the fit
   loss (multi-scale spectral distance, plus an amplitude-envelope term and a
   1-D optimal-transport distance between long-term spectra on a log
   frequency axis, which gives frequency ratios a gradient towards partials
   they do not yet overlap); the best few continue for longer.
4. **Quantisation** onto the DX7 grid (:meth:`RelaxedVoice.to_voice`).
5. **Discrete refinement**: coordinate search on the DX7 grid with the
   engine itself (:func:`~ddsp_lab.dx7.render_voice`): output levels, EG
   rates and levels, coarse and fine frequency, detune and feedback move by
   one or a few steps while the judged distance improves.
6. **Whole-note search**: for a note that lasts well beyond the fit window,
   the same search on the settings that shape a note over seconds (output
   levels, EG rates and levels, rate scaling), judged over the whole note at
   ``whole_note_rate``, from the windowed fit and from the nearest preset.
   The closest over the whole note at the target's rate of these and the
   windowed fit is the result.

Everything is judged by :func:`~ddsp_lab.fitting.distance.spectral_distance`
between the engine's render of a patch and the target, on the first
``window_s`` seconds at ``fit_rate`` while fitting, and on the whole note at
the target's rate for the final metrics.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..core.resample import resample
from ..dx7 import DX7RangeWarning, RelaxedVoice, Voice, get_algorithm, render_voice
from ..dx7.relaxed import ratio_to_coarse_fine
from ..losses import MultiScaleSpectralLoss
from .analysis import NoteAnalysis, analyze_note, frame_rms_db
from .distance import (
    DEFAULT_LOG_FLOOR_DB,
    default_fft_sizes,
    envelope_distance,
    log_spectral_distance,
    spectral_distance,
)
from .presets import nearest_preset

#: Presets closest on the fit window that are compared again over the whole note for the baseline.
PRESET_SHORTLIST = 16

#: The stages of :func:`fit_patch`, in order.
STAGES = ("presets", "analysis", "ratios", "descent", "discrete", "whole")

#: The whole-note stage runs when the note lasts longer than this many fit windows.
WHOLE_NOTE_MIN_RATIO = 1.5

#: Algorithms the analysis builds try when none is given: all carriers
#: (additive), three and two modulated carriers, one carrier with a stack,
#: and the classic two-stack layouts.
DEFAULT_ALGORITHMS = (32, 5, 1, 2, 16, 19)
# Full-scale decay times of the EG (seconds, L99 -> L0 at output level 99) for rates 0..99, from the
# engine description's examples; log-interpolated in between. Used only to place starting points.
_DECAY_TIMES = {99: 0.007, 90: 0.017, 80: 0.051, 70: 0.174, 60: 0.46, 50: 1.39, 40: 4.4, 30: 12.7, 20: 44.0,
                0: 355.0}
_ATTACK_TIMES = {99: 0.0015, 90: 0.0015, 80: 0.0058, 70: 0.020, 60: 0.057, 50: 0.17, 40: 0.55, 30: 1.6, 20: 5.5,
                 0: 44.0}
# dB spanned by a full-scale EG decay (L99 -> L0).
_EG_SPAN_DB = 96.0
# dB per EG level step near the top of the range.
_DB_PER_LEVEL = 0.75


@dataclasses.dataclass
class FitSettings:
    """How hard :func:`fit_patch` tries.

    Attributes:
        time_budget_s: wall-clock limit of the whole fit (analysis included);
            every stage gets a share and stops when it is spent.
        window_s: seconds of the target fitted (from the start); the final
            metrics use the whole note.
        max_window_s: the window grows to include the key-up and 0.3 s of
            release when that fits within this many seconds.
        fit_rate: sample rate of the fit in Hz (the target is resampled; the
            result is rendered at the target's rate).
        preset_starts: nearest factory voices used as starting points.
        algorithms: algorithms of the analysis builds (``None``: :data:`DEFAULT_ALGORITHMS`).
        survey_steps: Adam steps for every start.
        keep: starts that continue after the survey.
        refine_steps: at most this many Adam steps for each kept start (the
            refinement's share of the time budget usually ends it first).
        learning_rate: Adam's rate for rates, levels and detune (DX7 units).
        frequency_learning_rate: Adam's rate for log2 ratios (octaves); 0
            (default) leaves frequencies to the starts and the grid search,
            which measured better than descending on them (docs/fit_fm.md).
        envelope_weight: weight of the envelope term (per dB of mean error).
        transport_weight: weight of the spectral transport term (per octave);
            0 by default (it only pays off with frequency descent, see docs/fit_fm.md).
        discrete_passes: at most this many coordinate-search passes on the
            DX7 grid (each applies the best improving move found; the time
            budget or the lack of an improving move usually ends it first).
        ratio_sweeps: passes of the ratio search over the operators of each analysis build.
        grid_smoothing: :class:`RelaxedVoice` grid smoothing during descent.
        whole_note_rate: sample rate in Hz of the whole-note search.
        whole_note_share: share of the time budget kept for the whole-note
            search when it runs (notes longer than
            :data:`WHOLE_NOTE_MIN_RATIO` fit windows).
    """

    time_budget_s: float = 240.0
    window_s: float = 2.0
    max_window_s: float = 3.0
    fit_rate: int = 22050
    preset_starts: int = 4
    algorithms: Optional[Tuple[int, ...]] = None
    survey_steps: int = 40
    keep: int = 3
    refine_steps: int = 1500
    learning_rate: float = 1.5
    frequency_learning_rate: float = 0.0
    envelope_weight: float = 0.05
    transport_weight: float = 0.0
    discrete_passes: int = 60
    ratio_sweeps: int = 2
    grid_smoothing: float = 0.1
    whole_note_rate: int = 11025
    whole_note_share: float = 0.3

    @classmethod
    def quick(cls) -> "FitSettings":
        """Settings for ``--quick``: about a minute on a 2-core CPU."""
        return cls(time_budget_s=50.0, window_s=1.2, max_window_s=2.0, preset_starts=2, algorithms=(32, 5, 1),
                   survey_steps=25, keep=1, refine_steps=600, discrete_passes=30, ratio_sweeps=1)


@dataclasses.dataclass
class StageRecord:
    """One stage of a fit: its judged distance afterwards and the time it took."""

    stage: str
    distance: float
    seconds: float
    detail: str = ""


@dataclasses.dataclass
class FitResult:
    """What :func:`fit_patch` found.

    Attributes:
        voice: the fitted DX7 voice (every value on the DX7 grid).
        note: MIDI note it is played at (0..127).
        velocity: MIDI velocity used.
        gate_s: seconds from note-on to key-up used for rendering.
        sample_rate: Hz of ``target`` and ``fitted``.
        target: ``[1, T]`` the target (mono, as given).
        fitted: ``[1, T]`` the voice rendered by the engine at ``note`` for the target's length.
        preset_name, preset: the nearest factory voice and its render ``[1, T]``
            (``None`` without a preset pool): of the :data:`PRESET_SHORTLIST`
            voices closest on the fit window, the closest over the whole note.
        metrics: ``{"spectral_distance", "log_spectral_distance_db", "envelope_distance_db"}``
            of the fit and ``preset_*`` of the nearest preset, on the whole note.
        stages: the judged distance after every stage (on the fit window).
        loss_curve: ``(step, loss)`` of the continuous refinement of the final start.
        analysis: the target's :class:`~ddsp_lab.fitting.analysis.NoteAnalysis`.
        seconds: wall-clock time of the fit.
    """

    voice: Voice
    note: int
    velocity: int
    gate_s: float
    sample_rate: int
    target: torch.Tensor
    fitted: torch.Tensor
    preset_name: Optional[str]
    preset: Optional[torch.Tensor]
    metrics: Dict[str, float]
    stages: List[StageRecord]
    loss_curve: List[Tuple[int, float]]
    analysis: NoteAnalysis
    seconds: float


# ----------------------------------------------------------------- helpers


def _interpolate_rate(seconds: float, table: Dict[int, float]) -> int:
    """The EG rate 0..99 whose time in ``table`` is nearest ``seconds`` in log time."""
    rates = sorted(table)
    best, best_error = 99, math.inf
    for low, high in zip(rates, rates[1:]):
        for rate in range(low, high + 1):
            weight = (rate - low) / (high - low)
            log_time = (1 - weight) * math.log(table[low]) + weight * math.log(table[high])
            error = abs(log_time - math.log(max(seconds, 1e-4)))
            if error < best_error:
                best, best_error = rate, error
    return best


def _decay_rate(db: float, seconds: float) -> int:
    """EG rate that falls ``db`` dB in ``seconds`` (decays are linear in dB)."""
    full_scale_seconds = seconds * _EG_SPAN_DB / max(db, 1e-3)
    return _interpolate_rate(full_scale_seconds, _DECAY_TIMES)


def _level_for_db(db: float) -> int:
    """EG or output level 0..99 that sits ``db`` (<= 0) below level 99."""
    return int(min(99, max(0, round(99 + db / _DB_PER_LEVEL))))


def _carrier_envelope(analysis: NoteAnalysis) -> Tuple[List[int], List[int]]:
    """EG rates and levels that follow the measured attack, decay, sustain and release."""
    attack = _interpolate_rate(max(analysis.attack_s, 0.002), _ATTACK_TIMES)
    sustain_db = max(min(analysis.sustain_db, 0.0), -_EG_SPAN_DB)
    decay_seconds = analysis.decay_s if analysis.decay_s is not None else max(
        analysis.release_start_s - analysis.peak_time_s, 0.05)
    decay = _decay_rate(20.0, decay_seconds)
    if analysis.released:
        sustain = _level_for_db(sustain_db)
        release_seconds = max(analysis.duration_s - analysis.release_start_s, 0.05)
        release = _decay_rate(60.0, release_seconds)
        return [attack, decay, max(decay - 10, 0), release], [99, min(99, sustain + 4), sustain, 0]
    # A free decay: the measured first 20 dB to a knee, then the tail's own (often much slower) fall.
    tail_seconds = _tail_full_scale_seconds(analysis)
    if tail_seconds is None:
        return [attack, decay, max(decay - 5, 0), decay], [99, _level_for_db(sustain_db), 0, 0]
    tail = _interpolate_rate(tail_seconds, _DECAY_TIMES)
    return [attack, decay, tail, tail], [99, _level_for_db(-20.0), 0, 0]


# The tail's slope is fitted on envelope frames at most this far below the peak (above a recording's noise).
_TAIL_RANGE_DB = 60.0


def _tail_full_scale_seconds(analysis: NoteAnalysis) -> Optional[float]:
    """Seconds a full-scale EG decay would take at the slope of the envelope after its first 20 dB.

    A least-squares line through the envelope (dB against seconds) from the
    end of the measured decay to the key-up, over frames within
    :data:`_TAIL_RANGE_DB` of the peak. ``None`` without a measured decay,
    with fewer than ten such frames, or when the tail does not fall.
    """
    if analysis.decay_s is None:
        return None
    rate = analysis.amplitude_frame_rate_hz
    first = int(math.ceil((analysis.peak_time_s + analysis.decay_s) * rate))
    last = int(analysis.release_start_s * rate)
    envelope = analysis.amplitude_envelope_db[first:last]
    seconds = torch.arange(first, first + envelope.shape[0], dtype=envelope.dtype) / rate
    keep = envelope > analysis.peak_db - _TAIL_RANGE_DB
    if int(keep.sum()) < 10:
        return None
    envelope, seconds = envelope[keep], seconds[keep]
    centred = seconds - seconds.mean()
    slope = float((centred * (envelope - envelope.mean())).sum() / centred.square().sum())
    if slope >= 0.0:
        return None
    return _EG_SPAN_DB / -slope


# Partials within this many cents of a whole multiple of f0 are taken as harmonics: a carrier a few
# cents off an integer ratio beats against its neighbours' sidebands.
HARMONIC_TOLERANCE_CENTS = 20.0


def _strongest_partials(analysis: NoteAnalysis, count: int) -> List[Tuple[float, float]]:
    """``(ratio, dB)`` of the ``count`` strongest partials at ratios >= 0.5, strongest first.

    Ratios near a whole number (within :data:`HARMONIC_TOLERANCE_CENTS`) are snapped to it.
    """
    ratios = [round(r) if r >= 0.75 and abs(1200 * math.log2(r / round(r))) < HARMONIC_TOLERANCE_CENTS else r
              for r in analysis.partial_ratios.tolist()]
    levels = analysis.partial_amplitudes_db.tolist()
    partials = sorted(((level, ratio) for ratio, level in zip(ratios, levels) if 0.5 <= ratio <= 61.0), reverse=True)
    if not partials:
        partials = [(analysis.peak_db, 1.0)]
    return [(ratio, level) for level, ratio in partials[:count]]


def analysis_voice(analysis: NoteAnalysis, algorithm: int, carriers: Optional[int] = None) -> Voice:
    """A starting voice for ``algorithm`` built from the analysis.

    The first ``carriers`` carriers of the algorithm (all by default) sound:
    they take the strongest partial ratios (the strongest on the
    lowest-numbered carrier) at output levels following the measured levels;
    the operators modulating them sit at the ratio of the carrier they feed
    (a harmonic modulation) at a moderate level; the other operators are
    silent. Every sounding operator gets the measured envelope; LFO and pitch
    EG are off.

    Args:
        analysis: the target's analysis.
        algorithm: DX7 algorithm 1..32.
        carriers: sounding carriers, 1 .. the algorithm's count (default all).

    Returns:
        a :class:`~ddsp_lab.dx7.Voice` named ``"FIT A<algorithm>"``.
    """
    routing = get_algorithm(algorithm)
    sounding = routing.carriers[: carriers or len(routing.carriers)]
    rates, levels = _carrier_envelope(analysis)
    partials = _strongest_partials(analysis, len(sounding))
    loudest = partials[0][1]
    voice = Voice(algorithm=algorithm, name=f"FIT A{algorithm}"[:10], lfo_pitch_mod_depth=0, lfo_amp_mod_depth=0)
    for operator in voice.operators:
        operator.output_level = 0
    ratio_of: Dict[int, float] = {}
    for index, carrier in enumerate(sounding):
        ratio, level = partials[index % len(partials)]
        if index >= len(partials):
            level -= 30.0  # more carriers than partials: spare carriers start quiet
        ratio_of[carrier] = ratio
        operator = voice.operator(carrier)
        operator.coarse, operator.fine = ratio_to_coarse_fine(ratio)
        operator.output_level = _level_for_db(level - loudest)
        operator.eg_rates, operator.eg_levels = list(rates), list(levels)
    # Modulators of sounding operators inherit the ratio of what they modulate, nearest the carriers first.
    while True:
        reached = [(src, dst) for src, dst in routing.edges if dst in ratio_of and src not in ratio_of]
        if not reached:
            break
        for src, dst in reached:
            if src in ratio_of:
                continue
            ratio_of[src] = ratio_of[dst]
            operator = voice.operator(src)
            operator.coarse, operator.fine = ratio_to_coarse_fine(ratio_of[src])
            operator.output_level = 70
            operator.eg_rates, operator.eg_levels = list(rates), list(levels)
    voice.feedback = 0
    return voice


def _spectral_cdf(audio: torch.Tensor, sample_rate: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cumulative long-term magnitude spectrum ``[B, K]`` and the octave width of each bin ``[K]``.

    The magnitudes (averaged over frames, bins from 30 Hz) are normalised to
    sum to one, so the L1 distance of two CDFs weighted by the bin widths in
    octaves is the 1-D optimal-transport (Wasserstein-1) distance between the
    two spectra on a log-frequency axis.
    """
    n_fft = 2048 if sample_rate <= 24000 else 4096
    window = torch.hann_window(n_fft, dtype=audio.dtype, device=audio.device)
    spectrum = torch.stft(audio, n_fft, n_fft // 4, window=window, return_complex=True).abs().mean(dim=-1)
    frequencies = torch.arange(spectrum.shape[-1], dtype=torch.float64) * sample_rate / n_fft
    keep = frequencies >= 30.0
    spectrum = spectrum[..., keep]
    frequencies = frequencies[keep]
    widths = torch.log2(frequencies[1:] / frequencies[:-1])
    distribution = spectrum / spectrum.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return torch.cumsum(distribution, dim=-1)[..., :-1], widths.to(audio.dtype)


class FitObjective:
    """The differentiable fit loss against one target (see the module docstring).

    ``spectral`` is the judged multi-scale distance (the same FFT sizes and
    per-size log floors as :func:`~ddsp_lab.fitting.distance.spectral_distance`),
    ``envelope`` the mean absolute difference of frame RMS levels in dB
    (floored 60 dB below the target's peak), ``transport`` the octave
    distance of :func:`_spectral_cdf`.

    Shapes: ``__call__(audio [1, T]) -> (loss [], terms {name: float})``.
    """

    def __init__(self, target: torch.Tensor, sample_rate: int, envelope_weight: float, transport_weight: float):
        self.target = target
        self.sample_rate = sample_rate
        self.spectral = [
            MultiScaleSpectralLoss(fft_sizes=(n,), eps=n / 4.0 * 10.0 ** (DEFAULT_LOG_FLOOR_DB / 20.0))
            for n in default_fft_sizes(sample_rate)
        ]
        self.hop = max(1, round(0.005 * sample_rate))
        self.window = max(1, round(0.02 * sample_rate))
        target_env = frame_rms_db(target, self.hop, self.window)
        self.floor_db = float(target_env.max()) - 60.0
        self.target_env = target_env.clamp_min(self.floor_db)
        self.target_cdf, self.widths = _spectral_cdf(target, sample_rate)
        self.envelope_weight = envelope_weight
        self.transport_weight = transport_weight

    def __call__(self, audio: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, float]]:
        spectral = sum(term(audio, self.target) for term in self.spectral)
        envelope = (frame_rms_db(audio, self.hop, self.window).clamp_min(self.floor_db) - self.target_env).abs().mean()
        cdf, _ = _spectral_cdf(audio, self.sample_rate)
        transport = ((cdf - self.target_cdf).abs() * self.widths).sum()
        loss = spectral + self.envelope_weight * envelope + self.transport_weight * transport
        return loss, {"spectral": float(spectral.detach()), "envelope_db": float(envelope.detach()),
                      "transport_octaves": float(transport.detach())}


def _descend(voice: Voice, objective: FitObjective, render: Dict[str, Any], steps: int, settings: FitSettings,
             deadline: float, curve: Optional[List[Tuple[int, float]]] = None) -> Voice:
    """Adam on a :class:`RelaxedVoice` started at ``voice``; returns the quantised voice."""
    with warnings.catch_warnings():
        # Some factory presets carry out-of-range bytes (rom3a/3b); clamping them is what a start needs,
        # and the user did not write these voices.
        warnings.simplefilter("ignore", DX7RangeWarning)
        relaxed = RelaxedVoice.from_voice(voice, grid_smoothing=settings.grid_smoothing)
    frequency = [relaxed.log2_ratios, relaxed.log10_fixed_hz]
    others = [p for name, p in relaxed.named_parameters() if name not in ("log2_ratios", "log10_fixed_hz")]
    groups = [{"params": others, "lr": settings.learning_rate}]
    if settings.frequency_learning_rate > 0:
        groups.append({"params": frequency, "lr": settings.frequency_learning_rate})
    else:
        for parameter in frequency:
            parameter.requires_grad_(False)
    optimizer = torch.optim.Adam(groups)
    best_loss, best_state = math.inf, None
    for step in range(steps):
        if time.perf_counter() > deadline:
            break
        loss, _ = objective(relaxed.render(**render))
        value = float(loss.detach())
        if not math.isfinite(value):
            break
        if value < best_loss:
            # The loss is that of the current parameters: keep them before the step moves on.
            best_loss, best_state = value, {name: p.detach().clone() for name, p in relaxed.named_parameters()}
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if not all(bool(torch.isfinite(p.grad).all()) for p in relaxed.parameters() if p.grad is not None):
            break  # a degenerate point of the relaxation: keep the best iterate so far
        optimizer.step()
        relaxed.clamp_parameters_()
        if curve is not None:
            curve.append((len(curve), value))
    if best_state is not None:
        with torch.no_grad():
            for name, parameter in relaxed.named_parameters():
                parameter.copy_(best_state[name])
    result = relaxed.to_voice()
    # Adam scales even the vanishing gradients of a silent operator up to full steps; its settings
    # do not change the sound, so keep the start's rather than a random walk.
    for index, operator in enumerate(result.operators):
        if operator.output_level == 0:
            result.operators[index] = copy.deepcopy(voice.operators[index])
    return result


def _engine_distance(voices: Sequence[Voice], target: torch.Tensor, render: Dict[str, Any]) -> torch.Tensor:
    """Judged distance ``[len(voices)]`` of the engine's renders to the target."""
    audio = torch.cat([render_voice(voice, **render) for voice in voices])
    return spectral_distance(audio, target, render["sample_rate"])


# Grid-search moves: (setting, steps tried, largest value). Operator settings first, then the voice's.
_OPERATOR_MOVES = (
    ("output_level", (-3, -1, 1, 3), 99),
    ("eg_rates", (-4, -1, 1, 4), 99),
    ("eg_levels", (-4, -1, 1, 4), 99),
    ("fine", (-5, -1, 1, 5), 99),
    ("coarse", (-1, 1), 31),
    ("detune", (-1, 1), 14),
    # Settings the relaxed voice holds fixed: only the grid search changes them.
    ("velocity_sensitivity", (-1, 1), 7),
    ("amp_mod_sensitivity", (-1, 1), 3),
    ("rate_scaling", (-1, 1), 7),
)
_VOICE_MOVES = (
    ("feedback", (-1, 1), 7),
    ("lfo_speed", (-5, -1, 1, 5), 99),
    ("lfo_pitch_mod_depth", (-3, -1, 1, 3), 99),
    ("lfo_amp_mod_depth", (-3, -1, 1, 3), 99),
    ("pitch_mod_sensitivity", (-1, 1), 7),
)


#: Moves of the whole-note search: the settings that shape how a note evolves over seconds.
_ENVELOPE_MOVES = tuple(move for move in _OPERATOR_MOVES
                        if move[0] in ("output_level", "eg_rates", "eg_levels", "rate_scaling"))


def _neighbours(voice: Voice, operator_moves=_OPERATOR_MOVES, voice_moves=_VOICE_MOVES) -> List[Voice]:
    """Voices one or a few grid steps away from ``voice`` in one setting each (see ``_OPERATOR_MOVES``)."""
    found = []
    for index, operator in enumerate(voice.operators):
        # A silent operator's settings other than its level do not change the sound.
        moves = operator_moves if operator.output_level else operator_moves[:1]
        for name, steps, high in moves:
            value = getattr(operator, name)
            for stage in range(4) if isinstance(value, list) else (None,):
                current = value[stage] if stage is not None else value
                for step in steps:
                    if not 0 <= current + step <= high:
                        continue
                    candidate = voice.copy()
                    target = candidate.operators[index]
                    if stage is None:
                        setattr(target, name, current + step)
                    else:
                        getattr(target, name)[stage] = current + step
                    found.append(candidate)
    for name, steps, high in voice_moves:
        for step in steps:
            if 0 <= getattr(voice, name) + step <= high:
                candidate = voice.copy()
                setattr(candidate, name, getattr(voice, name) + step)
                found.append(candidate)
    return found


#: Frequency ratios the ratio search tries for every sounding operator: the DX7's common settings.
RATIO_CHOICES = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 14.0)


def _ratio_search(voice: Voice, distance: float, target: torch.Tensor, render: Dict[str, Any], sweeps: int,
                  deadline: float) -> Tuple[Voice, float]:
    """Operator by operator, try every ratio of :data:`RATIO_CHOICES` and keep the best (engine-judged).

    Sidebands of a carrier at ratio ``c`` modulated at ``m`` lie at ``|c +- k m|``: a wrong
    modulator ratio cannot be repaired by small steps, so whole ratios are searched directly.
    """
    for _ in range(sweeps):
        improved = False
        for index in range(6):
            if time.perf_counter() > deadline:
                return voice, distance
            operator = voice.operators[index]
            if operator.output_level == 0 or operator.fixed_frequency:
                continue
            candidates = []
            for ratio in RATIO_CHOICES:
                candidate = voice.copy()
                candidate.operators[index].coarse, candidate.operators[index].fine = ratio_to_coarse_fine(ratio)
                candidates.append(candidate)
            scores = _engine_distance(candidates, target, render)
            best = int(torch.argmin(scores))
            if float(scores[best]) < distance:
                voice, distance, improved = candidates[best], float(scores[best]), True
        if not improved:
            break
    return voice, distance


def _coordinate_search(voice: Voice, distance: float, target: torch.Tensor, render: Dict[str, Any], passes: int,
                       deadline: float, operator_moves=_OPERATOR_MOVES, voice_moves=_VOICE_MOVES
                       ) -> Tuple[Voice, float]:
    """Greedy search on the DX7 grid: each pass scores every neighbour and keeps the best improvement."""
    for _ in range(passes):
        if time.perf_counter() > deadline:
            break
        candidates = _neighbours(voice, operator_moves, voice_moves)
        scores = _engine_distance(candidates, target, render)
        best = int(torch.argmin(scores))
        if float(scores[best]) >= distance:
            break
        voice, distance = candidates[best], float(scores[best])
    return voice, distance


# ----------------------------------------------------------------- the fit


def fit_patch(
    target: torch.Tensor,
    sample_rate: int,
    note: Optional[int] = None,
    algorithm: Optional[int] = None,
    settings: Optional[FitSettings] = None,
    presets: Optional[Sequence[Tuple[str, Voice]]] = None,
    velocity: int = 100,
    crepe_model: str = "tiny",
    stages: Sequence[str] = STAGES,
    progress: Optional[Callable[[str], None]] = None,
) -> FitResult:
    """Fit a DX7 voice to one note (see the module docstring).

    Args:
        target: ``[1, T]`` or ``[T]`` mono audio (``[C, T]`` is mixed down), full scale ±1.
        sample_rate: Hz of ``target``.
        note: MIDI note the target plays; ``None`` detects it.
        algorithm: restrict the fit to this DX7 algorithm (1..32): the
            analysis builds use it and presets with another algorithm are
            not used as starts.
        settings: :class:`FitSettings` (default: the defaults; :meth:`FitSettings.quick` for quick fits).
        presets: ``(name, voice)`` pool for the preset starts and the
            nearest-preset baseline (e.g. :func:`~ddsp_lab.fitting.presets.factory_voices`);
            ``None`` or empty: no preset starts and no baseline.
        velocity: MIDI velocity 1..127 of the fitted note.
        crepe_model: CREPE model of the pitch detection.
        stages: which stages run (for ablations): ``"presets"`` (preset
            starts), ``"analysis"`` (analysis builds), ``"ratios"`` (ratio
            search on the analysis builds), ``"descent"`` (continuous
            refinement), ``"discrete"`` (grid search), ``"whole"``
            (whole-note search).
        progress: called with a line of text after every stage.

    Returns:
        A :class:`FitResult`.

    Raises:
        ValueError: silence, a note shorter than 0.1 s, no pitch without
            ``note`` (:class:`~ddsp_lab.fitting.analysis.NoPitchError`), bad
            arguments, or no stage that makes a starting point.
    """
    started = time.perf_counter()
    settings = settings or FitSettings()
    stages = tuple(stages)
    unknown = [stage for stage in stages if stage not in STAGES]
    if unknown or not ({"presets", "analysis"} & set(stages)):
        raise ValueError(f"stages must include 'presets' or 'analysis' and only known stages, got {list(stages)}")
    if algorithm is not None and (isinstance(algorithm, bool) or not isinstance(algorithm, int)
                                  or not 1 <= algorithm <= 32):
        raise ValueError(f"algorithm must be a DX7 algorithm number 1..32, got {algorithm!r}")
    say = progress or (lambda text: None)

    if target.dim() == 1:
        target = target[None]
    if target.dim() != 2:
        raise ValueError(f"target must be [samples] or [channels, samples], got shape {tuple(target.shape)}")
    target = target.float().mean(dim=0, keepdim=True) if target.shape[0] > 1 else target.float()
    analysis = analyze_note(target, sample_rate, note=note, crepe_model=crepe_model)
    note = analysis.midi_note
    gate_s = analysis.release_start_s if analysis.released else analysis.duration_s
    records: List[StageRecord] = []
    say(f"analysis: MIDI note {note} ({analysis.f0_hz:.1f} Hz), attack {analysis.attack_s:.3f} s, key-up "
        f"{'at %.2f s' % gate_s if analysis.released else 'none (free decay or held)'}")

    # The fit window, at the fit rate.
    fit_rate = min(settings.fit_rate, sample_rate)
    window_s = settings.window_s
    if analysis.released and gate_s + 0.3 <= settings.max_window_s:
        window_s = max(window_s, gate_s + 0.3)
    window_s = min(window_s, analysis.duration_s)
    fit_target = resample(target, sample_rate, fit_rate) if fit_rate != sample_rate else target
    fit_target = fit_target[:, : int(round(window_s * fit_rate))]
    window_s = fit_target.shape[-1] / fit_rate
    render = dict(note=note, velocity=velocity, gate_s=gate_s, duration_s=window_s, sample_rate=fit_rate)

    starts: List[Tuple[str, Voice]] = []
    preset_name = None
    whole_note_seconds = 0.0
    pool = [(name, voice) for name, voice in (presets or [])]
    if pool:
        by_name = dict(pool)
        # Every voice is ranked on the fit window (cheap); the closest few are ranked again over the
        # whole note at the target's rate, as a musician would hear them, for the baseline.
        match = nearest_preset(fit_target, fit_rate, note, pool, gate_s=gate_s, velocity=velocity)
        shortlist = [(name, by_name[name]) for name, _ in match.ranking[:PRESET_SHORTLIST]]
        clock = time.perf_counter()
        preset_name = nearest_preset(target, sample_rate, note, shortlist, gate_s=gate_s, velocity=velocity).name
        whole_note_seconds = (time.perf_counter() - clock) / len(shortlist)
        records.append(StageRecord("nearest preset", float(match.distance), time.perf_counter() - started,
                                   f"{match.name} on the fit window; {preset_name} over the whole note"))
        say(f"nearest preset: {preset_name}")
        if "presets" in stages:
            eligible = [name for name, _ in match.ranking
                        if algorithm is None or by_name[name].algorithm == algorithm]
            starts += [(name, by_name[name]) for name in eligible[: settings.preset_starts]]
    if "analysis" in stages:
        algorithms = (algorithm,) if algorithm is not None else (settings.algorithms or DEFAULT_ALGORITHMS)
        for number in algorithms:
            # All carriers, and (where there are several) the first one alone: a simple target is
            # found from a simple structure, which greedy searches do not reach by silencing operators.
            counts = sorted({len(get_algorithm(number).carriers), 1}, reverse=True)
            starts += [(f"analysis A{number}" + ("" if count > 1 or count == len(get_algorithm(number).carriers)
                                                   else " one carrier"), analysis_voice(analysis, number, count))
                       for count in counts]
    if not starts:
        raise ValueError("no starting point: enable the analysis stage, or give presets with the requested algorithm")
    # What the stages share: the budget less the closing work over the whole note (up to five renders
    # and a dozen distances, each about one shortlisted preset's ranking), which grows with its length.
    budget = settings.time_budget_s - 14.0 * whole_note_seconds
    # A note that goes on well past the window keeps a share of the time for the whole-note search.
    whole_stage = "whole" in stages and analysis.duration_s > WHOLE_NOTE_MIN_RATIO * window_s
    window_budget = budget * (1.0 - settings.whole_note_share) if whole_stage else budget

    scores = _engine_distance([voice for _, voice in starts], fit_target, render)
    if "ratios" in stages:
        ratio_deadline = started + 0.25 * window_budget
        for index, (name, voice) in enumerate(starts):
            if name.startswith("analysis"):
                searched, score = _ratio_search(voice, float(scores[index]), fit_target, render,
                                                settings.ratio_sweeps, ratio_deadline)
                starts[index], scores[index] = (name, searched), score
    order = torch.argsort(scores).tolist()
    best_name, best_voice = starts[order[0]]
    best = float(scores[order[0]])
    records.append(StageRecord("starting points", best, time.perf_counter() - started,
                               f"{len(starts)} starts, best {best_name}"))
    say(f"starting points: {len(starts)}, best {best_name} (distance {best:.3f})")

    curve: List[Tuple[int, float]] = []
    if "descent" in stages:
        objective = FitObjective(fit_target, fit_rate, settings.envelope_weight, settings.transport_weight)
        relaxed_render = dict(render)
        # Survey: a short descent from every start, judged by the engine after quantisation.
        survey_deadline = started + 0.45 * window_budget
        surveyed = []
        for index in order:
            name, voice = starts[index]
            descended = _descend(voice, objective, relaxed_render, settings.survey_steps, settings, survey_deadline)
            surveyed.append((name, descended))
        survey_scores = _engine_distance([voice for _, voice in surveyed] + [voice for _, voice in starts],
                                         fit_target, render)
        candidates = surveyed + list(starts)
        ranking = torch.argsort(survey_scores).tolist()
        records.append(StageRecord("survey descent", float(survey_scores[ranking[0]]),
                                   time.perf_counter() - started, f"best {candidates[ranking[0]][0]}"))
        say(f"survey: best {candidates[ranking[0]][0]} (distance {float(survey_scores[ranking[0]]):.3f})")
        refine_deadline = started + 0.8 * window_budget
        finalists = []
        for rank, index in enumerate(ranking[: settings.keep]):
            name, voice = candidates[index]
            share = started + (0.45 + 0.35 * (rank + 1) / settings.keep) * window_budget
            finalists.append((name, _descend(voice, objective, relaxed_render, settings.refine_steps, settings,
                                             min(share, refine_deadline), curve if rank == 0 else None)))
        final_scores = _engine_distance([voice for _, voice in finalists], fit_target, render)
        pick = int(torch.argmin(final_scores))
        if float(final_scores[pick]) < best or float(survey_scores[ranking[0]]) < best:
            if float(final_scores[pick]) <= float(survey_scores[ranking[0]]):
                best_name, best_voice, best = finalists[pick][0], finalists[pick][1], float(final_scores[pick])
            else:
                best_name, best_voice = candidates[ranking[0]]
                best = float(survey_scores[ranking[0]])
        records.append(StageRecord("descent and quantisation", best, time.perf_counter() - started,
                                   f"from {best_name}"))
        say(f"descent: distance {best:.3f} (from {best_name})")

    if "discrete" in stages:
        best_voice, best = _coordinate_search(best_voice, best, fit_target, render, settings.discrete_passes,
                                              started + 0.97 * window_budget)
        records.append(StageRecord("grid search", best, time.perf_counter() - started))
        say(f"grid search: distance {best:.3f}")

    finalists = [(best_name, best_voice)]
    if preset_name is not None and "presets" in stages:
        finalists.append((preset_name, dict(pool)[preset_name]))
    if whole_stage:
        # The window does not hear how a long note decays: the envelopes of the windowed fit and of
        # the nearest preset are searched again against the whole note, at a lower rate.
        whole_rate = min(settings.whole_note_rate, sample_rate)
        whole_target = resample(target, sample_rate, whole_rate) if whole_rate != sample_rate else target
        whole_render = dict(note=note, velocity=velocity, gate_s=gate_s,
                            duration_s=whole_target.shape[-1] / whole_rate, sample_rate=whole_rate)
        seeds = list(finalists)
        seed_scores = _engine_distance([voice for _, voice in seeds], whole_target, whole_render)
        clock, deadline = time.perf_counter(), started + 0.97 * budget
        for index, (name, voice) in enumerate(seeds):
            searched, score = _coordinate_search(voice, float(seed_scores[index]), whole_target, whole_render,
                                                 settings.discrete_passes,
                                                 clock + (deadline - clock) * (index + 1) / len(seeds),
                                                 _ENVELOPE_MOVES, ())
            finalists.append((f"{name}, whole-note envelopes", searched))
            records.append(StageRecord(f"whole-note search from {name}", score, time.perf_counter() - started,
                                       f"from {float(seed_scores[index]):.3f} at {whole_rate} Hz"))
            say(f"whole-note search from {name}: {float(seed_scores[index]):.3f} -> {score:.3f} at {whole_rate} Hz")

    # The fit window is a part of the note at a lower rate: the final choice between the fitted voice,
    # the best starting point and their whole-note searches is made on the whole note at the target's rate.
    full = dict(note=note, velocity=velocity, gate_s=gate_s, duration_s=target.shape[-1] / sample_rate,
                sample_rate=sample_rate)
    audio = [_render_like(voice, full, target) for _, voice in finalists]
    whole = spectral_distance(torch.cat(audio), target, sample_rate)
    pick = int(torch.argmin(whole))
    records.append(StageRecord("whole-note choice", float(whole[pick]), time.perf_counter() - started,
                               f"kept {finalists[pick][0]}"))
    say(f"whole note: kept {finalists[pick][0]} (distance {float(whole[pick]):.3f})")
    best_voice = finalists[pick][1].copy()
    best_voice.name = "FITTED"
    fitted = audio[pick]
    metrics = note_metrics(fitted, target, sample_rate, "")
    preset_audio = None
    if preset_name is not None:
        preset_audio = _render_like(dict(pool)[preset_name], full, target)
        metrics.update(note_metrics(preset_audio, target, sample_rate, "preset_"))
    return FitResult(
        voice=best_voice, note=note, velocity=velocity, gate_s=gate_s, sample_rate=sample_rate, target=target,
        fitted=fitted, preset_name=preset_name, preset=preset_audio, metrics=metrics, stages=records,
        loss_curve=curve, analysis=analysis, seconds=time.perf_counter() - started,
    )


def _render_like(voice: Voice, render: Dict[str, Any], target: torch.Tensor) -> torch.Tensor:
    """The engine's render of ``voice`` with the target's length ``[1, T]``."""
    audio = render_voice(voice, **render)[:, : target.shape[-1]]
    return torch.nn.functional.pad(audio, (0, target.shape[-1] - audio.shape[-1]))


def note_metrics(audio: torch.Tensor, target: torch.Tensor, sample_rate: int, prefix: str = "") -> Dict[str, float]:
    """The three distances of ``[1, T]`` audio to the target, keyed ``prefix`` + ``spectral_distance``,
    ``log_spectral_distance_db`` and ``envelope_distance_db``."""
    return {
        f"{prefix}spectral_distance": float(spectral_distance(audio, target, sample_rate)[0]),
        f"{prefix}log_spectral_distance_db": float(log_spectral_distance(audio, target, sample_rate)[0]),
        f"{prefix}envelope_distance_db": float(envelope_distance(audio, target, sample_rate)[0]),
    }
