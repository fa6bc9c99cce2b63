"""Band-limited sample-rate conversion (Kaiser-windowed sinc, polyphase).

The ratio ``new_sr / orig_sr`` is reduced by its greatest common divisor to
``up / down``. Output sample ``m`` sits at input time ``m * down / up``
(input samples), so sample 0 of the output is aligned with sample 0 of the
input and a frame at input sample ``n * hop`` stays at the same instant in
seconds. Each output sample is a dot product of the surrounding input samples
with one of ``up`` phases of a single windowed-sinc low-pass filter; the phase
table is ``[up, taps]`` and is built once per ratio and filter design.

Filter design (defaults):

* cut-off (-6 dB) at ``rolloff = 0.92`` of the lower of the two Nyquist
  frequencies;
* ``zero_crossings = 32`` sinc zero crossings on each side of the centre, i.e.
  ``2 * 32 / (rolloff * min(1, up / down))`` input samples of support;
* Kaiser window with ``beta = 8.555``, which by Kaiser's design formula
  (``A = 8.7 + beta / 0.1102`` dB) gives about 86 dB of stop-band attenuation
  and a transition band ``(A - 8) / 14.36 / zero_crossings`` ≈ 17 % of the
  cut-off wide. With the defaults the pass band is flat (ripple below
  0.001 dB) up to 0.84 of the lower Nyquist frequency and everything from
  0.998 of it upwards, aliases included, is attenuated by at least 80 dB.

The input is taken as zero outside ``[0, samples)``. The operation is linear
and differentiable with respect to the audio, runs on the audio's device and
in its dtype.
"""

from __future__ import annotations

import functools
import math

import torch

from .checks import check_audio, check_positive, check_sample_rate

DEFAULT_ROLLOFF = 0.92
DEFAULT_ZERO_CROSSINGS = 32
DEFAULT_KAISER_BETA = 8.555

# Upper bound on [batch, outputs, taps] elements gathered at once, so long
# signals are processed in blocks instead of materialising one huge tensor.
_MAX_GATHER_ELEMENTS = 1 << 23
# Largest convolution weight ``[up, taps + down]`` worth building. Common rate
# pairs (44.1k <-> 16k: 160 x 633) are far below it; a ratio such as
# 44101 -> 48000 would need billions of weights and uses the gather path.
_MAX_POLYPHASE_WEIGHTS = 1 << 22


def resampled_length(num_samples: int, orig_sr: int, new_sr: int) -> int:
    """Number of samples after resampling: ``round(num_samples * new_sr / orig_sr)``.

    Halves round up; computed in integers so it is exact for any length.
    """
    return (2 * num_samples * new_sr + orig_sr) // (2 * orig_sr)


@functools.lru_cache(maxsize=32)
def _phase_table(up: int, down: int, rolloff: float, zero_crossings: int, beta: float):
    """Filter phases ``[up, taps]`` (float64, CPU) and the tap offset ``J``.

    Row ``r`` holds ``h(r / up - j)`` for ``j = -J .. J``, where ``h`` is the
    windowed sinc in input-sample time and ``r / up`` is the fractional part
    of an output sample's position between input samples.
    """
    cutoff = rolloff * min(1.0, up / down)  # as a fraction of the input Nyquist
    half_width = zero_crossings / cutoff  # input samples
    reach = math.ceil(half_width)
    offsets = torch.arange(-reach, reach + 1, dtype=torch.float64)
    fractions = torch.arange(up, dtype=torch.float64) / up
    tau = fractions[:, None] - offsets[None, :]
    ratio = torch.clamp(tau / half_width, -1.0, 1.0)
    window = torch.special.i0(beta * torch.sqrt(1.0 - ratio ** 2)) / torch.special.i0(
        torch.tensor(beta, dtype=torch.float64)
    )
    window = torch.where(tau.abs() < half_width, window, torch.zeros_like(window))
    # cutoff * sinc(cutoff * tau) has unit gain at DC and its -6 dB point at
    # cutoff * Nyquist.
    kernel = cutoff * torch.sinc(cutoff * tau) * window
    return kernel, reach


def resample(
    audio: torch.Tensor,
    orig_sr: int,
    new_sr: int,
    rolloff: float = DEFAULT_ROLLOFF,
    zero_crossings: int = DEFAULT_ZERO_CROSSINGS,
    kaiser_beta: float = DEFAULT_KAISER_BETA,
) -> torch.Tensor:
    """Resample audio from ``orig_sr`` to ``new_sr`` with a windowed-sinc filter.

    Args:
        audio: ``[batch, samples]`` (or ``[samples]``), floating point.
        orig_sr: sample rate of ``audio`` in Hz (positive integer).
        new_sr: target sample rate in Hz (positive integer).
        rolloff: cut-off of the anti-aliasing filter as a fraction of the
            lower Nyquist frequency, in ``(0, 1]``; lower values reject
            aliases further below Nyquist at the cost of treble.
        zero_crossings: sinc zero crossings kept on each side (filter length);
            more gives a narrower transition band and costs linearly more.
        kaiser_beta: Kaiser window shape; stop-band attenuation in dB is about
            ``8.7 + kaiser_beta / 0.1102``.

    Returns:
        ``[batch, round(samples * new_sr / orig_sr)]`` (``[new_samples]`` for
        1-D input), same device and dtype as ``audio``. When the rates are
        equal the input is returned unchanged.

    Raises:
        ValueError: bad rates, NaN/inf audio, wrong ndim, or an input too
            short to give a single output sample.
    """
    squeeze = isinstance(audio, torch.Tensor) and audio.dim() == 1
    audio = check_audio(audio, "audio", allow_1d=True)
    orig_sr = check_sample_rate(orig_sr, "orig_sr")
    new_sr = check_sample_rate(new_sr, "new_sr")
    rolloff = check_positive(rolloff, "rolloff")
    if rolloff > 1.0:
        raise ValueError(f"rolloff must be in (0, 1], got {rolloff}")
    if isinstance(zero_crossings, bool) or not isinstance(zero_crossings, int) or zero_crossings < 1:
        raise ValueError(f"zero_crossings must be a positive integer, got {zero_crossings!r}")
    kaiser_beta = check_positive(kaiser_beta, "kaiser_beta", allow_zero=True)

    if orig_sr == new_sr:
        return audio.squeeze(0) if squeeze else audio

    batch, num_samples = audio.shape
    out_length = resampled_length(num_samples, orig_sr, new_sr)
    if out_length < 1:
        raise ValueError(
            f"audio has {num_samples} samples, too short to resample from {orig_sr} Hz to {new_sr} Hz"
        )
    divisor = math.gcd(orig_sr, new_sr)
    up, down = new_sr // divisor, orig_sr // divisor
    design = (up, down, rolloff, zero_crossings, kaiser_beta)
    table, _ = _phase_table(*design)
    if up * (table.shape[1] + down) <= _MAX_POLYPHASE_WEIGHTS:
        out = _resample_polyphase(audio, design, out_length)
    else:
        out = _resample_gather(audio, design, out_length)
    return out.squeeze(0) if squeeze else out


@functools.lru_cache(maxsize=32)
def _polyphase_weight(up: int, down: int, rolloff: float, zero_crossings: int, beta: float) -> torch.Tensor:
    """The phase table laid out as a strided-convolution weight ``[up, 1, length]``.

    Output sample ``q * up + i`` starts reading the padded input at
    ``q * down + floor(i * down / up)``; a convolution with stride ``down``
    reads from ``q * down``, so row ``i`` holds its phase shifted right by
    ``floor(i * down / up)`` samples.
    """
    table, _ = _phase_table(up, down, rolloff, zero_crossings, beta)
    taps = table.shape[1]
    steps = torch.arange(up) * down
    shifts = torch.div(steps, up, rounding_mode="floor")
    phases = steps - shifts * up
    weight = torch.zeros(up, taps + int(shifts[-1]), dtype=torch.float64)
    weight.scatter_(1, shifts[:, None] + torch.arange(taps)[None, :], table[phases])
    return weight.unsqueeze(1)


def _resample_polyphase(audio: torch.Tensor, design: tuple, out_length: int) -> torch.Tensor:
    """All ``up`` phases at once as one strided ``conv1d`` (ratios with a small table)."""
    up, down = design[:2]
    _, reach = _phase_table(*design)
    weight = _polyphase_weight(*design).to(device=audio.device, dtype=audio.dtype)
    batch, num_samples = audio.shape
    blocks = -(-out_length // up)
    needed = (blocks - 1) * down + weight.shape[-1]
    right = max(0, needed - (num_samples + reach))
    padded = torch.nn.functional.pad(audio, (reach, right))
    out = torch.nn.functional.conv1d(padded.unsqueeze(1), weight, stride=down)
    out = out[:, :, :blocks].transpose(1, 2).reshape(batch, blocks * up)
    return out[:, :out_length]


def _resample_gather(audio: torch.Tensor, design: tuple, out_length: int) -> torch.Tensor:
    """Gather the input window of every output sample (ratios too awkward for one convolution)."""
    up, down = design[:2]
    table, reach = _phase_table(*design)
    table = table.to(device=audio.device, dtype=audio.dtype)
    batch = audio.shape[0]
    taps = table.shape[1]
    padded = torch.nn.functional.pad(audio, (reach, reach + 1))
    offsets = torch.arange(taps, device=audio.device)
    block = max(1, _MAX_GATHER_ELEMENTS // (batch * taps))
    pieces = []
    for start in range(0, out_length, block):
        positions = torch.arange(start, min(start + block, out_length), device=audio.device) * down
        # Input sample at or just before each output instant, and which of
        # the ``up`` fractional offsets the output sits at.
        base = torch.div(positions, up, rounding_mode="floor")
        phase = positions - base * up
        # padded index base + k holds input sample base + k - reach
        windows = padded[:, base[:, None] + offsets[None, :]]
        pieces.append((windows * table[phase]).sum(dim=-1))
    return torch.cat(pieces, dim=-1)
