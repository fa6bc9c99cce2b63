"""Frame-rate features extracted from audio: loudness, pitch (CREPE) and MFCCs.

All features share one frame layout: with a hop of ``hop_length`` samples,
frame ``n`` is centred on sample ``n * hop_length`` and a signal of ``T``
samples has ``ceil(T / hop_length)`` frames, so ``F * hop_length`` samples
give exactly the ``F`` frames that drive a synthesiser rendering
``F * hop_length`` samples. See :mod:`ddsp_lab.features.framing`.
"""

from .framing import frame_count, resolve_hop_length
from .loudness import compute_loudness
from .mfcc import compute_mfcc, dct_ii_ortho, mel_filterbank
from .pitch import compute_f0, import_torchcrepe

__all__ = [
    "compute_f0",
    "compute_loudness",
    "compute_mfcc",
    "dct_ii_ortho",
    "frame_count",
    "import_torchcrepe",
    "mel_filterbank",
    "resolve_hop_length",
]
