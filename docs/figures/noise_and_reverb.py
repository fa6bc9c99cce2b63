"""Render the pictures of docs/units/noise_and_reverb.md into docs/images/.

    python docs/figures/noise_and_reverb.py
"""

import math
import os

import torch

from ddsp_lab.plotting import save_spectrograms
from ddsp_lab.units.fir import FIRFilter
from ddsp_lab.units.noise import FilteredNoise
from ddsp_lab.units.reverb import ParametricReverb, Reverb

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images")
SR, HOP = 16000, 64


def moving_band(frames: int, n_bands: int, low_hz: float, high_hz: float, width_bands: float) -> torch.Tensor:
    """``[1, frames, n_bands]`` magnitudes: a Gaussian band gliding from low_hz to high_hz (log)."""
    t = torch.linspace(0, 1, frames)[:, None]
    centre_hz = low_hz * (high_hz / low_hz) ** t
    centre_band = centre_hz / (SR / 2) * (n_bands - 1)
    bands = torch.arange(n_bands, dtype=torch.float32)[None]
    return torch.exp(-0.5 * ((bands - centre_band) / width_bands) ** 2)[None]


def filtered_noise_figure():
    seconds = 3.0
    frames = int(SR * seconds) // HOP
    n_bands = 65
    noise = FilteredNoise(SR, HOP, n_bands=n_bands, seed=0)
    sweep = noise.get_signal(moving_band(frames, n_bands, 200.0, 6000.0, 1.5))

    # The same sweep as a resonant band on a static filter's output: white
    # noise through FIRFilter, with a gentle floor so the band sits on a bed.
    fir = FIRFilter(SR, HOP, n_bands=n_bands)
    white = 2 * torch.rand(1, frames * HOP, generator=torch.Generator().manual_seed(1)) - 1
    notch = 1.0 - 0.97 * moving_band(frames, n_bands, 6000.0, 200.0, 2.0)
    notched = fir.get_signal(white, notch)

    save_spectrograms(
        os.path.join(IMAGES, "filtered_noise.png"),
        [sweep[0], notched[0]],
        SR,
        ["FilteredNoise: band (Gaussian, 1.5 bands wide) gliding 200 Hz -> 6 kHz, 65 bands, hop 64",
         "FIRFilter on white noise: a notch gliding 6 kHz -> 200 Hz"],
    )


def pluck(seconds: float, f0_hz: float = 220.0) -> torch.Tensor:
    """``[1, samples]``: a click at 0.1 s and a decaying plucked tone at 1.2 s."""
    samples = int(SR * seconds)
    audio = torch.zeros(1, samples)
    audio[0, int(0.1 * SR)] = 1.0
    start = int(1.2 * SR)
    t = torch.arange(int(0.4 * SR)) / SR
    tone = sum(
        math.exp(-0.3 * k) * torch.sin(2 * math.pi * k * f0_hz * t) * torch.exp(-t * (6 + 2 * k))
        for k in range(1, 16)
    )
    audio[0, start: start + t.numel()] = 0.5 * tone
    return audio


def reverb_figure():
    dry = pluck(3.0)
    hall = ParametricReverb(SR, ir_duration_s=2.0, trainable=False)
    bright = hall.get_signal(dry, decay_s=1.2, damping=0.0, mix=0.5)
    dark = hall.get_signal(dry, decay_s=1.2, damping=0.9, mix=0.5)
    # A learned-style reverb fed an explicit impulse response: three echoes.
    echoes = torch.zeros(1, int(0.75 * SR))
    for delay_s, gain in ((0.25, 0.5), (0.5, 0.25), (0.74, 0.125)):
        echoes[0, int(delay_s * SR)] = gain
    echo = Reverb(SR, trainable=False).get_signal(dry, echoes)
    save_spectrograms(
        os.path.join(IMAGES, "reverb.png"),
        [dry[0], bright[0], dark[0], echo[0]],
        SR,
        ["dry: a click (0.1 s) and a plucked 220 Hz tone (1.2 s)",
         "ParametricReverb: RT60 1.2 s, damping 0, mix 0.5",
         "ParametricReverb: RT60 1.2 s, damping 0.9 (highs die first), mix 0.5",
         "Reverb with a given impulse response: echoes at 0.25, 0.5, 0.74 s"],
    )


def main():
    filtered_noise_figure()
    reverb_figure()


if __name__ == "__main__":
    main()
