"""Render the pictures of docs/fm.md into docs/images/dx7_*.png.

    python docs/figures/dx7.py

Uses the factory bank ROM 1A bundled in tests/data/dx7.
"""

import os
import warnings

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from ddsp_lab.dx7 import Operator, Voice, get_algorithm, read_syx  # noqa: E402
from ddsp_lab.dx7.controls import voice_controls  # noqa: E402
from ddsp_lab.dx7.engine import render_voice  # noqa: E402
from ddsp_lab.plotting import save_spectrograms  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "..", "images")
ROM1A = os.path.join(HERE, "..", "..", "tests", "data", "dx7", "rom1a.syx")


def _bank():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_syx(ROM1A)


def spectrogram_figure(voices):
    sr = 44100
    picks = [(10, "E.PIANO 1 (algorithm 5)"), (0, "BRASS 1 (algorithm 22)"), (25, "TUB BELLS (algorithm 5)"),
             (14, "BASS 1 (algorithm 16, feedback 7)")]
    signals = [render_voice(voices[i], 60, 100, 1.0, 2.0, sr)[0] for i, _ in picks]
    save_spectrograms(
        os.path.join(IMAGES, "dx7_spectrograms.png"),
        signals,
        sr,
        [f"{title}: note 60, velocity 100, note-off at 1.0 s" for _, title in picks],
        n_fft=2048,
        hop_length=256,
        max_hz=8000,
    )


def envelope_figure(voices):
    sr = 44100
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))

    # One operator with a DX7 envelope: four rates and four levels.
    voice = Voice(algorithm=32)
    voice.operators[0] = Operator(output_level=99, eg_rates=[80, 55, 40, 60], eg_levels=[99, 80, 90, 0])
    controls = voice_controls(voice, 60, 100, 1.2, 2.0, sr)
    t = controls.block_end_times_s
    ax = axes[0]
    ax.plot(t, controls.level_db[:, 0], color="C0")
    ax.axvline(controls.note_off_block * 64 / sr, color="0.5", linestyle=":", label="note-off")
    for label, x, y in (("R1 → L1", 0.02, -2), ("R2 → L2", 0.2, -16), ("R3 → L3 (sustain)", 0.6, -3),
                        ("R4 → L4 (release)", 1.25, -40)):
        ax.annotate(label, (x, y), fontsize=8)
    ax.set_title("one operator: rates 80 55 40 60, levels 99 80 90 0", fontsize=10)
    ax.set_xlabel("seconds")
    ax.set_ylabel("level, dB re full scale")
    ax.set_ylim(-100, 5)
    ax.legend(fontsize=8, loc="lower left")

    # E.PIANO 1: the six operators, carriers solid.
    voice = voices[10]
    controls = voice_controls(voice, 60, 100, 1.0, 2.0, sr)
    t = controls.block_end_times_s
    routing = get_algorithm(voice.algorithm)
    ax = axes[1]
    for op in range(1, 7):
        style = "-" if routing.is_carrier(op) else "--"
        label = f"OP{op} (carrier)" if routing.is_carrier(op) else f"OP{op}"
        ax.plot(t, controls.level_db[:, op - 1], style, label=label)
    ax.axvline(controls.note_off_block * 64 / sr, color="0.5", linestyle=":")
    ax.set_title("E.PIANO 1, note 60, velocity 100: operator levels", fontsize=10)
    ax.set_xlabel("seconds")
    ax.set_ylim(-100, 5)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(os.path.join(IMAGES, "dx7_envelopes.png"), dpi=90)
    plt.close(fig)


def _layout(algorithm):
    """(x, y) per operator: carriers on the bottom row, each modulator above its targets."""
    positions = {}
    next_x = [0.0]

    def place(op, depth):
        if op in positions:
            return positions[op][0]
        sources = sorted((src for src, dst in algorithm.edges if dst == op), reverse=True)
        xs = [place(src, depth + 1) for src in sources if src not in positions]
        if xs:
            x = float(np.mean(xs))
        else:
            x = next_x[0]
            next_x[0] += 1.0
        positions[op] = (x, depth)
        return x

    for carrier in algorithm.carriers:
        place(carrier, 0)
    return positions


def algorithm_figure():
    numbers = (1, 5, 16, 22, 32)
    fig, axes = plt.subplots(1, len(numbers), figsize=(13, 3.6))
    for ax, number in zip(axes, numbers):
        algorithm = get_algorithm(number)
        pos = _layout(algorithm)
        for src, dst in algorithm.edges:
            (x0, y0), (x1, y1) = pos[src], pos[dst]
            ax.add_patch(FancyArrowPatch((x0, y0 - 0.22), (x1, y1 + 0.22), arrowstyle="-|>", mutation_scale=10,
                                         color="0.3"))
        for op, (x, y) in pos.items():
            carrier = algorithm.is_carrier(op)
            ax.add_patch(plt.Rectangle((x - 0.25, y - 0.2), 0.5, 0.4, facecolor="#f2b134" if carrier else "#8fb8de",
                                       edgecolor="0.2"))
            ax.text(x, y, str(op), ha="center", va="center", fontsize=10)
        fx, fy = pos[algorithm.feedback_operator]
        ax.add_patch(FancyArrowPatch((fx + 0.25, fy), (fx, fy + 0.2), connectionstyle="arc3,rad=1.6",
                                     arrowstyle="-|>", mutation_scale=8, color="C3"))
        xs = [p[0] for p in pos.values()]
        ax.plot([min(xs) - 0.3, max(xs) + 0.3], [-0.45, -0.45], color="#f2b134", linewidth=2)
        ax.set_xlim(min(xs) - 0.8, max(xs) + 0.9)
        ax.set_ylim(-0.7, max(p[1] for p in pos.values()) + 0.7)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"algorithm {number}", fontsize=10)
    fig.suptitle("operators (blue: modulators, orange: carriers summed to the output), arrows: phase modulation, "
                 "red loop: feedback", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(IMAGES, "dx7_algorithms.png"), dpi=90)
    plt.close(fig)


def feedback_figure():
    sr, note, n = 44100, 57, 16384  # 220 Hz
    window = np.hanning(n)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    keep = freqs < 4000
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.0), sharey=True)
    for ax, feedback in zip(axes, (0, 4, 6, 7)):
        voice = Voice(algorithm=32, feedback=feedback)  # OP6 carries the feedback
        voice.operators[0] = Operator(output_level=0)
        voice.operators[5] = Operator(output_level=99)
        audio = render_voice(voice, note, 100, 1.0, 1.0, sr)[0].double().numpy()
        steady = audio[sr // 4: sr // 4 + n] * window
        spectrum = 20 * np.log10(np.abs(np.fft.rfft(steady)) * 2 / window.sum() + 1e-9)
        ax.plot(freqs[keep], spectrum[keep], linewidth=0.8)
        ax.set_title(f"feedback {feedback}", fontsize=10)
        ax.set_xlabel("Hz")
        ax.set_ylim(-130, -10)
    axes[0].set_ylabel("dB")
    fig.suptitle("one full-level operator at 220 Hz with self-feedback: a sine turns into a sawtooth-like "
                 "spectrum, and at 7 into noise", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(IMAGES, "dx7_feedback.png"), dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    os.makedirs(IMAGES, exist_ok=True)
    bank = _bank()
    spectrogram_figure(bank)
    envelope_figure(bank)
    algorithm_figure()
    feedback_figure()
    print("wrote docs/images/dx7_spectrograms.png, dx7_envelopes.png, dx7_algorithms.png, dx7_feedback.png")
