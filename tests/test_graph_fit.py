"""Fitting a graph's learnable parameters to a target rendered by the same graph."""

import json
import os

import pytest
import torch

from ddsp_lab.graph import Graph, GraphError, Learnable, Note, fit, load_preset, nodes
from ddsp_lab.losses import MultiScaleSpectralLoss

SR, HOP = 8000, 32
NOTE = Note(60, duration_s=0.45)
TRUE_CUTOFF_HZ, TRUE_DECAY_S = 800.0, 0.25


def voice(cutoff_hz: float, decay_s: float) -> Graph:
    """Saw through a low-pass with a learnable cutoff, then a VCA on an ADSR with a learnable decay."""
    graph = Graph(SR, HOP, name="fit-test")
    graph.add("osc", nodes.Oscillator("saw", f0_hz=220.0, amplitude=0.5))
    graph.add("filter", nodes.StateVariableFilter(cutoff_hz=Learnable(cutoff_hz, (100.0, 3000.0), "log"), q=0.707))
    graph.add("env", nodes.ADSR(attack_s=0.01, decay_s=Learnable(decay_s, (0.05, 1.0), "log"), sustain=0.2,
                                release_s=0.05))
    graph.add("vca", nodes.VCA())
    graph.chain("osc", "filter", "vca")
    graph.connect("env", "vca.gain")
    graph.set_output("vca")
    return graph


@pytest.fixture(scope="module")
def target():
    with torch.no_grad():
        return voice(TRUE_CUTOFF_HZ, TRUE_DECAY_S).render_notes(NOTE, 0.5)


def test_fit_recovers_cutoff_and_decay(target, tmp_path):
    # Start a factor of two off in both parameters (one above, one below):
    # within that basin the spectral loss falls monotonically towards the
    # truth, where it is exactly zero because the target comes from the same
    # graph; 5 % is the acceptance bound.
    graph = voice(2 * TRUE_CUTOFF_HZ, TRUE_DECAY_S / 2)
    result = fit(graph, target, SR, notes=NOTE, steps=200, lr=0.02, progress=False, out_dir=tmp_path)
    assert result.parameters["filter.cutoff_hz"] == pytest.approx(TRUE_CUTOFF_HZ, rel=0.05)
    assert result.parameters["env.decay_s"] == pytest.approx(TRUE_DECAY_S, rel=0.05)
    assert result.initial_parameters["filter.cutoff_hz"] == pytest.approx(2 * TRUE_CUTOFF_HZ, rel=1e-6)
    assert len(result.losses) == 200 and result.best_loss < 0.1 * result.losses[0]
    # The graph holds the fitted values, and so does the preset written out.
    assert graph.parameter("filter.cutoff_hz").value == pytest.approx(result.parameters["filter.cutoff_hz"])
    preset = load_preset(result.preset_path)
    assert preset.parameter("env.decay_s").value == pytest.approx(result.parameters["env.decay_s"], rel=1e-9)
    assert open(result.loss_curve_path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(tmp_path)) == ["fit_state.pt", "fitted_preset.json", "loss_curve.png"]
    assert json.load(open(result.preset_path))["format"] == "ddsp_lab.graph"
    assert result.audio.shape == target.shape


def test_fit_resumes_from_its_checkpoint(target, tmp_path):
    first = fit(voice(1200.0, 0.2), target, SR, notes=NOTE, steps=6, lr=0.02, progress=False, out_dir=tmp_path,
                checkpoint_every=3)
    state = torch.load(tmp_path / "fit_state.pt", weights_only=False)
    assert state["step"] == 6 and state["losses"] == first.losses
    # A longer run in the same folder continues after step 6 instead of starting over...
    second = fit(voice(1200.0, 0.2), target, SR, notes=NOTE, steps=9, lr=0.02, progress=False, out_dir=tmp_path)
    assert second.resumed_from == 6
    assert second.losses[:6] == first.losses and len(second.losses) == 9
    # ...from the parameters reached after step 6: its first new loss is theirs.
    graph = voice(1200.0, 0.2)
    for name, parameter in graph.learnable_parameters().items():
        parameter.set_normalized(state["normalized"][name].tolist())
    with torch.no_grad():
        expected = float(MultiScaleSpectralLoss()(graph.render_notes(NOTE, 0.5), target))
    # The loss runs a different code path with and without its gradient
    # (sum / count against mean): equal up to float32 summation order.
    assert second.losses[6] == pytest.approx(expected, rel=1e-5)
    assert second.losses[6] != pytest.approx(first.losses[0], rel=1e-3)


def test_fit_accepts_a_custom_loss(target):
    calls = []

    def l1(pred, ref):
        calls.append(pred.shape)
        return (pred - ref).abs().mean()

    result = fit(voice(900.0, 0.22), target, SR, notes=NOTE, steps=3, loss=l1, progress=False)
    assert len(calls) == 4 and calls[0] == target.shape  # three steps plus the final evaluation
    assert result.losses[0] > 0


def test_fit_rejects_bad_setups(target, tmp_path):
    with pytest.raises(GraphError, match="no Learnable parameters"):
        graph = Graph(SR, HOP)
        graph.add("osc", nodes.Oscillator("saw", f0_hz=220.0))
        graph.set_output("osc")
        fit(graph, target, SR, steps=2)
    with pytest.raises(GraphError, match="target is at 16000 Hz but the graph renders at 8000 Hz"):
        fit(voice(900.0, 0.2), target, 16000, notes=NOTE, steps=2)
    with pytest.raises(ValueError, match="sample_rate"):
        fit(voice(900.0, 0.2), target, notes=NOTE, steps=2)
    with pytest.raises(ValueError, match="target contains NaN"):
        fit(voice(900.0, 0.2), torch.full_like(target, float("nan")), SR, notes=NOTE, steps=2)
    with pytest.raises(GraphError, match=r"renders \(2, 4000\) but the target is \(1, 4000\)"):
        fit(voice(900.0, 0.2), target, SR, notes=[NOTE, NOTE], steps=2, progress=False)
    fit(voice(900.0, 0.2), target, SR, notes=NOTE, steps=2, progress=False, out_dir=tmp_path)
    other = voice(900.0, 0.2)
    other.set_parameter("osc.amplitude", Learnable(0.5, (0.0, 1.0)))
    with pytest.raises(GraphError, match="belongs to a fit of other parameters"):
        fit(other, target, SR, notes=NOTE, steps=4, progress=False, out_dir=tmp_path)
