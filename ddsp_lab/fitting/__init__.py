"""Support for fitting a DX7 patch to a recorded note.

* :mod:`.analysis`: :func:`analyze_note` measures a note (pitch, partials,
  spectral and amplitude envelopes, attack/decay/sustain/release timing)
  into a :class:`NoteAnalysis`.
* :mod:`.distance`: the distances a fit and its baselines are judged by,
  batched over candidates: :func:`spectral_distance` (multi-scale
  spectral), :func:`log_spectral_distance` (LSD, dB) and
  :func:`envelope_distance` (amplitude envelopes, dB).
* :mod:`.presets`: the nearest-preset baseline: :func:`factory_voices` and
  :func:`nearest_preset`.
"""

from .analysis import NoPitchError, NoPitchWarning, NoteAnalysis, analyze_note, frame_rms_db, hz_to_midi, midi_to_hz
from .distance import default_fft_sizes, envelope_distance, log_spectral_distance, spectral_distance
from .presets import DEFAULT_FACTORY_ROM, PresetMatch, factory_voices, nearest_preset

__all__ = [
    "DEFAULT_FACTORY_ROM",
    "NoPitchError",
    "NoPitchWarning",
    "NoteAnalysis",
    "PresetMatch",
    "analyze_note",
    "default_fft_sizes",
    "envelope_distance",
    "factory_voices",
    "frame_rms_db",
    "hz_to_midi",
    "log_spectral_distance",
    "midi_to_hz",
    "nearest_preset",
    "spectral_distance",
]
