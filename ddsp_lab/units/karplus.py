"""Karplus-Strong plucked string, rendered in closed form through the FFT.

The string is the feedback loop of Jaffe and Smith's extended Karplus-Strong
algorithm::

    y[n] = x[n] + g * (lowpass o allpass o delay_N)(y)[n]

with an integer delay ``z^-N``, the two-tap loop low-pass
``Hlp(z) = b0 + b1 z^-1`` (``b0 = (1 + brightness) / 2``, ``b1 = 1 - b0``),
a first-order allpass ``A(z) = (c + z^-1) / (1 + c z^-1)`` that supplies the
fractional part of the period, and the loop gain ``g``. The transfer function
is

    H(z) = 1 / (1 - g * Hlp(z) * A(z) * z^-N).

Tuning: the allpass coefficient is solved exactly (not with the usual
low-frequency approximation) so that the phase delay of the whole loop at
``f0`` (``N`` + allpass + the low-pass phase delay, which is half a sample
for the darkest setting) is one period ``P = sample_rate / f0``. A lossy
loop whose loss grows with frequency pulls its pole slightly flat of that
point (by up to a few cents for short, dark, high strings), so the loop is
aimed at a first-order correction of that pull; the remaining error is
second order in the loss per period (below 0.01 cent for ``P >= 8`` and
``decay_s >= 1``). ``N = floor(P) - 1`` does not depend on the brightness,
so the output is a smooth function of the brightness and the decay.

Decay: the loss per trip round the loop is set from the loop's group delay
at ``f0``, so with ``brightness = 1`` the fundamental decays by exactly
60 dB in ``decay_s`` seconds (higher partials within the allpass's small
dispersion). Below 1, the low-pass adds ``20 log10 |Hlp(f0)|`` dB per trip
for the fundamental and more for higher partials, as a real string does.

Why the FFT: the loop is linear and time-invariant, so the output is the
excitation filtered by ``H``. ``H`` is evaluated in closed form on ``M``
points of a circle of radius ``rho >= 1`` and applied by multiplication with
the transform of the excitation; one inverse FFT gives the output. This is
fully vectorised across the batch and differentiable with respect to every
loop coefficient and to the excitation. Sampling the z-transform on ``M``
points folds the output's tail ``y[n + M]`` onto ``y[n]``; the string's own
decay plus the radius ``rho`` (an exponential weighting undone after the
transform) push that fold below the round-off of the working precision.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Tuple, Union

import scipy.fft
import torch

from ..core.checks import check_positive, check_sample_rate, check_tensor
from ..core.conversions import unit_to_range
from .base import Processor

ControlLike = Union[int, float, torch.Tensor]

#: Smallest loop period in samples; shorter periods (f0 above sample_rate / 4)
#: need an allpass delay outside the range where it stays stable and accurate.
MIN_PERIOD_SAMPLES = 4.0

_LN_1000 = math.log(1000.0)


def _per_item(value: ControlLike, name: str, batch: int, dtype: torch.dtype, device) -> torch.Tensor:
    """Broadcast a per-note control (number, ``[]``, ``[B]``, ``[B, 1]``, ``[B, 1, 1]``) to ``[B, 1]``."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor, got bool")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        return torch.full((batch, 1), float(value), device=device, dtype=dtype)
    check_tensor(value, name)
    if value.numel() not in (1, batch) or (value.dim() > 0 and value.shape[0] not in (1, batch)) or any(
        size != 1 for size in value.shape[1:]
    ):
        raise ValueError(
            f"{name} must be a number or a tensor of shape [], [{batch}], [{batch}, 1] or "
            f"[{batch}, 1, 1] (one value per note), got shape {tuple(value.shape)}"
        )
    return value.to(dtype).reshape(-1, 1).expand(batch, 1)


def _allpass_for_period(omega, delay, b0, b1):
    """Allpass coefficient giving the loop a phase delay of ``2 pi / omega`` samples at ``omega``.

    The low-pass contributes its phase delay (half a sample when ``b0 = b1``)
    and ``z^-delay`` the integer part; the allpass makes up the rest exactly
    (the exact solution for a first-order allpass, not the low-frequency
    approximation ``(1 - d) / (1 + d)``).
    """
    lowpass_phase = torch.atan2(b1 * torch.sin(omega), b0 + b1 * torch.cos(omega))
    fraction = 2.0 * math.pi / omega - lowpass_phase / omega - delay
    return torch.sin(omega * (1.0 - fraction) / 2.0) / torch.sin(omega * (1.0 + fraction) / 2.0)


def loop_coefficients(
    f0_hz: torch.Tensor, decay_s: torch.Tensor, brightness: torch.Tensor, sample_rate: float
) -> Dict[str, torch.Tensor]:
    """Coefficients of the tuned Karplus-Strong loop.

    Args:
        f0_hz: ``[B, 1]`` fundamental in Hz, ``0 < f0 <= sample_rate / 4``.
        decay_s: ``[B, 1]`` 60 dB decay time of the fundamental with the
            low-pass off, seconds ``> 0``.
        brightness: ``[B, 1]`` in ``[0, 1]``.
        sample_rate: Hz.

    Returns:
        ``{"delay": [B, 1] int64 N, "allpass": [B, 1] c, "gain": [B, 1] g,
        "lowpass": [B, 2] (b0, b1)}`` such that
        ``H(z) = 1 / (1 - g (b0 + b1 z^-1) (c + z^-1) / (1 + c z^-1) z^-N)``.
    """
    period = sample_rate / f0_hz
    omega = 2.0 * math.pi * f0_hz / sample_rate
    b0 = 0.5 * (1.0 + brightness)
    b1 = 1.0 - b0
    delay = torch.floor(period.detach()) - 1.0
    cos_w, sin_w = torch.cos(omega), torch.sin(omega)
    lowpass_power = b0 * b0 + b1 * b1 + 2.0 * b0 * b1 * cos_w

    # First pass: loop phase delay of exactly one period at f0.
    allpass = _allpass_for_period(omega, delay, b0, b1)
    # A wave packet at f0 goes round the loop once per group delay (close to,
    # but not exactly, one period); a loss of ln g per trip then decays it by
    # ln g / group_delay per sample. Choosing ln g that way makes decay_s the
    # exact 60 dB time of the fundamental when the low-pass is off.
    group_delay = (
        delay
        + (1.0 - allpass * allpass) / (1.0 + 2.0 * allpass * cos_w + allpass * allpass)
        + (b1 * b1 + b0 * b1 * cos_w) / lowpass_power
    )
    log_gain = -_LN_1000 * group_delay / (sample_rate * decay_s)
    gain = torch.exp(log_gain)
    # A lossy loop whose gain falls with frequency pulls its pole below the
    # frequency where the loop phase is a whole turn. To first order the pole
    # sits at s = ln|G| / (tau + j m') from that frequency (tau: loop group
    # delay, m': slope of ln|G|, both per radian), so aim the phase at
    # omega - Im(s) instead; what is left is second order in the loss.
    log_loop_gain = log_gain + 0.5 * torch.log(lowpass_power)
    gain_slope = -b0 * b1 * sin_w / lowpass_power
    pull = -log_loop_gain * gain_slope / (group_delay * group_delay + gain_slope * gain_slope)
    # Only a string that dies within a few periods needs a large pull; capping
    # the shortening of the design period at 0.4 samples keeps the allpass
    # fraction >= 0.1 and its coefficient below 0.87 in magnitude (stable).
    aimed = torch.minimum(omega - pull, 2.0 * math.pi / (period - 0.4))
    allpass = _allpass_for_period(aimed, delay, b0, b1)
    return {
        "delay": delay.long(),
        "allpass": allpass,
        "gain": gain,
        "lowpass": torch.cat([b0, b1], dim=1),
    }


def _working_precision(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def karplus_strong(
    excitation: torch.Tensor,
    f0_hz: ControlLike,
    decay_s: ControlLike,
    brightness: ControlLike,
    sample_rate: int,
    num_samples: Optional[int] = None,
) -> torch.Tensor:
    """Pluck a Karplus-Strong string with an excitation (functional form).

    Args:
        excitation: ``[B, E]`` signal fed into the loop (a noise burst is the
            classic pluck; an impulse gives the string's impulse response).
        f0_hz: fundamental in Hz, ``0 < f0 <= sample_rate / 4``; a number or
            one value per item (``[B]``, ``[B, 1]``, ``[B, 1, 1]``).
        decay_s: seconds, ``> 0``: 60 dB decay time of the fundamental when
            ``brightness = 1`` (all partials then decay alike); lower
            brightness adds the low-pass loss, ``20 log10 |Hlp(f0)|`` dB per
            period for the fundamental and more for higher partials.
        brightness: in ``[0, 1]``; 0 is the classic two-point average (darkest),
            1 disables the loop low-pass.
        sample_rate: Hz.
        num_samples: output length (default ``E``); the excitation is
            truncated or zero-padded to it.

    Returns:
        ``[B, num_samples]`` audio.
    """
    sample_rate = check_sample_rate(sample_rate)
    check_tensor(excitation, "excitation", ndim=2)
    batch, length = excitation.shape
    if num_samples is None:
        num_samples = length
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    if length == 0:
        raise ValueError("excitation is empty (0 samples)")
    dtype, device = excitation.dtype, excitation.device
    for value in (f0_hz, decay_s, brightness):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            dtype = torch.promote_types(dtype, value.dtype)
    f0 = _per_item(f0_hz, "f0_hz", batch, dtype, device)
    decay = _per_item(decay_s, "decay_s", batch, dtype, device)
    bright = _per_item(brightness, "brightness", batch, dtype, device)
    if bool((f0 <= 0).any()) or bool((f0 * MIN_PERIOD_SAMPLES > sample_rate).any()):
        raise ValueError(
            f"f0_hz must lie in (0, sample_rate / {MIN_PERIOD_SAMPLES:g}] = (0, "
            f"{sample_rate / MIN_PERIOD_SAMPLES:g}] Hz, got values in "
            f"[{float(f0.min()):.6g}, {float(f0.max()):.6g}]"
        )
    if bool((decay <= 0).any()):
        raise ValueError(f"decay_s must be > 0 seconds, got a minimum of {float(decay.min()):.6g}")
    if bool(((bright < 0) | (bright > 1)).any()):
        raise ValueError(
            f"brightness must lie in [0, 1], got values in [{float(bright.min()):.6g}, {float(bright.max()):.6g}]"
        )
    # The allpass fraction is a small difference of numbers near P (hundreds of
    # samples): float32 would leave ~1e-5 of error in it, which detunes the
    # upper partials' phase by ~1e-5 rad per trip. The design is a handful of
    # [B, 1] operations, so it runs in float64 wherever the device has it.
    design = torch.float64 if device.type != "mps" else dtype
    coefficients = loop_coefficients(f0.to(design), decay.to(design), bright.to(design), sample_rate)
    coefficients = {k: v.to(dtype) if v.is_floating_point() else v for k, v in coefficients.items()}
    x = excitation.to(dtype)[:, :num_samples]
    return _render(x, coefficients, num_samples, sample_rate, decay)


def _render(
    x: torch.Tensor,
    coefficients: Dict[str, torch.Tensor],
    num_samples: int,
    sample_rate: int,
    decay: torch.Tensor,
) -> torch.Tensor:
    """Filter ``x`` ``[B, <= num_samples]`` through ``H`` on a damped FFT circle."""
    dtype, device = x.dtype, x.device
    # The circle of M points folds y[n + M] onto y[n]; the weighting rho^-n
    # (undone afterwards) attenuates the fold by rho^-M on top of the
    # string's own decay, but multiplies round-off by up to rho^T. Aim for a
    # fold of exp(-alias_nepers) with alias_nepers = 0.8 ln(1/eps): with
    # M = 4T the amplification stays below exp(alias_nepers / 4), which
    # balances both errors near eps^0.8 (3e-6 in float32, 3e-13 in float64).
    alias_nepers = 0.8 * math.log(1.0 / _working_precision(dtype))
    # Slowest natural decay per sample: the loss per trip is
    # ln(1000) * group_delay(f0) / (sample_rate * decay_s) with a group delay
    # >= N, spread over a trip of at most N + 2.5 samples at any frequency.
    # The decay starts once the excitation (at most T samples) has ended, so
    # the fold y[n + M] has decayed over at least M - T samples.
    delay = coefficients["delay"].to(dtype)
    natural = (_LN_1000 / (sample_rate * decay) * delay / (delay + 2.5)).detach()
    # When the string decays by exp(-alias_nepers / 2) within T samples,
    # M = 2T keeps the amplification below exp(alias_nepers / 4) as well.
    slowest = float(natural.min()) * num_samples
    ratio = 2 if slowest >= alias_nepers / 2 else 4
    size = scipy.fft.next_fast_len(ratio * num_samples, real=True)
    log_rho = torch.clamp((alias_nepers - natural * (size - num_samples)) / size, min=0.0)  # [B, 1]

    bins = torch.arange(size // 2 + 1, device=device)
    omega = (2.0 * math.pi / size) * bins.to(dtype)
    unit = torch.polar(torch.ones_like(omega), -omega)
    delay = coefficients["delay"]
    # z^-1 and z^-N on the circle |z| = rho; the phase of z^-N is reduced
    # modulo M in integers so long delays keep full precision.
    z1 = torch.exp(-log_rho) * unit
    turns = torch.remainder(bins * delay, size).to(dtype) * (2.0 * math.pi / size)
    zn = torch.polar(torch.exp(-log_rho * delay.to(dtype)).expand_as(turns), -turns)
    b0, b1 = coefficients["lowpass"][:, :1], coefficients["lowpass"][:, 1:]
    c, g = coefficients["allpass"], coefficients["gain"]
    # Hlp(z) * (c + z^-1) = b0 c + (b0 + b1 c) z^-1 + b1 z^-2: real coefficients.
    filters = b0 * c + z1 * ((b0 + b1 * c) + b1 * z1)
    allpass_den = 1.0 + c * z1
    transfer = allpass_den / (allpass_den - (g * zn) * filters)

    samples = torch.arange(num_samples, device=device, dtype=dtype)
    weights = torch.exp(-log_rho * samples[: x.shape[1]])
    spectrum = torch.fft.rfft(x * weights, n=size)
    y = torch.fft.irfft(spectrum * transfer, n=size)[:, :num_samples]
    return y * torch.exp(log_rho * samples)


def noise_burst(
    batch: int,
    length: int,
    burst_samples: torch.Tensor,
    generator: Optional[torch.Generator] = None,
    device=None,
    dtype=None,
) -> torch.Tensor:
    """Zero-mean uniform noise bursts, the classic Karplus-Strong pluck.

    Args:
        batch: number of bursts.
        length: samples per row of the result.
        burst_samples: ``[B, 1]`` burst length per item in samples (rounded,
            at least 1); the rest of each row is zero.
        generator: optional random generator (on ``device``) for reproducible bursts.

    Returns:
        ``[batch, length]`` with noise uniform on ``[-1, 1]`` minus its mean
        over the burst.
    """
    noise = torch.rand(batch, length, generator=generator, device=device, dtype=dtype) * 2.0 - 1.0
    lengths = torch.clamp(torch.round(burst_samples), min=1.0).to(dtype)
    mask = (torch.arange(length, device=device, dtype=dtype) < lengths).to(dtype)
    noise = noise * mask
    mean = noise.sum(dim=1, keepdim=True) / torch.clamp(lengths, max=float(length))
    return (noise - mean) * mask


class KarplusStrong(Processor):
    """Plucked string: Karplus-Strong loop with exact tuning and a loop low-pass.

    The loop is ``H(z) = 1 / (1 - g Hlp(z) A(z) z^-N)`` (see the module
    docstring), rendered through the FFT in closed form: no recursion over
    samples, differentiable with respect to ``decay_s``, ``brightness`` and
    the excitation. One note per batch item (``f0`` is constant per item).

    Args:
        sample_rate: Hz.
        decay_range_s: ``(low, high)`` seconds that :meth:`get_controls` maps
            raw decay values onto, on a log scale (default 0.05 .. 20 s).
        burst_periods: length of the default noise-burst excitation in periods
            of ``f0`` (default 1, the classic pluck).
        seed: seed of the noise burst (``None`` uses the global generator);
            with a seed, the same call renders the same pluck.

    Shapes:
        ``get_signal(f0_hz, decay_s, brightness, excitation=None, num_samples=None)
        -> [B, num_samples]`` with per-note controls given as numbers or
        ``[B]``/``[B, 1]``/``[B, 1, 1]`` and ``excitation`` ``[B, E]``.
    """

    def __init__(
        self,
        sample_rate: int,
        decay_range_s: Tuple[float, float] = (0.05, 20.0),
        burst_periods: float = 1.0,
        seed: Optional[int] = 0,
    ):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        if len(decay_range_s) != 2 or not 0 < decay_range_s[0] < decay_range_s[1] or not math.isfinite(
            decay_range_s[1]
        ):
            raise ValueError(f"decay_range_s must be (low, high) seconds with 0 < low < high, got {decay_range_s!r}")
        self.decay_range_s = (float(decay_range_s[0]), float(decay_range_s[1]))
        self.burst_periods = check_positive(burst_periods, "burst_periods")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.seed = seed

    def get_controls(
        self,
        f0_hz: torch.Tensor,
        decay: torch.Tensor,
        brightness: torch.Tensor,
        excitation: Optional[torch.Tensor] = None,
        num_samples: Optional[int] = None,
    ) -> Dict[str, object]:
        """Map raw per-note values to string controls.

        ``decay`` passes through a sigmoid onto ``decay_range_s`` (log scale)
        and ``brightness`` through a sigmoid onto ``(0, 1)``. ``f0_hz``,
        ``excitation`` and ``num_samples`` pass through.
        """
        check_tensor(decay, "decay")
        check_tensor(brightness, "brightness")
        return {
            "f0_hz": f0_hz,
            "decay_s": unit_to_range(torch.sigmoid(decay), *self.decay_range_s, curve="log"),
            "brightness": torch.sigmoid(brightness),
            "excitation": excitation,
            "num_samples": num_samples,
        }

    def noise_excitation(
        self, f0_hz: ControlLike, num_samples: int, batch: int = 1, like: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """The default pluck: ``burst_periods`` periods of zero-mean noise, ``[batch, num_samples]``.

        ``like`` (any tensor) sets the device and dtype (default float32 on the CPU).
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples <= 0:
            raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
        if isinstance(f0_hz, torch.Tensor):
            batch = max(batch, f0_hz.reshape(-1).shape[0])
        device = like.device if like is not None else (f0_hz.device if isinstance(f0_hz, torch.Tensor) else None)
        dtype = like.dtype if like is not None else torch.get_default_dtype()
        f0 = _per_item(f0_hz, "f0_hz", batch, dtype, device)
        if bool((f0 <= 0).any()):
            raise ValueError(f"f0_hz must be > 0 Hz, got a minimum of {float(f0.min()):.6g}")
        generator = None
        if self.seed is not None:
            generator = torch.Generator(device=f0.device)
            generator.manual_seed(self.seed)
        burst = self.burst_periods * self.sample_rate / f0.detach()
        return noise_burst(batch, num_samples, burst, generator=generator, device=f0.device, dtype=dtype)

    def get_signal(
        self,
        f0_hz: ControlLike,
        decay_s: ControlLike,
        brightness: ControlLike,
        excitation: Optional[torch.Tensor] = None,
        num_samples: Optional[int] = None,
    ) -> torch.Tensor:
        """Pluck the string.

        Args:
            f0_hz: fundamental in Hz, ``0 < f0 <= sample_rate / 4``.
            decay_s: 60 dB decay time of the fundamental at brightness 1, seconds ``> 0``.
            brightness: loop low-pass setting in ``[0, 1]`` (0 darkest, 1 no low-pass).
            excitation: ``[B, E]`` signal fed into the loop; default: a noise
                burst (see :meth:`noise_excitation`).
            num_samples: output length; required without ``excitation``,
                default ``E`` otherwise.

        Returns:
            ``[B, num_samples]`` audio.
        """
        if excitation is None:
            if num_samples is None:
                raise ValueError("num_samples is required when no excitation is given")
            like = next(
                (v for v in (f0_hz, decay_s, brightness) if isinstance(v, torch.Tensor) and v.is_floating_point()),
                None,
            )
            batch = max(
                [v.reshape(-1).shape[0] for v in (f0_hz, decay_s, brightness) if isinstance(v, torch.Tensor)] or [1]
            )
            excitation = self.noise_excitation(f0_hz, num_samples, batch=batch, like=like)
        return karplus_strong(excitation, f0_hz, decay_s, brightness, self.sample_rate, num_samples)
