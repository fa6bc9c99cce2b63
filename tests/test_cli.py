"""The ddsp-lab command line."""

import numpy as np
import pytest
import soundfile as sf

from ddsp_lab.cli import main
from ddsp_lab.workflows.demo import SHOWCASE


def test_demo_writes_audible_wavs_and_a_png(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seconds", "0.5", "--sample-rate", "22050"]) == 0
    for name in SHOWCASE:
        audio, sr = sf.read(tmp_path / f"{name}.wav")
        assert sr == 22050
        assert audio.shape[0] == pytest.approx(0.5 * 22050, rel=0.02)
        assert np.all(np.isfinite(audio))
        # Normalised to a 0.8 peak: a silent or exploding render would not be.
        assert np.abs(audio).max() == pytest.approx(0.8, abs=1e-3)
    png = (tmp_path / "showcase.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Wrote 5 files" in capsys.readouterr().out


def test_demo_rejects_bad_arguments(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seconds", "-1"]) == 2
    assert "seconds must be finite and > 0" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path), "--sample-rate", "4000"]) == 2
    assert "at least 8000 Hz" in capsys.readouterr().err
