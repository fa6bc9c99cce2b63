"""Render the spectrograms shown in docs/units/filters.md into docs/images/.

Run from anywhere: ``python docs/figures/filters.py``.
"""

from __future__ import annotations

import math
import os

import torch

from ddsp_lab.plotting import save_spectrograms
from ddsp_lab.units.filters import Biquad, StateVariableFilter
from ddsp_lab.units.harmonic import Harmonic

SAMPLE_RATE = 16000
HOP = 64
SECONDS = 3.0
IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images")


def sawtooth(f0_hz: float, frames: int) -> torch.Tensor:
    """Band-limited sawtooth (harmonic k at amplitude 1/k), ``[1, frames * HOP]``."""
    harmonics = int(SAMPLE_RATE / 2 // f0_hz)
    distribution = 1.0 / torch.arange(1, harmonics + 1, dtype=torch.float32)
    synth = Harmonic(SAMPLE_RATE, HOP, scale_fn=None)
    return synth.get_signal(
        torch.full((1, frames, 1), f0_hz),
        torch.full((1, frames, 1), 0.5),
        distribution.expand(1, frames, harmonics),
    )


def main() -> None:
    torch.manual_seed(0)
    frames = int(SECONDS * SAMPLE_RATE / HOP)
    samples = frames * HOP
    noise = torch.rand(1, samples) * 2 - 1
    # 125 Hz is exactly 8 FFT bins of the plots, so no moire between harmonics and bins.
    saw = sawtooth(125.0, frames)

    # An exponential sweep from 100 Hz to 6 kHz over the clip, at frame rate.
    position = torch.linspace(0, 1, frames).view(1, frames, 1)
    sweep = 100.0 * (6000.0 / 100.0) ** position
    resonant = torch.full((1, 1, 1), 8.0)
    lowpass = Biquad(SAMPLE_RATE, "lowpass", hop_length=HOP)
    save_spectrograms(
        os.path.join(IMAGES, "filters_biquad_sweep.png"),
        [noise[0], lowpass.get_signal(noise, sweep, resonant)[0],
         saw[0], lowpass.get_signal(saw, sweep, resonant)[0]],
        SAMPLE_RATE,
        [
            "white noise",
            "white noise, Biquad lowpass, q = 8, cutoff 100 Hz -> 6 kHz",
            "band-limited sawtooth, 125 Hz",
            "sawtooth, Biquad lowpass, q = 8, cutoff 100 Hz -> 6 kHz",
        ],
    )

    # A 0.5 Hz LFO between 200 Hz and 5 kHz drives all three SVF outputs at once.
    t = torch.arange(frames).view(1, frames, 1) * HOP / SAMPLE_RATE
    lfo = 200.0 * (5000.0 / 200.0) ** (0.5 - 0.5 * torch.cos(2 * math.pi * 0.5 * t))
    svf = StateVariableFilter(SAMPLE_RATE, hop_length=HOP)
    outputs = svf.get_outputs(saw, lfo, torch.full((1, 1, 1), 4.0))
    save_spectrograms(
        os.path.join(IMAGES, "filters_svf_outputs.png"),
        [outputs[name][0] for name in ("lowpass", "bandpass", "highpass")],
        SAMPLE_RATE,
        [f"sawtooth, StateVariableFilter {name}, q = 4, cutoff LFO 200 Hz .. 5 kHz"
         for name in ("lowpass", "bandpass", "highpass")],
    )


if __name__ == "__main__":
    main()
