"""Render the pictures of docs/units/envelopes_and_strings.md into docs/images/.

    python docs/figures/envelopes_and_strings.py
"""

import os

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ddsp_lab.plotting import save_spectrograms  # noqa: E402
from ddsp_lab.units.envelopes import ADSR  # noqa: E402
from ddsp_lab.units.karplus import KarplusStrong  # noqa: E402
from ddsp_lab.units.mix import Add, Gain  # noqa: E402

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images")


def envelope_figure():
    sr, hop = 16000, 16  # 1000 frames per second
    frames = 2000
    gate = torch.zeros(1, frames, 1)
    gate[:, 100:700] = 1  # a held note
    gate[:, 1000:1060] = 1  # released in the middle of its attack
    gate[:, 1300:1500] = 1
    gate[:, 1600:1850] = 1  # retriggered while the previous note still releases
    controls = dict(attack_s=0.12, decay_s=0.2, sustain=0.5, release_s=0.35)
    seconds = np.arange(frames) * hop / sr
    curves = [
        ("linear (curve=0)", ADSR(sr, hop).get_signal(gate, **controls)),
        ("exponential (curve=5)", ADSR(sr, hop, curve=5.0).get_signal(gate, **controls)),
        ("linear, retrigger='zero'", ADSR(sr, hop, retrigger="zero").get_signal(gate, **controls)),
    ]
    fig, ax = plt.subplots(figsize=(10, 3.4))
    ax.fill_between(seconds, 0, gate[0, :, 0].numpy() * 1.05, step="post", color="0.88", label="gate")
    for (label, env), style in zip(curves, ["-", "-", ":"]):
        ax.plot(seconds, env[0, :, 0].numpy(), style, label=label, linewidth=1.6)
    ax.set_xlabel("seconds")
    ax.set_ylabel("level")
    ax.set_title("ADSR(attack 0.12 s, decay 0.2 s, sustain 0.5, release 0.35 s)", fontsize=10)
    ax.set_ylim(0, 1.1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    os.makedirs(IMAGES, exist_ok=True)
    fig.savefig(os.path.join(IMAGES, "adsr_envelope.png"), dpi=90)
    plt.close(fig)


def string_figure():
    sr, seconds = 16000, 3.0
    samples = int(sr * seconds)
    string = KarplusStrong(sr, seed=0)
    bright = string.get_signal(196.0, 2.0, 0.95, num_samples=samples)
    dark = string.get_signal(196.0, 2.0, 0.0, num_samples=samples)
    # A short arpeggio: plucks placed in time by delaying their excitations.
    notes = [(0.0, 261.63), (0.5, 329.63), (1.0, 392.0), (1.5, 523.25)]
    plucks = []
    for start, f0 in notes:
        burst = string.noise_excitation(f0, samples)
        offset = int(start * sr)
        delayed = torch.nn.functional.pad(burst, (offset, 0))[:, :samples]
        plucks.append(string.get_signal(f0, 1.5, 0.6, excitation=delayed))
    arpeggio = Gain(-6.0).get_signal(Add()(*plucks))
    save_spectrograms(
        os.path.join(IMAGES, "karplus_strong.png"),
        [bright[0], dark[0], arpeggio[0]],
        sr,
        [
            "KarplusStrong: f0 196 Hz, decay_s 2, brightness 0.95",
            "KarplusStrong: f0 196 Hz, decay_s 2, brightness 0 (two-point average loop filter)",
            "Add of four plucks (C4 E4 G4 C5, decay_s 1.5, brightness 0.6), Gain -6 dB",
        ],
        max_hz=6000,
    )


def main():
    envelope_figure()
    string_figure()


if __name__ == "__main__":
    main()
