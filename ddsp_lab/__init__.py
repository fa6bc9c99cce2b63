"""ddsp_lab: differentiable DSP synthesis in PyTorch.

Unit generators (``Harmonic``, ``FilteredNoise``, ``Oscillator``, ...) are
``nn.Module`` s whose ``get_controls`` maps raw network outputs to physical
controls and whose ``get_signal`` renders audio ``[batch, samples]`` from
frame-rate controls ``[batch, frames, channels]``. Pure tensor functions live
in :mod:`ddsp_lab.core`, DX7 voices, sysex and the DX7 engine in
:mod:`ddsp_lab.dx7`, synth graphs in :mod:`ddsp_lab.graph`.
"""

from .data import PreparedDataset, PrepareReport, load_manifest, prepare_dataset
from .dx7 import Voice, read_syx, render_voice, write_bank, write_voice
from .features import compute_f0, compute_loudness, compute_mfcc
from .io import load_audio, save_audio
from .graph import External, Fixed, Graph, Learnable, Note, load_preset, save_preset
from .graph import fit as fit_graph
from .losses import MultiScaleSpectralLoss
from .metrics import f0_l1_semitones, f0_outlier_ratio, loudness_l1_db, multiscale_spectral_distance
from .models import Config as TrainConfig
from .models import DDSPVoice, FMVoice, GraphVoice
from .workflows.transfer import TransferResult, transfer
from .units import (
    ADSR,
    LFO,
    Add,
    Biquad,
    FilteredNoise,
    FIRFilter,
    FMSynth,
    Gain,
    Harmonic,
    KarplusStrong,
    Mix,
    Noise,
    Oscillator,
    ParametricReverb,
    Processor,
    Reverb,
    Sinusoidal,
    StateVariableFilter,
    Wavetable,
)

__version__ = "0.1.0"

__all__ = [
    "Processor", "Harmonic", "Sinusoidal", "Oscillator", "LFO", "Wavetable", "Noise", "FilteredNoise",
    "FIRFilter", "FMSynth", "Reverb", "ParametricReverb", "Biquad", "StateVariableFilter", "ADSR", "KarplusStrong",
    "Add", "Mix", "Gain", "MultiScaleSpectralLoss", "compute_loudness", "compute_f0", "compute_mfcc",
    "load_audio", "save_audio",
    "Voice", "read_syx", "render_voice", "write_bank", "write_voice",
    "prepare_dataset", "PreparedDataset", "PrepareReport", "load_manifest",
    "loudness_l1_db", "f0_l1_semitones", "f0_outlier_ratio", "multiscale_spectral_distance",
    "transfer", "TransferResult",
    "DDSPVoice", "FMVoice", "GraphVoice", "TrainConfig",
    "Graph", "Note", "Fixed", "Learnable", "External", "load_preset", "save_preset", "fit_graph",
]
