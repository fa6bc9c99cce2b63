"""Reading and writing audio files (soundfile / libsndfile).

``load_audio`` reads anything libsndfile reads (WAV, FLAC, OGG/Vorbis, Opus,
MP3, AIFF, ...) into a float32 tensor, optionally mixed to mono, resampled
with :func:`ddsp_lab.core.resample` and peak-normalised. ``save_audio``
writes WAV or FLAC atomically: the data goes to a temporary file in the
destination folder that then replaces the destination in one step, so an
interrupted write never leaves a truncated file behind.
"""

from __future__ import annotations

import os
import tempfile
from typing import Callable, Optional, Tuple, Union

import numpy as np
import soundfile
import torch

from .core.checks import check_sample_rate
from .core.resample import resample

PathLike = Union[str, os.PathLike]

_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
_SUBTYPES = {"float": "FLOAT", "pcm_16": "PCM_16", "pcm_24": "PCM_24"}
_DEFAULT_SUBTYPE = {"WAV": "FLOAT", "FLAC": "PCM_24"}


def load_audio(
    path: PathLike,
    sample_rate: Optional[int] = None,
    mono: bool = True,
    normalize: bool = False,
) -> Tuple[torch.Tensor, int]:
    """Read an audio file into a float32 tensor.

    Args:
        path: file to read; any format libsndfile reads (WAV, FLAC,
            OGG/Vorbis, Opus, MP3, AIFF, ...).
        sample_rate: target rate in Hz; the audio is resampled when the file
            has another rate. ``None`` keeps the file's rate.
        mono: average the channels into one.
        normalize: scale so that the largest absolute sample is 1.0 (0 dBFS).
            Useful for files that peak above full scale, as some MP3s do.

    Returns:
        ``(audio, sample_rate)``: ``audio`` is float32 ``[1, samples]`` when
        ``mono`` (a batch of one, ready for the synthesisers and features) and
        ``[channels, samples]`` otherwise; ``sample_rate`` is in Hz.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is empty, is not audio libsndfile can decode,
            has no samples, contains NaN/inf samples, or is silent while
            ``normalize`` is set.
    """
    path = os.fspath(path)
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate)
    if not os.path.exists(path):
        raise FileNotFoundError(f"audio file not found: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not an audio file")
    if os.path.getsize(path) == 0:
        raise ValueError(f"audio file {path} is empty (0 bytes)")
    try:
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"{path} is not a readable audio file: {error}") from error
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} contains no samples")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"audio file {path} contains NaN or infinite samples")

    audio = torch.from_numpy(np.ascontiguousarray(data.T))
    if mono:
        audio = audio.mean(dim=0, keepdim=True)
    if sample_rate is not None and sample_rate != file_rate:
        audio = resample(audio, file_rate, sample_rate)
    else:
        sample_rate = int(file_rate)
    if normalize:
        peak = float(audio.abs().max())
        if peak == 0.0:
            raise ValueError(f"audio file {path} is silent; it cannot be peak-normalised")
        audio = audio / peak
    return audio, sample_rate


def _subtype_for(format_name: str, subtype: Optional[str], path: str) -> str:
    if subtype is None:
        return _DEFAULT_SUBTYPE[format_name]
    if not isinstance(subtype, str) or subtype.lower() not in _SUBTYPES:
        raise ValueError(f"subtype must be one of 'float', 'PCM_16', 'PCM_24', got {subtype!r}")
    chosen = _SUBTYPES[subtype.lower()]
    if not soundfile.check_format(format_name, chosen):
        raise ValueError(f"{format_name} cannot store subtype {chosen} (writing {path}); use PCM_16 or PCM_24")
    return chosen


def save_audio(
    path: PathLike,
    audio: Union[torch.Tensor, np.ndarray],
    sample_rate: int,
    subtype: Optional[str] = None,
) -> None:
    """Write audio to a WAV or FLAC file, atomically.

    The format follows the extension (``.wav`` or ``.flac``). The file is
    written to a temporary name in the same folder and then moved over
    ``path`` with ``os.replace``, so readers never see a partial file.

    Args:
        path: destination, ending in ``.wav`` or ``.flac``; its folder must exist.
        audio: ``[samples]`` (mono) or ``[channels, samples]`` tensor or array
            (a mono batch of one, ``[1, samples]``, is one channel), full
            scale ±1.
        sample_rate: Hz.
        subtype: ``"float"`` (32-bit float, WAV only), ``"PCM_16"`` or
            ``"PCM_24"``; default float for WAV and PCM_24 for FLAC.

    Raises:
        ValueError: unknown extension or subtype, wrong ndim, no samples,
            NaN/inf samples, or samples beyond ±1 with a PCM subtype (they
            would be clipped; scale the audio or use ``"float"``).
        FileNotFoundError: the destination folder does not exist.
    """
    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in _FORMATS:
        raise ValueError(f"path must end in .wav or .flac to choose the format, got {path!r}")
    format_name = _FORMATS[extension]
    chosen_subtype = _subtype_for(format_name, subtype, path)
    sample_rate = check_sample_rate(sample_rate)

    if isinstance(audio, torch.Tensor):
        if not audio.is_floating_point():
            raise TypeError(f"audio must be a floating-point tensor, got dtype {audio.dtype}")
        data = audio.detach().to("cpu", torch.float32).numpy()
    elif isinstance(audio, np.ndarray):
        if not np.issubdtype(audio.dtype, np.floating):
            raise TypeError(f"audio must be a floating-point array, got dtype {audio.dtype}")
        data = audio.astype(np.float32)
    else:
        raise TypeError(f"audio must be a torch.Tensor or numpy.ndarray, got {type(audio).__name__}")
    if data.ndim not in (1, 2):
        raise ValueError(f"audio must have 1 or 2 dimensions ([samples] or [channels, samples]), got shape {data.shape}")
    if data.ndim == 1:
        data = data[None, :]
    if data.shape[-1] == 0 or data.shape[0] == 0:
        raise ValueError(f"audio has no samples (shape {data.shape})")
    if not np.all(np.isfinite(data)):
        raise ValueError("audio contains NaN or infinite values")
    if chosen_subtype != "FLOAT":
        peak = float(np.abs(data).max())
        if peak > 1.0:
            raise ValueError(
                f"audio peaks at {peak:.4g}, beyond the ±1 range of {chosen_subtype}; "
                "scale it down or save with subtype='float' (WAV)"
            )

    def write(temporary: str) -> None:
        try:
            soundfile.write(
                temporary, _encode(data, chosen_subtype), sample_rate, subtype=chosen_subtype, format=format_name
            )
        except soundfile.LibsndfileError as error:
            raise ValueError(f"could not write {path} as {format_name}/{chosen_subtype}: {error}") from error

    write_atomic(path, write)


def _encode(data: np.ndarray, subtype: str) -> np.ndarray:
    """``[channels, samples]`` float32 to the ``[samples, channels]`` array handed to soundfile.

    PCM is quantised here with a scale of 2**15 (2**23) per unit, the scale
    libsndfile reads back with, and rounded to the nearest step. libsndfile's
    own float-to-PCM path scales by 2**15 - 1, so a file loaded and saved
    again would shrink by one part in 32768 on every round trip; with this
    quantisation a PCM_16 file loaded and saved as PCM_16 keeps its samples.
    """
    frames = np.ascontiguousarray(data.T)
    if subtype == "PCM_16":
        return np.clip(np.rint(frames * 2.0 ** 15), -(2 ** 15), 2 ** 15 - 1).astype(np.int16)
    if subtype == "PCM_24":
        # soundfile writes the top 24 bits of int32 samples to 24-bit files.
        steps = np.clip(np.rint(frames.astype(np.float64) * 2.0 ** 23), -(2 ** 23), 2 ** 23 - 1)
        return (steps.astype(np.int64) << 8).astype(np.int32)
    return frames


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, write: Callable[[str], None]) -> str:
    """Write a file through ``write(temporary_path)``, then move it over ``path``.

    The temporary file lives in the destination folder and is moved with
    ``os.replace``, so an interrupted write never leaves a truncated file and
    readers never see a partial one. The result keeps the permissions of the
    file it replaces, or gets those of an ordinary new file (``mkstemp``
    alone would make it private).

    Args:
        path: destination; its folder must exist.
        write: called with the temporary path; writes the whole file there.

    Returns:
        ``path`` as a string.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"folder for {path} does not exist: {folder}")
    mode = os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o666 & ~_current_umask()
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.splitext(path)[1], dir=folder)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def write_bytes_atomic(path, payload: bytes) -> str:
    """Write ``payload`` to ``path`` atomically (see :func:`write_atomic`); returns the path."""

    def write(temporary: str) -> None:
        with open(temporary, "wb") as stream:
            stream.write(payload)

    return write_atomic(path, write)


def write_text_atomic(path, text: str) -> str:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_atomic`); returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))
