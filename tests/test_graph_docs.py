"""The tutorial docs/graphs.md runs as written (its Python blocks, in order)."""

import os
import re

import pytest

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "graphs.md")


def test_tutorial_code_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", open(DOC, encoding="utf-8").read(), flags=re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, DOC, "exec"), namespace)
    # What the tutorial claims it produces.
    assert tuple(namespace["audio"].shape) == (2, 16000)
    assert tuple(namespace["line"].shape) == (1, 16000)
    assert tuple(namespace["taps"]["cutoff.out"].shape) == (2, 250, 1)
    result = namespace["result"]
    assert result.parameters["filter_env.decay_s"] == pytest.approx(0.35, rel=0.05)
    assert result.parameters["cutoff.offset"] == pytest.approx(500.0, rel=0.05)
    for name in ("subtractive.json", "subtractive.dot", "subtractive_graph.png", "fit_out/fitted_preset.json",
                 "fit_out/loss_curve.png"):
        assert (tmp_path / name).exists()
