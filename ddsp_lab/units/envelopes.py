"""ADSR envelope generator in closed form.

The envelope is written as a function of the time since the last note-on and
the time since the last note-off, so it is rendered without any loop over
samples and is differentiable with respect to its times and levels (and, when
notes are given as times, with respect to the note-on and note-off times).

Segments of a note that starts at level ``L0`` (0 for the first note):

* attack, ``0 <= tau < attack_s``: ``L0 + (peak - L0) * s(tau / attack_s)``
* decay, ``attack_s <= tau < attack_s + decay_s``:
  ``peak + (sustain * peak - peak) * s((tau - attack_s) / decay_s)``
* sustain: ``sustain * peak`` while the gate stays on
* release, ``tau_off`` after note-off: ``L_off * (1 - s(tau_off / release_s))``
  clamped at 0 after ``release_s``, where ``L_off`` is the level reached at
  note-off (mid-attack and mid-decay note-offs release from where they are).

``s(p) = p`` for linear segments; with a curve ``k != 0``,
``s(p) = (1 - exp(-k p)) / (1 - exp(-k))``: ``k > 0`` moves fast first and
settles (an analogue RC shape), ``k < 0`` starts slowly. Each segment takes
its stated time whatever level it starts from.

On retrigger (a note-on while the previous note is releasing) the attack
starts from the level the release has reached, so there is no click; the
start levels of successive notes form a short linear recursion over notes
(``L0[k+1] = rho_k * (alpha_k * L0[k] + beta_k)``) that is evaluated with a
loop over notes vectorised across the batch. ``retrigger="zero"`` restarts
every note from 0 instead.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_positive,
    check_sample_rate,
    check_tensor,
)
from ..core.conversions import unit_to_range
from .base import Processor

Number = Union[int, float]
ControlLike = Union[Number, torch.Tensor]

_RATES = ("frame", "audio")
_RETRIGGERS = ("current", "zero")


def segment_shape(progress: torch.Tensor, curve: float) -> torch.Tensor:
    """Shape of one envelope segment, mapping progress ``[0, 1]`` onto ``[0, 1]``.

    Args:
        progress: any shape, clamped to ``[0, 1]`` by the caller.
        curve: 0 for a straight line; ``k != 0`` gives
            ``(1 - exp(-k p)) / (1 - exp(-k))`` (``k > 0``: fast start,
            ``k < 0``: slow start).

    Returns:
        Tensor of the same shape with ``s(0) = 0`` and ``s(1) = 1``.
    """
    if abs(curve) < 1e-6:
        return progress
    return torch.expm1(-curve * progress) / math.expm1(-curve)


def _curves(curve) -> Tuple[float, float, float]:
    """Normalise ``curve`` (a number or an (attack, decay, release) triple)."""
    values = tuple(curve) if isinstance(curve, (tuple, list)) else (curve,) * 3
    if len(values) != 3:
        raise ValueError(f"curve must be a number or an (attack, decay, release) triple, got {curve!r}")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"curve values must be finite numbers, got {curve!r}")
        out.append(float(value))
    return out[0], out[1], out[2]


def _per_item(value: ControlLike, name: str, batch: int, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a per-note control (number, ``[]``, ``[B]``, ``[B, 1]`` or ``[B, 1, 1]``) to ``[B, 1]``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor, got bool")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        return torch.full((batch, 1), float(value), device=like.device, dtype=like.dtype)
    check_tensor(value, name)
    if value.numel() not in (1, batch) or (value.dim() > 0 and value.shape[0] not in (1, batch)) or any(
        size != 1 for size in value.shape[1:]
    ):
        raise ValueError(
            f"{name} must be a number or a tensor of shape [], [{batch}], [{batch}, 1] or "
            f"[{batch}, 1, 1] (one value per batch item), got shape {tuple(value.shape)}"
        )
    return value.to(like.dtype).reshape(-1, 1).expand(batch, 1)


def _check_envelope_controls(attack_s, decay_s, sustain, release_s, peak) -> None:
    for tensor, name in ((attack_s, "attack_s"), (decay_s, "decay_s"), (release_s, "release_s")):
        if bool((tensor <= 0).any()):
            raise ValueError(f"{name} must be > 0 seconds, got a minimum of {float(tensor.min()):.6g}")
    if bool(((sustain < 0) | (sustain > 1)).any()):
        raise ValueError(
            f"sustain must lie in [0, 1] (a fraction of peak), got values in "
            f"[{float(sustain.min()):.6g}, {float(sustain.max()):.6g}]"
        )
    if bool((peak < 0).any()):
        raise ValueError(f"peak must be >= 0, got a minimum of {float(peak.min()):.6g}")


def _envelope_from_notes(
    on_pos: torch.Tensor,
    off_pos: torch.Tensor,
    grid: torch.Tensor,
    step: float,
    attack_s: torch.Tensor,
    decay_s: torch.Tensor,
    sustain: torch.Tensor,
    release_s: torch.Tensor,
    peak: torch.Tensor,
    curves: Tuple[float, float, float],
    retrigger: str,
) -> torch.Tensor:
    """Evaluate the envelope on a time grid from sorted, non-overlapping notes.

    Positions are in grid units (integer sample or frame indices, or seconds
    with ``step = 1``); multiplying a difference of positions by ``step`` gives
    seconds. Differences are taken before the conversion, so integer
    positions give exact times however long the signal is.

    Args:
        on_pos, off_pos: ``[B, K]`` note-on and note-off positions (sorted,
            ``on[k] <= off[k] <= on[k + 1]``); notes past the end of the grid
            are padding.
        grid: ``[B, T]`` positions where the envelope is evaluated.
        step: seconds per position unit.
        attack_s, decay_s, sustain, release_s, peak: ``[B, 1]``.
        curves: segment curves (attack, decay, release).
        retrigger: ``"current"`` or ``"zero"``.

    Returns:
        ``[B, T]`` envelope.
    """
    dtype = attack_s.dtype
    attack_curve, decay_curve, release_curve = curves
    sustain_level = sustain * peak

    def held_level(tau: torch.Tensor, start_level: torch.Tensor) -> torch.Tensor:
        """Attack, decay and sustain ``tau`` seconds after note-on."""
        attack_shape = segment_shape(torch.clamp(tau / attack_s, 0.0, 1.0), attack_curve)
        decay_shape = segment_shape(torch.clamp((tau - attack_s) / decay_s, 0.0, 1.0), decay_curve)
        in_attack = start_level + (peak - start_level) * attack_shape
        after_attack = peak + (sustain_level - peak) * decay_shape
        return torch.where(tau < attack_s, in_attack, after_attack)

    def release_factor(tau_off: torch.Tensor) -> torch.Tensor:
        return 1.0 - segment_shape(torch.clamp(tau_off / release_s, 0.0, 1.0), release_curve)

    durations = (off_pos - on_pos).to(dtype) * step
    num_notes = on_pos.shape[1]
    if retrigger == "zero" or num_notes == 1:
        start_levels = torch.zeros_like(durations)
        off_levels = held_level(durations, start_levels)
    else:
        # Level at note-off is affine in the note's start level:
        # L_off = alpha * L0 + beta (alpha = 0 once the attack is over).
        attack_shape = segment_shape(torch.clamp(durations / attack_s, 0.0, 1.0), attack_curve)
        in_attack = durations < attack_s
        alpha = torch.where(in_attack, 1.0 - attack_shape, torch.zeros_like(attack_shape))
        beta = held_level(durations, torch.zeros_like(durations))
        gaps = (on_pos[:, 1:] - off_pos[:, :-1]).to(dtype) * step
        rho = release_factor(gaps)
        starts = [torch.zeros_like(durations[:, 0])]
        offs = []
        for k in range(num_notes):
            offs.append(alpha[:, k] * starts[k] + beta[:, k])
            if k + 1 < num_notes:
                starts.append(rho[:, k] * offs[k])
        start_levels = torch.stack(starts, dim=1)
        off_levels = torch.stack(offs, dim=1)

    note = torch.searchsorted(on_pos.detach().contiguous(), grid.detach().contiguous(), right=True) - 1
    started = note >= 0
    note = torch.clamp(note, min=0)
    note_on = torch.gather(on_pos, 1, note)
    note_off = torch.gather(off_pos, 1, note)
    tau_on = (grid - note_on).to(dtype) * step
    tau_off = (grid - note_off).to(dtype) * step
    held = held_level(tau_on, torch.gather(start_levels, 1, note))
    released = torch.gather(off_levels, 1, note) * release_factor(tau_off)
    envelope = torch.where(grid < note_off, held, released)
    return torch.where(started, envelope, torch.zeros_like(envelope))


def gate_to_notes(gate: torch.Tensor, threshold: float = 0.5) -> Tuple[torch.Tensor, torch.Tensor]:
    """Note-on and note-off frame indices of a frame-rate gate.

    A frame is "on" when ``gate > threshold``. Note ``k`` of item ``b`` starts at
    the first frame of its ``k``-th run of on-frames and ends at the first
    off-frame after it. Items with fewer notes than the busiest item are
    padded with empty notes at frame ``F`` (past the end); a note still on at
    the end gets note-off ``F``.

    Args:
        gate: ``[B, F, 1]`` gate values.
        threshold: on/off threshold.

    Returns:
        ``(note_on, note_off)``, each ``[B, K]`` int64 frame indices, ``K >= 1``.
    """
    check_controls(gate, "gate", channels=1)
    high = gate[..., 0] > threshold
    batch, frames = high.shape
    previous = torch.cat([torch.zeros_like(high[:, :1]), high[:, :-1]], dim=1)
    onsets = high & ~previous
    offsets = ~high & previous
    num_notes = max(int(onsets.sum(dim=1).max()), 1)
    index = torch.arange(frames, device=gate.device).expand(batch, frames)

    def event_positions(events: torch.Tensor) -> torch.Tensor:
        # Events land in column (event number); non-events go to a spare
        # column K that is dropped, so the scatter needs no Python loop.
        slot = torch.where(events, torch.cumsum(events.long(), dim=1) - 1, torch.full_like(index, num_notes))
        positions = torch.full((batch, num_notes + 1), frames, device=gate.device, dtype=torch.long)
        return positions.scatter(1, slot, torch.where(events, index, torch.full_like(index, frames)))[:, :num_notes]

    return event_positions(onsets), event_positions(offsets)


def adsr_envelope(
    gate: torch.Tensor,
    attack_s: ControlLike,
    decay_s: ControlLike,
    sustain: ControlLike,
    release_s: ControlLike,
    peak: ControlLike = 1.0,
    *,
    sample_rate: int,
    hop_length: int,
    rate: str = "frame",
    curve: Union[float, Sequence[float]] = 0.0,
    retrigger: str = "current",
    gate_threshold: float = 0.5,
) -> torch.Tensor:
    """ADSR envelope driven by a frame-rate gate (functional form of :class:`ADSR`).

    Frame ``n`` of the gate holds for the ``hop_length`` samples starting at
    sample ``n * hop_length``, so a note-on at frame ``n`` starts at
    ``n * hop_length / sample_rate`` seconds. The frame-rate output is the
    audio-rate output sampled at those same instants.

    Args:
        gate: ``[B, F, 1]``; on where ``> gate_threshold``. Not differentiated.
        attack_s, decay_s, release_s: seconds, ``> 0``; a number or one value
            per item (``[B]``, ``[B, 1]`` or ``[B, 1, 1]``).
        sustain: sustain level as a fraction of ``peak``, in ``[0, 1]``.
        peak: level at the end of the attack, ``>= 0`` (default 1).
        sample_rate: Hz.
        hop_length: samples per gate frame.
        rate: ``"frame"`` for ``[B, F, 1]`` or ``"audio"`` for ``[B, F * hop_length]``.
        curve: segment curve, a number or an (attack, decay, release) triple
            (0 = linear, see :func:`segment_shape`).
        retrigger: ``"current"`` (attack from the current level) or ``"zero"``.
        gate_threshold: on/off threshold of ``gate``.

    Returns:
        The envelope, ``[B, F, 1]`` or ``[B, F * hop_length]``.
    """
    sample_rate = check_sample_rate(sample_rate)
    hop_length = check_hop_length(hop_length)
    rate, curves = _check_options(rate, curve, retrigger)
    check_controls(gate, "gate", channels=1)
    batch, frames, _ = gate.shape
    controls = _prepare_controls(gate, attack_s, decay_s, sustain, release_s, peak)
    note_on, note_off = gate_to_notes(gate, gate_threshold)
    if rate == "frame":
        grid = torch.arange(frames, device=gate.device).expand(batch, frames)
        step = hop_length / sample_rate
    else:
        grid = torch.arange(frames * hop_length, device=gate.device).expand(batch, frames * hop_length)
        note_on, note_off = note_on * hop_length, note_off * hop_length
        step = 1.0 / sample_rate
    envelope = _envelope_from_notes(note_on, note_off, grid, step, *controls, curves, retrigger)
    return envelope.unsqueeze(-1) if rate == "frame" else envelope


def adsr_from_note_times(
    note_on_s: torch.Tensor,
    note_off_s: torch.Tensor,
    num_points: int,
    attack_s: ControlLike,
    decay_s: ControlLike,
    sustain: ControlLike,
    release_s: ControlLike,
    peak: ControlLike = 1.0,
    *,
    points_per_second: float,
    curve: Union[float, Sequence[float]] = 0.0,
    retrigger: str = "current",
) -> torch.Tensor:
    """ADSR envelope of notes given by their on/off times, on a regular time grid.

    The envelope is differentiable with respect to the note times as well as
    the envelope controls.

    Args:
        note_on_s, note_off_s: ``[B]`` (one note) or ``[B, K]`` seconds; notes
            sorted and non-overlapping: ``on[k] <= off[k] <= on[k + 1]``. Notes
            may extend past the grid.
        num_points: number of grid points; point ``i`` is at ``i / points_per_second``.
        attack_s, decay_s, sustain, release_s, peak: as in :func:`adsr_envelope`.
        points_per_second: grid rate in Hz (the sample rate, or the frame rate).
        curve, retrigger: as in :func:`adsr_envelope`.

    Returns:
        ``[B, num_points]`` envelope.
    """
    _, curves = _check_options("audio", curve, retrigger)
    points_per_second = check_positive(points_per_second, "points_per_second")
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points <= 0:
        raise ValueError(f"num_points must be a positive integer, got {num_points!r}")
    check_tensor(note_on_s, "note_on_s", ndim=(1, 2))
    check_tensor(note_off_s, "note_off_s", ndim=(1, 2))
    if note_on_s.shape != note_off_s.shape:
        raise ValueError(
            f"note_on_s and note_off_s must have the same shape, got {tuple(note_on_s.shape)} "
            f"and {tuple(note_off_s.shape)}"
        )
    if note_on_s.dim() == 1:
        note_on_s, note_off_s = note_on_s.unsqueeze(1), note_off_s.unsqueeze(1)
    if note_on_s.shape[1] == 0:
        raise ValueError("note_on_s has no notes (shape [B, 0])")
    if bool((note_off_s < note_on_s).any()):
        raise ValueError("note_off_s must be >= note_on_s for every note")
    if bool((note_on_s[:, 1:] < note_off_s[:, :-1]).any()):
        raise ValueError("notes must be sorted and must not overlap: note_on_s[k + 1] >= note_off_s[k]")
    batch = note_on_s.shape[0]
    controls = _prepare_controls(note_on_s, attack_s, decay_s, sustain, release_s, peak)
    dtype = controls[0].dtype
    note_on_s, note_off_s = note_on_s.to(dtype), note_off_s.to(dtype)
    grid = (torch.arange(num_points, device=note_on_s.device, dtype=dtype) / points_per_second).expand(
        batch, num_points
    )
    return _envelope_from_notes(note_on_s, note_off_s, grid, 1.0, *controls, curves, retrigger)


def _check_options(rate, curve, retrigger):
    if rate not in _RATES:
        raise ValueError(f"rate must be one of {_RATES}, got {rate!r}")
    if retrigger not in _RETRIGGERS:
        raise ValueError(f"retrigger must be one of {_RETRIGGERS}, got {retrigger!r}")
    return rate, _curves(curve)


def _prepare_controls(like, attack_s, decay_s, sustain, release_s, peak):
    """Broadcast and validate the five envelope controls to ``[B, 1]`` each."""
    batch = like.shape[0]
    # Controls set the dtype when they are tensors (float64 gradchecks), else the reference tensor does.
    dtype = like.dtype
    for value in (attack_s, decay_s, sustain, release_s, peak):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            dtype = torch.promote_types(dtype, value.dtype)
    reference = torch.empty(0, device=like.device, dtype=dtype)
    values = [
        _per_item(value, name, batch, reference)
        for value, name in (
            (attack_s, "attack_s"),
            (decay_s, "decay_s"),
            (sustain, "sustain"),
            (release_s, "release_s"),
            (peak, "peak"),
        )
    ]
    _check_envelope_controls(*values)
    return values


class ADSR(Processor):
    """Attack-decay-sustain-release envelope generator.

    Renders an envelope from a frame-rate gate, at frame rate (``[B, F, 1]``,
    to modulate other units' controls) or at audio rate (``[B, F * hop]``, to
    multiply audio). The envelope is a closed-form function of the time since
    the last gate edge (see the module docstring for the segment formulas), so
    it is differentiable with respect to all times and levels. Each batch item
    has its own gate and may have its own controls (constant per item).

    Args:
        sample_rate: audio sample rate in Hz.
        hop_length: audio samples per gate frame.
        rate: ``"frame"`` (default) or ``"audio"`` output.
        curve: 0 for linear segments (default); a number ``k`` or an
            (attack, decay, release) triple of numbers for exponential segments
            (``k > 0`` fast start, e.g. 4 to 6 for an analogue shape).
        retrigger: ``"current"`` (default): a note-on during the release
            attacks from the level reached; ``"zero"``: every note restarts at 0.
        gate_threshold: gate values above this are "on" (continuous gates are
            thresholded; the gate itself is not differentiated).
        attack_range_s, decay_range_s, release_range_s: ``(low, high)`` seconds
            that :meth:`get_controls` maps raw values onto, on a log scale
            (default 1 ms .. 10 s).

    Shapes:
        ``get_signal(gate [B, F, 1], attack_s, decay_s, sustain, release_s, peak)
        -> [B, F, 1]`` (``rate="frame"``) or ``[B, F * hop_length]``
        (``rate="audio"``). Controls are numbers or ``[B]``/``[B, 1]``/``[B, 1, 1]``.
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        rate: str = "frame",
        curve: Union[float, Sequence[float]] = 0.0,
        retrigger: str = "current",
        gate_threshold: float = 0.5,
        attack_range_s: Tuple[float, float] = (1e-3, 10.0),
        decay_range_s: Tuple[float, float] = (1e-3, 10.0),
        release_range_s: Tuple[float, float] = (1e-3, 10.0),
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        self.rate, self.curves = _check_options(rate, curve, retrigger)
        self.retrigger = retrigger
        if isinstance(gate_threshold, bool) or not isinstance(gate_threshold, (int, float)):
            raise TypeError(f"gate_threshold must be a number, got {type(gate_threshold).__name__}")
        self.gate_threshold = float(gate_threshold)
        for name, bounds in (
            ("attack_range_s", attack_range_s),
            ("decay_range_s", decay_range_s),
            ("release_range_s", release_range_s),
        ):
            if len(bounds) != 2 or not 0 < bounds[0] < bounds[1] or not math.isfinite(bounds[1]):
                raise ValueError(f"{name} must be (low, high) seconds with 0 < low < high, got {bounds!r}")
        self.attack_range_s = tuple(float(b) for b in attack_range_s)
        self.decay_range_s = tuple(float(b) for b in decay_range_s)
        self.release_range_s = tuple(float(b) for b in release_range_s)

    def get_controls(
        self,
        gate: torch.Tensor,
        attack: torch.Tensor,
        decay: torch.Tensor,
        sustain: torch.Tensor,
        release: torch.Tensor,
        peak: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Map raw (unbounded) per-item values to envelope controls.

        ``attack``, ``decay`` and ``release`` pass through a sigmoid onto the
        log ranges given to the constructor (``low * (high / low) ** sigmoid(x)``
        seconds); ``sustain`` and ``peak`` pass through a sigmoid onto
        ``(0, 1)``. Raw values have shape ``[B]``, ``[B, 1]`` or ``[B, 1, 1]``.

        Returns:
            ``{"gate", "attack_s", "decay_s", "sustain", "release_s"}`` and
            ``"peak"`` when given.
        """
        check_controls(gate, "gate", channels=1)
        for value, name in ((attack, "attack"), (decay, "decay"), (sustain, "sustain"), (release, "release")):
            check_tensor(value, name)
        controls = {
            "gate": gate,
            "attack_s": unit_to_range(torch.sigmoid(attack), *self.attack_range_s, curve="log"),
            "decay_s": unit_to_range(torch.sigmoid(decay), *self.decay_range_s, curve="log"),
            "sustain": torch.sigmoid(sustain),
            "release_s": unit_to_range(torch.sigmoid(release), *self.release_range_s, curve="log"),
        }
        if peak is not None:
            check_tensor(peak, "peak")
            controls["peak"] = torch.sigmoid(peak)
        return controls

    def get_signal(
        self,
        gate: torch.Tensor,
        attack_s: ControlLike,
        decay_s: ControlLike,
        sustain: ControlLike,
        release_s: ControlLike,
        peak: ControlLike = 1.0,
    ) -> torch.Tensor:
        """Render the envelope of a gate.

        Args:
            gate: ``[B, F, 1]`` frame-rate gate (on where ``> gate_threshold``).
            attack_s: time from note-on to ``peak``, seconds ``> 0``.
            decay_s: time from ``peak`` to the sustain level, seconds ``> 0``.
            sustain: sustain level as a fraction of ``peak``, in ``[0, 1]``.
            release_s: time from the note-off level to 0, seconds ``> 0``.
            peak: level at the end of the attack, ``>= 0``.

        Returns:
            ``[B, F, 1]`` (``rate="frame"``) or ``[B, F * hop_length]`` (``rate="audio"``).
        """
        return adsr_envelope(
            gate,
            attack_s,
            decay_s,
            sustain,
            release_s,
            peak,
            sample_rate=self.sample_rate,
            hop_length=self.hop_length,
            rate=self.rate,
            curve=self.curves,
            retrigger=self.retrigger,
            gate_threshold=self.gate_threshold,
        )

    def render_notes(
        self,
        note_on_s: torch.Tensor,
        note_off_s: torch.Tensor,
        num_frames: int,
        attack_s: ControlLike,
        decay_s: ControlLike,
        sustain: ControlLike,
        release_s: ControlLike,
        peak: ControlLike = 1.0,
    ) -> torch.Tensor:
        """Render the envelope of notes given as times (differentiable in the times).

        Args:
            note_on_s, note_off_s: ``[B]`` or ``[B, K]`` seconds, sorted and
                non-overlapping.
            num_frames: output length in frames (``num_frames * hop_length``
                samples at audio rate).
            attack_s, decay_s, sustain, release_s, peak: as in :meth:`get_signal`.

        Returns:
            ``[B, num_frames, 1]`` or ``[B, num_frames * hop_length]``, matching ``rate``.
        """
        if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames <= 0:
            raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
        if self.rate == "frame":
            envelope = adsr_from_note_times(
                note_on_s, note_off_s, num_frames, attack_s, decay_s, sustain, release_s, peak,
                points_per_second=self.sample_rate / self.hop_length, curve=self.curves, retrigger=self.retrigger,
            )
            return envelope.unsqueeze(-1)
        return adsr_from_note_times(
            note_on_s, note_off_s, num_frames * self.hop_length, attack_s, decay_s, sustain, release_s, peak,
            points_per_second=self.sample_rate, curve=self.curves, retrigger=self.retrigger,
        )
