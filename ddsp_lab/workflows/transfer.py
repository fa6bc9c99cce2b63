"""Timbre transfer: play the melody and dynamics of a recording with a trained voice.

The input is analysed with CREPE (f0 and confidence) and the A-weighted
loudness, both at the model's sample rate and hop. The controls are then
moved into the range the voice was trained on:

* **bridging**: unvoiced runs of up to ``DEFAULT_BRIDGE_SECONDS`` between
  voiced frames (confidence dips at note changes) count as voiced, with f0
  interpolated across them (:func:`bridge_short_gaps`).
* **octave shift**: whole octaves (f0 times ``2 ** n``) that bring the median
  MIDI pitch of the confident frames closest to a reference pitch. The
  reference is, in this order: the ``reference_f0_hz`` argument; a median f0
  recorded in the checkpoint (``payload["statistics"]["f0_hz_median"]`` or
  ``config["model"]["f0_hz_median"]``, for runs that record one); else
  :data:`DEFAULT_REFERENCE_F0_HZ` (middle C, 261.63 Hz). The trainer records
  the median f0 of the training data's confident frames as
  ``model.f0_hz_median``; the fallback serves runs made before it did.
* **loudness shift**: one constant in dB added to every frame (so the
  dynamics are kept) that makes the mean loudness of the confident frames
  equal to the model's ``loudness_mean_db`` (the training data's mean loudness,
  stored in the checkpoint's config by the trainer).
* **masking**: frames whose confidence is below the threshold get the
  loudness floor (-120 dB, what :func:`~ddsp_lab.features.compute_loudness`
  reads on silence), so the voice is silent in breaths, noise and rests.

Rendering: inputs of up to ``block_seconds`` are rendered in one pass. Longer
inputs are rendered in blocks of ``block_seconds``. A DDSP voice streams them
with :class:`~ddsp_lab.models.streaming.StreamingDDSPVoice`, which carries the
decoder state, oscillator phases and filter and reverb tails across blocks,
so the result equals the one-pass render (up to float rounding) except for
the last two frames, which the stream renders from the held last frame's
conditioning where the one-pass render holds its controls. Other voices have
no streaming state: each block is rendered with ``CONTEXT_SECONDS`` of the
preceding controls in front (the decoder warms up on them and the reverb tail
of the preceding audio is present) and ``LOOKAHEAD_FRAMES`` after it (a
frame's audio depends on the next frames' controls), and the blocks are joined with a linear
crossfade over ``CROSSFADE_SECONDS``, so a joint can colour the sound briefly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Dict, Mapping, Optional, Union

import torch

from ..core.resample import resample
from ..features import compute_f0, compute_loudness
from ..features.loudness import DEFAULT_RANGE_DB
from ..io import load_audio, save_audio
from ..models.autoencoder import Autoencoder, DDSPVoice
from ..models.streaming import StreamingDDSPVoice
from .train import load_run

PathLike = Union[str, "os.PathLike[str]"]

# Middle C: the fallback reference pitch when neither the caller nor the checkpoint gives one.
DEFAULT_REFERENCE_F0_HZ = 261.6255653005986
DEFAULT_BLOCK_SECONDS = 30.0
CONTEXT_SECONDS = 1.0
CROSSFADE_SECONDS = 0.05
LOOKAHEAD_FRAMES = 2
# Unvoiced runs up to this long between voiced frames are bridged (a note change, not a rest).
DEFAULT_BRIDGE_SECONDS = 0.05
# Masked frames read like silence to the model: the loudness feature's floor.
LOUDNESS_FLOOR_DB = -DEFAULT_RANGE_DB
MAX_OCTAVE_SHIFT = 8


@dataclasses.dataclass
class TransferResult:
    """What :func:`transfer` rendered and how.

    Attributes:
        audio: ``[1, samples]`` float32 output at ``sample_rate`` (same length
            as the input once resampled to the model's rate).
        sample_rate: Hz (the model's).
        hop_length: samples per frame (the model's).
        f0_in_hz, confidence: ``[1, frames]`` CREPE f0 (Hz) and confidence (0..1) of the input.
        loudness_in_db: ``[1, frames]`` loudness of the input (dB).
        f0_out_hz: ``[1, frames]`` f0 fed to the model (Hz, octave-shifted).
        loudness_out_db: ``[1, frames]`` loudness fed to the model (dB, shifted and masked).
        voiced: ``[1, frames]`` bool, frames at or above the confidence threshold.
        octave_shift: octaves applied to f0 (f0 times ``2 ** octave_shift``).
        loudness_shift_db: dB added to the loudness.
        reference_f0_hz: pitch the automatic octave shift aimed at (Hz).
        reference_source: where it came from: ``"argument"``, ``"checkpoint"`` or ``"default"``.
        blocks: rendering passes (1: the whole input at once).
        seconds: wall-clock time of each stage: ``{"pitch", "loudness", "render"}``
            (``render`` includes the octave and loudness shifts and masking).
        checkpoint_path, out_path, plot_path: files read and written (``None`` when not applicable).
    """

    audio: torch.Tensor
    sample_rate: int
    hop_length: int
    f0_in_hz: torch.Tensor
    confidence: torch.Tensor
    loudness_in_db: torch.Tensor
    f0_out_hz: torch.Tensor
    loudness_out_db: torch.Tensor
    voiced: torch.Tensor
    octave_shift: int
    loudness_shift_db: float
    reference_f0_hz: float
    reference_source: str
    blocks: int
    seconds: Dict[str, float] = dataclasses.field(default_factory=dict)
    checkpoint_path: Optional[str] = None
    out_path: Optional[str] = None
    plot_path: Optional[str] = None


def _load_model(source, device: torch.device):
    """``(model, checkpoint path or None, payload or None)`` from a model, run folder or checkpoint."""
    if isinstance(source, Autoencoder):
        return source.to(device).eval(), None, None
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"model_or_run_dir must be an Autoencoder, a run folder or a checkpoint path, got {type(source).__name__}"
        )
    try:
        path, payload, _, model = load_run(source, device)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"model_or_run_dir: {error}") from None
    if not isinstance(model, Autoencoder):
        raise ValueError(
            f"model_or_run_dir holds a {type(model).__name__}, a neural baseline; timbre transfer plays a voice "
            "(DDSP, FM or graph)"
        )
    return model, path, payload


def _recorded_reference(payload: Optional[Mapping[str, Any]]) -> Optional[float]:
    """A median training f0 (Hz) stored in the checkpoint, if the run recorded one."""
    if payload is None:
        return None
    candidates = []
    statistics = payload.get("statistics")
    if isinstance(statistics, Mapping):
        candidates.append(statistics.get("f0_hz_median"))
    config = payload.get("config")
    if isinstance(config, Mapping) and isinstance(config.get("model"), Mapping):
        candidates.append(config["model"].get("f0_hz_median"))
    for value in candidates:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            return float(value)
    return None


def _load_input(audio_path_or_tensor, sample_rate: Optional[int], model_rate: int) -> torch.Tensor:
    """Mono ``[1, samples]`` float32 at the model's rate."""
    if isinstance(audio_path_or_tensor, (str, os.PathLike)):
        audio, _ = load_audio(audio_path_or_tensor, sample_rate=model_rate)
        return audio
    if not isinstance(audio_path_or_tensor, torch.Tensor):
        raise TypeError(
            f"audio_path_or_tensor must be a file path or a tensor, got {type(audio_path_or_tensor).__name__}"
        )
    audio = audio_path_or_tensor
    if audio.dim() == 1:
        audio = audio.unsqueeze(0)
    if audio.dim() != 2 or audio.shape[0] != 1:
        raise ValueError(f"audio_path_or_tensor must be [samples] or [1, samples], got shape {tuple(audio.shape)}")
    if not audio.is_floating_point():
        raise TypeError(f"audio_path_or_tensor must be floating point, got {audio.dtype}")
    if audio.shape[-1] == 0:
        raise ValueError("audio_path_or_tensor is empty (0 samples)")
    if not bool(torch.isfinite(audio).all()):
        raise ValueError("audio_path_or_tensor contains NaN or infinite samples")
    if sample_rate is None:
        raise ValueError("sample_rate (Hz) is required when audio_path_or_tensor is a tensor")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer number of Hz, got {sample_rate!r}")
    audio = audio.detach().to(torch.float32).cpu()
    if sample_rate != model_rate:
        audio = resample(audio, sample_rate, model_rate)
    return audio


def _check_shift(value, name: str, kind) -> None:
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be 'auto' or a number, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
        raise ValueError(f"{name} must be 'auto' or a finite {'integer' if kind is int else 'number'}, got {value!r}")


def auto_octave_shift(f0_hz: torch.Tensor, voiced: torch.Tensor, reference_f0_hz: float) -> int:
    """Whole octaves that bring the median voiced MIDI pitch closest to a reference.

    Args:
        f0_hz: ``[..., frames]`` fundamental in Hz.
        voiced: ``[..., frames]`` bool mask of the frames to count (at least one).
        reference_f0_hz: target pitch in Hz (``> 0``).

    Returns:
        ``n`` (an int) such that ``f0 * 2 ** n`` has its median closest to the
        reference, within ``±MAX_OCTAVE_SHIFT``.
    """
    if not bool(voiced.any()):
        raise ValueError("the input has no confident (voiced) frames: the octave shift cannot be estimated")
    if not (reference_f0_hz > 0 and math.isfinite(reference_f0_hz)):
        raise ValueError(f"reference_f0_hz must be a positive number of Hz, got {reference_f0_hz!r}")
    midi = 69.0 + 12.0 * torch.log2(f0_hz[voiced].double().clamp(min=1e-3) / 440.0)
    median = float(midi.median())
    reference = 69.0 + 12.0 * math.log2(reference_f0_hz / 440.0)
    shift = int(round((reference - median) / 12.0))
    return max(-MAX_OCTAVE_SHIFT, min(MAX_OCTAVE_SHIFT, shift))


def bridge_short_gaps(f0_hz: torch.Tensor, voiced: torch.Tensor, max_frames: int):
    """Treat short unvoiced runs inside a phrase as voiced.

    CREPE's confidence dips for a few frames at note changes and bow or
    breath noise while the instrument keeps sounding; silencing those frames
    chops a legato line into detached notes. A run of at most ``max_frames``
    unvoiced frames with voiced frames on both sides becomes voiced, and its
    f0 is interpolated linearly in log frequency between the two neighbours
    (the tracked f0 there is unreliable, often an octave off).

    Args:
        f0_hz: ``[B, F]`` Hz.
        voiced: ``[B, F]`` bool.
        max_frames: longest run bridged; 0 bridges nothing.

    Returns:
        ``(f0_hz, voiced)``, new tensors.
    """
    f0_hz, voiced = f0_hz.clone(), voiced.clone()
    if max_frames <= 0:
        return f0_hz, voiced
    for row in range(voiced.shape[0]):
        flags = voiced[row].tolist()
        frame = 0
        while frame < len(flags):
            if flags[frame]:
                frame += 1
                continue
            end = frame
            while end < len(flags) and not flags[end]:
                end += 1
            if frame > 0 and end < len(flags) and end - frame <= max_frames:
                left, right = torch.log2(f0_hz[row, frame - 1]), torch.log2(f0_hz[row, end])
                weights = torch.arange(1, end - frame + 1, dtype=f0_hz.dtype, device=f0_hz.device) / (end - frame + 1)
                f0_hz[row, frame:end] = torch.exp2(left + (right - left) * weights)
                voiced[row, frame:end] = True
            frame = end
    return f0_hz, voiced


def _progress_bar(progress: bool, total: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="transfer", unit="block", dynamic_ncols=True)


def _render_streaming(model: DDSPVoice, f0_hz, loudness_db, block_frames: int, progress: bool):
    """Audio ``[1, frames * hop]`` rendered block by block with carried state (see the module docstring)."""
    stream = StreamingDDSPVoice(model).eval()
    hop, frames = model.hop_length, f0_hz.shape[1]
    latency = stream.latency_samples
    # The stream lags by `latency` samples: feed that much more, holding the last frame's conditioning.
    extra = -(-latency // hop)
    f0_hz = torch.cat([f0_hz, f0_hz[:, -1:].expand(-1, extra)], dim=1)
    loudness_db = torch.cat([loudness_db, loudness_db[:, -1:].expand(-1, extra)], dim=1)
    starts = range(0, f0_hz.shape[1], block_frames)
    bar = _progress_bar(progress, len(starts))
    state = stream.initial_state(f0_hz.shape[0])
    pieces = []
    with torch.no_grad():
        for start in starts:
            audio, state = stream(f0_hz[:, start:start + block_frames], loudness_db[:, start:start + block_frames],
                                  state)
            pieces.append(audio)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return torch.cat(pieces, dim=1)[:, latency:latency + frames * hop], len(starts)


def _render(model: Autoencoder, f0_hz, loudness_db, block_frames: int, progress: bool):
    """Audio ``[1, frames * hop]``: in one pass, streamed, or in crossfaded blocks (see the module docstring)."""
    hop = model.hop_length
    frames = f0_hz.shape[1]
    if frames <= block_frames:
        with torch.no_grad():
            return model(f0_hz, loudness_db), 1
    if isinstance(model, DDSPVoice) and model.encoder is None:
        return _render_streaming(model, f0_hz, loudness_db, block_frames, progress)
    context = max(1, round(CONTEXT_SECONDS * model.sample_rate / hop))
    fade = max(1, round(CROSSFADE_SECONDS * model.sample_rate / hop))
    starts = list(range(0, frames, block_frames))
    output = torch.zeros(1, frames * hop, device=f0_hz.device, dtype=torch.float32)
    bar = _progress_bar(progress, len(starts))
    ramp_in = None
    for start in starts:
        # Each block also renders the `fade` frames before its start, which the previous block
        # already wrote, and fades in over them; `context` frames before that warm up the decoder.
        own_start = max(0, start - fade)
        first = max(0, own_start - context)
        end = min(frames, start + block_frames)
        # A few frames past the end too: a frame's audio depends on the next frames' controls.
        stop = min(frames, end + LOOKAHEAD_FRAMES)
        with torch.no_grad():
            audio = model(f0_hz[:, first:stop], loudness_db[:, first:stop]).to(torch.float32)
        audio = audio[:, (own_start - first) * hop:(end - first) * hop]
        begin, overlap = own_start * hop, (start - own_start) * hop
        if overlap:
            if ramp_in is None or ramp_in.numel() != overlap:
                ramp_in = (torch.arange(overlap, device=audio.device, dtype=audio.dtype) + 0.5) / overlap
            output[:, begin:begin + overlap] = output[:, begin:begin + overlap] * (1 - ramp_in) \
                + audio[:, :overlap] * ramp_in
        output[:, begin + overlap:end * hop] = audio[:, overlap:]
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return output, len(starts)


def transfer(
    model_or_run_dir,
    audio_path_or_tensor,
    sample_rate: Optional[int] = None,
    out_path: Optional[PathLike] = None,
    octave_shift: Union[str, int] = "auto",
    loudness_shift_db: Union[str, float] = "auto",
    mask_unvoiced: bool = True,
    confidence_threshold: float = 0.85,
    crepe_model: str = "full",
    block_seconds: float = DEFAULT_BLOCK_SECONDS,
    device=None,
    plot_path: Optional[PathLike] = None,
    progress: bool = True,
    reference_f0_hz: Optional[float] = None,
    bridge_gaps_s: float = DEFAULT_BRIDGE_SECONDS,
) -> TransferResult:
    """Play the pitch and dynamics of a recording with a trained voice (see the module docstring).

    Args:
        model_or_run_dir: an :class:`~ddsp_lab.models.Autoencoder` without an
            encoder, a run folder (its newest intact checkpoint) or a
            checkpoint ``.pt``.
        audio_path_or_tensor: an audio file (any length, any rate; mixed to
            mono) or a ``[samples]`` / ``[1, samples]`` tensor.
        sample_rate: Hz of a tensor input (required then; ignored for files).
        out_path: ``.wav`` or ``.flac`` to write (its folder must exist); ``None`` writes nothing.
        octave_shift: ``"auto"`` or whole octaves (-8..8) to shift f0 by.
        loudness_shift_db: ``"auto"`` or dB added to every frame's loudness.
        mask_unvoiced: silence the frames below ``confidence_threshold``.
        confidence_threshold: CREPE confidence (0..1) from which a frame is voiced.
        crepe_model: ``"full"`` or ``"tiny"`` (about 40 times cheaper, less accurate).
        block_seconds: longest input rendered in one pass, and the block
            length beyond it (seconds, ``> 0``; typically 10 to 60; longer
            blocks need more memory, shorter ones have more joints).
        device: where CREPE and the model run; default CUDA when available, else CPU.
        plot_path: ``.png`` comparing input and output (f0, loudness, spectrograms); ``None`` for none.
        progress: show a progress bar over blocks (tqdm, on stderr).
        reference_f0_hz: pitch (Hz) the automatic octave shift aims at;
            default the checkpoint's recorded median f0, else middle C.
        bridge_gaps_s: unvoiced runs of at most this many seconds between
            voiced frames count as voiced, their f0 interpolated (see
            :func:`bridge_short_gaps`); 0 keeps CREPE's decision everywhere.

    Returns:
        A :class:`TransferResult`.

    Raises:
        FileNotFoundError: no audio file, run folder or checkpoint there.
        CheckpointError: the checkpoint is damaged.
        ValueError: bad settings, silent input, no voiced frame where
            ``"auto"`` needs some, or a model with an encoder.
    """
    if crepe_model not in ("full", "tiny"):
        raise ValueError(f"crepe_model must be 'full' or 'tiny', got {crepe_model!r}")
    _check_shift(octave_shift, "octave_shift", int)
    _check_shift(loudness_shift_db, "loudness_shift_db", (int, float))
    if not isinstance(octave_shift, str) and abs(octave_shift) > MAX_OCTAVE_SHIFT:
        raise ValueError(f"octave_shift must be within ±{MAX_OCTAVE_SHIFT} octaves, got {octave_shift}")
    if isinstance(confidence_threshold, bool) or not isinstance(confidence_threshold, (int, float)) \
            or not 0.0 <= confidence_threshold <= 1.0:
        raise ValueError(f"confidence_threshold must be a number in [0, 1], got {confidence_threshold!r}")
    if isinstance(block_seconds, bool) or not isinstance(block_seconds, (int, float)) \
            or not (0 < block_seconds < math.inf):
        raise ValueError(f"block_seconds must be a positive number of seconds, got {block_seconds!r}")
    if isinstance(bridge_gaps_s, bool) or not isinstance(bridge_gaps_s, (int, float)) \
            or not 0 <= bridge_gaps_s < math.inf:
        raise ValueError(f"bridge_gaps_s must be a number of seconds >= 0, got {bridge_gaps_s!r}")
    if reference_f0_hz is not None and (isinstance(reference_f0_hz, bool)
                                        or not isinstance(reference_f0_hz, (int, float))
                                        or not (0 < reference_f0_hz < math.inf)):
        raise ValueError(f"reference_f0_hz must be a positive number of Hz or None, got {reference_f0_hz!r}")
    if isinstance(audio_path_or_tensor, (str, os.PathLike)) and not os.path.isfile(audio_path_or_tensor):
        raise FileNotFoundError(f"audio_path_or_tensor: audio file not found: {os.fspath(audio_path_or_tensor)}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)

    model, checkpoint_path, payload = _load_model(model_or_run_dir, device)
    if model.encoder is not None:
        raise ValueError(
            "model_or_run_dir has an encoder (z_size > 0): its latent describes the training audio's timbre, "
            "so timbre transfer needs a voice conditioned on pitch and loudness only"
        )
    rate, hop = model.sample_rate, model.hop_length
    audio = _load_input(audio_path_or_tensor, sample_rate, rate)
    if float(audio.abs().max()) == 0.0:
        raise ValueError("audio_path_or_tensor is silent (all samples are 0): there is no melody to transfer")
    samples = audio.shape[-1]
    frames = -(-samples // hop)
    audio = torch.nn.functional.pad(audio, (0, frames * hop - samples)).to(device)

    clock = time.perf_counter()
    f0_in, confidence = compute_f0(audio, rate, hop_length=hop, model=crepe_model, device=device)
    seconds = {"pitch": time.perf_counter() - clock}
    clock = time.perf_counter()
    loudness_in = compute_loudness(audio, rate, hop_length=hop)
    seconds["loudness"] = time.perf_counter() - clock
    clock = time.perf_counter()
    voiced = confidence >= confidence_threshold
    f0_in, voiced = bridge_short_gaps(f0_in, voiced, int(bridge_gaps_s * rate / hop))

    if reference_f0_hz is not None:
        reference, reference_source = float(reference_f0_hz), "argument"
    elif _recorded_reference(payload) is not None:
        reference, reference_source = _recorded_reference(payload), "checkpoint"
    else:
        reference, reference_source = DEFAULT_REFERENCE_F0_HZ, "default"
    if octave_shift == "auto":
        octave_shift = auto_octave_shift(f0_in, voiced, reference)
    f0_out = f0_in * (2.0 ** octave_shift)

    if loudness_shift_db == "auto":
        if not bool(voiced.any()):
            raise ValueError(
                "the input has no confident (voiced) frames: the loudness shift cannot be estimated "
                "(lower confidence_threshold or give loudness_shift_db)"
            )
        loudness_shift_db = model.loudness_mean_db - float(loudness_in[voiced].double().mean())
    loudness_shift_db = float(loudness_shift_db)
    loudness_out = loudness_in + loudness_shift_db
    if mask_unvoiced:
        loudness_out = torch.where(voiced, loudness_out, torch.full_like(loudness_out, LOUDNESS_FLOOR_DB))

    block_frames = max(1, round(block_seconds * rate / hop))
    model_dtype = next(model.parameters()).dtype
    rendered, blocks = _render(model, f0_out.to(model_dtype), loudness_out.to(model_dtype), block_frames, progress)
    output = rendered[:, :samples].to(torch.float32).cpu()
    seconds["render"] = time.perf_counter() - clock

    result = TransferResult(
        audio=output, sample_rate=rate, hop_length=hop, f0_in_hz=f0_in.cpu(), confidence=confidence.cpu(),
        loudness_in_db=loudness_in.cpu(), f0_out_hz=f0_out.cpu(), loudness_out_db=loudness_out.cpu(),
        voiced=voiced.cpu(), octave_shift=int(octave_shift), loudness_shift_db=loudness_shift_db,
        reference_f0_hz=reference, reference_source=reference_source, blocks=blocks, seconds=seconds,
        checkpoint_path=checkpoint_path,
    )
    if out_path is not None:
        save_audio(out_path, output, rate)
        result.out_path = os.fspath(out_path)
    if plot_path is not None:
        result.plot_path = save_transfer_plot(plot_path, audio[:, :samples].cpu(), result)
    return result


def save_transfer_plot(path: PathLike, input_audio: torch.Tensor, result: TransferResult) -> str:
    """PNG of input versus output: f0 (voiced frames), loudness, and both spectrograms.

    Args:
        path: ``.png`` to write (folders are created).
        input_audio: ``[1, samples]`` input at ``result.sample_rate``.
        result: what :func:`transfer` returned.

    Returns:
        ``path`` as a string.
    """
    from ..plotting import _pyplot, log_spectrogram

    plt = _pyplot()
    path = os.fspath(path)
    rate, hop = result.sample_rate, result.hop_length
    seconds = torch.arange(result.f0_in_hz.shape[-1]).double().numpy() * hop / rate
    voiced = result.voiced[0].numpy()
    nan = float("nan")
    fig, axes = plt.subplots(4, 1, figsize=(9, 10))
    f0_in = result.f0_in_hz[0].double().numpy().copy()
    f0_out = result.f0_out_hz[0].double().numpy().copy()
    f0_in[~voiced], f0_out[~voiced] = nan, nan
    axes[0].plot(seconds, f0_in, label="input")
    axes[0].plot(seconds, f0_out, label=f"output ({result.octave_shift:+d} octaves)")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("f0 (Hz)")
    axes[0].legend(fontsize=8)
    axes[1].plot(seconds, result.loudness_in_db[0].numpy(), label="input")
    axes[1].plot(seconds, result.loudness_out_db[0].numpy(), label=f"output ({result.loudness_shift_db:+.1f} dB)")
    axes[1].set_ylim(bottom=max(LOUDNESS_FLOOR_DB, float(result.loudness_out_db.min()) - 5))
    axes[1].set_ylabel("loudness (dB)")
    axes[1].legend(fontsize=8)
    for ax, signal, title in ((axes[2], input_audio, "input"), (axes[3], result.audio, "output")):
        db = log_spectrogram(signal[0], rate)
        ax.imshow(db, origin="lower", aspect="auto", cmap="magma",
                  extent=[0, db.shape[1] * 256 / rate, 0, rate / 2], vmin=-90, vmax=0)
        ax.set_ylim(0, min(rate / 2, 8000))
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("Hz")
    for ax in axes[:2]:
        ax.set_xlim(0, seconds[-1] if len(seconds) > 1 else 1)
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
