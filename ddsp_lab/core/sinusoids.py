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
* amplitude ``a0 + (a1 - a0) * j / hop``,

and it is silent wherever its instantaneous frequency is at or above Nyquist.
Partials that are above Nyquist throughout a chunk are skipped, which is where
most of the speed-up over computing every partial comes from at high pitches.
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


def _active_columns(freq0: torch.Tensor, freq1: torch.Tensor, nyquist: float):
    """Which partials of a chunk to compute, and whether a per-sample mask is needed.

    Returns ``(columns, need_mask)``: ``columns`` indexes the partials below
    Nyquist somewhere in these rows (``None`` when that is all of them), and
    ``need_mask`` says whether any partial reaches Nyquist within the chunk.
    """
    low = torch.minimum(freq0.abs(), freq1.abs())
    high = torch.maximum(freq0.abs(), freq1.abs())
    need_mask = bool((high >= nyquist).any())
    if not need_mask:
        return None, False
    active = (low < nyquist).any(dim=0)
    if bool(active.all()):
        return None, True
    return torch.nonzero(active).squeeze(1), True


def _sines(phase0, freq0, dfreq, ramp, linear, quadratic, nyquist, need_mask, cosine=False):
    """sin (or cos) of the phases of a chunk, zeroed above Nyquist: ``[rows, hop, P]``."""
    phase = torch.addcmul(phase0.unsqueeze(1), linear[None, :, None], freq0.unsqueeze(1))
    phase.addcmul_(quadratic[None, :, None], dfreq.unsqueeze(1))
    out = torch.cos_(phase) if cosine else torch.sin_(phase)
    if need_mask:
        inst = torch.addcmul(freq0.unsqueeze(1), ramp[None, :, None], dfreq.unsqueeze(1))
        out.mul_(inst.abs_() < nyquist)
    return out


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
            f0, f1 = freq0[sl], freq1[sl]
            cols, need_mask = _active_columns(f0, f1, nyquist)
            p0, a0, a1 = phase0[sl], amp0[sl], amp1[sl]
            if cols is not None:
                if cols.numel() == 0:
                    out[sl] = 0.0
                    continue
                p0, f0, f1, a0, a1 = (t.index_select(1, cols) for t in (p0, f0, f1, a0, a1))
            s = _sines(p0, f0, f1 - f0, ramp, linear, quadratic, nyquist, need_mask)
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
            f0, f1 = freq0[sl], freq1[sl]
            cols, need_mask = _active_columns(f0, f1, nyquist)
            p0, a0, a1 = phase0[sl], amp0[sl], amp1[sl]
            if cols is not None:
                if cols.numel() == 0:
                    continue
                p0, f0, f1, a0, a1 = (t.index_select(1, cols) for t in (p0, f0, f1, a0, a1))
            g = grad_out[sl]
            g_ramp = g * ramp
            if need_amp:
                s = _sines(p0, f0, f1 - f0, ramp, linear, quadratic, nyquist, need_mask)
                # [rows, P, hop] @ [rows, hop, 2] -> sums of g*s and g*ramp*s over the frame.
                sums = torch.bmm(s.transpose(1, 2), torch.stack([g, g_ramp], dim=2))
                g_a0 = sums[..., 0] - sums[..., 1]
                g_a1 = sums[..., 1]
                _scatter(grads[3], sl, cols, g_a0)
                _scatter(grads[4], sl, cols, g_a1)
            if need_phase:
                c = _sines(p0, f0, f1 - f0, ramp, linear, quadratic, nyquist, need_mask, cosine=True)
                # dy/dphase_j = a(j) * cos(phase_j) with a(j) = a0 + (a1 - a0) * ramp_j.
                weights = torch.stack(
                    [g, g_ramp, g * weights_f0, g_ramp * weights_f0, g * quadratic, g_ramp * quadratic],
                    dim=2,
                )
                sums = torch.bmm(c.transpose(1, 2), weights)
                da = a1 - a0
                g_phase = a0 * sums[..., 0] + da * sums[..., 1]
                g_f0 = a0 * sums[..., 2] + da * sums[..., 3]
                g_f1 = a0 * sums[..., 4] + da * sums[..., 5]
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
        sample_rate: Hz; partials at or above ``sample_rate / 2`` are silent.

    Returns:
        ``[rows, hop_length]`` audio.
    """
    return _SinusoidBank.apply(phase0, freq0, freq1, amp0, amp1, int(hop_length), float(sample_rate))
