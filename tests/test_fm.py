"""FM operators (core.fm) and FMSynth against independent numpy computations."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ddsp_lab.core.fm import (
    carson_bandwidth_hz,
    dx7_feedback_amount,
    dx7_feedback_setting,
    fm_render,
    operator_order,
    self_feedback_operator,
)
from ddsp_lab.core.phase import accumulate_phase
from ddsp_lab.core.upsample import upsample_linear
from ddsp_lab.dx7.algorithms import ALGORITHMS, carrier_mask, get_algorithm, modulation_matrix
from ddsp_lab.units.fm import FMSynth

TWO_PI = 2 * np.pi
F64 = torch.float64


def _random_operators(batch, samples, seed, max_gain=0.5):
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, TWO_PI, (batch, samples, 6))
    gains = rng.uniform(0, max_gain, (batch, samples, 6))
    return phases, gains


def _numpy_feedback(arguments, gains, beta, state=None):
    """y[n] = g[n] sin(a[n] + pi*beta*(y[n-1] + y[n-2])), one row at a time."""
    rows, steps = arguments.shape
    out = np.zeros((rows, steps))
    beta = np.broadcast_to(np.asarray(beta, dtype=float), (rows,))
    for b in range(rows):
        y1, y2 = (0.0, 0.0) if state is None else state[b]
        for n in range(steps):
            out[b, n] = gains[b, n] * np.sin(arguments[b, n] + np.pi * beta[b] * (y1 + y2))
            y1, y2 = out[b, n], y1
    return out


def _numpy_algorithm(phases, gains, number, beta=0.0):
    """Any DX7 algorithm sample by sample from its edge list (not the matrix), OP6 first."""
    algorithm = get_algorithm(number)
    batch, steps, _ = phases.shape
    out = np.zeros((batch, steps))
    fb = algorithm.feedback_operator
    y1 = np.zeros(batch)
    y2 = np.zeros(batch)
    for n in range(steps):
        y = {}
        for op in range(6, 0, -1):
            argument = phases[:, n, op - 1] + sum(TWO_PI * y[src] for src in algorithm.modulators_of(op))
            if op == fb:
                argument = argument + np.pi * beta * (y1 + y2)
            y[op] = gains[:, n, op - 1] * np.sin(argument)
        y1, y2 = y[fb], y1
        out[:, n] = sum(y[op] for op in algorithm.carriers)
    return out


def _render_algorithm(phases, gains, number, beta=0.0, **kwargs):
    t = lambda a: torch.tensor(a, dtype=F64)
    return fm_render(
        t(phases), t(gains), modulation_matrix(number, F64), carrier_mask(number, F64),
        feedback_operator=get_algorithm(number).feedback_operator, feedback=beta, **kwargs,
    )


# float64 throughout; sine arguments stay below 2*pi*7, so each sine is off by
# a few 1e-16. A modulator error e shifts its target's phase by 2*pi*e and the
# target's output by at most g * 2*pi*e <= pi*e (gains <= 0.5): along the
# longest chain (4 modulators) the error grows at most pi^4 ~ 100 times, so
# 1e-12 is a safe bound that a wrong edge (an O(0.1) change) cannot meet.
ROUTING_TOLERANCE = 1e-12


def test_hand_written_algorithms_1_5_32():
    p, g = _random_operators(2, 300, seed=1)

    def op(k, modulation=0.0):
        return g[..., k - 1] * np.sin(p[..., k - 1] + TWO_PI * modulation)

    # Algorithm 1: 6 -> 5 -> 4 -> 3 and 2 -> 1; carriers 1 and 3.
    y6 = op(6)
    y5 = op(5, y6)
    y4 = op(4, y5)
    y3 = op(3, y4)
    y2 = op(2)
    y1 = op(1, y2)
    alg1 = y1 + y3
    # Algorithm 5: three pairs 6 -> 5, 4 -> 3, 2 -> 1; carriers 1, 3, 5.
    alg5 = op(5, op(6)) + op(3, op(4)) + op(1, op(2))
    # Algorithm 32: six carriers.
    alg32 = sum(op(k) for k in range(1, 7))
    for number, expected in ((1, alg1), (5, alg5), (32, alg32)):
        out = _render_algorithm(p, g, number)
        assert out.shape == (2, 300)
        assert np.abs(out.numpy() - expected).max() < ROUTING_TOLERANCE, number


def test_all_32_algorithms_match_their_edge_lists():
    p, g = _random_operators(2, 24, seed=2)
    for algorithm in ALGORITHMS:
        out = _render_algorithm(p, g, algorithm.number)
        expected = _numpy_algorithm(p, g, algorithm.number)
        assert np.abs(out.numpy() - expected).max() < ROUTING_TOLERANCE, algorithm.number


def test_operator_order_is_op6_to_op1_for_dx7_and_topological_for_custom():
    assert operator_order(modulation_matrix(1)) == [5, 4, 3, 2, 1, 0]
    # OP1 modulates OP3 here (a low operator modulating a high one): OP1 must come first.
    matrix = torch.zeros(3, 3)
    matrix[2, 0] = 1
    matrix[1, 2] = 1
    assert operator_order(matrix) == [0, 2, 1]


def test_custom_routing_with_weights_matches_numpy():
    # OP1 -> OP3 -> OP2 with weight 0.5 on the second edge, carriers OP2 (1.0) and OP1 (0.25).
    rng = np.random.default_rng(3)
    p = rng.uniform(0, TWO_PI, (1, 50, 3))
    g = rng.uniform(0, 0.5, (1, 50, 3))
    matrix = torch.zeros(3, 3, dtype=F64)
    matrix[2, 0] = 1.0
    matrix[1, 2] = 0.5
    out = fm_render(torch.tensor(p), torch.tensor(g), matrix, [0.25, 1.0, 0.0])
    y1 = g[..., 0] * np.sin(p[..., 0])
    y3 = g[..., 2] * np.sin(p[..., 2] + TWO_PI * y1)
    y2 = g[..., 1] * np.sin(p[..., 1] + TWO_PI * 0.5 * y3)
    assert np.abs(out.numpy() - (0.25 * y1 + y2)).max() < ROUTING_TOLERANCE


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------


def test_dx7_feedback_amounts():
    assert dx7_feedback_amount(7) == 0.5
    assert dx7_feedback_amount(1) == 1 / 128
    assert dx7_feedback_amount(0) == 0.0
    assert dx7_feedback_amount(0.5) == 1 / 256
    settings = torch.linspace(0, 7, 29, dtype=F64)
    amounts = dx7_feedback_amount(settings)
    assert torch.all(amounts[1:] > amounts[:-1])
    assert torch.allclose(dx7_feedback_setting(amounts), settings, atol=1e-12)
    assert dx7_feedback_setting(0.5) == 7.0


# With loop gain L = 2*pi*beta*max|g| < 1 the recursion forgets perturbations:
# a per-sample error d stays below d / (1 - L) in total.
CONTRACTIVE = dict(beta=0.1, max_gain=1.0)  # L = 0.63


@pytest.mark.parametrize("method", ["compiled", "fixed_point", "sequential"])
def test_feedback_operator_matches_numpy_loop(method):
    rng = np.random.default_rng(4)
    a = rng.uniform(-20, 20, (3, 200))
    g = rng.uniform(0, CONTRACTIVE["max_gain"], (3, 200))
    beta = np.array([CONTRACTIVE["beta"], 0.05, 0.0])
    state = rng.uniform(-1, 1, (3, 2))
    y, final = self_feedback_operator(
        torch.tensor(a), torch.tensor(g), torch.tensor(beta), torch.tensor(state), method=method
    )
    expected = _numpy_feedback(a, g, beta, state)
    # float64: about 1e-16 per sample, at most 1 / (1 - 0.63) ~ 3 times that in total.
    assert np.abs(y.numpy() - expected).max() < 1e-13
    assert np.allclose(final.numpy(), expected[:, [-1, -2]], rtol=0, atol=1e-13)


def test_compiled_sine_over_a_wide_argument_range():
    # With beta = 0 the compiled loop returns g * sin(a) through its own sine
    # (range reduction + series).
    rng = np.random.default_rng(8)
    a = np.concatenate([rng.uniform(-10, 10, 500), rng.uniform(-1e6, 1e6, 500)])
    ones = torch.ones(1, a.size, dtype=F64)
    y, _ = self_feedback_operator(torch.tensor(a)[None], ones, 0.0, method="compiled")
    # Exact three-part pi: the reduced argument is off by about ulp(m * pi_b)
    # ~ 1e-17, the series by 2e-18, the rounding of the result by 1.1e-16.
    assert np.abs(y[0].numpy() - np.sin(a)).max() < 5e-16
    # Beyond 1e8 rad the arguments are first wrapped with torch.remainder,
    # which is off by |a| / (2*pi) times the rounding of 2*pi (2.4e-16) plus
    # ulp(|a|) ~ 2.2e-16 * |a|: below 3e-16 * |a| in all.
    huge = np.array([1e8 + 1, -3e9, 7.5e10])
    y, _ = self_feedback_operator(torch.tensor(huge)[None], torch.ones(1, 3, dtype=F64), 0.0, method="compiled")
    assert np.all(np.abs(y[0].numpy() - np.sin(huge)) < 3e-16 * np.abs(huge))


def test_feedback_operator_float32_and_threaded_rows():
    # 4 x 10000 samples is above the size at which rows are split across threads.
    rng = np.random.default_rng(5)
    a = rng.uniform(0, TWO_PI, (4, 10000)).astype(np.float32)
    g = rng.uniform(0, 1, (4, 10000)).astype(np.float32)
    y, _ = self_feedback_operator(torch.tensor(a), torch.tensor(g), CONTRACTIVE["beta"])
    assert y.dtype == torch.float32
    expected = _numpy_feedback(a.astype(float), g.astype(float), CONTRACTIVE["beta"])
    # Each stored float32 output is rounded by up to 6e-8 * |y| <= 6e-8; the
    # contraction (L = 0.63) keeps the accumulated error below 6e-8 / 0.37.
    assert np.abs(y.numpy() - expected).max() < 6e-8 / (1 - 0.63)


def test_feedback_gradients_agree_across_methods_on_long_input():
    rng = np.random.default_rng(6)
    inputs = [torch.tensor(rng.uniform(0, TWO_PI, (4, 10000))), torch.tensor(rng.uniform(0, 1, (4, 10000)))]
    weights = torch.tensor(rng.normal(size=(4, 10000)))
    grads = []
    for method in ("compiled", "fixed_point"):
        beta = torch.tensor(CONTRACTIVE["beta"], dtype=F64, requires_grad=True)
        leaves = [t.clone().requires_grad_() for t in inputs] + [beta]
        y, _ = self_feedback_operator(*leaves, method=method)
        (y * weights).sum().backward()
        grads.append([leaf.grad for leaf in leaves])
    # The compiled adjoint loop and the parallel scan solve the same contractive
    # linear recursion; float64 rounding stays near 1e-16 per step relative to
    # the gradients' size (the beta gradient sums 40000 terms).
    for ours, other in zip(*grads):
        scale = other.abs().max()
        assert (ours - other).abs().max() < 1e-11 * scale


def test_fm_render_with_feedback_matches_numpy_algorithm():
    p, g = _random_operators(2, 150, seed=7)
    for number in (1, 2, 18, 32):
        beta = dx7_feedback_amount(6)
        out = _render_algorithm(p, g, number, beta=beta)
        expected = _numpy_algorithm(p, g, number, beta=beta)
        # Loop gain 2*pi*0.25*0.5 = 0.79 < 1 multiplies errors by at most
        # 1 / (1 - 0.79) ~ 5: still far below the routing bound.
        assert np.abs(out.numpy() - expected).max() < ROUTING_TOLERANCE, number


@pytest.mark.parametrize("method", ["compiled", "fixed_point", "sequential"])
def test_feedback_operator_gradcheck(method):
    torch.manual_seed(0)
    # A strong, chaotic setting (L = 2*pi*0.5*1.5 > 1) on a short input.
    a = (torch.rand(2, 12, dtype=F64) * 6).requires_grad_()
    g = (torch.rand(2, 12, dtype=F64) * 1.5).requires_grad_()
    beta = torch.tensor([0.5, 0.2], dtype=F64, requires_grad=True)
    state = (torch.rand(2, 2, dtype=F64) - 0.5).requires_grad_()
    fn = lambda *x: self_feedback_operator(*x, method=method)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (a, g, beta, state))


def test_single_sample_feedback_and_state_gradient():
    a = torch.rand(2, 1, dtype=F64, requires_grad=True)
    g = torch.rand(2, 1, dtype=F64, requires_grad=True)
    state = torch.rand(2, 2, dtype=F64, requires_grad=True)
    beta = torch.tensor(0.3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *x: self_feedback_operator(*x), (a, g, beta, state))


# ---------------------------------------------------------------------------
# fm_render gradients
# ---------------------------------------------------------------------------


def test_fm_render_gradcheck_with_feedback_and_learnable_routing():
    torch.manual_seed(1)
    phases = (torch.rand(2, 10, 6, dtype=F64) * 6).requires_grad_()
    gains = torch.rand(2, 10, 6, dtype=F64).requires_grad_()
    # Edge weights on the routing of algorithm 7; the mask keeps absent edges
    # exactly zero while gradcheck perturbs every entry.
    edges = modulation_matrix(7, F64)
    weights = (0.8 * torch.ones(6, 6, dtype=F64)).requires_grad_()
    carriers = carrier_mask(7, F64).requires_grad_()
    beta = torch.tensor([0.25, 0.5], dtype=F64, requires_grad=True)

    def render(p, g, w, c, b):
        return fm_render(p, g, edges * w, c, feedback_operator=6, feedback=b)

    assert torch.autograd.gradcheck(render, (phases, gains, weights, carriers, beta))


# ---------------------------------------------------------------------------
# FMSynth
# ---------------------------------------------------------------------------

# Ratios exactly representable in float32, so that the unit's buffer holds them exactly.
RATIOS = (1.0, 2.0, 0.5, 3.25, 1.375, 7.0)


def _synth_reference(synth, f0, levels, beta):
    """FMSynth built from other pieces: per-sample float64 phase of the upsampled frequency."""
    freqs = upsample_linear(f0 * torch.tensor(RATIOS, dtype=F64), synth.hop_length)
    phases = accumulate_phase(freqs, synth.sample_rate)
    gains = upsample_linear(levels, synth.hop_length)
    return fm_render(
        phases, gains, synth.modulation_matrix, synth.carriers, synth.feedback_operator, beta
    )


@pytest.mark.parametrize("algorithm,feedback", [(1, 0.0), (5, 6.0), (16, 3.5)])
def test_fmsynth_matches_audio_rate_reference(algorithm, feedback):
    sr, hop = 22050, 37
    synth = FMSynth(sr, hop, algorithm=algorithm, ratios=RATIOS, feedback=feedback).double()
    gen = torch.Generator().manual_seed(2)
    f0 = 100 + 300 * torch.rand(1, 9, 1, generator=gen, dtype=F64)
    levels = 0.4 * torch.rand(1, 9, 6, generator=gen, dtype=F64)
    out = synth.get_signal(f0, levels)
    assert out.shape == (1, 9 * hop)
    expected = _synth_reference(synth, f0, levels, dx7_feedback_amount(feedback))
    # Phases agree to float64 rounding (~1e-13 rad after 333 samples); loop
    # gains stay below 1 (2*pi*0.4*0.25), so the routing bound applies.
    assert (out - expected).abs().max() < 1e-11


def test_fmsynth_gradcheck_levels_f0_feedback_and_ratios():
    gen = torch.Generator().manual_seed(3)
    f0 = (100 + 300 * torch.rand(2, 4, 1, generator=gen, dtype=F64)).requires_grad_()
    levels = torch.rand(2, 4, 6, generator=gen, dtype=F64).requires_grad_()
    synth = FMSynth(16000, 5, algorithm=1, ratios=RATIOS, learnable_ratios=True).double()
    setting = torch.tensor([2.5, 6.5], dtype=F64, requires_grad=True)
    ratios = synth.ratios

    def render(f0, levels, setting, ratios):
        return synth.get_signal(f0, levels, feedback=setting)

    assert torch.autograd.gradcheck(render, (f0, levels, setting, ratios))
    # Without feedback (the plain vectorised path only).
    plain = FMSynth(16000, 5, algorithm=1, ratios=RATIOS).double()
    assert torch.autograd.gradcheck(lambda f, l: plain.get_signal(f, l), (f0, levels))


def test_learnable_feedback_parameter_gets_a_gradient_at_zero():
    synth = FMSynth(16000, 16, algorithm=32, feedback=0.0, learnable_feedback=True)
    f0 = torch.full((1, 10, 1), 300.0)
    levels = torch.zeros(1, 10, 6)
    levels[..., 5] = 1.0  # OP6, the feedback operator of algorithm 32
    synth.get_signal(f0, levels).sum().backward()
    # FB = 0 must not be a dead end: d beta / d FB = 1/128 there.
    assert torch.isfinite(synth.feedback.grad) and synth.feedback.grad != 0


def test_finite_gradients_at_zero_levels_and_zero_f0():
    synth = FMSynth(16000, 8, algorithm=1, ratios=RATIOS, feedback=7.0, learnable_feedback=True)
    f0 = torch.zeros(2, 5, 1, requires_grad=True)
    levels = torch.zeros(2, 5, 6, requires_grad=True)
    phases = torch.full((2, 6), 1.0)
    out = synth.get_signal(f0, levels, initial_phases=phases)
    assert torch.all(out == 0)
    out.sum().backward()
    for grad in (f0.grad, levels.grad, synth.feedback.grad):
        assert torch.isfinite(grad).all()
    # A carrier's level gradient at silence is sin(its phase) summed over samples.
    assert torch.allclose(levels.grad[..., 0].sum(), torch.tensor(2 * 5 * 8 * math.sin(1.0)), rtol=1e-5)


def test_batch_one_odd_lengths_and_streaming():
    sr, hop = 16000, 13
    synth = FMSynth(sr, hop, algorithm=3, ratios=RATIOS, feedback=4.0).double()
    f0 = torch.full((1, 11, 1), 220.0, dtype=F64)
    levels = torch.full((1, 11, 6), 0.3, dtype=F64)
    whole = synth.get_signal(f0, levels)
    assert whole.shape == (1, 11 * hop)
    # Constant controls: a stream of two blocks equals one call.
    first, state = synth.get_signal(f0[:, :4], levels[:, :4], return_state=True)
    second = synth.get_signal(
        f0[:, 4:], levels[:, 4:], initial_phases=state["phases"], feedback_state=state["feedback_state"]
    )
    # float64; the second block's phases start from a wrapped value (rounding ~1e-15 rad).
    assert (torch.cat([first, second], dim=1) - whole).abs().max() < 1e-12


def test_long_tone_keeps_its_pitch_in_float32():
    sr, hop, seconds = 16000, 64, 60
    frames = sr * seconds // hop
    synth = FMSynth(sr, hop, algorithm=32)
    f0 = torch.full((1, frames, 1), 441.0)
    levels = torch.zeros(1, frames, 6)
    levels[..., 0] = 1.0
    out = synth.get_signal(f0, levels)[0, -sr:].double().numpy()
    t = np.arange(frames * hop - sr, frames * hop)
    expected = np.sin(TWO_PI * 441.0 * (t % sr) / sr)
    # Frame-start phase in float32 after wrapping: 2*pi * 6e-8; growth inside a
    # frame at most 2*pi*441*64/16000 = 11 rad, off by 11 * 6e-8: both ~1e-6.
    assert np.abs(out - expected).max() < 1e-5


def test_fixed_frequency_operator_ignores_f0():
    sr, hop = 16000, 32
    synth = FMSynth(sr, hop, algorithm=32, fixed_frequencies_hz=[None, 1000.0, None, None, None, None]).double()
    levels = torch.zeros(1, 20, 6, dtype=F64)
    levels[..., 1] = 1.0
    out = synth.get_signal(torch.linspace(100, 400, 20, dtype=F64).view(1, 20, 1), levels)
    t = np.arange(20 * hop)
    assert np.abs(out[0].numpy() - np.sin(TWO_PI * 1000.0 * t / sr)).max() < 1e-10


def test_get_controls_and_forward():
    synth = FMSynth(16000, 16, algorithm=2, max_level=1.5)
    raw = torch.randn(2, 6, 6) * 10
    controls = synth.get_controls(torch.full((2, 6, 1), 200.0), raw)
    assert controls["levels"].min() >= 0 and controls["levels"].max() <= 1.5
    assert torch.allclose(controls["levels"], 1.5 * torch.sigmoid(raw))
    out = synth(torch.full((2, 6, 1), 200.0), raw)
    assert out.shape == (2, 96)


def test_custom_matrix_unit_defaults_carriers_to_unmodulating_operators():
    matrix = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # OP2 -> OP1
    synth = FMSynth(16000, 16, modulation_matrix=matrix, ratios=(1.0, 2.0), feedback_operator=2, feedback=3.0)
    assert synth.carriers.tolist() == [1.0, 0.0]
    assert synth.get_signal(torch.full((1, 3, 1), 200.0), torch.rand(1, 3, 2)).shape == (1, 48)


def test_benchmark_baseline_renders_the_same_fm():
    # The DDX7-style baseline of benchmarks/bench_fm.py must compute what FMSynth
    # computes, or its timings compare different work. With constant controls
    # the two differ only in where the phase starts: the baseline's cumulative
    # sum includes the current sample, so it runs one sample ahead.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_fm

    sr, hop, frames = 16000, 64, 10
    f0 = torch.full((2, frames, 1), 230.0, dtype=F64)
    levels = torch.tensor([0.3, 0.2, 0.4, 0.25, 0.35, 0.15], dtype=F64).expand(2, frames, 6)
    baseline = bench_fm.ddx7_algorithm1(f0, levels, bench_fm.RATIOS, sr, hop)
    ours = FMSynth(sr, hop, algorithm=1, ratios=bench_fm.RATIOS).double().get_signal(f0, levels)
    # float64: the baseline's running sum of 640 increments reaches 58 rad,
    # each addition rounded by up to ulp(58) / 2 = 3.6e-15, so its phase is off
    # by at most 640 * 3.6e-15 = 2.3e-12 rad, 3.2e-11 rad times ratio 14; gains
    # <= 0.4 amplify an error at most (2*pi*0.4)^3 = 16 times along the chain
    # OP6 -> OP3: 5e-10 at worst (a sample of delay would show at 0.1 or more).
    assert (baseline[:, :-1] - ours[:, 1:]).abs().max() < 1e-9
    for case in bench_fm.CASES.values():
        bench_fm.configure(batch=1, seconds=0.05)
        run, leaves = case(torch.device("cpu"))
        run().square().mean().backward()
        assert all(leaf.grad is not None for leaf in leaves)
    bench_fm.configure()


# ---------------------------------------------------------------------------
# Aliasing estimate
# ---------------------------------------------------------------------------


def test_carson_bandwidth_formula_and_spectrum():
    sr, n = 16000, 16000
    fc, fm, g = 2000.0, 250.0, 0.5  # index 2*pi*0.5 = pi
    matrix = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=F64)
    edge = carson_bandwidth_hz(torch.tensor([fc, fm], dtype=F64), torch.tensor([1.0, g], dtype=F64), matrix)
    assert torch.allclose(edge, torch.tensor([fc + (math.pi + 1) * fm, fm], dtype=F64))
    t = torch.arange(n, dtype=F64) / sr
    phases = torch.stack([TWO_PI * fc * t, TWO_PI * fm * t], dim=-1)[None]
    gains = torch.tensor([1.0, g], dtype=F64).expand(1, n, 2)
    audio = fm_render(phases, gains, matrix, [1.0, 0.0])[0].numpy()
    power = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / sr)
    inside = power[np.abs(freqs - fc) <= (math.pi + 1) * fm].sum() / power.sum()
    # Carson's rule: about 98 % of the power lies within the band.
    assert inside > 0.98
    synth = FMSynth(sr, 64, algorithm=5, ratios=RATIOS)
    assert synth.bandwidth_hz(torch.full((2, 3, 1), 100.0), torch.rand(2, 3, 6)).shape == (2, 3, 6)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_bad_input_errors():
    synth = FMSynth(16000, 16)
    f0 = torch.full((1, 4, 1), 200.0)
    levels = torch.rand(1, 4, 6)
    with pytest.raises(ValueError, match="levels"):
        synth.get_signal(f0, torch.rand(1, 4, 5))
    with pytest.raises(ValueError, match="levels"):
        synth.get_signal(f0, torch.rand(4, 6))
    with pytest.raises(ValueError, match="f0_hz"):
        synth.get_signal(torch.full((1, 4, 2), 200.0), levels)
    with pytest.raises(ValueError, match="levels"):
        synth.get_signal(f0, torch.rand(1, 5, 6))
    with pytest.raises(ValueError, match="f0_hz"):
        synth.get_signal(-f0, levels)
    with pytest.raises(ValueError, match="NaN"):
        one_nan = levels.clone()
        one_nan[0, 2, 3] = float("nan")
        synth.get_signal(f0, one_nan)
    with pytest.raises(ValueError, match="f0_hz"):
        synth.get_signal(torch.full((1, 4, 1), float("nan")), levels)
    with pytest.raises(ValueError, match="feedback"):
        synth.get_signal(f0, levels, feedback=8.0)
    with pytest.raises(ValueError, match="feedback"):
        synth.get_signal(f0, levels, feedback=torch.tensor([-1.0]))
    with pytest.raises(ValueError, match="initial_phases"):
        synth.get_signal(f0, levels, initial_phases=torch.zeros(2, 6))
    with pytest.raises(ValueError, match="feedback_state"):
        FMSynth(16000, 16, feedback=3.0).get_signal(f0, levels, feedback_state=torch.zeros(1, 3))
    for number in (0, 33):
        with pytest.raises(ValueError, match="algorithm"):
            FMSynth(16000, 16, algorithm=number)
    with pytest.raises(ValueError, match="ratios"):
        FMSynth(16000, 16, ratios=(1.0, 0.0, 1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="ratios"):
        FMSynth(16000, 16, ratios=(1.0, 2.0))
    with pytest.raises(ValueError, match="fixed_frequencies_hz"):
        FMSynth(16000, 16, fixed_frequencies_hz=[None, 100.0])
    with pytest.raises(ValueError, match="feedback"):
        FMSynth(16000, 16, feedback=7.5)
    with pytest.raises(ValueError, match="either"):
        FMSynth(16000, 16, algorithm=1, modulation_matrix=torch.zeros(6, 6))
    with pytest.raises(ValueError, match="algorithm"):
        FMSynth(16000, 16, algorithm=4, feedback_operator=2)
    with pytest.raises(ValueError, match="feedback_operator"):
        FMSynth(16000, 16, modulation_matrix=torch.zeros(6, 6), feedback=2.0)
    with pytest.raises(ValueError, match="feedback_operator"):
        FMSynth(16000, 16, modulation_matrix=torch.zeros(6, 6)).get_signal(f0, levels, feedback=2.0)


def test_cyclic_and_malformed_routing_is_rejected():
    cycle = torch.zeros(3, 3)
    cycle[1, 0] = cycle[2, 1] = cycle[0, 2] = 1  # OP1 -> OP2 -> OP3 -> OP1
    with pytest.raises(ValueError, match="cycle"):
        operator_order(cycle)
    with pytest.raises(ValueError, match="cycle"):
        FMSynth(16000, 16, modulation_matrix=cycle, ratios=(1.0, 1.0, 1.0))
    phases, gains = torch.rand(1, 8, 3), torch.rand(1, 8, 3)
    with pytest.raises(ValueError, match="cycle"):
        fm_render(phases, gains, cycle, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="diagonal"):
        fm_render(phases, gains, torch.eye(3), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="square"):
        fm_render(phases, gains, torch.zeros(3, 2), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="modulation_matrix"):
        fm_render(phases, gains, torch.zeros(6, 6), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="carriers"):
        fm_render(phases, gains, torch.zeros(3, 3), [1.0, 0.0])
    with pytest.raises(ValueError, match="feedback_operator"):
        fm_render(phases, gains, torch.zeros(3, 3), [1.0, 0.0, 0.0], feedback_operator=0)
    with pytest.raises(ValueError, match="amplitudes"):
        fm_render(phases, torch.rand(1, 7, 3), torch.zeros(3, 3), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="phases"):
        fm_render(phases.clone().fill_(float("nan")), gains, torch.zeros(3, 3), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="feedback_method"):
        fm_render(phases, gains, torch.zeros(3, 3), [1.0, 0.0, 0.0], 1, 0.1, feedback_method="magic")
    with pytest.raises(ValueError, match="feedback"):
        fm_render(phases, gains, torch.zeros(3, 3), [1.0, 0.0, 0.0], 1, torch.ones(2))
    with pytest.raises(ValueError, match="feedback"):
        dx7_feedback_amount(-0.5)
