"""A fast, memory-bounded sinusoid bank with a hand-written backward pass.

The straightforward additive synthesiser materialises several
``[batch, samples, partials]`` tensors (upsampled amplitudes, running phases,
sines) and keeps them for autograd: hundreds of megabytes for a few seconds of
audio. Here every frame is rendered independently from a handful of
frame-rate numbers per partial, in chunks of frames, and the backward pass
recomputes the sines and cosines instead of storing them. Only the
frame-rate inputs are saved, so memory no longer grows with
``samples * partials``.

Within frame ``n`` (samples ``j = 0 .. hop-1``) partial ``p`` has

* frequency ``f0 + (f1 - f0) * j / hop`` (linear ramp to the next frame),
* phase ``phase0 + 2*pi/sr * (j * f0 + (f1 - f0) * j * (j - 1) / (2 * hop))``
  (the exact running sum of that ramp),
* amplitude ``a0 + (a1 - a0) * j / hop``.

A partial is silent in a frame where it is at or above Nyquist at both ends.
That alone does not band-limit a partial that crosses Nyquist inside a
frame: callers gate amplitudes at frame rate with :func:`nyquist_gate`, which
also lets a partial fade out over one frame instead of stopping with a click.
Partials above Nyquist throughout a chunk of frames are skipped, which is
where most of the speed-up over computing every partial comes from at high
pitches.
"""

from __future__ import annotations

import math

import torch

TWO_PI = 2.0 * math.pi

# Elements of the [rows, hop, partials] working tensor per chunk: large enough
# to amortise dispatch overhead, small enough to stay in cache.
_CHUNK_ELEMENTS = 1 << 21


def _frame_constants(hop: int, sample_rate: float, device, dtype):
    j = torch.arange(hop, device=device, dtype=torch.float64)
    ramp = j / hop
    linear = TWO_PI * j / sample_rate
    quadratic = TWO_PI * j * (j - 1) / (2.0 * hop * sample_rate)
    return ramp.to(dtype), linear.to(dtype), quadratic.to(dtype)


def nyquist_gate(frequencies_hz: torch.Tensor, sample_rate: float) -> torch.Tensor:
    """Frame-rate gate that keeps every sounding partial below Nyquist.

    Frame ``n`` of a partial is kept (1) only if its frequency at frames
    ``n - 1``, ``n`` and ``n + 1`` is below ``sample_rate / 2``. With linear
    interpolation over each hop, a partial with non-zero amplitude anywhere
    in a frame then stays below Nyquist for the whole frame, and a partial
    approaching Nyquist fades out over one frame instead of stopping abruptly.

    Args:
        frequencies_hz: ``[batch, frames, partials]``.
        sample_rate: Hz.

    Returns:
        ``[batch, frames, partials]`` of 0.0 / 1.0 in the input's dtype.
    """
    below = (frequencies_hz.abs() < sample_rate / 2.0).to(frequencies_hz.dtype)
    previous = torch.cat([below[:, :1], below[:, :-1]], dim=1)
    following = torch.cat([below[:, 1:], below[:, -1:]], dim=1)
    return below * previous * following


def _audible(freq0: torch.Tensor, freq1: torch.Tensor, nyquist: float):
    """Which partials of a chunk sound, by the bank's contract.

    Returns ``(mask, columns)``: ``mask[row, p]`` is 1 where partial ``p`` is
    below Nyquist at either end of the frame, and ``columns`` indexes the
    partials audible in some row (``None`` when that is all of them).
    """
    audible = torch.minimum(freq0.abs(), freq1.abs()) < nyquist
    active = audible.any(dim=0)
    columns = None if bool(active.all()) else torch.nonzero(active).squeeze(1)
    return audible.to(freq0.dtype), columns


def _sines(phase0, freq0, dfreq, linear, quadratic, cosine=False):
    """sin (or cos) of the phases of a chunk of frames: ``[rows, hop, P]``."""
    phase = torch.addcmul(phase0.unsqueeze(1), linear[None, :, None], freq0.unsqueeze(1))
    phase.addcmul_(quadratic[None, :, None], dfreq.unsqueeze(1))
    return torch.cos_(phase) if cosine else torch.sin_(phase)


class _SinusoidBank(torch.autograd.Function):
    @staticmethod
    def forward(ctx, phase0, freq0, freq1, amp0, amp1, hop, sample_rate):
        rows, partials = phase0.shape
        nyquist = sample_rate / 2.0
        ramp, linear, quadratic = _frame_constants(hop, sample_rate, phase0.device, phase0.dtype)
        out = phase0.new_empty(rows, hop)
        step = max(1, _CHUNK_ELEMENTS // max(1, hop * partials))
        for start in range(0, rows, step):
            sl = slice(start, min(rows, start + step))
            p0, f0, f1, a0, a1 = phase0[sl], freq0[sl], freq1[sl], amp0[sl], amp1[sl]
            audible, cols = _audible(f0, f1, nyquist)
            if cols is not None:
                if cols.numel() == 0:
                    out[sl] = 0.0
                    continue
                p0, f0, f1, a0, a1, audible = (t.index_select(1, cols) for t in (p0, f0, f1, a0, a1, audible))
            a0, a1 = a0 * audible, a1 * audible
            s = _sines(p0, f0, f1 - f0, linear, quadratic)
            both = torch.bmm(s, torch.stack([a0, a1 - a0], dim=2))
            out[sl] = torch.addcmul(both[..., 0], ramp, both[..., 1])
        ctx.save_for_backward(phase0, freq0, freq1, amp0, amp1)
        ctx.hop, ctx.sample_rate = hop, sample_rate
        return out

    @staticmethod
    def backward(ctx, grad_out):
        phase0, freq0, freq1, amp0, amp1 = ctx.saved_tensors
        hop, sample_rate = ctx.hop, ctx.sample_rate
        rows, partials = phase0.shape
        nyquist = sample_rate / 2.0
        ramp, linear, quadratic = _frame_constants(hop, sample_rate, phase0.device, phase0.dtype)
        grads = [torch.zeros_like(t) for t in (phase0, freq0, freq1, amp0, amp1)]
        need_phase = any(ctx.needs_input_grad[:3])
        need_amp = any(ctx.needs_input_grad[3:5])
        # d(phase)/d(f0) = linear - quadratic, d(phase)/d(f1) = quadratic.
        weights_f0 = linear - quadratic
        step = max(1, _CHUNK_ELEMENTS // max(1, hop * partials))
        for start in range(0, rows, step):
            sl = slice(start, min(rows, start + step))
            p0, f0, f1, a0, a1 = phase0[sl], freq0[sl], freq1[sl], amp0[sl], amp1[sl]
            audible, cols = _audible(f0, f1, nyquist)
            if cols is not None:
                if cols.numel() == 0:
                    continue
                p0, f0, f1, a0, a1, audible = (t.index_select(1, cols) for t in (p0, f0, f1, a0, a1, audible))
            a0, a1 = a0 * audible, a1 * audible
            g = grad_out[sl]
            g_ramp = g * ramp
            if need_amp:
                s = _sines(p0, f0, f1 - f0, linear, quadratic)
                # [rows, 2, hop] @ [rows, hop, P]: sums of g*s and g*ramp*s over the frame.
                sums = torch.bmm(torch.stack([g, g_ramp], dim=1), s)
                g_a0 = (sums[:, 0] - sums[:, 1]) * audible
                g_a1 = sums[:, 1] * audible
                _scatter(grads[3], sl, cols, g_a0)
                _scatter(grads[4], sl, cols, g_a1)
            if need_phase:
                c = _sines(p0, f0, f1 - f0, linear, quadratic, cosine=True)
                # dy/dphase_j = a(j) * cos(phase_j) with a(j) = a0 + (a1 - a0) * ramp_j.
                weights = torch.stack(
                    [g, g_ramp, g * weights_f0, g_ramp * weights_f0, g * quadratic, g_ramp * quadratic],
                    dim=1,
                )
                sums = torch.bmm(weights, c)
                da = a1 - a0
                g_phase = a0 * sums[:, 0] + da * sums[:, 1]
                g_f0 = a0 * sums[:, 2] + da * sums[:, 3]
                g_f1 = a0 * sums[:, 4] + da * sums[:, 5]
                _scatter(grads[0], sl, cols, g_phase)
                _scatter(grads[1], sl, cols, g_f0)
                _scatter(grads[2], sl, cols, g_f1)
        return (*grads, None, None)


def _scatter(target, rows, cols, values):
    if cols is None:
        target[rows] = values
    else:
        target[rows].index_copy_(1, cols, values)


def sinusoid_bank(
    phase0: torch.Tensor,
    freq0: torch.Tensor,
    freq1: torch.Tensor,
    amp0: torch.Tensor,
    amp1: torch.Tensor,
    hop_length: int,
    sample_rate: float,
) -> torch.Tensor:
    """Render frames of linearly ramping sinusoids, summed over partials.

    All inputs are ``[rows, partials]`` with one row per frame (flatten batch
    and frames into rows). Rows are independent, which is what makes chunking
    and recomputation possible.

    Args:
        phase0: phase at the frame's first sample, radians (keep it wrapped).
        freq0: frequency at the frame's first sample, Hz.
        freq1: frequency at the next frame's first sample, Hz.
        amp0: amplitude at the frame's first sample.
        amp1: amplitude at the next frame's first sample.
        hop_length: samples per frame.
        sample_rate: Hz. A partial is silent in frames where it is at or
            above Nyquist at both ends; gate amplitudes with
            :func:`nyquist_gate` first for strict band-limiting.

    Returns:
        ``[rows, hop_length]`` audio.
    """
    return _SinusoidBank.apply(phase0, freq0, freq1, amp0, amp1, int(hop_length), float(sample_rate))
