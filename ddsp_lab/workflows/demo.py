"""``ddsp-lab demo``: a short showcase of the unit generators, and a timbre transfer.

Each showcase sound is built from the public unit generators only, the way a
user would wire them, and written as a WAV file; one PNG shows all
spectrograms. Then the bundled trumpet melody is played by the bundled violin
voice (:mod:`ddsp_lab.pretrained`), written with its input and a comparison
plot.
"""

from __future__ import annotations

import math
import os
from typing import Callable, Dict, List

import torch

from ..core.checks import check_positive, check_sample_rate
from ..core.conversions import midi_to_hz
from ..io import load_audio, save_audio
from ..plotting import save_spectrograms
from ..units import (
    ADSR,
    FilteredNoise,
    Harmonic,
    KarplusStrong,
    Oscillator,
    ParametricReverb,
    StateVariableFilter,
    Wavetable,
)

HOP_SECONDS = 0.004  # control frames every 4 ms at any sample rate


def _melody_f0(notes: List[int], frames: int) -> torch.Tensor:
    """Step through MIDI ``notes`` evenly over ``frames``: ``[1, frames, 1]`` Hz."""
    index = torch.clamp((torch.arange(frames) * len(notes)) // frames, max=len(notes) - 1)
    return midi_to_hz(torch.tensor(notes, dtype=torch.float32)[index])[None, :, None]


def _gate(notes: int, frames: int, duty: float = 0.8) -> torch.Tensor:
    """A gate with ``notes`` evenly spaced notes held for ``duty`` of their slot."""
    position = (torch.arange(frames) * notes / frames) % 1.0
    return (position < duty).float()[None, :, None]


def ddsp_voice(sample_rate: int, hop: int, frames: int) -> torch.Tensor:
    """Harmonic plus filtered noise plus reverb: the DDSP decoder's synth, hand-driven."""
    t = torch.arange(frames) * hop / sample_rate
    vibrato = 1 + 0.006 * torch.sin(2 * math.pi * 5.5 * t)[None, :, None]
    f0 = _melody_f0([67, 71, 74, 72], frames) * vibrato
    swell = ADSR(sample_rate, hop).get_signal(_gate(4, frames, 0.9), 0.08, 0.2, 0.7, 0.15)
    numbers = torch.arange(1, 41, dtype=torch.float32)
    # Brighter when louder, as bowed and blown instruments are.
    rolloff = 1.0 + 3.0 * (1.0 - swell)
    distribution = numbers.pow(-rolloff)
    harmonic = Harmonic(sample_rate, hop).get_signal(f0, 0.3 * swell, distribution)
    bands = torch.linspace(0, 1, 65)
    breath = (0.004 * swell) * torch.exp(-4 * bands)[None, None, :]
    noise = FilteredNoise(sample_rate, hop, seed=0).get_signal(breath)
    return ParametricReverb(sample_rate, ir_duration_s=1.0, seed=0).get_signal(harmonic + noise, decay_s=1.2, damping=0.4, mix=0.2)


def subtractive(sample_rate: int, hop: int, frames: int) -> torch.Tensor:
    """Band-limited saw through a resonant low-pass whose cutoff follows an envelope."""
    f0 = _melody_f0([45, 45, 48, 43, 45, 52, 50, 48], frames)
    gate = _gate(8, frames, 0.6)
    amp_env = ADSR(sample_rate, hop).get_signal(gate, 0.005, 0.15, 0.6, 0.08)
    filter_env = ADSR(sample_rate, hop).get_signal(gate, 0.002, 0.25, 0.1, 0.1)
    saw = Oscillator(sample_rate, hop, waveform="saw").get_signal(f0, 0.4 * amp_env)
    cutoff = 150.0 + 3500.0 * filter_env
    q = torch.full_like(cutoff, 4.0)
    return StateVariableFilter(sample_rate, hop_length=hop).get_signal(saw, cutoff, q)


def wavetable_sweep(sample_rate: int, hop: int, frames: int) -> torch.Tensor:
    """A wavetable morphing from a sine to a bright pulse-like table."""
    size = 2048
    phase = torch.arange(size) * 2 * math.pi / size
    sine = torch.sin(phase)
    bright = torch.tanh(6 * torch.sin(phase)) * 0.8
    synth = Wavetable(sample_rate, hop, wavetables=torch.stack([sine, bright]))
    f0 = _melody_f0([57, 60, 64, 69], frames)
    position = torch.linspace(0, 1, frames)[None, :, None]
    amp = 0.3 * ADSR(sample_rate, hop).get_signal(_gate(4, frames, 0.85), 0.01, 0.3, 0.8, 0.1)
    return synth.get_signal(f0, amp, position)


def plucked_strings(sample_rate: int, hop: int, frames: int) -> torch.Tensor:
    """Karplus-Strong plucks of an arpeggio, each note in its own batch row, summed."""
    notes = [52, 56, 59, 64, 68, 71]
    samples = frames * hop
    string = KarplusStrong(sample_rate, seed=0)
    f0 = midi_to_hz(torch.tensor(notes, dtype=torch.float32))
    plucks = string.get_signal(f0[:, None], torch.full((len(notes), 1), 2.5),
                               torch.full((len(notes), 1), 0.35), num_samples=samples)
    out = torch.zeros(1, samples)
    step = samples // (len(notes) + 2)
    for i, pluck in enumerate(plucks):
        start = i * step
        out[0, start:] += 0.25 * pluck[: samples - start]
    return ParametricReverb(sample_rate, ir_duration_s=0.8, seed=1).get_signal(out, decay_s=0.8, damping=0.3, mix=0.15)


SHOWCASE: Dict[str, Callable[[int, int, int], torch.Tensor]] = {
    "ddsp_voice": ddsp_voice,
    "subtractive": subtractive,
    "wavetable": wavetable_sweep,
    "karplus_strong": plucked_strings,
}


def run_demo(
    out_dir: str,
    sample_rate: int = 16000,
    seconds: float = 2.0,
    transfer_melody: bool = True,
    crepe_model: str = "tiny",
) -> List[str]:
    """Render every sound of :data:`SHOWCASE` to ``out_dir``, then the timbre transfer.

    Args:
        out_dir: folder to write into (created if needed).
        sample_rate: Hz of the showcase, any rate of 8 kHz or more (the
            transfer runs at the violin voice's own rate, 16 kHz).
        seconds: length of each showcase sound.
        transfer_melody: also play the bundled trumpet melody with the bundled
            violin voice (``trumpet.wav``, ``violin_from_trumpet.wav`` and
            ``violin_from_trumpet.png``).
        crepe_model: CREPE model tracking the melody's pitch (``"tiny"``,
            the default, takes seconds on a CPU; ``"full"`` about a minute).

    Returns:
        Paths of the written files (one WAV per sound, ``showcase.png``, then the transfer's files).
    """
    sample_rate = check_sample_rate(sample_rate)
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz for the showcase, got {sample_rate}")
    check_positive(seconds, "seconds")
    hop = max(1, round(sample_rate * HOP_SECONDS))
    frames = max(8, round(seconds * sample_rate / hop))
    os.makedirs(out_dir, exist_ok=True)
    written, signals = [], []
    with torch.no_grad():
        for name, make in SHOWCASE.items():
            audio = make(sample_rate, hop, frames)
            # Leave headroom; the sounds are normalised to the same peak.
            audio = 0.8 * audio / audio.abs().max().clamp(min=1e-9)
            path = os.path.join(out_dir, f"{name}.wav")
            save_audio(path, audio, sample_rate)
            written.append(path)
            signals.append(audio[0])
    written.append(save_spectrograms(os.path.join(out_dir, "showcase.png"), signals, sample_rate, list(SHOWCASE)))
    if transfer_melody:
        written += transfer_demo(out_dir, crepe_model)
    return written


def transfer_demo(out_dir: str, crepe_model: str = "tiny") -> List[str]:
    """Play the bundled trumpet melody with the bundled violin voice.

    Returns:
        ``[trumpet.wav, violin_from_trumpet.wav, violin_from_trumpet.png]`` in ``out_dir``.
    """
    from ..pretrained import TRUMPET_MELODY
    from .transfer import transfer

    melody, melody_rate = load_audio(TRUMPET_MELODY)
    result = transfer("violin", melody, sample_rate=melody_rate, crepe_model=crepe_model,
                      out_path=os.path.join(out_dir, "violin_from_trumpet.wav"),
                      plot_path=os.path.join(out_dir, "violin_from_trumpet.png"), progress=False)
    original = os.path.join(out_dir, "trumpet.wav")
    save_audio(original, melody, melody_rate)
    return [original, result.out_path, result.plot_path]
