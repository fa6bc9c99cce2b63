"""ddsp_lab: differentiable DSP synthesis in PyTorch."""

from .losses import MultiScaleSpectralLoss
from .units.base import Processor
from .units.harmonic import Harmonic, Sinusoidal

__version__ = "0.1.0"

__all__ = ["Processor", "Harmonic", "Sinusoidal", "MultiScaleSpectralLoss"]
