"""Render the pictures of docs/units/fm_operators.md into docs/images/.

    python docs/figures/fm_operators.py
"""

import os

import torch

from ddsp_lab.plotting import save_spectrograms
from ddsp_lab.units.fm import FMSynth

IMAGES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images")
SR, HOP = 16000, 64


def bell():
    """Algorithm 5 with two inharmonic pairs: the modulators die away before the carriers."""
    seconds = 3.0
    frames = int(SR * seconds) // HOP
    t = torch.linspace(0, seconds, frames)[None, :, None]
    synth = FMSynth(SR, HOP, algorithm=5, ratios=(1.0, 3.5, 2.0, 7.07, 1.0, 1.0))
    decay = torch.tensor([1.2, 0.5, 0.8, 0.3, 1.0, 1.0])
    peak = torch.tensor([0.5, 0.6, 0.3, 0.4, 0.0, 0.0])
    levels = peak * torch.exp(-t / decay)
    f0 = torch.full((1, frames, 1), 200.0)
    return synth.get_signal(f0, levels)[0]


def feedback_sweep(level: float):
    """One operator with self-feedback (OP6 of algorithm 32), settings 0..7 for 0.5 s each.

    The eight blocks are rendered as a stream: each continues the phase and
    the feedback history where the previous one stopped.
    """
    seconds = 0.5
    frames = int(SR * seconds) // HOP
    synth = FMSynth(SR, HOP, algorithm=32)
    levels = torch.zeros(1, frames, 6)
    levels[..., 5] = level
    f0 = torch.full((1, frames, 1), 220.0)
    blocks, state = [], {"phases": None, "feedback_state": None}
    for setting in range(8):
        audio, state = synth.get_signal(
            f0, levels, feedback=float(setting), initial_phases=state["phases"],
            feedback_state=state["feedback_state"], return_state=True,
        )
        blocks.append(audio[0])
    return torch.cat(blocks) / level


def main():
    save_spectrograms(
        os.path.join(IMAGES, "fm_bell.png"),
        [bell()],
        SR,
        ["FM bell: algorithm 5, OP2 -> OP1 at 3.5 : 1 and OP4 -> OP3 at 7.07 : 2, f0 200 Hz, decaying levels"],
    )
    save_spectrograms(
        os.path.join(IMAGES, "fm_feedback_sweep.png"),
        [feedback_sweep(1.0), feedback_sweep(2.0)],
        SR,
        ["Self-feedback 0..7 (0.5 s each), one operator at 220 Hz, level g = 1",
         "Self-feedback 0..7 (0.5 s each), level g = 2 (DX7 full scale)"],
    )


if __name__ == "__main__":
    main()
