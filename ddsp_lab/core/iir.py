"""Differentiable IIR filtering with per-sample coefficients.

Everything here rests on one primitive: the first-order linear recursion on a
two-element state

    s[n] = M[n] s[n-1] + e[n],        M[n] a 2x2 matrix, s[-1] = s0,

which covers the all-pole half of a direct-form biquad (state ``(y[n], y[n-1])``)
and the topology-preserving state-variable filter (state = its two
integrators). A Python loop over samples would be far too slow, so the
recursion is solved by a chunked scan:

1. The time axis is cut into chunks of ``_CHUNK`` samples. All chunks run side
   by side: one vectorised step per position inside a chunk accumulates both
   the chunk's zero-state response ``z[j]`` and the product of its matrices
   ``P[j] = M[j] ... M[0]``. That is ``_CHUNK`` steps of work on
   ``[2, 3, chunks * batch]`` tensors, ``O(T)`` work in total.
2. The state entering every chunk follows the same kind of recursion, one
   step per chunk (``c[k+1] = P_last[k] c[k] + z_last[k]``), solved by
   calling the scan recursively on the chunk totals.
3. ``s[j] = P[j] c + z[j]`` fills in every chunk at once.

The matrix products only ever span one chunk (or, on the recursive levels,
chunks of chunks whose factors are themselves decayed products), so for stable
filters they stay bounded; no product over the whole signal is ever formed.

Backward pass: the adjoint of a linear recursion is the same recursion run
backwards in time with transposed matrices,
``lambda[n] = g[n] + M[n+1]^T lambda[n+1]``, which is solved by the same scan
on the time-reversed problem. The gradients are then ``dL/de[n] = lambda[n]``
and ``dL/dM[n] = lambda[n] s[n-1]^T``. Only the matrices and the states are
kept for backward (six numbers per sample), never the scan's intermediates.
Because the backward pass is itself written with the differentiable scan,
double backward works too.

Functions take ``[batch, samples, ...]`` tensors; internally the scan works
time-major (``[samples, components, rows]``) so that each step reads one
contiguous slice.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch

from .checks import check_audio, check_sample_rate, check_tensor

# Samples per chunk of the scan: the number of sequential vectorised steps per
# level. Measured on one CPU thread for 16 x 64000 samples, chunks of 8..64
# cost about the same (60..100 ms forward) and 128..256 are slower; smaller
# chunks mean more recursion levels, larger ones more Python-level steps.
_CHUNK = 32

# Chunks of the constant-coefficient path: each chunk's zero-state response is
# one [chunk x chunk] matrix product, so the cost grows with the chunk length.
_CONSTANT_CHUNK = 64

BIQUAD_MODES = ("lowpass", "highpass", "bandpass", "notch", "allpass", "peaking", "lowshelf", "highshelf")
BIQUAD_GAIN_MODES = ("peaking", "lowshelf", "highshelf")

Number = Union[float, int]


# ---------------------------------------------------------------------------
# The scan (time-major layout: matrices [T, 4, R] with entries m00, m01, m10,
# m11; inputs and states [T, 2, R]).
# ---------------------------------------------------------------------------


def _scan_sequential(matrices: torch.Tensor, inputs: torch.Tensor, initial: Optional[torch.Tensor]) -> torch.Tensor:
    """Plain step-by-step recursion for short sequences (at most ``_CHUNK`` steps)."""
    steps = matrices.shape[0]
    states = torch.empty_like(inputs)
    if initial is None:
        states[0] = inputs[0]
        start = 1
        previous = inputs[0]
    else:
        previous = initial
        start = 0
    for t in range(start, steps):
        m = matrices[t].reshape(2, 2, -1)
        # s = M[:, 0] * s0 + M[:, 1] * s1 + e
        current = torch.addcmul(inputs[t], m[:, 0], previous[0])
        current.addcmul_(m[:, 1], previous[1])
        states[t] = current
        previous = current
    return states


def _scan(matrices: torch.Tensor, inputs: torch.Tensor, initial: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Solve ``s[t] = M[t] s[t-1] + e[t]`` (``s[-1] = initial`` or 0), time-major.

    Args:
        matrices: ``[T, 4, R]``, entries ``(m00, m01, m10, m11)`` of each 2x2 matrix.
        inputs: ``[T, 2, R]``.
        initial: ``[2, R]`` or ``None`` (zero).

    Returns:
        states ``[T, 2, R]``.
    """
    steps, _, rows = inputs.shape
    if steps <= _CHUNK:
        return _scan_sequential(matrices, inputs, initial)
    length = _CHUNK
    chunks = -(-steps // length)
    pad = chunks * length - steps
    if pad:
        # Identity matrices and zero inputs after the end change nothing before it.
        eye = matrices.new_tensor([1.0, 0.0, 0.0, 1.0]).view(1, 4, 1).expand(pad, 4, rows)
        matrices = torch.cat([matrices, eye], dim=0)
        inputs = torch.cat([inputs, inputs.new_zeros(pad, 2, rows)], dim=0)
    width = chunks * rows
    # [chunks * length, c, rows] -> [length, c, chunks * rows]: one contiguous slice per step.
    m = matrices.reshape(chunks, length, 4, rows).permute(1, 2, 0, 3).reshape(length, 2, 2, width)
    e = inputs.reshape(chunks, length, 2, rows).permute(1, 2, 0, 3).reshape(length, 2, width)
    # acc[j] = [P[j] | z[j]] as a [2, 3, width] block, so one step is
    # acc[j] = M[j] @ acc[j-1] + [0 | e[j]]: two broadcast multiply-adds.
    acc = m.new_empty(length, 2, 3, width)
    acc[0, :, :2] = m[0]
    acc[0, :, 2] = e[0]
    for j in range(1, length):
        mj = m[j]
        out = acc[j]
        torch.mul(mj[:, 0, None], acc[j - 1, 0, None], out=out)
        out.addcmul_(mj[:, 1, None], acc[j - 1, 1, None])
        out[:, 2].add_(e[j])
    last = acc[-1].view(2, 3, chunks, rows)
    totals_m = last[:, :2].permute(2, 0, 1, 3).reshape(chunks, 4, rows)
    totals_e = last[:, 2].permute(1, 0, 2)
    ends = _scan(totals_m, totals_e, initial)
    # State entering chunk k is the state at the end of chunk k-1.
    first = initial if initial is not None else ends.new_zeros(2, rows)
    carries = torch.cat([first.unsqueeze(0), ends[:-1]], dim=0).permute(1, 0, 2).reshape(2, width)
    states = torch.addcmul(acc[:, :, 2], acc[:, :, 0], carries[0])
    states.addcmul_(acc[:, :, 1], carries[1])
    states = states.view(length, 2, chunks, rows).permute(2, 0, 1, 3).reshape(chunks * length, 2, rows)
    return states[:steps]


class _LinearRecurrence(torch.autograd.Function):
    """Differentiable scan with the adjoint recursion as its backward pass."""

    @staticmethod
    def forward(ctx, matrices, inputs, initial):
        states = _scan(matrices, inputs, initial)
        ctx.has_initial = initial is not None
        if ctx.has_initial:
            ctx.save_for_backward(matrices, states, initial)
        else:
            ctx.save_for_backward(matrices, states)
        return states

    @staticmethod
    def backward(ctx, grad_states):
        if ctx.has_initial:
            matrices, states, initial = ctx.saved_tensors
        else:
            matrices, states = ctx.saved_tensors
            initial = states.new_zeros(states.shape[1:])
        # lambda[n] = g[n] + M[n+1]^T lambda[n+1], run forwards on reversed time:
        # mu[k] = lambda[T-1-k] obeys mu[k] = M[T-k]^T mu[k-1] + g[T-1-k].
        transposed = matrices[:, [0, 2, 1, 3]]
        reversed_m = torch.cat([torch.zeros_like(transposed[:1]), transposed[1:].flip(0)], dim=0)
        adjoint = _LinearRecurrence.apply(reversed_m, grad_states.flip(0), None).flip(0)
        previous = torch.cat([initial.unsqueeze(0), states[:-1]], dim=0)
        grad_matrices = grad_inputs = grad_initial = None
        if ctx.needs_input_grad[0]:
            grad_matrices = (adjoint.unsqueeze(2) * previous.unsqueeze(1)).reshape(matrices.shape)
        if ctx.needs_input_grad[1]:
            grad_inputs = adjoint
        if ctx.has_initial and ctx.needs_input_grad[2]:
            m0 = transposed[0].view(2, 2, -1)
            grad_initial = m0[:, 0] * adjoint[0, 0] + m0[:, 1] * adjoint[0, 1]
        return grad_matrices, grad_inputs, grad_initial


def _recurrence_time_major(
    matrices: torch.Tensor, inputs: torch.Tensor, initial: Optional[torch.Tensor] = None
) -> torch.Tensor:
    return _LinearRecurrence.apply(matrices.contiguous(), inputs.contiguous(), initial)


def linear_recurrence(
    matrices: torch.Tensor, inputs: torch.Tensor, initial_state: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Solve the two-state linear recursion ``s[n] = M[n] s[n-1] + e[n]``.

    Fast (a chunked scan, no Python loop over samples) and differentiable
    with respect to all three arguments (the backward pass is the adjoint
    recursion, see the module docstring).

    Args:
        matrices: ``[batch, samples, 2, 2]`` per-sample matrices ``M[n]``, or
            ``[batch, 1, 2, 2]`` for one matrix held over all samples.
        inputs: ``[batch, samples, 2]`` driving terms ``e[n]``.
        initial_state: optional ``[batch, 2]`` state ``s[-1]`` (default 0).

    Returns:
        states ``[batch, samples, 2]``, ``s[0] .. s[samples-1]``.
    """
    check_tensor(inputs, "inputs", ndim=3, last_dim=2)
    check_tensor(matrices, "matrices", ndim=4)
    batch, steps, _ = inputs.shape
    if steps == 0:
        raise ValueError("inputs is empty (0 samples)")
    if matrices.shape[0] != batch or matrices.shape[1] not in (1, steps) or matrices.shape[2:] != (2, 2):
        raise ValueError(
            f"matrices must be [batch, samples or 1, 2, 2] = [{batch}, {steps} or 1, 2, 2], "
            f"got shape {tuple(matrices.shape)}"
        )
    initial = None
    if initial_state is not None:
        check_tensor(initial_state, "initial_state", ndim=2, last_dim=2)
        if initial_state.shape[0] != batch:
            raise ValueError(f"initial_state must be [{batch}, 2], got shape {tuple(initial_state.shape)}")
        initial = initial_state.t()
    m = matrices.expand(batch, steps, 2, 2).reshape(batch, steps, 4).permute(1, 2, 0)
    e = inputs.permute(1, 2, 0)
    states = _recurrence_time_major(m, e, initial)
    return states.permute(2, 0, 1)


# ---------------------------------------------------------------------------
# Biquads
# ---------------------------------------------------------------------------


def _as_tensor(value, name: str, like: Optional[torch.Tensor]) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return check_tensor(value, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a torch.Tensor or a number, got {type(value).__name__}")
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    device = like.device if like is not None else None
    return check_tensor(torch.tensor(float(value), dtype=dtype, device=device), name)


def _check_cutoff(cutoff_hz: torch.Tensor, sample_rate: int, name: str = "cutoff_hz") -> None:
    """Reject cutoffs outside ``(0, sample_rate / 2)`` (NaN is rejected earlier)."""
    nyquist = sample_rate / 2.0
    if cutoff_hz.numel() and bool((cutoff_hz <= 0).any()):
        raise ValueError(f"{name} must be > 0 Hz, got a minimum of {float(cutoff_hz.min()):.6g}")
    if cutoff_hz.numel() and bool((cutoff_hz >= nyquist).any()):
        raise ValueError(
            f"{name} must be below Nyquist ({nyquist:g} Hz at sample_rate={sample_rate}), "
            f"got a maximum of {float(cutoff_hz.max()):.6g}"
        )


def _check_q(q: torch.Tensor, name: str = "q") -> None:
    if q.numel() and bool((q <= 0).any()):
        raise ValueError(f"{name} must be > 0, got a minimum of {float(q.min()):.6g}")


def biquad_coefficients(
    cutoff_hz: Union[torch.Tensor, Number],
    q: Union[torch.Tensor, Number],
    sample_rate: int,
    mode: str = "lowpass",
    gain_db: Union[torch.Tensor, Number] = 0.0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Biquad coefficients from the RBJ Audio EQ Cookbook (bilinear transform).

    The analogue prototype is bilinear-transformed with its characteristic
    frequency prewarped to ``cutoff_hz``, so the digital response matches the
    analogue one exactly at the cutoff. Coefficients are normalised by ``a0``:
    the filter is ``y[n] = b0 x[n] + b1 x[n-1] + b2 x[n-2] - a1 y[n-1] - a2 y[n-2]``.
    For ``q > 0`` and ``0 < cutoff_hz < sample_rate / 2`` the poles lie inside
    the unit circle. Differentiable with respect to ``cutoff_hz``, ``q`` and
    ``gain_db``.

    Modes (``w0 = 2 pi cutoff / sample_rate``, ``alpha = sin(w0) / (2 q)``):

    * ``lowpass``, ``highpass``: 12 dB/octave, ``q = 1/sqrt(2)`` is Butterworth.
    * ``bandpass``: 0 dB gain at the centre frequency ``cutoff_hz``.
    * ``notch``: zero gain at ``cutoff_hz``, unity far from it.
    * ``allpass``: unity magnitude, phase turning by 2 pi around ``cutoff_hz``.
    * ``peaking``: ``gain_db`` at ``cutoff_hz``, 0 dB far from it.
    * ``lowshelf``, ``highshelf``: ``gain_db`` below / above ``cutoff_hz``,
      with the shelf slope set through ``q`` (``q = 1/sqrt(2)`` is the
      steepest slope without overshoot).

    Args:
        cutoff_hz: cutoff (or centre) frequency in Hz, strictly between 0 and
            Nyquist; a tensor of any shape or a number.
        q: quality factor (> 0), broadcastable with ``cutoff_hz``.
        sample_rate: Hz.
        mode: one of ``BIQUAD_MODES``.
        gain_db: gain in dB for ``peaking``, ``lowshelf``, ``highshelf``
            (ignored by the other modes), broadcastable.

    Returns:
        ``(b, a)``: ``b`` is ``[..., 3]`` (``b0, b1, b2``) and ``a`` is
        ``[..., 2]`` (``a1, a2``), where ``...`` is the broadcast shape of the
        inputs. Coefficients from ``[B, T]`` controls feed
        :func:`time_varying_biquad` directly.

    Raises:
        ValueError: unknown mode, NaN/inf values, ``cutoff_hz`` outside
            ``(0, sample_rate / 2)``, ``q <= 0``.
    """
    sample_rate = check_sample_rate(sample_rate)
    if mode not in BIQUAD_MODES:
        raise ValueError(f"mode must be one of {BIQUAD_MODES}, got {mode!r}")
    like = next((v for v in (cutoff_hz, q, gain_db) if isinstance(v, torch.Tensor)), None)
    cutoff_hz = _as_tensor(cutoff_hz, "cutoff_hz", like)
    q = _as_tensor(q, "q", like)
    gain_db = _as_tensor(gain_db, "gain_db", like)
    _check_cutoff(cutoff_hz, sample_rate)
    _check_q(q)

    w0 = cutoff_hz * (2.0 * math.pi / sample_rate)
    sin_w0 = torch.sin(w0)
    cos_w0 = torch.cos(w0)
    # 1 -/+ cos(w0) through half-angle squares: no cancellation near 0 or Nyquist.
    one_minus_cos = 2.0 * torch.sin(0.5 * w0) ** 2
    one_plus_cos = 2.0 * torch.cos(0.5 * w0) ** 2
    alpha = sin_w0 / (2.0 * q)
    one = torch.ones_like(alpha)
    if mode == "lowpass":
        b0, b1, b2 = 0.5 * one_minus_cos, one_minus_cos, 0.5 * one_minus_cos
        a0, a1, a2 = 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    elif mode == "highpass":
        b0, b1, b2 = 0.5 * one_plus_cos, -one_plus_cos, 0.5 * one_plus_cos
        a0, a1, a2 = 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    elif mode == "bandpass":
        b0, b1, b2 = alpha, torch.zeros_like(alpha), -alpha
        a0, a1, a2 = 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    elif mode == "notch":
        b0, b1, b2 = one, -2.0 * cos_w0, one
        a0, a1, a2 = 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    elif mode == "allpass":
        b0, b1, b2 = 1.0 - alpha, -2.0 * cos_w0, 1.0 + alpha
        a0, a1, a2 = 1.0 + alpha, -2.0 * cos_w0, 1.0 - alpha
    else:
        amp = torch.pow(10.0, gain_db / 40.0)
        if mode == "peaking":
            b0, b1, b2 = 1.0 + alpha * amp, -2.0 * cos_w0, 1.0 - alpha * amp
            a0, a1, a2 = 1.0 + alpha / amp, -2.0 * cos_w0, 1.0 - alpha / amp
        else:
            root = 2.0 * torch.sqrt(amp) * alpha
            plus, minus = amp + 1.0, amp - 1.0
            sign = 1.0 if mode == "lowshelf" else -1.0
            # The cookbook's high shelf is its low shelf with cos(w0) negated
            # in the shelf terms and b1, a1 negated.
            b0 = amp * (plus - sign * minus * cos_w0 + root)
            b1 = sign * 2.0 * amp * (minus - sign * plus * cos_w0)
            b2 = amp * (plus - sign * minus * cos_w0 - root)
            a0 = plus + sign * minus * cos_w0 + root
            a1 = -sign * 2.0 * (minus + sign * plus * cos_w0)
            a2 = plus + sign * minus * cos_w0 - root
    inv_a0 = 1.0 / a0
    b = torch.stack(torch.broadcast_tensors(b0 * inv_a0, b1 * inv_a0, b2 * inv_a0), dim=-1)
    a = torch.stack(torch.broadcast_tensors(a1 * inv_a0, a2 * inv_a0), dim=-1)
    return b, a


def _biquad_shapes(audio: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> None:
    batch, samples = audio.shape
    for name, coef, width in (("b", b, 3), ("a", a, 2)):
        if coef.shape[0] not in (batch, 1) or coef.shape[1] not in (samples, 1):
            raise ValueError(
                f"{name} must be [batch, samples or 1, {width}] with batch {batch} (or 1) and "
                f"samples {samples} (or 1) to match audio {tuple(audio.shape)}, got shape {tuple(coef.shape)}"
            )


def _delayed(x: torch.Tensor, delay: int) -> torch.Tensor:
    """``x[n - delay]`` along the last axis, zero before the start."""
    if delay >= x.shape[-1]:
        return torch.zeros_like(x)
    return torch.nn.functional.pad(x[..., : x.shape[-1] - delay], (delay, 0))


def _fir_part(audio: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``b0[n] x[n] + b1[n] x[n-1] + b2[n] x[n-2]``: ``[B, T]``."""
    out = audio * b[..., 0]
    out = out + _delayed(audio, 1) * b[..., 1]
    return out + _delayed(audio, 2) * b[..., 2]


def _companion_matrices(a1: torch.Tensor, a2: torch.Tensor, dim: int) -> torch.Tensor:
    """Entries of ``[[-a1, -a2], [1, 0]]`` (state ``(y[n], y[n-1])``) stacked along ``dim``."""
    return torch.stack([-a1, -a2, torch.ones_like(a1), torch.zeros_like(a1)], dim=dim)


def _all_pole_time_varying(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``y[n] = v[n] - a1[n] y[n-1] - a2[n] y[n-2]`` for ``v [B, T]``, ``a [B or 1, T or 1, 2]``."""
    batch, samples = v.shape
    a = a.expand(batch, samples, 2).permute(1, 2, 0)
    # Stacking [T, B] slices along dim 1 builds the time-major [T, 4, B] layout in one copy.
    matrices = _companion_matrices(a[:, 0], a[:, 1], dim=1)
    vt = v.t()
    inputs = torch.stack([vt, torch.zeros_like(vt)], dim=1)
    states = _recurrence_time_major(matrices, inputs)
    return states[:, 0].t()


def _all_pole_constant(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The same all-pole recursion with one coefficient pair per batch item, ``a [B or 1, 1, 2]``.

    Inside a chunk of ``L`` samples, with the filter at rest at the chunk's
    start, the output is the chunk convolved with the first ``L`` samples of
    the impulse response ``h``: one ``[L x L]`` Toeplitz matrix product per
    batch item. The state entering each chunk, ``c = (y[kL-1], y[kL-2])``,
    adds ``h[j+1] c0 - a2 h[j] c1`` at position ``j``, and follows its own
    constant two-state recursion from chunk to chunk, solved by the scan.
    """
    batch, samples = v.shape
    length = _CONSTANT_CHUNK
    a = a.expand(batch, 1, 2)
    a1, a2 = a[:, 0, 0], a[:, 0, 1]
    # Impulse response h[0 .. L]: the recursion driven by a unit impulse.
    step = _companion_matrices(a1, a2, dim=0).unsqueeze(0).expand(length + 1, 4, batch)
    impulse = v.new_zeros(length + 1, 2, batch)
    impulse[0, 0] = 1.0
    h = _recurrence_time_major(step, impulse)[:, 0].t()
    lags = torch.arange(length, device=v.device)
    lag = lags[:, None] - lags[None, :]
    toeplitz = h[:, lag.clamp(min=0)] * (lag >= 0).to(v.dtype)
    chunks = -(-samples // length)
    padded = torch.nn.functional.pad(v, (0, chunks * length - samples)).reshape(batch, chunks, length)
    zero_state = torch.matmul(padded, toeplitz.transpose(1, 2))
    # Chunk-to-chunk transition of (y[n], y[n-1]) over L samples.
    a2c = a2.unsqueeze(1)
    transition = torch.stack(
        [h[:, length], -a2 * h[:, length - 1], h[:, length - 1], -a2 * h[:, length - 2]], dim=0
    )
    ends = _recurrence_time_major(
        transition.unsqueeze(0).expand(chunks, 4, batch),
        zero_state[:, :, [length - 1, length - 2]].permute(1, 2, 0),
    )
    carries = torch.cat([ends.new_zeros(1, 2, batch), ends[:-1]], dim=0).permute(2, 0, 1)
    from_carry = h[:, None, 1:] * carries[..., 0:1] - (a2c * h[:, :length]).unsqueeze(1) * carries[..., 1:2]
    return (zero_state + from_carry).reshape(batch, chunks * length)[:, :samples]


def time_varying_biquad(audio: torch.Tensor, b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Filter audio through a biquad whose coefficients may change every sample.

    Direct form I with per-sample coefficients, starting at rest:

        y[n] = b0[n] x[n] + b1[n] x[n-1] + b2[n] x[n-2] - a1[n] y[n-1] - a2[n] y[n-2]

    The feed-forward half is a vectorised expression; the feedback half is
    the two-state linear recursion of :func:`linear_recurrence` on
    ``(y[n], y[n-1])``, solved by a chunked scan with an adjoint backward pass.
    When both ``b`` and ``a`` hold one coefficient set per batch item
    (``[B, 1, 3]`` and ``[B, 1, 2]``) a faster constant-coefficient path is
    taken (a chunked Toeplitz matrix product). Differentiable with respect to
    ``audio``, ``b`` and ``a`` on any device, in float32 and float64.

    Stability is the caller's responsibility: coefficients from
    :func:`biquad_coefficients` have their poles inside the unit circle, but
    fast modulation of a direct-form filter at high resonance can still
    misbehave; :func:`state_variable_filter` is the better choice there.
    Direct-form coefficients also lose precision at low cutoffs in float32
    (``a1`` approaches -2).

    Args:
        audio: ``[batch, samples]``.
        b: ``[batch, samples, 3]`` or ``[batch, 1, 3]`` feed-forward
            coefficients ``(b0, b1, b2)``; batch 1 broadcasts.
        a: ``[batch, samples, 2]`` or ``[batch, 1, 2]`` feedback coefficients
            ``(a1, a2)`` (``a0 = 1``); batch 1 broadcasts.

    Returns:
        ``[batch, samples]`` filtered audio.
    """
    audio = check_audio(audio)
    check_tensor(b, "b", ndim=3, last_dim=3)
    check_tensor(a, "a", ndim=3, last_dim=2)
    _biquad_shapes(audio, b, a)
    for name, coef in (("b", b), ("a", a)):
        if coef.dtype != audio.dtype:
            raise TypeError(f"{name} has dtype {coef.dtype} but audio has {audio.dtype}; they must match")
    v = _fir_part(audio, b)
    if a.shape[1] == 1 and b.shape[1] == 1:
        return _all_pole_constant(v, a)
    return _all_pole_time_varying(v, a)


# ---------------------------------------------------------------------------
# State-variable filter
# ---------------------------------------------------------------------------

SVF_OUTPUTS = ("lowpass", "bandpass", "highpass")


def state_variable_filter(
    audio: torch.Tensor,
    cutoff_hz: torch.Tensor,
    q: torch.Tensor,
    sample_rate: int,
) -> dict:
    """Topology-preserving (Zavalishin) state-variable filter, time-varying.

    Two trapezoidal integrators with gain ``g = tan(pi cutoff / sample_rate)``
    and damping ``R = 1 / (2 q)``. Per sample, from the integrator states
    ``s1, s2``:

        hp = (x - (2R + g) s1 - s2) / (1 + 2R g + g^2)
        bp = g hp + s1,   lp = g bp + s2
        s1 <- 2 bp - s1,  s2 <- 2 lp - s2

    At a constant cutoff this is the bilinear transform (prewarped at the
    cutoff) of the analogue state-variable filter, i.e. the same transfer
    functions as the RBJ lowpass/highpass/bandpass biquads. Unlike a
    direct-form biquad, it stays well-behaved under fast cutoff modulation:
    its state update is the Cayley transform ``(I - g C)^-1 (I + g C)`` of
    ``C = [[-2R, -1], [1, 0]]``, whose symmetric part is negative
    semidefinite, so the update never increases the state's norm, whatever
    the cutoff and Q of each sample. It is a linear two-state recursion per
    sample, solved with the same chunked scan as :func:`time_varying_biquad`.

    Args:
        audio: ``[batch, samples]``.
        cutoff_hz: ``[batch, samples]`` or ``[batch, 1]`` in Hz, strictly
            between 0 and Nyquist; batch 1 broadcasts.
        q: ``[batch, samples]`` or ``[batch, 1]`` resonance (> 0); ``1/sqrt(2)``
            gives a Butterworth lowpass/highpass.
        sample_rate: Hz.

    Returns:
        dict of ``[batch, samples]`` tensors: ``lowpass``, ``highpass`` and
        ``bandpass`` (normalised to 0 dB at the cutoff, i.e. ``bp / q``; the
        bare integrator output ``bp`` peaks at ``q``).
    """
    sample_rate = check_sample_rate(sample_rate)
    audio = check_audio(audio)
    batch, samples = audio.shape
    for name, value in (("cutoff_hz", cutoff_hz), ("q", q)):
        check_tensor(value, name, ndim=2)
        if value.shape[0] not in (batch, 1) or value.shape[1] not in (samples, 1):
            raise ValueError(
                f"{name} must be [batch, samples or 1] matching audio {tuple(audio.shape)}, "
                f"got shape {tuple(value.shape)}"
            )
    _check_cutoff(cutoff_hz, sample_rate)
    _check_q(q)
    g = torch.tan(cutoff_hz * (math.pi / sample_rate))
    damping = 1.0 / q  # 2R
    g, damping = torch.broadcast_tensors(g, damping)
    g = g.expand(batch, samples).t()
    damping = damping.expand(batch, samples).t()
    x = audio.t()
    scale = 1.0 / (1.0 + damping * g + g * g)
    g_scale = g * scale
    # New states as a linear map of the old ones, written so that no entry
    # is formed as a difference of nearly equal numbers when g is small.
    matrices = torch.stack(
        [
            (1.0 - damping * g - g * g) * scale,
            -2.0 * g_scale,
            2.0 * g_scale,
            (1.0 + damping * g - g * g) * scale,
        ],
        dim=1,
    )
    inputs = torch.stack([2.0 * g_scale * x, 2.0 * g * g_scale * x], dim=1)
    states = _recurrence_time_major(matrices, inputs)
    s1 = torch.cat([x.new_zeros(1, batch), states[:-1, 0]], dim=0)
    s2 = torch.cat([x.new_zeros(1, batch), states[:-1, 1]], dim=0)
    highpass = scale * (x - (damping + g) * s1 - s2)
    bandpass = g * highpass + s1
    lowpass = g * bandpass + s2
    return {
        "lowpass": lowpass.t(),
        "bandpass": (bandpass * damping).t(),
        "highpass": highpass.t(),
    }
