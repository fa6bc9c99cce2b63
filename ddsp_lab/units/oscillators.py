"""Band-limited classic oscillators and a low-frequency oscillator (LFO).

:class:`Oscillator` renders sine, saw, square and triangle waves additively:
each waveform is its Fourier series, summed only over the harmonics below
Nyquist, so it never aliases and stays differentiable with respect to f0 and
amplitude. :class:`LFO` renders frame-rate control signals (vibrato, tremolo,
filter sweeps) that modulate other units.

Waveforms, with ``theta`` the running phase of the fundamental in radians
(every waveform starts at 0 and rises, so they can be mixed in phase):

* sine: ``sin(theta)``
* saw (rising ramp from -1 to 1, jump at ``theta = pi``):
  ``(2/pi) * sum_k (-1)^(k+1) sin(k theta) / k``
* square (+1 for ``theta`` in ``(0, pi)``, -1 after):
  ``(4/pi) * sum_{k odd} sin(k theta) / k``
* triangle (peaks +1 at ``theta = pi/2``, -1 at ``3pi/2``):
  ``(8/pi^2) * sum_{k odd} (-1)^((k-1)/2) sin(k theta) / k^2``
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from ..core.checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_positive,
    check_same_frames,
    check_sample_rate,
    check_tensor,
)
from ..core.conversions import exp_sigmoid, unit_to_range
from ..core.phase import TWO_PI, frame_start_phases
from ..core.sinusoids import nyquist_gate, sinusoid_bank
from ..core.upsample import next_frames
from .base import Processor

WAVEFORMS: Tuple[str, ...] = ("sine", "saw", "square", "triangle")
LFO_WAVEFORMS: Tuple[str, ...] = ("sine", "triangle", "saw", "square", "sample_and_hold")

# Lowest fundamental that the default number of harmonics fills up to Nyquist.
DEFAULT_LOWEST_F0_HZ = 20.0


def waveform_coefficients(waveform: str, harmonic_numbers: torch.Tensor) -> torch.Tensor:
    """Fourier sine-series coefficients of a unit-amplitude waveform.

    ``waveform(theta) = sum_k c_k sin(k * theta)`` for the harmonic numbers
    ``k`` given (see the module docstring for the series).

    Args:
        waveform: one of ``"sine"``, ``"saw"``, ``"square"``, ``"triangle"``.
        harmonic_numbers: ``[P]`` positive harmonic numbers (float tensor).

    Returns:
        ``[P]`` coefficients, same device and dtype as ``harmonic_numbers``.
    """
    k = harmonic_numbers
    odd = torch.remainder(k, 2.0) == 1.0
    if waveform == "sine":
        return (k == 1.0).to(k.dtype)
    if waveform == "saw":
        sign = torch.where(odd, torch.ones_like(k), -torch.ones_like(k))
        return (2.0 / math.pi) * sign / k
    if waveform == "square":
        return (4.0 / math.pi) * odd.to(k.dtype) / k
    if waveform == "triangle":
        # (-1)^((k-1)/2): +1 for k = 1, 5, 9, ..., -1 for k = 3, 7, 11, ...
        sign = torch.where(torch.remainder(k, 4.0) == 1.0, torch.ones_like(k), -torch.ones_like(k))
        return (8.0 / math.pi**2) * odd.to(k.dtype) * sign / (k * k)
    raise ValueError(f"waveform must be one of {WAVEFORMS}, got {waveform!r}")


def _render_harmonics(phase0, freq0, amp0, hop_length, sample_rate):
    """Sum ``[B, F, P]`` frame-rate partials through the sinusoid bank: ``[B, F * hop]``.

    Amplitudes are gated with :func:`~ddsp_lab.core.sinusoids.nyquist_gate`,
    so no partial sounds at or above Nyquist.
    """
    batch, frames, partials = freq0.shape
    amp0 = amp0 * nyquist_gate(freq0, sample_rate)
    freq1, amp1 = next_frames(freq0), next_frames(amp0)
    rows = [t.reshape(batch * frames, partials) for t in (phase0, freq0, freq1, amp0, amp1)]
    return sinusoid_bank(*rows, hop_length, sample_rate).reshape(batch, frames * hop_length)


def _check_initial_phase(initial_phase, batch: int) -> Optional[torch.Tensor]:
    if initial_phase is None:
        return None
    check_tensor(initial_phase, "initial_phase", ndim=2, last_dim=1)
    if initial_phase.shape[0] != batch:
        raise ValueError(
            f"initial_phase must be [batch, 1] with batch {batch}, got shape {tuple(initial_phase.shape)}"
        )
    return initial_phase


class Oscillator(Processor):
    """Band-limited sine, saw, square or triangle oscillator.

    The waveform is built additively from its Fourier series (module
    docstring): harmonic ``k`` has frequency ``k * f0`` and amplitude
    ``amplitude * c_k``. No partial ever sounds at or above Nyquist: harmonic
    ``k`` is kept in frame ``n`` only if ``k * f0`` is below Nyquist at frames
    ``n - 1``, ``n`` and ``n + 1``, so a partial approaching Nyquist fades out
    over one frame instead of aliasing or clicking. The output is therefore
    band-limited at any pitch and any sample rate, and differentiable with
    respect to ``f0_hz``, ``amplitude`` and ``waveform_mix``. Controls are
    interpolated linearly within each hop; phases are accumulated in float64
    and wrapped, so long notes keep their pitch.

    ``amplitude`` scales the ideal waveform, whose peak is 1; band-limited
    square and saw overshoot near their jumps by about 9 % of the jump
    (Gibbs), triangle and sine do not.

    Args:
        sample_rate: audio sample rate in Hz (any).
        hop_length: audio samples per control frame.
        waveform: ``"sine"``, ``"saw"``, ``"square"``, ``"triangle"``, or
            ``"mix"``: a per-frame blend of the four, weighted by the
            ``waveform_mix`` control ``[B, F, 4]`` in the order of
            :data:`WAVEFORMS` (differentiable morphing between shapes).
        max_harmonics: highest harmonic number computed (>= 1). The default
            fills the band up to Nyquist for every ``f0 >= 20 Hz``
            (``ceil(sample_rate / 40)``: 400 at 16 kHz, 1200 at 48 kHz);
            fundamentals below ``nyquist / max_harmonics`` lose their top
            partials. Square and triangle only compute the odd harmonics up to
            it; sine computes one. Harmonics above Nyquist at the lowest f0 of
            the call are skipped, so the cost follows the pitch, not this bound.
        scale_fn: maps raw amplitudes to positive values in
            :meth:`get_controls` (default ``exp_sigmoid``; ``None`` passes
            them through).

    Shapes:
        ``get_signal(f0_hz [B, F, 1], amplitude [B, F, 1],
        waveform_mix [B, F, 4] (only for "mix"), initial_phase [B, 1])
        -> [B, F * hop_length]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        waveform: str = "saw",
        max_harmonics: Optional[int] = None,
        scale_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = exp_sigmoid,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        if waveform not in WAVEFORMS + ("mix",):
            raise ValueError(f"waveform must be one of {WAVEFORMS + ('mix',)}, got {waveform!r}")
        self.waveform = waveform
        if max_harmonics is None:
            max_harmonics = max(1, math.ceil(self.sample_rate / (2.0 * DEFAULT_LOWEST_F0_HZ)))
        if isinstance(max_harmonics, bool) or not isinstance(max_harmonics, int) or max_harmonics < 1:
            raise ValueError(f"max_harmonics must be a positive integer, got {max_harmonics!r}")
        self.max_harmonics = max_harmonics
        self.scale_fn = scale_fn

    def harmonic_numbers(self, device=None, dtype=None) -> torch.Tensor:
        """The harmonic numbers rendered for this waveform, ``[P]``."""
        if self.waveform == "sine":
            return torch.ones(1, device=device, dtype=dtype)
        step = 2 if self.waveform in ("square", "triangle") else 1
        return torch.arange(1, self.max_harmonics + 1, step, device=device, dtype=dtype)

    def get_controls(
        self,
        f0_hz: torch.Tensor,
        amplitude: torch.Tensor,
        waveform_mix: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Map raw network outputs to physical controls.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental in Hz (passed through unchanged:
                pitch usually comes from a pitch tracker, not a network).
            amplitude: ``[B, F, 1]`` unbounded; becomes positive via
                ``scale_fn`` (``exp_sigmoid``: between 0 and 2).
            waveform_mix: ``[B, F, 4]`` unbounded (``"mix"`` only): a softmax
                over the last axis turns it into blend weights summing to 1.

        Returns:
            ``{"f0_hz", "amplitude"}`` plus ``"waveform_mix"`` for ``"mix"``.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(amplitude, "amplitude", channels=1)
        if self.scale_fn is not None:
            amplitude = self.scale_fn(amplitude)
        controls = {"f0_hz": f0_hz, "amplitude": amplitude}
        if self.waveform == "mix":
            if waveform_mix is None:
                raise ValueError('waveform_mix [B, F, 4] is required when waveform="mix"')
            check_controls(waveform_mix, "waveform_mix", channels=len(WAVEFORMS))
            controls["waveform_mix"] = torch.softmax(waveform_mix, dim=-1)
        elif waveform_mix is not None:
            raise ValueError(f'waveform_mix is only used with waveform="mix", not {self.waveform!r}')
        return controls

    def get_signal(
        self,
        f0_hz: torch.Tensor,
        amplitude: torch.Tensor,
        waveform_mix: Optional[torch.Tensor] = None,
        initial_phase: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Render the oscillator.

        Args:
            f0_hz: ``[B, F, 1]`` fundamental frequency in Hz, ``>= 0``.
            amplitude: ``[B, F, 1]`` linear amplitude (peak of the ideal waveform).
            waveform_mix: ``[B, F, 4]`` non-negative weights of sine, saw,
                square and triangle (``"mix"`` only; they are used as given,
                so weights summing to 1 keep the level of a single waveform).
            initial_phase: optional ``[B, 1]`` phase of the fundamental at
                sample 0 in radians (carry it across blocks when streaming).

        Returns:
            ``[B, F * hop_length]`` audio.
        """
        check_controls(f0_hz, "f0_hz", channels=1)
        check_controls(amplitude, "amplitude", channels=1)
        check_same_frames(f0_hz=f0_hz, amplitude=amplitude)
        check_nonnegative(f0_hz, "f0_hz")
        initial_phase = _check_initial_phase(initial_phase, f0_hz.shape[0])
        numbers = self.harmonic_numbers(f0_hz.device, f0_hz.dtype)
        # Harmonics above Nyquist even at the lowest f0 never sound (their gate
        # is 0 in every frame), so leaving them out changes neither the output
        # nor the gradients, only the cost.
        lowest_f0 = float(f0_hz.detach().min())
        if lowest_f0 > 0:
            numbers = numbers[: max(1, int((numbers * lowest_f0 < self.sample_rate / 2.0).sum()))]
        if self.waveform == "mix":
            if waveform_mix is None:
                raise ValueError('waveform_mix [B, F, 4] is required when waveform="mix"')
            check_controls(waveform_mix, "waveform_mix", channels=len(WAVEFORMS))
            check_same_frames(f0_hz=f0_hz, waveform_mix=waveform_mix)
            check_nonnegative(waveform_mix, "waveform_mix")
            table = torch.stack([waveform_coefficients(name, numbers) for name in WAVEFORMS])
            coefficients = waveform_mix @ table
        else:
            if waveform_mix is not None:
                raise ValueError(f'waveform_mix is only used with waveform="mix", not {self.waveform!r}')
            coefficients = waveform_coefficients(self.waveform, numbers)
        phase0 = frame_start_phases(f0_hz, self.sample_rate, self.hop_length, initial_phase, multiplier=numbers)
        return _render_harmonics(phase0, f0_hz * numbers, amplitude * coefficients, self.hop_length, self.sample_rate)


def _lfo_shape(waveform: str, cycles: torch.Tensor) -> torch.Tensor:
    """Ideal (not band-limited) waveform of a phase given in cycles, ``[0, 1)``."""
    if waveform == "sine":
        return torch.sin(TWO_PI * cycles)
    if waveform == "triangle":
        # Shifted by a quarter cycle so it starts at 0 rising, like the sine.
        shifted = torch.remainder(cycles + 0.25, 1.0)
        return 1.0 - 4.0 * torch.abs(shifted - 0.5)
    if waveform == "saw":
        return 2.0 * torch.remainder(cycles + 0.5, 1.0) - 1.0
    if waveform == "square":
        return torch.where(cycles < 0.5, torch.ones_like(cycles), -torch.ones_like(cycles))
    raise ValueError(f"waveform must be one of {LFO_WAVEFORMS}, got {waveform!r}")


def _hash_uniform(cycle_index: torch.Tensor, batch_index: torch.Tensor, seed: int) -> torch.Tensor:
    """Deterministic pseudo-random values in ``[-1, 1)`` per (cycle, batch item).

    A stateless integer hash (multiply / xor-shift rounds on 32-bit words)
    rather than a random generator, so the value held during a cycle does not
    depend on how long the rendered signal is. Every multiplier is below
    ``2**31`` so the products of 32-bit words fit in int64 without overflow.
    """
    mask = 0xFFFFFFFF
    x = (cycle_index.to(torch.int64) & mask) * 0x2C1B3C6D
    x = (x + (batch_index.to(torch.int64) & mask) * 0x297A2D39 + (seed & mask) * 0x1B873593 + 0x68E31DA4) & mask
    for multiplier in (0x7FEB352D, 0x4C8A6B1B):
        x = x ^ (x >> 16)
        x = (x * multiplier) & mask
    x = x ^ (x >> 15)
    return x.to(torch.float64) * (2.0 / 2.0**32) - 1.0


class LFO(Processor):
    """Low-frequency oscillator producing a frame-rate control signal.

    ``output = offset + depth * wave(phase)`` evaluated at the first sample of
    every frame (frame ``n`` sits at sample ``n * hop_length``, like every
    control in ddsp_lab), with the phase accumulated in float64 from a
    rate that is linearly interpolated between frames. The output is a
    ``[B, F, 1]`` control that can drive any unit directly, e.g. vibrato
    ``f0_hz * (1 + lfo)`` or tremolo ``amplitude * lfo``; use
    :func:`~ddsp_lab.core.upsample.upsample_linear` for an audio-rate signal.

    Waveforms are ideal (not band-limited: they are controls, not audio), all
    starting at 0 (sample-and-hold: at a random value) and spanning
    ``[-1, 1]`` before ``depth`` and ``offset``:

    * ``"sine"``, ``"triangle"``, ``"saw"`` (rising): differentiable with
      respect to ``rate_hz`` (through the phase), ``depth`` and ``offset``.
    * ``"square"`` (+1 for the first half cycle) and ``"sample_and_hold"``
      (a new pseudo-random value in ``[-1, 1)`` at the start of every cycle,
      deterministic for a given ``seed``): piecewise constant in the phase,
      so their gradient with respect to ``rate_hz`` is zero; ``depth`` and
      ``offset`` are differentiable.

    Rates at or above half the frame rate (``sample_rate / hop_length / 2``)
    alias at frame rate; keep LFO rates below it.

    Args:
        sample_rate: audio sample rate in Hz.
        hop_length: audio samples per control frame.
        waveform: one of :data:`LFO_WAVEFORMS`.
        rate_range_hz: ``(low, high)`` rates in Hz that :meth:`get_controls`
            maps raw values onto (log curve), default ``(0.05, 20.0)``.
        seed: integer seed of the sample-and-hold values.

    Shapes:
        ``get_signal(rate_hz [B, F, 1], depth [B, F, 1], offset [B, F, 1],
        initial_phase [B, 1]) -> [B, F, 1]``
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        waveform: str = "sine",
        rate_range_hz: Sequence[float] = (0.05, 20.0),
        seed: int = 0,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        if waveform not in LFO_WAVEFORMS:
            raise ValueError(f"waveform must be one of {LFO_WAVEFORMS}, got {waveform!r}")
        self.waveform = waveform
        if len(rate_range_hz) != 2:
            raise ValueError(f"rate_range_hz must be (low, high), got {rate_range_hz!r}")
        low = check_positive(rate_range_hz[0], "rate_range_hz[0]")
        high = check_positive(rate_range_hz[1], "rate_range_hz[1]")
        if high <= low:
            raise ValueError(f"rate_range_hz must have low < high, got {rate_range_hz!r}")
        self.rate_range_hz = (low, high)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.seed = seed

    @property
    def frame_rate(self) -> float:
        """Control frames per second, ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    def get_controls(
        self,
        rate: torch.Tensor,
        depth: torch.Tensor,
        offset: Optional[torch.Tensor] = None,
    ) -> Dict[str, torch.Tensor]:
        """Map raw network outputs to physical controls.

        Args:
            rate: ``[B, F, 1]`` unbounded; ``sigmoid`` then a log curve onto
                ``rate_range_hz`` (0 maps to the geometric mean of the range).
            depth: ``[B, F, 1]`` unbounded; ``sigmoid`` onto ``(0, 1)``.
            offset: ``[B, F, 1]`` passed through (default zeros).

        Returns:
            ``{"rate_hz", "depth", "offset"}``.
        """
        check_controls(rate, "rate", channels=1)
        check_controls(depth, "depth", channels=1)
        check_same_frames(rate=rate, depth=depth)
        if offset is None:
            offset = torch.zeros_like(depth)
        check_controls(offset, "offset", channels=1)
        check_same_frames(rate=rate, offset=offset)
        rate_hz = unit_to_range(torch.sigmoid(rate), *self.rate_range_hz, curve="log")
        return {"rate_hz": rate_hz, "depth": torch.sigmoid(depth), "offset": offset}

    def get_signal(
        self,
        rate_hz: torch.Tensor,
        depth: torch.Tensor,
        offset: Optional[torch.Tensor] = None,
        initial_phase: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Render the LFO at frame rate.

        Args:
            rate_hz: ``[B, F, 1]`` LFO frequency in Hz, ``>= 0``.
            depth: ``[B, F, 1]`` peak deviation from ``offset`` (any sign;
                negative depth inverts the waveform).
            offset: optional ``[B, F, 1]`` centre value (default 0).
            initial_phase: optional ``[B, 1]`` phase at frame 0 in radians.

        Returns:
            ``[B, F, 1]`` control signal, ``offset + depth * wave``.
        """
        check_controls(rate_hz, "rate_hz", channels=1)
        check_controls(depth, "depth", channels=1)
        check_same_frames(rate_hz=rate_hz, depth=depth)
        check_nonnegative(rate_hz, "rate_hz")
        if offset is not None:
            check_controls(offset, "offset", channels=1)
            check_same_frames(rate_hz=rate_hz, offset=offset)
        initial_phase = _check_initial_phase(initial_phase, rate_hz.shape[0])
        if self.waveform == "sample_and_hold":
            wave = self._sample_and_hold(rate_hz, initial_phase)
        else:
            phase = frame_start_phases(rate_hz, self.sample_rate, self.hop_length, initial_phase)
            wave = _lfo_shape(self.waveform, phase / TWO_PI)
        signal = depth * wave
        return signal if offset is None else signal + offset

    def _sample_and_hold(self, rate_hz: torch.Tensor, initial_phase: Optional[torch.Tensor]) -> torch.Tensor:
        # The cycle count needs the unwrapped phase, summed in float64 like
        # frame_start_phases so cycle boundaries agree with the other shapes.
        f = rate_hz.detach().to(torch.float64)
        advance = (self.hop_length * f + (next_frames(f) - f) * ((self.hop_length - 1) / 2.0)) / self.sample_rate
        cycles = torch.cumsum(advance, dim=1) - advance
        if initial_phase is not None:
            cycles = cycles + initial_phase.detach().to(torch.float64).unsqueeze(1) / TWO_PI
        cycle_index = torch.floor(cycles)
        batch_index = torch.arange(rate_hz.shape[0], device=rate_hz.device).reshape(-1, 1, 1)
        return _hash_uniform(cycle_index, batch_index, self.seed).to(rate_hz.dtype)
