"""``ddsp-lab export``: a trained DDSP voice as a TorchScript file with a block-streaming interface.

The file holds a scripted :class:`~ddsp_lab.models.streaming.StreamingDDSPVoice`
and, as the extra file ``ddsp_lab.json``, what a host needs to drive it:
sample rate, hop, latency, loudness normalisation and the training data's
median f0. A host (C++ through libtorch, or Python without ddsp_lab) does::

    voice = torch.jit.load("violin.ts")
    state = voice.initial_state(1)
    audio, state = voice(f0_hz, loudness_db, state)   # [1, F] each -> [1, F * hop]
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import torch

from ..io import write_bytes_atomic
from ..models.autoencoder import Autoencoder, DDSPVoice
from ..models.streaming import StreamingDDSPVoice
from .train import load_run

PathLike = Union[str, "os.PathLike[str]"]
METADATA_NAME = "ddsp_lab.json"


@contextlib.contextmanager
def _torchscript():
    """Silence torch's deprecation notice for TorchScript: the file format real-time hosts load through libtorch."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
        yield


def _metadata(voice: DDSPVoice, stream: StreamingDDSPVoice, payload: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    config = (payload or {}).get("config", {}).get("model", {})
    return {
        "format": "ddsp_lab.streaming_voice",
        "version": 1,
        "sample_rate": stream.sample_rate,
        "hop_length": stream.hop_length,
        "latency_samples": stream.latency_samples,
        "loudness_mean_db": voice.loudness_mean_db,
        "loudness_std_db": voice.loudness_std_db,
        "f0_hz_median": config.get("f0_hz_median"),
        "step": (payload or {}).get("step"),
        "interface": "forward(f0_hz [B, F], loudness_db [B, F], state) -> (audio [B, F * hop_length], state); "
                     "state = initial_state(B); process(f0_hz, loudness_db, noise [B, F * hop_length], state) "
                     "takes the noise excitation (uniform on [-1, 1)) as an argument",
    }


def export_streaming(model_or_run: Union[Autoencoder, PathLike], out_path: PathLike) -> Tuple[str, Dict[str, Any]]:
    """Script a trained DDSP voice for block streaming and save it.

    Args:
        model_or_run: a :class:`~ddsp_lab.models.DDSPVoice`, a run folder
            (its newest intact checkpoint) or a checkpoint ``.pt``.
        out_path: the TorchScript file to write (atomically), e.g. ``voice.ts``.

    Returns:
        ``(path written, metadata dict)``; the metadata is also stored in the
        file as the extra file ``ddsp_lab.json``.

    Raises:
        TypeError / ValueError: the voice cannot stream (not a DDSP voice, or
            one with a latent encoder); FileNotFoundError: no such run.
    """
    payload = None
    if isinstance(model_or_run, Autoencoder):
        voice = model_or_run
    else:
        _, payload, _, voice = load_run(model_or_run)
    voice = voice.to("cpu").eval()
    stream = StreamingDDSPVoice(voice).eval()
    metadata = _metadata(voice, stream, payload)
    buffer = io.BytesIO()
    with _torchscript():
        torch.jit.save(torch.jit.script(stream), buffer, _extra_files={METADATA_NAME: json.dumps(metadata, indent=2)})
    out_path = os.path.abspath(os.fspath(out_path))
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    write_bytes_atomic(out_path, buffer.getvalue())
    return out_path, metadata


def load_streaming(path: PathLike) -> Tuple[torch.jit.ScriptModule, Dict[str, Any]]:
    """A file written by :func:`export_streaming`: ``(scripted voice, metadata)``."""
    extra = {METADATA_NAME: ""}
    with _torchscript():
        module = torch.jit.load(os.fspath(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra[METADATA_NAME] or "{}")
