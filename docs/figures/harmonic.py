"""Render the pictures of docs/units/harmonic.md into docs/images/.

    python docs/figures/harmonic.py
"""

import math
import os

import torch

from ddsp_lab import Harmonic, Sinusoidal
from ddsp_lab.plotting import save_spectrograms

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images")
SR, HOP, SECONDS = 16000, 64, 3.0
FRAMES = int(SR * SECONDS) // HOP


def main():
    t = torch.linspace(0, 1, FRAMES)
    # A glide from 110 Hz to 1760 Hz with vibrato: partials vanish as they reach Nyquist.
    f0 = (110 * 2 ** (4 * t) * (1 + 0.01 * torch.sin(2 * math.pi * 6 * SECONDS * t)))[None, :, None]
    amplitude = torch.full((1, FRAMES, 1), 0.5)
    numbers = torch.arange(1, 61, dtype=torch.float32)
    distribution = (1 / numbers).expand(1, FRAMES, 60)
    harmonic = Harmonic(SR, HOP).get_signal(f0, amplitude, distribution)

    # Four free partials drifting apart (an inharmonic bell-like cluster).
    ratios = torch.tensor([1.0, 2.76, 5.40, 8.93])
    freqs = (220 * ratios * (1 + 0.05 * t)[:, None])[None]
    amps = (torch.exp(-3 * t)[:, None] * torch.tensor([0.5, 0.3, 0.2, 0.1]))[None]
    sinusoidal = Sinusoidal(SR, HOP).get_signal(freqs, amps)

    save_spectrograms(
        os.path.join(IMAGES, "harmonic.png"),
        [harmonic[0], sinusoidal[0]],
        SR,
        ["Harmonic: 60 harmonics (1/k), f0 glide 110 -> 1760 Hz with vibrato",
         "Sinusoidal: 4 inharmonic partials, decaying"],
    )


if __name__ == "__main__":
    main()
