"""Unit generators and effects: ``Processor`` modules with ``get_controls`` / ``get_signal``."""

from .base import Processor
from .envelopes import ADSR, adsr_envelope
from .filters import Biquad, StateVariableFilter
from .fir import FIRFilter
from .fm import FMSynth
from .harmonic import Harmonic, Sinusoidal
from .karplus import KarplusStrong, karplus_strong
from .mix import Add, Gain, Mix
from .noise import FilteredNoise, Noise
from .oscillators import LFO, Oscillator
from .reverb import ParametricReverb, Reverb
from .wavetable import Wavetable

__all__ = [
    "Processor", "ADSR", "adsr_envelope", "Biquad", "StateVariableFilter", "FIRFilter", "FMSynth", "Harmonic",
    "Sinusoidal", "KarplusStrong", "karplus_strong", "Add", "Gain", "Mix", "FilteredNoise", "Noise",
    "LFO", "Oscillator", "ParametricReverb", "Reverb", "Wavetable",
]
