"""Yamaha DX7 patch data: voices, algorithms and sysex files.

* :mod:`.voice`: :class:`Voice` and :class:`Operator` dataclasses, the VCED
  (155-byte) and packed (128-byte) layouts, :data:`PARAMETER_RANGES`.
* :mod:`.sysex`: :func:`read_syx`, :func:`write_bank`, :func:`write_voice`.
* :mod:`.algorithms`: the 32 algorithms as routing tables and tensors.
* :mod:`.tables`, :mod:`.controls`, :mod:`.engine`: the voice engine, which
  renders a voice the way Dexed's engine does (sample-identical on the
  reference renders): :func:`render_voice`, or :func:`voice_controls` (the
  per-block envelopes, pitches and LFO) followed by :func:`render_controls`.
* :mod:`.relaxed`: :class:`RelaxedVoice`, the differentiable relaxation of a
  voice (continuous envelope rates and levels, output levels, frequencies,
  detunes and feedback) that quantises back with ``to_voice()``.
"""

from .algorithms import (
    ALGORITHMS,
    Algorithm,
    all_carrier_masks,
    all_feedback_masks,
    all_modulation_matrices,
    carrier_mask,
    feedback_mask,
    get_algorithm,
    modulation_matrix,
)
from .engine import VoiceControls, render_controls, render_voice, voice_controls
from .relaxed import LEARNABLE_GROUPS, RelaxedControls, RelaxedVoice
from .sysex import (
    SysexChecksumWarning,
    SysexError,
    bank_bytes,
    checksum,
    read_syx,
    voice_bytes,
    write_bank,
    write_voice,
)
from .voice import (
    LFO_WAVEFORMS,
    PARAMETER_RANGES,
    SCALING_CURVES,
    DX7RangeWarning,
    Operator,
    ParameterRange,
    Voice,
)

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DX7RangeWarning",
    "LFO_WAVEFORMS",
    "Operator",
    "LEARNABLE_GROUPS",
    "PARAMETER_RANGES",
    "ParameterRange",
    "RelaxedControls",
    "RelaxedVoice",
    "SCALING_CURVES",
    "SysexChecksumWarning",
    "SysexError",
    "Voice",
    "VoiceControls",
    "all_carrier_masks",
    "all_feedback_masks",
    "all_modulation_matrices",
    "bank_bytes",
    "carrier_mask",
    "checksum",
    "feedback_mask",
    "get_algorithm",
    "modulation_matrix",
    "read_syx",
    "render_controls",
    "render_voice",
    "voice_bytes",
    "voice_controls",
    "write_bank",
    "write_voice",
]
