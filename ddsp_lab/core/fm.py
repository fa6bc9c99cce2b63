"""Differentiable FM synthesis operators with DX7 routing and self-feedback.

An *operator* is a sine oscillator with a linear output gain ``g``. Its phase
argument is its own carrier phase plus the outputs of the operators that
modulate it. The units follow the DX7 (Dexed's msfa engine):

* a modulator with gain ``g`` adds ``g * sin(.)`` **cycles** to its target's
  phase, i.e. ``2*pi*g*sin(.)`` radians: its peak modulation index is
  ``2*pi*g`` radians (full scale on the DX7 is ``g = 2``, index ``4*pi``);
* all modulation is same-sample: operators are evaluated in a topological
  order of the routing (OP6 -> OP1 for the DX7 algorithms), so every
  modulator is computed before the operators it modulates;
* the outputs of the carriers are summed (no division by the number of
  carriers; Dexed's float output is this sum divided by 16);
* the self-feedback operator adds ``beta * (y[n-1] + y[n-2]) / 2`` cycles to
  its own phase, where ``y`` are its previous two outputs (gain included) and
  ``beta = 2^(FB - 8)`` for the DX7 feedback setting ``FB = 1..7``
  (:func:`dx7_feedback_amount` gives a continuous version, ``FB = 0`` is 0).

Phases are in radians. Pass them wrapped (for example from
:func:`~ddsp_lab.core.phase.accumulate_phase` or
:func:`~ddsp_lab.core.phase.frame_start_phases`): a float32 phase that has
grown over seconds has lost its precision before it gets here.

Operators without feedback are plain vectorised tensor operations (one
``sin`` per operator over the whole signal) and autograd differentiates them.
The feedback operator is a per-sample nonlinear recursion

    y[n] = g[n] * sin(a[n] + pi * beta * (y[n-1] + y[n-2]))

(``a`` = carrier phase plus modulation, radians), which no vectorised
expression computes. It is a custom autograd function (see
:func:`self_feedback_operator`): on CPU its forward pass is a compiled loop
over samples and its backward pass is the adjoint recursion, also compiled,
run backwards in time; on other devices a parallel fixed-point iteration is
used where it provably converges, a sequential loop otherwise, and the
adjoint is solved by the parallel scan of :mod:`ddsp_lab.core.iir`.

Aliasing: FM is not band-limited. Sidebands spread over about
``f_carrier +- (index + 1) * f_modulator`` (Carson's rule) and whatever lands
above Nyquist folds back. Nothing here removes it, on purpose (the DX7 and its
emulators alias too); :func:`carson_bandwidth_hz` estimates how far each
operator's spectrum reaches so that callers can check or limit it.
"""

from __future__ import annotations

import functools
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .checks import check_tensor

TWO_PI = 2.0 * math.pi

#: DX7 feedback settings run from 0 (off) to 7 (strongest).
MAX_DX7_FEEDBACK = 7.0

#: ``feedback_method`` values accepted by :func:`self_feedback_operator`.
FEEDBACK_METHODS = ("auto", "compiled", "fixed_point", "sequential")

# The fixed-point iteration needs ceil(log(eps / 2) / log(L)) sweeps for loop
# gain L (see _fixed_point_sweeps); beyond this many the sequential loop is
# preferred (in float32 this admits L up to about 0.92).
_MAX_FIXED_POINT_SWEEPS = 200

FeedbackLike = Union[float, int, torch.Tensor]


# ---------------------------------------------------------------------------
# Feedback amount
# ---------------------------------------------------------------------------


def dx7_feedback_amount(feedback: FeedbackLike) -> FeedbackLike:
    """Feedback amount ``beta`` of a DX7 feedback setting, continuous in ``FB``.

    The DX7 shifts the averaged output right by ``8 - FB`` bits for
    ``FB = 1..7`` and turns feedback off at ``FB = 0``, so
    ``beta = 2^(FB - 8)`` for ``FB >= 1`` (``FB = 7`` adds half the averaged
    output, in cycles, to the phase). Between 0 and 1 the amount ramps
    linearly, ``beta = FB / 128``: it is continuous at 1, exactly 0 at 0,
    and its derivative is positive everywhere, so a learned setting can leave
    0. Integer settings give the DX7's values exactly.

    Args:
        feedback: DX7 feedback setting in ``[0, 7]``, a number or a tensor of
            any shape (differentiable).

    Returns:
        ``beta`` (cycles of phase offset per unit of averaged output), a
        float for a number, else a tensor shaped like ``feedback``.

    Raises:
        ValueError: a setting outside ``[0, 7]`` or not finite.
    """
    if isinstance(feedback, torch.Tensor):
        check_tensor(feedback, "feedback")
        if feedback.numel() and bool(((feedback < 0) | (feedback > MAX_DX7_FEEDBACK)).any()):
            raise ValueError(
                f"feedback must be a DX7 feedback setting in [0, 7], got values in "
                f"[{float(feedback.min()):.6g}, {float(feedback.max()):.6g}]"
            )
        exponential = torch.exp2(torch.clamp(feedback, min=1.0) - 8.0)
        return torch.where(feedback >= 1.0, exponential, feedback / 128.0)
    value = _check_number(feedback, "feedback")
    if not 0.0 <= value <= MAX_DX7_FEEDBACK:
        raise ValueError(f"feedback must be a DX7 feedback setting in [0, 7], got {value}")
    return 2.0 ** (value - 8.0) if value >= 1.0 else value / 128.0


def dx7_feedback_setting(amount: FeedbackLike) -> FeedbackLike:
    """Inverse of :func:`dx7_feedback_amount`: the (fractional) DX7 setting of ``beta``.

    Args:
        amount: ``beta`` in ``[0, 0.5]``, a number or a tensor.

    Returns:
        ``FB`` in ``[0, 7]``; round it to write a patch.
    """
    if isinstance(amount, torch.Tensor):
        check_tensor(amount, "amount")
        if amount.numel() and bool(((amount < 0) | (amount > 0.5)).any()):
            raise ValueError("amount must be a feedback amount in [0, 0.5] (DX7 settings 0..7)")
        logarithmic = torch.log2(torch.clamp(amount, min=1.0 / 128.0)) + 8.0
        return torch.where(amount >= 1.0 / 128.0, logarithmic, amount * 128.0)
    value = _check_number(amount, "amount")
    if not 0.0 <= value <= 0.5:
        raise ValueError(f"amount must be a feedback amount in [0, 0.5] (DX7 settings 0..7), got {value}")
    return math.log2(value) + 8.0 if value >= 1.0 / 128.0 else value * 128.0


def _check_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number or a torch.Tensor, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


# ---------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------


def operator_order(modulation_matrix: torch.Tensor) -> List[int]:
    """An evaluation order in which every modulator precedes its targets.

    Args:
        modulation_matrix: ``[N, N]``; a non-zero ``M[dst, src]`` means
            operator index ``src`` modulates operator index ``dst``.

    Returns:
        Operator indices (0-based, index ``i`` is ``OP(i + 1)``) in a
        topological order. Among operators that are ready at the same time
        the highest index goes first, so the DX7 algorithms evaluate
        OP6 -> OP1 as the hardware does.

    Raises:
        ValueError: the routing has a cycle (self-modulation on the diagonal
            included; self-feedback is ``feedback_operator``'s job).
    """
    matrix = _check_matrix(modulation_matrix)
    links = (matrix != 0).tolist()
    count = len(links)
    for k in range(count):
        if links[k][k]:
            raise ValueError(
                f"modulation_matrix has a non-zero diagonal entry for OP{k + 1}: an operator cannot "
                "modulate itself in the same sample; use feedback_operator for self-feedback"
            )
    pending = [sum(row) for row in links]
    order: List[int] = []
    ready = [k for k in range(count) if pending[k] == 0]
    while ready:
        src = max(ready)
        ready.remove(src)
        order.append(src)
        for dst in range(count):
            if links[dst][src]:
                pending[dst] -= 1
                if pending[dst] == 0:
                    ready.append(dst)
    if len(order) < count:
        stuck = ", ".join(f"OP{k + 1}" for k in range(count) if k not in order)
        raise ValueError(
            f"modulation_matrix has a cycle through {stuck}: same-sample modulation must form a "
            "directed acyclic graph (feedback loops are only possible through feedback_operator)"
        )
    return order


def _check_matrix(modulation_matrix) -> torch.Tensor:
    if not isinstance(modulation_matrix, torch.Tensor):
        raise TypeError(
            f"modulation_matrix must be a torch.Tensor [N, N], got {type(modulation_matrix).__name__}"
        )
    check_tensor(modulation_matrix, "modulation_matrix", ndim=2)
    rows, cols = modulation_matrix.shape
    if rows != cols or rows == 0:
        raise ValueError(f"modulation_matrix must be square [N, N], got shape {tuple(modulation_matrix.shape)}")
    return modulation_matrix


def carson_bandwidth_hz(
    frequencies_hz: torch.Tensor, amplitudes: torch.Tensor, modulation_matrix: torch.Tensor
) -> torch.Tensor:
    """Carson's-rule estimate of the highest significant frequency of every operator.

    For a sine carrier at ``fc`` modulated by a sine at ``fm`` with peak
    index ``I = 2*pi*|g|`` radians, about 98 % of the power lies within
    ``fc +- (I + 1) * fm`` (Carson's rule). Through a routing graph this is
    applied recursively and conservatively: operator ``k`` reaches

        edge[k] = f[k] + sum_src |M[k, src]| * (2*pi*|g[src]| + 1) * edge[src]

    (a modulator that is itself modulated is represented by its own upper
    edge). Self-feedback is not included. A carrier whose edge is at or above
    ``sample_rate / 2`` aliases audibly; lowering the modulators' gains or
    rendering at a higher sample rate avoids it.

    Args:
        frequencies_hz: ``[..., N]`` operator frequencies in Hz.
        amplitudes: ``[..., N]`` operator gains ``g`` (the same units as
            :func:`fm_render`).
        modulation_matrix: ``[N, N]`` routing.

    Returns:
        ``[..., N]`` upper spectral edge of each operator in Hz.
    """
    check_tensor(frequencies_hz, "frequencies_hz")
    check_tensor(amplitudes, "amplitudes")
    matrix = _check_matrix(modulation_matrix)
    count = matrix.shape[0]
    if frequencies_hz.shape[-1] != count or amplitudes.shape != frequencies_hz.shape:
        raise ValueError(
            f"frequencies_hz and amplitudes must both be [..., {count}] (one entry per operator of "
            f"modulation_matrix), got {tuple(frequencies_hz.shape)} and {tuple(amplitudes.shape)}"
        )
    weights = matrix.abs().to(frequencies_hz)
    edges: List[Optional[torch.Tensor]] = [None] * count
    spread = TWO_PI * amplitudes.abs() + 1.0
    for k in operator_order(matrix):
        edge = frequencies_hz[..., k].abs()
        for src in range(count):
            if float(weights[k, src]) != 0.0:
                edge = edge + weights[k, src] * spread[..., src] * edges[src]
        edges[k] = edge
    return torch.stack(edges, dim=-1)


# ---------------------------------------------------------------------------
# The self-feedback operator
# ---------------------------------------------------------------------------


# Constants of the sine in the forward kernel. pi = _PI_A + _PI_B + _PI_C
# (Cody and Waite's split, as in Cephes): _PI_A has 23 significant bits, so
# m * _PI_A is exact for |m| < 2^30, i.e. for arguments up to about 3e9; the
# reduced argument is then good to a few units in its last place. Larger
# arguments are wrapped to one cycle before the kernel runs
# (_SIN_ARGUMENT_LIMIT leaves a wide margin).
_INV_PI = 1.0 / math.pi
_PI_A = 3.14159250259399414062
_PI_B = 1.509957883172319270672e-7
_PI_C = 1.07806057163162381058e-14
_SIN_ARGUMENT_LIMIT = 1e8

# Time steps per tile of the forward kernel: three [_TILE, rows] buffers stay
# in the first-level cache for batches up to a few dozen rows.
_TILE = 64
(_SIN_1, _SIN_2, _SIN_3, _SIN_4, _SIN_5, _SIN_6, _SIN_7, _SIN_8, _SIN_9, _SIN_10) = (
    (-1.0) ** j / math.factorial(2 * j + 1) for j in range(1, 11)
)


@functools.lru_cache(maxsize=None)
def _compiled_kernels():
    """Compile (once, cached on disk) the forward loop and the adjoint loop.

    numba is imported here rather than at module level so that importing
    ddsp_lab does not pay for it. The kernels run on one thread and release
    the GIL. (Splitting rows across threads was measured: with 2 cores it
    gained 10 % in isolation and lost 50 % right after torch operations,
    whose worker threads keep spinning for a while.)
    """
    import numba

    def jit(function):
        try:
            return numba.njit(cache=True, nogil=True, error_model="numpy")(function)
        except RuntimeError:
            # No writable cache location (a read-only install without a user
            # cache directory): compile in memory on every start instead.
            return numba.njit(nogil=True, error_model="numpy")(function)

    @jit
    def forward(arguments, amplitudes, beta, state, out):
        # Each step depends on the previous one through a sine, but the rows
        # are independent. The signal is processed in tiles of _TILE steps
        # copied time-major into small buffers, so that the inner loop runs
        # across rows over contiguous memory without a branch: it is
        # vectorised (SIMD), and one row's sine latency hides behind the
        # others'. The tiles stay in cache, unlike transposed copies of the
        # whole signal.
        width, steps = arguments.shape
        k = np.empty(width)
        y1 = np.empty(width)
        y2 = np.empty(width)
        for i in range(width):
            k[i] = math.pi * beta[i]
            y1[i] = state[i, 0]
            y2[i] = state[i, 1]
        too_large = 0
        tile_arguments = np.empty((_TILE, width), arguments.dtype)
        tile_amplitudes = np.empty((_TILE, width), amplitudes.dtype)
        tile_out = np.empty((_TILE, width), out.dtype)
        for start in range(0, steps, _TILE):
            length = min(_TILE, steps - start)
            for i in range(width):
                argument_row = arguments[i, start:start + length]
                amplitude_row = amplitudes[i, start:start + length]
                for j in range(length):
                    tile_arguments[j, i] = argument_row[j]
                    tile_amplitudes[j, i] = amplitude_row[j]
            for j in range(length):
                argument_row = tile_arguments[j]
                amplitude_row = tile_amplitudes[j]
                out_row = tile_out[j]
                for i in range(width):
                    u = argument_row[i] + k[i] * (y1[i] + y2[i])
                    too_large |= abs(u) >= _SIN_ARGUMENT_LIMIT
                    # sin(u): u = m*pi + r with |r| <= pi/2, the odd Taylor
                    # series of sin(r) to r^21 (truncation below 2e-18), (-1)^m.
                    m = math.floor(u * _INV_PI + 0.5)
                    r = ((u - m * _PI_A) - m * _PI_B) - m * _PI_C
                    r2 = r * r
                    p = _SIN_10 * r2 + _SIN_9
                    p = p * r2 + _SIN_8
                    p = p * r2 + _SIN_7
                    p = p * r2 + _SIN_6
                    p = p * r2 + _SIN_5
                    p = p * r2 + _SIN_4
                    p = p * r2 + _SIN_3
                    p = p * r2 + _SIN_2
                    p = p * r2 + _SIN_1
                    half = 0.5 * m
                    sine = (r + r * r2 * p) * (1.0 - 4.0 * (half - math.floor(half)))
                    out_row[i] = amplitude_row[i] * sine
                    # Continue from the stored (rounded) value: it is what
                    # the backward pass sees.
                    y2[i] = y1[i]
                    y1[i] = out_row[i]
            for i in range(width):
                out_row = out[i, start:start + length]
                for j in range(length):
                    out_row[j] = tile_out[j, i]
        # Arguments beyond the exact range of the reduction make the caller
        # wrap them and run again.
        return too_large

    @jit
    def adjoint(grad_out, coupling, lam):
        # lam[n] = grad_out[n] + coupling[n+1] * lam[n+1] + coupling[n+2] * lam[n+2],
        # run backwards in time, one row after the other.
        rows, steps = grad_out.shape
        for b in range(rows):
            lam1 = 0.0
            lam2 = 0.0
            c1 = 0.0
            c2 = 0.0
            for n in range(steps - 1, -1, -1):
                value = grad_out[b, n] + c1 * lam1 + c2 * lam2
                lam[b, n] = value
                lam2 = lam1
                lam1 = value
                c2 = c1
                c1 = coupling[b, n]

    return forward, adjoint


def _shifted_outputs(outputs: torch.Tensor, state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(y[n-1], y[n-2])`` for every ``n``, taking ``y[-1], y[-2]`` from ``state``."""
    history = torch.cat([state[:, [1, 0]], outputs], dim=1)
    steps = outputs.shape[1]
    return history[:, 1:steps + 1], history[:, :steps]


def _loop_gain(amplitudes: torch.Tensor, beta: torch.Tensor) -> float:
    """Sup-norm Lipschitz constant ``2*pi*|beta|*max|g|`` of one fixed-point sweep."""
    per_row = amplitudes.abs().amax(dim=1) * beta.abs()
    return TWO_PI * float(per_row.max()) if per_row.numel() else 0.0


def _fixed_point_sweeps(loop_gain: float, steps: int, dtype: torch.dtype) -> int:
    """Sweeps after which the fixed-point iteration has converged.

    After ``k`` sweeps the first ``k`` samples are exact whatever the gain
    (each sample depends only on earlier ones), so ``steps`` sweeps always
    suffice. With loop gain ``L < 1`` the sweep is a contraction in the
    sup-norm and the error of the starting guess (at most ``2 max|g|``)
    shrinks by ``L`` per sweep: ``ceil(log(eps / 2) / log(L))`` sweeps bring it
    below ``eps * max|g|``.
    """
    if loop_gain == 0.0:
        return 1
    bound = steps
    if loop_gain < 1.0:
        eps = torch.finfo(dtype).eps
        bound = min(bound, math.ceil(math.log(eps / 2.0) / math.log(loop_gain)))
    return bound


def _forward_compiled(arguments, amplitudes, beta, state) -> torch.Tensor:
    forward, _ = _compiled_kernels()
    outputs = torch.empty(arguments.shape, dtype=arguments.dtype)
    arrays = (_as_numpy(amplitudes), _as_numpy(beta.double()), _as_numpy(state.double()), outputs.numpy())
    if forward(_as_numpy(arguments), *arrays):
        # Some argument exceeded the range of the kernel's exact reduction:
        # wrap the given ones to one cycle (the feedback term stays small).
        forward(_as_numpy(torch.remainder(arguments.detach(), TWO_PI)), *arrays)
    return outputs.to(arguments.device)


def _forward_fixed_point(arguments, amplitudes, beta, state, sweeps: int) -> torch.Tensor:
    k = (math.pi * beta).unsqueeze(1)
    outputs = amplitudes * torch.sin(arguments)
    for _ in range(sweeps):
        previous1, previous2 = _shifted_outputs(outputs, state)
        outputs = amplitudes * torch.sin(arguments + k * (previous1 + previous2))
    return outputs


def _forward_sequential(arguments, amplitudes, beta, state) -> torch.Tensor:
    k = math.pi * beta
    a, g = arguments.t().contiguous(), amplitudes.t().contiguous()
    outputs = torch.empty_like(a)
    y1, y2 = state[:, 0], state[:, 1]
    for n in range(a.shape[0]):
        outputs[n] = g[n] * torch.sin(a[n] + k * (y1 + y2))
        y1, y2 = outputs[n], y1
    return outputs.t().contiguous()


def _adjoint_compiled(grad_out: torch.Tensor, coupling: torch.Tensor) -> torch.Tensor:
    _, adjoint = _compiled_kernels()
    lam = torch.empty(grad_out.shape, dtype=grad_out.dtype)
    adjoint(_as_numpy(grad_out), _as_numpy(coupling), lam.numpy())
    return lam.to(grad_out.device)


def _adjoint_scan(grad_out: torch.Tensor, coupling: torch.Tensor) -> torch.Tensor:
    """The adjoint recursion solved by the parallel scan (any device)."""
    from .iir import linear_recurrence

    # In reversed time r = T-1-n the recursion runs forwards:
    # s[r] = [[c'[r-1], c'[r-2]], [1, 0]] s[r-1] + [e[r], 0] on s[r] = (lam'[r], lam'[r-1]).
    c = coupling.flip(1)
    zero = torch.zeros_like(c[:, :1])
    c_prev1 = torch.cat([zero, c[:, :-1]], dim=1)
    c_prev2 = torch.cat([zero, zero, c[:, :-2]], dim=1)[:, : c.shape[1]]
    matrices = torch.stack([c_prev1, c_prev2, torch.ones_like(c), torch.zeros_like(c)], dim=-1)
    inputs = torch.stack([grad_out.flip(1), torch.zeros_like(c)], dim=-1)
    return linear_recurrence(matrices.reshape(*c.shape, 2, 2), inputs)[..., 0].flip(1)


def _as_numpy(tensor: torch.Tensor):
    return tensor.detach().cpu().contiguous().numpy()


class _SelfFeedback(torch.autograd.Function):
    @staticmethod
    def forward(ctx, arguments, amplitudes, beta, state, method):
        if method == "auto" and arguments.device.type == "cpu":
            method = "compiled"
        sweeps = 0
        if method in ("auto", "fixed_point"):
            sweeps = _fixed_point_sweeps(_loop_gain(amplitudes, beta), arguments.shape[1], arguments.dtype)
            if method == "auto":
                method = "fixed_point" if sweeps <= _MAX_FIXED_POINT_SWEEPS else "sequential"
        if method == "compiled":
            outputs = _forward_compiled(arguments, amplitudes, beta, state)
        elif method == "fixed_point":
            outputs = _forward_fixed_point(arguments, amplitudes, beta, state, sweeps)
        else:
            outputs = _forward_sequential(arguments, amplitudes, beta, state)
        ctx.compiled = method == "compiled"
        ctx.save_for_backward(arguments, amplitudes, beta, state, outputs)
        return outputs

    @staticmethod
    def backward(ctx, grad_out):
        arguments, amplitudes, beta, state, outputs = ctx.saved_tensors
        k = (math.pi * beta).unsqueeze(1)
        previous1, previous2 = _shifted_outputs(outputs, state)
        history = previous1 + previous2
        u = torch.addcmul(arguments, k, history)
        slope = amplitudes * torch.cos(u)  # dy[n] / du[n]
        # y[n-1] and y[n-2] enter u[n] with weight k, so the adjoint
        # lam = dL/dy obeys lam[n] = grad_out[n] + k*slope[n+1]*lam[n+1] + k*slope[n+2]*lam[n+2].
        coupling = k * slope
        if ctx.compiled:
            lam = _adjoint_compiled(grad_out, coupling)
        else:
            lam = _adjoint_scan(grad_out, coupling)
        grad_u = lam * slope
        needs = ctx.needs_input_grad
        grad_amplitudes = lam * torch.sin(u) if needs[1] else None
        grad_beta = math.pi * (grad_u * history).sum(dim=1) if needs[2] else None
        grad_state = None
        if needs[3]:
            later = grad_u[:, 1] if grad_u.shape[1] > 1 else torch.zeros_like(grad_u[:, 0])
            grad_state = torch.stack([k[:, 0] * (grad_u[:, 0] + later), k[:, 0] * grad_u[:, 0]], dim=1)
        return grad_u if needs[0] else None, grad_amplitudes, grad_beta, grad_state, None


def self_feedback_operator(
    arguments: torch.Tensor,
    amplitudes: torch.Tensor,
    feedback: FeedbackLike,
    state: Optional[torch.Tensor] = None,
    method: str = "auto",
) -> Tuple[torch.Tensor, torch.Tensor]:
    """An operator with DX7 self-feedback, differentiable in every input.

    Computes ``y[n] = g[n] * sin(a[n] + pi * beta * (y[n-1] + y[n-2]))``:
    the averaged previous two outputs times ``beta``, in cycles, offset the
    phase (``2*pi * beta * (y[n-1] + y[n-2]) / 2`` radians).

    Methods (all give the same result up to rounding):

    * ``"compiled"``: a compiled loop over samples on the host (tensors on
      another device are copied there and back), vectorised across the rows
      of the batch; its backward pass is the adjoint recursion, also
      compiled, run backwards in time. About 4 ms forward for 16 rows of
      64000 samples on one thread.
    * ``"fixed_point"``: the whole signal is updated at once,
      ``y <- g * sin(a + pi*beta*(shift1(y) + shift2(y)))``, starting from
      ``g * sin(a)``. Every sweep makes one more leading sample exact, so
      ``T`` sweeps are always exact; when the loop gain
      ``L = 2*pi*|beta|*max|g|`` is below 1 a sweep is a contraction (sup
      norm) and ``ceil(log(eps/2) / log(L))`` sweeps reach the working
      precision ``eps``.
    * ``"sequential"``: one vectorised step per sample (slow: ``T`` steps).
    * ``"auto"`` (default): ``"compiled"`` on CPU; elsewhere
      ``"fixed_point"`` when it needs at most 200 sweeps (``L`` up to about
      0.92 in float32), else ``"sequential"``. Strong feedback on a GPU is
      usually fastest with ``"compiled"``.

    The non-compiled methods solve the adjoint recursion with the parallel
    scan of :func:`~ddsp_lab.core.iir.linear_recurrence`.

    Args:
        arguments: ``[B, T]`` phase argument without feedback (carrier phase
            plus modulation), radians.
        amplitudes: ``[B, T]`` linear gains ``g``.
        feedback: ``beta`` (see :func:`dx7_feedback_amount`), a number or a
            tensor ``[]`` or ``[B]``.
        state: optional ``[B, 2]`` previous outputs ``(y[-1], y[-2])`` (most
            recent first), default zeros.
        method: see above.

    Returns:
        ``(outputs [B, T], state [B, 2])`` where ``state = (y[T-1], y[T-2])``
        continues the recursion in the next block.
    """
    check_tensor(arguments, "arguments", ndim=2)
    check_tensor(amplitudes, "amplitudes", ndim=2)
    if amplitudes.shape != arguments.shape:
        raise ValueError(
            f"amplitudes must have the shape of arguments {tuple(arguments.shape)}, got {tuple(amplitudes.shape)}"
        )
    if arguments.shape[1] == 0:
        raise ValueError("arguments is empty (0 samples)")
    if method not in FEEDBACK_METHODS:
        raise ValueError(f"method must be one of {FEEDBACK_METHODS}, got {method!r}")
    _feedback_per_row(feedback, arguments.shape[0], arguments)
    _check_state(state, arguments.shape[0], arguments)
    return _self_feedback(arguments, amplitudes, feedback, state, method)


def _self_feedback(arguments, amplitudes, feedback, state, method):
    """:func:`self_feedback_operator` without the checks (for callers that made its inputs)."""
    rows = arguments.shape[0]
    beta = _feedback_per_row(feedback, rows, arguments, check=False)
    state = _check_state(state, rows, arguments, check=False)
    outputs = _SelfFeedback.apply(arguments, amplitudes, beta, state, method)
    return outputs, _final_state(outputs, state)


def _feedback_per_row(
    feedback: FeedbackLike, rows: int, like: torch.Tensor, check: bool = True
) -> torch.Tensor:
    """``beta`` as a ``[rows]`` tensor like ``like`` (``check`` validates values too)."""
    if isinstance(feedback, torch.Tensor):
        if check:
            check_tensor(feedback, "feedback", ndim=(0, 1))
        if feedback.dim() not in (0, 1) or (feedback.dim() == 1 and feedback.shape[0] not in (1, rows)):
            raise ValueError(f"feedback must be a scalar or [batch] = [{rows}], got shape {tuple(feedback.shape)}")
        return feedback.to(device=like.device, dtype=like.dtype).reshape(-1).expand(rows)
    value = _check_number(feedback, "feedback")
    return torch.full((rows,), value, device=like.device, dtype=like.dtype)


def _check_state(
    state: Optional[torch.Tensor], rows: int, like: torch.Tensor, check: bool = True
) -> torch.Tensor:
    """The feedback state as ``[rows, 2]`` like ``like``, zeros for ``None`` (``check`` validates values too)."""
    if state is None:
        return like.new_zeros(rows, 2)
    if check:
        check_tensor(state, "feedback_state", ndim=2, last_dim=2)
    if state.dim() != 2 or state.shape != (rows, 2):
        raise ValueError(f"feedback_state must be [batch, 2] = [{rows}, 2], got shape {tuple(state.shape)}")
    return state.to(device=like.device, dtype=like.dtype)


def _final_state(outputs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
    """``(y[T-1], y[T-2])``, reaching into ``state`` when ``T = 1``."""
    if outputs.shape[1] >= 2:
        return outputs[:, [-1, -2]]
    return torch.stack([outputs[:, 0], state[:, 0]], dim=1)


# ---------------------------------------------------------------------------
# Rendering a routing graph
# ---------------------------------------------------------------------------


def _weights(values: torch.Tensor, keep_zeros: bool = False) -> List[Union[float, torch.Tensor]]:
    """Entries as Python floats (cheap constants), or as tensors where gradients must reach them.

    Zero entries of a tensor that requires gradients stay tensors only with
    ``keep_zeros``; otherwise they are absent (an edge that is not there).
    """
    if values.requires_grad:
        present = (values.detach() != 0).tolist()
        return [values[i] if keep_zeros or present[i] else 0.0 for i in range(values.shape[0])]
    return [float(v) for v in values.tolist()]


def _is_zero(feedback: FeedbackLike) -> bool:
    """Whether ``feedback`` is a constant zero (the loop can then be skipped)."""
    if isinstance(feedback, torch.Tensor):
        return not feedback.requires_grad and not bool(feedback.any())
    return feedback == 0


def _accumulate(total, owned: bool, value: torch.Tensor, weight):
    """``total + weight * value`` (``total`` may be ``None``), in place where ``total`` is ours.

    Returns ``(result, owned)``; ``owned`` says whether ``result`` is a tensor
    made here that nothing else references, so that later terms may be added
    in place (saving one allocation and one pass per term).
    """
    if not isinstance(weight, float):
        term = value * weight
        return (term, True) if total is None else (total + term, True)
    if total is None:
        return (value, False) if weight == 1.0 else (value * weight, True)
    if owned:
        return total.add_(value, alpha=weight), True
    return torch.add(total, value, alpha=weight), True


def _render(
    phases: Sequence[torch.Tensor],
    amplitudes: Sequence[torch.Tensor],
    modulation_matrix: torch.Tensor,
    carriers: torch.Tensor,
    feedback_index: Optional[int],
    feedback: FeedbackLike,
    feedback_state: Optional[torch.Tensor],
    feedback_method: str,
    phases_owned: bool = False,
) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Render operators given as ``N`` tensors ``[B, T]`` each (validated by the caller).

    With ``phases_owned`` the phase tensors are scratch space made by the
    caller for this call alone: modulation is then added to them in place.
    """
    count = len(phases)
    order = operator_order(modulation_matrix)
    rows = [_weights(modulation_matrix[dst]) for dst in range(count)]
    carrier_weights = _weights(carriers, keep_zeros=True)
    arguments = list(phases)
    owned = [phases_owned] * count
    audio, audio_owned = None, False
    state_out = None
    for k in order:
        argument, gain = arguments[k], amplitudes[k]
        arguments[k] = None
        if k == feedback_index and not _is_zero(feedback):
            output, state_out = _self_feedback(argument, gain, feedback, feedback_state, feedback_method)
        elif owned[k] and not (torch.is_grad_enabled() and (argument.requires_grad or gain.requires_grad)):
            output = argument.sin_().mul_(gain)
        else:
            output = gain * torch.sin(argument)
        if k == feedback_index and state_out is None:
            state = _check_state(feedback_state, output.shape[0], output, check=False)
            state_out = _final_state(output, state)
        for dst in range(count):
            weight = rows[dst][k]
            if isinstance(weight, float) and weight == 0.0:
                continue
            # The modulator's output is in cycles, the target's phase in radians.
            arguments[dst], owned[dst] = _accumulate(arguments[dst], owned[dst], output, TWO_PI * weight)
        weight = carrier_weights[k]
        if not (isinstance(weight, float) and weight == 0.0):
            audio, audio_owned = _accumulate(audio, audio_owned, output, weight)
    if audio is None:
        audio = torch.zeros_like(phases[0])
    return audio, state_out


def _check_routing(modulation_matrix, carriers, feedback_operator, count: int, like: torch.Tensor):
    matrix = _check_matrix(modulation_matrix)
    if matrix.shape[0] != count:
        raise ValueError(
            f"modulation_matrix must be [{count}, {count}] for {count} operators, got {tuple(matrix.shape)}"
        )
    if not isinstance(carriers, torch.Tensor):
        try:
            carriers = torch.as_tensor(carriers, dtype=like.dtype)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"carriers must be a tensor or a sequence of {count} numbers") from error
    check_tensor(carriers, "carriers", ndim=1)
    if carriers.shape[0] != count:
        raise ValueError(f"carriers must have {count} entries (one per operator), got {carriers.shape[0]}")
    if feedback_operator is not None:
        if isinstance(feedback_operator, bool) or not isinstance(feedback_operator, int):
            raise TypeError(
                f"feedback_operator must be an operator number 1..{count} or None, "
                f"got {type(feedback_operator).__name__}"
            )
        if not 1 <= feedback_operator <= count:
            raise ValueError(
                f"feedback_operator must be an operator number 1..{count} (OP1 is 1), got {feedback_operator}"
            )
    return matrix.to(device=like.device, dtype=like.dtype), carriers.to(device=like.device, dtype=like.dtype)


def fm_render(
    phases: torch.Tensor,
    amplitudes: torch.Tensor,
    modulation_matrix: torch.Tensor,
    carriers,
    feedback_operator: Optional[int] = None,
    feedback: FeedbackLike = 0.0,
    feedback_state: Optional[torch.Tensor] = None,
    return_state: bool = False,
    feedback_method: str = "auto",
):
    """Render a network of FM operators at audio rate.

    Operator ``k`` (index ``k`` of the last axis is ``OP(k + 1)``) outputs
    ``y_k = g_k * sin(phi_k + 2*pi * sum_src M[k, src] * y_src)``; the
    modulators' outputs are in cycles, so a modulator with gain ``g`` has
    peak index ``2*pi*g`` radians. Operators are evaluated in
    :func:`operator_order` (OP6 -> OP1 for DX7 routings) within the same
    sample. The feedback operator, if any, adds ``beta * (y[n-1] + y[n-2]) / 2``
    cycles to its own phase (see :func:`self_feedback_operator`).

    The DX7 algorithms come from :mod:`ddsp_lab.dx7.algorithms`::

        fm_render(phases, gains, modulation_matrix(5), carrier_mask(5),
                  feedback_operator=get_algorithm(5).feedback_operator,
                  feedback=dx7_feedback_amount(6))

    Args:
        phases: ``[B, T, N]`` carrier phase of each operator in radians,
            wrapped (or at least small: float32 keeps about 7 digits of the
            whole argument).
        amplitudes: ``[B, T, N]`` linear gains ``g`` at audio rate.
        modulation_matrix: ``[N, N]``, ``M[dst, src]`` non-zero when operator
            ``src`` modulates ``dst`` (usually 0/1; other values scale the
            modulation and are differentiable). Zero entries are absent
            edges and get no gradient. Any acyclic routing works; cycles
            raise ``ValueError``.
        carriers: ``[N]`` weight of each operator in the output (a 0/1 mask
            or any weights; a sequence of numbers is accepted). A tensor
            that requires gradients gets them for every entry, zeros
            included.
        feedback_operator: operator **number** ``1..N`` (as in
            :attr:`ddsp_lab.dx7.algorithms.Algorithm.feedback_operator`) with
            self-feedback, or ``None``.
        feedback: amount ``beta`` (:func:`dx7_feedback_amount` of the DX7
            setting), a number or a tensor ``[]`` / ``[B]``, differentiable.
        feedback_state: optional ``[B, 2]`` previous outputs ``(y[-1], y[-2])``
            of the feedback operator, to continue a stream.
        return_state: also return the feedback operator's final state.
        feedback_method: see :func:`self_feedback_operator`.

    Returns:
        audio ``[B, T]``: the weighted sum of the carriers (Dexed's output
        level is this divided by 16). With ``return_state``, a tuple
        ``(audio, state)`` where ``state`` is ``[B, 2]`` (zeros without a
        feedback operator).
    """
    check_tensor(phases, "phases", ndim=3)
    check_tensor(amplitudes, "amplitudes", ndim=3)
    if amplitudes.shape != phases.shape:
        raise ValueError(
            f"amplitudes must have the shape of phases {tuple(phases.shape)} ([batch, samples, operators]), "
            f"got {tuple(amplitudes.shape)}"
        )
    batch, samples, count = phases.shape
    if samples == 0 or count == 0:
        raise ValueError(f"phases must have samples and operators, got shape {tuple(phases.shape)}")
    matrix, carriers = _check_routing(modulation_matrix, carriers, feedback_operator, count, phases)
    if feedback_method not in FEEDBACK_METHODS:
        raise ValueError(f"feedback_method must be one of {FEEDBACK_METHODS}, got {feedback_method!r}")
    feedback_index = None if feedback_operator is None else feedback_operator - 1
    if feedback_index is not None:
        _feedback_per_row(feedback, batch, phases)
        _check_state(feedback_state, batch, phases)
    # Operator-major copies make every per-operator pass read contiguous memory.
    audio, state = _render(
        phases.movedim(-1, 0).contiguous().unbind(0),
        amplitudes.movedim(-1, 0).contiguous().unbind(0),
        matrix,
        carriers,
        feedback_index,
        feedback,
        feedback_state,
        feedback_method,
    )
    if not return_state:
        return audio
    if state is None:
        state = phases.new_zeros(batch, 2)
    return audio, state
