"""The node catalogue: unit generators and small adapters with declared ports.

Use them as ``from ddsp_lab.graph import nodes`` then ``nodes.Oscillator(...)``
(the names mirror the unit generators they wrap in :mod:`ddsp_lab.units`).

* sources: :class:`Oscillator`, :class:`SineOperator`, :class:`FMSynth`
  (six DX7-style operators), :class:`Harmonic`, :class:`Noise`,
  :class:`FilteredNoise`, :class:`KarplusStrong`
* modulation: :class:`ADSR`, :class:`LFO`, :class:`ScaleOffset`
* effects: :class:`StateVariableFilter`, :class:`Biquad`, :class:`Reverb`,
  :class:`OneZero`
* routing: :class:`Input`, :class:`Mixer`, :class:`VCA`, :class:`Multiply`,
  :class:`Delay`, :class:`ToAudioRate`, :class:`ToControlRate`
"""

from .effects import Biquad, OneZero, Reverb, StateVariableFilter
from .fm import FMSynth
from .modulators import ADSR, LFO, ScaleOffset
from .routing import VCA, Delay, Input, Mixer, Multiply, ToAudioRate, ToControlRate
from .sources import FilteredNoise, Harmonic, KarplusStrong, Noise, Oscillator, SineOperator

__all__ = [
    "Oscillator", "SineOperator", "FMSynth", "Harmonic", "Noise", "FilteredNoise", "KarplusStrong",
    "ADSR", "LFO", "ScaleOffset",
    "StateVariableFilter", "Biquad", "Reverb", "OneZero",
    "Input", "Mixer", "VCA", "Multiply", "Delay", "ToAudioRate", "ToControlRate",
]
