"""Render the pictures of docs/units/oscillators.md into docs/images/.

    python docs/figures/oscillators.py
"""

import math
import os

import torch

from ddsp_lab.core.phase import accumulate_phase
from ddsp_lab.core.upsample import upsample_linear
from ddsp_lab.plotting import save_spectrograms
from ddsp_lab.units.oscillators import LFO, WAVEFORMS, Oscillator
from ddsp_lab.units.wavetable import Wavetable

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images")
SR, HOP, SECONDS = 16000, 64, 3.0
FRAMES = int(SR * SECONDS) // HOP


def sweep(low_hz: float, high_hz: float) -> torch.Tensor:
    """``[1, FRAMES, 1]`` exponential pitch sweep."""
    t = torch.linspace(0, 1, FRAMES)
    return (low_hz * (high_hz / low_hz) ** t)[None, :, None]


def single_cycle(name: str, size: int = 2048) -> torch.Tensor:
    """One cycle of an ideal (aliasing) waveform, ``[size]``, starting at 0 and rising."""
    cycles = torch.arange(size, dtype=torch.float64) / size
    if name == "sine":
        table = torch.sin(2 * math.pi * cycles)
    elif name == "saw":
        table = 2 * torch.remainder(cycles + 0.5, 1.0) - 1
    elif name == "square":
        table = torch.where(cycles < 0.5, 1.0, -1.0)
    else:
        table = 1 - 4 * torch.abs(torch.remainder(cycles + 0.25, 1.0) - 0.5)
    return table.float()


def sweep_figure():
    f0 = sweep(55.0, 3520.0)
    amplitude = torch.full_like(f0, 0.5)
    signals = [Oscillator(SR, HOP, name).get_signal(f0, amplitude)[0] for name in WAVEFORMS]
    save_spectrograms(
        os.path.join(IMAGES, "oscillators_sweep.png"),
        signals,
        SR,
        [f"Oscillator(waveform={name!r}): f0 sweep 55 -> 3520 Hz" for name in WAVEFORMS],
    )


def aliasing_figure():
    f0 = sweep(55.0, 3520.0)
    amplitude = torch.full_like(f0, 0.5)
    # The naive saw: the ideal ramp sampled at the running phase.
    phase = accumulate_phase(upsample_linear(f0, HOP)[..., 0], SR)
    naive = 0.5 * (2 * torch.remainder(phase / (2 * math.pi) + 0.5, 1.0) - 1)
    additive = Oscillator(SR, HOP, "saw").get_signal(f0, amplitude)
    table = Wavetable(SR, HOP, single_cycle("saw")).get_signal(f0, amplitude)
    save_spectrograms(
        os.path.join(IMAGES, "oscillators_aliasing.png"),
        [naive[0], additive[0], table[0]],
        SR,
        ["naive saw (ramp sampled at the phase): aliases fold back from Nyquist",
         "Oscillator('saw'): every partial below Nyquist",
         "Wavetable(saw table): mip-mapped, no aliases (top octave thinned)"],
    )


def wavetable_figure():
    tables = torch.stack([single_cycle(name) for name in ("sine", "triangle", "saw", "square")])
    synth = Wavetable(SR, HOP, tables)
    t = torch.linspace(0, 1, FRAMES)[None, :, None]
    f0 = torch.full_like(t, 220.0)
    crossfade = synth.get_signal(f0, torch.full_like(t, 0.5), t)
    swept = synth.get_signal(sweep(55.0, 7000.0), torch.full_like(t, 0.5), torch.full_like(t, 2 / 3))
    save_spectrograms(
        os.path.join(IMAGES, "oscillators_wavetable.png"),
        [crossfade[0], swept[0]],
        SR,
        ["Wavetable crossfade at 220 Hz: position 0 -> 1 over sine, triangle, saw, square",
         "Wavetable saw table, f0 sweep 55 -> 7000 Hz: mip levels drop partials before they alias"],
    )


def lfo_figure():
    base = torch.full((1, FRAMES, 1), 330.0)
    ones = torch.ones_like(base)
    vibrato = LFO(SR, HOP, "sine").get_signal(5.5 * ones, 0.03 * ones, ones)
    steps = LFO(SR, HOP, "sample_and_hold", seed=3).get_signal(3.0 * ones, 0.4 * ones, ones)
    tremolo = LFO(SR, HOP, "triangle").get_signal(4.0 * ones, 0.5 * ones, 0.5 * ones)
    signals = [
        Oscillator(SR, HOP, "saw", max_harmonics=40).get_signal(base * vibrato, 0.5 * ones)[0],
        Oscillator(SR, HOP, "square", max_harmonics=40).get_signal(base * steps, 0.5 * ones)[0],
        Oscillator(SR, HOP, "saw", max_harmonics=40).get_signal(base, tremolo)[0],
    ]
    save_spectrograms(
        os.path.join(IMAGES, "oscillators_lfo.png"),
        signals,
        SR,
        ["saw, vibrato: f0 * (1 + 0.03 sine LFO at 5.5 Hz)",
         "square, random steps: f0 * (1 + 0.4 sample-and-hold LFO at 3 Hz)",
         "saw, tremolo: amplitude = 0.5 + 0.5 triangle LFO at 4 Hz"],
        max_hz=6000,
    )


def main():
    sweep_figure()
    aliasing_figure()
    wavetable_figure()
    lfo_figure()


if __name__ == "__main__":
    main()
