"""Smoke test of the benchmark suite (benchmarks/bench_units.py).

The cases must keep building and running, the harness must keep measuring
and tabulating them, and every baseline that claims to compute what
ddsp_lab computes must actually do so: otherwise the speed-ups in the
performance table would compare different work.
"""

import math
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_units  # noqa: E402
import harness  # noqa: E402
from cases_common import CASES, audio_seconds, configure, describe_size, workload  # noqa: E402

PAIRS = {name: (ours, baseline) for name, ours, baseline, _ in bench_units.PAIRS}

# Pairs whose baseline differs by design, as their workload column says:
# the f0 100-1000 Hz harmonic and saw baselines mask partials at Nyquist
# differently from ddsp_lab's fade, and the wavetable baseline reads tables
# without mip-maps (it aliases).
DIFFERENT_BY_DESIGN = {"Harmonic", "Oscillator (saw)", "Wavetable"}

# float64 throughout, so the two sides differ only by rounding (and, for
# KarplusStrong, by ddsp_lab's documented FFT wrap-around, below 1e-12 of the
# peak in float64). The longest chains of dependent operations are the
# 1024-step recursions (Biquad, StateVariableFilter, KarplusStrong), whose
# accumulated rounding stays below steps x eps x noise gain, about
# 1024 x 2.2e-16 x 100 = 2e-11 of the output's scale (the filters are
# stable and q <= 4 keeps the noise gain well under 100). 1e-9 leaves a
# margin of 50, while a modelling difference (a sample of delay, another
# coefficient, another crossfade) shows at 1e-3 of the scale or more.
RELATIVE_TOLERANCE = 1e-9


@pytest.fixture
def quick():
    configure(quick=True)
    yield workload()
    configure()


@pytest.fixture
def quick_float64():
    configure(quick=True, dtype=torch.float64)
    yield workload()
    configure()


def test_every_case_belongs_to_a_pair():
    paired = {key for _, ours, baseline, _ in bench_units.PAIRS for key in (ours, baseline)}
    assert paired == set(CASES)


def test_quick_workload_is_two_one_second_items(quick):
    assert (quick.batch, quick.seconds) == (2, 1.0)
    assert audio_seconds("sinusoidal") == 2.0
    assert describe_size("biquad_loop") == f"2 x {quick.loop_frames * quick.hop / quick.sample_rate:g} s"


def test_one_pair_is_measured_and_tabulated(quick):
    ours, baseline = PAIRS["Sinusoidal"]
    results = {}
    for case in (ours, baseline):
        for mode in ("forward", "backward"):
            result = harness.measure(CASES[case], torch.device("cpu"), mode == "backward", repeats=1)
            assert math.isfinite(result["seconds"]) and result["seconds"] > 0
            assert result["peak_bytes"] >= 0
            results[f"{case}/{mode}"] = dict(result, audio_seconds=audio_seconds(case), size=describe_size(case))
    pair = [p for p in bench_units.PAIRS if p[0] == "Sinusoidal"]
    rows = [line for line in bench_units.table(results, pair, "cpu").splitlines() if line.startswith("| Sinusoidal |")]
    assert [row.split(" | ")[2] for row in rows] == ["fwd", "fwd+bwd"]
    forward = results[f"{ours}/forward"]["seconds"], results[f"{baseline}/forward"]["seconds"]
    assert rows[0].split(" | ")[5] == f"{forward[1] / forward[0]:.1f}x"


def test_shorter_baselines_are_normalised_per_audio_second(quick):
    results = {
        "biquad/forward": {"seconds": 2.0, "peak_bytes": 4 * 2**20},
        "biquad_loop/forward": {"seconds": 1.0, "peak_bytes": 2 * 2**20},
    }
    pair = [p for p in bench_units.PAIRS if p[1] == "biquad"]
    (row,) = [line for line in bench_units.table(results, pair, "cpu").splitlines() if line.startswith("| Biquad |")]
    cells = row.split(" | ")
    ours_ms, loop_ms = 2000.0 / audio_seconds("biquad"), 1000.0 / audio_seconds("biquad_loop")
    number = bench_units.format_number
    speed_up = f"{loop_ms / ours_ms:.1f}x"
    real_time = [number(1000 / ours_ms), number(1000 / loop_ms)]
    assert cells[3:8] == [number(ours_ms), number(loop_ms), speed_up, *real_time]
    assert "baseline 2 x 0.064 s" in cells[1]
    memory_ratio = (4 / audio_seconds("biquad")) / (2 / audio_seconds("biquad_loop"))
    assert cells[-1] == bench_units.format_ratio(memory_ratio) + "* |"


def _render(case, frames):
    """Output and the gradients of a fixed random projection of it, for one case."""
    run, leaves = CASES[case](torch.device("cpu"), frames=frames)
    out = run()
    probe = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
    grads = torch.autograd.grad((out * probe).sum(), leaves)
    return out.detach(), grads


@pytest.mark.parametrize("name", [name for name in PAIRS if name not in DIFFERENT_BY_DESIGN])
def test_baseline_computes_what_ddsp_lab_computes(name, quick_float64):
    ours, baseline = PAIRS[name]
    # The loop baselines' short length keeps this fast; the ADSR needs the
    # whole second so that decays, sustains and releases all occur.
    frames = quick_float64.frames if name == "ADSR" else quick_float64.loop_frames
    out, grads = _render(ours, frames)
    expected, expected_grads = _render(baseline, frames)
    assert out.shape == expected.shape
    scale = float(expected.abs().max())
    assert scale > 0
    assert float((out - expected).abs().max()) <= RELATIVE_TOLERANCE * scale
    for index, (grad, expected_grad) in enumerate(zip(grads, expected_grads)):
        grad_scale = float(expected_grad.abs().max())
        assert grad_scale > 0, f"leaf {index} of {baseline} gets no gradient: the comparison would be empty"
        assert float((grad - expected_grad).abs().max()) <= RELATIVE_TOLERANCE * grad_scale, f"leaf {index}"
