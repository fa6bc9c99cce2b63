"""FFT convolution, FIR design by frequency sampling, time-varying FIR filtering.

Pure tensor functions, batch-first, device- and dtype-agnostic:

* :func:`fft_convolve` convolves every row of a signal with a kernel through
  ``rfft``/``irfft`` at a fast FFT length (``full``, ``same`` or ``causal``).
* :func:`frequency_response_to_fir` turns magnitudes sampled uniformly from
  0 Hz to Nyquist into a windowed, causal, linear-phase FIR (the DDSP
  frequency-sampling method).
* :func:`time_varying_convolve` filters every control frame of the audio with
  its own impulse response (frame-wise FFT convolution with overlap-add), and
  :func:`time_varying_fir` does the same from frame-rate magnitudes, with the
  linear-phase delay removed so that the output lines up with the input.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from .checks import (
    check_controls,
    check_hop_length,
    check_nonnegative,
    check_tensor,
)

CONVOLUTION_MODES = ("full", "same", "causal")
FIR_WINDOWS = ("hann", "hamming", "blackman")
CROSSFADES = ("hann", "none")


def fast_fft_length(n: int, power_of_2: bool = False) -> int:
    """Smallest FFT length ``>= n`` that FFT libraries handle fast.

    Args:
        n: minimum length in samples (``>= 1``).
        power_of_2: return the next power of two instead of the next
            5-smooth number (``2^a * 3^b * 5^c``, at most about 25 % above
            ``n`` where the power of two can be almost 100 % above).

    Returns:
        the FFT length.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if power_of_2:
        return 1 << (n - 1).bit_length()
    best = 1 << (n - 1).bit_length()
    # Every 3^b * 5^c below the power of two, doubled until it reaches n.
    power_of_5 = 1
    while power_of_5 < best:
        odd_part = power_of_5
        while odd_part < best:
            candidate = odd_part
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            odd_part *= 3
        power_of_5 *= 5
    return best


def _broadcast_batch(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> int:
    batch_a, batch_b = a.shape[0], b.shape[0]
    if batch_a != batch_b and 1 not in (batch_a, batch_b):
        raise ValueError(
            f"{name_a} has batch {batch_a} and {name_b} has batch {batch_b}; "
            "they must be equal or one of them must be 1"
        )
    return max(batch_a, batch_b)


def fft_convolve(signal: torch.Tensor, kernel: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Convolve each row of ``signal`` with a kernel using FFTs.

    ``full[n] = sum_k kernel[k] * signal[n - k]`` for ``n = 0 .. T + K - 2``
    (linear, not circular: both are zero-padded to a fast FFT length of at
    least ``T + K - 1``).

    Args:
        signal: ``[B, T]``.
        kernel: ``[B, K]`` or ``[1, K]`` (one kernel shared by the batch); a
            ``[B, K]`` kernel with a ``[1, T]`` signal also broadcasts.
        mode: ``"full"``: ``[B, T + K - 1]``; ``"same"``: ``[B, T]`` centred
            on the full output, starting at sample ``(K - 1) // 2`` (as in
            ``scipy.signal.fftconvolve``); ``"causal"``: ``[B, T]``, the first
            ``T`` samples of the full output (output sample ``n`` depends on
            input samples ``<= n`` only, as an FIR filter or a reverb).

    Returns:
        the convolution in the promoted dtype of the inputs.
    """
    check_tensor(signal, "signal", ndim=2)
    check_tensor(kernel, "kernel", ndim=2)
    if mode not in CONVOLUTION_MODES:
        raise ValueError(f"mode must be one of {CONVOLUTION_MODES}, got {mode!r}")
    if signal.shape[-1] == 0:
        raise ValueError("signal is empty (0 samples)")
    if kernel.shape[-1] == 0:
        raise ValueError("kernel is empty (0 samples)")
    _broadcast_batch(signal, kernel, "signal", "kernel")
    dtype = torch.promote_types(signal.dtype, kernel.dtype)
    signal, kernel = signal.to(dtype), kernel.to(dtype)
    length, kernel_length = signal.shape[-1], kernel.shape[-1]
    full_length = length + kernel_length - 1
    n_fft = fast_fft_length(full_length)
    spectrum = torch.fft.rfft(signal, n_fft) * torch.fft.rfft(kernel, n_fft)
    full = torch.fft.irfft(spectrum, n_fft)
    if mode == "full":
        return full[..., :full_length]
    if mode == "same":
        start = (kernel_length - 1) // 2
        return full[..., start: start + length]
    return full[..., :length]


def _fir_window(name: Optional[str], ir_length: int, device, dtype) -> torch.Tensor:
    """A symmetric window of ``ir_length`` taps, all positive and 1 at the centre.

    The symmetric window of ``ir_length + 2`` points without its two zero end
    points: no tap is wasted on an exact zero, and the centre tap (the
    zero-lag sample of the zero-phase response) keeps weight 1.
    """
    if name is None:
        return torch.ones(ir_length, device=device, dtype=dtype)
    makers = {"hann": torch.hann_window, "hamming": torch.hamming_window, "blackman": torch.blackman_window}
    window = makers[name](ir_length + 2, periodic=False, device=device, dtype=dtype)
    return window[1:-1]


def default_ir_length(n_bands: int) -> int:
    """Default FIR length for ``n_bands`` magnitudes: ``2 * n_bands - 1`` taps.

    That is one full period of the zero-phase response that ``irfft`` gives
    (``2 * (n_bands - 1)`` samples) plus one, so the FIR is symmetric about
    its centre tap and the delay is a whole ``n_bands - 1`` samples.
    """
    return 2 * n_bands - 1


def frequency_response_to_fir(
    magnitudes: torch.Tensor,
    ir_length: Optional[int] = None,
    window: Optional[str] = "hann",
) -> torch.Tensor:
    """Design linear-phase FIR filters from sampled magnitude responses.

    DDSP's frequency-sampling method: ``magnitudes[..., k]`` is the wanted
    gain at ``k / (n_bands - 1) * nyquist`` (0 Hz to Nyquist inclusive, so the
    band spacing in Hz is ``sample_rate / (2 * (n_bands - 1))``). A zero-phase
    impulse response is obtained with ``irfft`` (period ``N = 2 * (n_bands -
    1)`` samples), cut to ``ir_length`` taps around lag 0, tapered by a
    window (which trades ripple between band centres for a slightly smoothed
    response), and shifted to causal form. The result is symmetric, so its
    phase is exactly linear with a delay of ``(ir_length - 1) / 2`` samples
    and its magnitude follows ``magnitudes``.

    Args:
        magnitudes: ``[..., n_bands]`` linear gains ``>= 0``, ``n_bands >= 2``.
        ir_length: number of taps, odd, ``1 .. 2 * n_bands - 1`` (default
            ``2 * n_bands - 1``). Shorter filters smooth the response more.
        window: ``"hann"`` (default), ``"hamming"``, ``"blackman"`` or
            ``None`` (rectangular: least smoothing, most ripple).

    Returns:
        ``[..., ir_length]`` impulse responses; the delay is
        ``(ir_length - 1) // 2`` samples.
    """
    check_tensor(magnitudes, "magnitudes")
    if magnitudes.dim() < 1:
        raise ValueError("magnitudes must have at least 1 dimension [..., n_bands]")
    n_bands = magnitudes.shape[-1]
    if n_bands < 2:
        raise ValueError(f"magnitudes must have at least 2 bands in its last dimension, got {n_bands}")
    check_nonnegative(magnitudes, "magnitudes")
    ir_length = check_ir_length(ir_length, n_bands)
    check_fir_window(window)
    period = 2 * (n_bands - 1)
    zero_phase = torch.fft.irfft(magnitudes.to(torch.promote_types(magnitudes.dtype, torch.float32)), period)
    delay = (ir_length - 1) // 2
    # Tap m of the causal filter is lag m - delay of the periodic zero-phase
    # response; at the longest length the two end taps both read lag N/2.
    lags = (torch.arange(ir_length, device=magnitudes.device) - delay) % period
    taps = zero_phase.index_select(-1, lags)
    return taps * _fir_window(window, ir_length, taps.device, taps.dtype)


def check_n_bands(n_bands, name: str = "n_bands") -> int:
    """Check a number of magnitude bands (an int ``>= 2``) and return it."""
    if isinstance(n_bands, bool) or not isinstance(n_bands, int) or n_bands < 2:
        raise ValueError(f"{name} must be an int >= 2, got {n_bands!r}")
    return n_bands


def check_ir_length(ir_length, n_bands: int, name: str = "ir_length") -> int:
    """Check an FIR length for ``n_bands`` magnitudes and return it (``None``: the default).

    It must be odd (a whole-sample linear-phase delay) and at most
    ``2 * n_bands - 1`` (one period of the zero-phase response plus one).
    """
    longest = default_ir_length(n_bands)
    if ir_length is None:
        return longest
    if isinstance(ir_length, bool) or not isinstance(ir_length, int):
        raise TypeError(f"{name} must be an int or None, got {type(ir_length).__name__}")
    if ir_length < 1 or ir_length > longest or ir_length % 2 == 0:
        raise ValueError(
            f"{name} must be odd and in 1 .. {longest} (2 * n_bands - 1) for {n_bands} bands, "
            f"got {ir_length}"
        )
    return ir_length


def check_fir_window(window, name: str = "window"):
    """Check an FIR design window name (one of ``FIR_WINDOWS`` or ``None``)."""
    if window is not None and window not in FIR_WINDOWS:
        raise ValueError(f"{name} must be one of {FIR_WINDOWS} or None, got {window!r}")
    return window


def check_crossfade(crossfade, name: str = "crossfade") -> str:
    """Check a frame crossfade name (one of ``CROSSFADES``)."""
    if crossfade not in CROSSFADES:
        raise ValueError(f"{name} must be one of {CROSSFADES}, got {crossfade!r}")
    return crossfade


def time_varying_convolve(
    audio: torch.Tensor,
    impulse_responses: torch.Tensor,
    hop_length: int,
    delay: int = 0,
    crossfade: str = "hann",
) -> torch.Tensor:
    """Filter each control frame of ``audio`` with its own impulse response.

    The audio is split into one segment per frame, every segment is convolved
    with its frame's impulse response by FFT, and the full convolutions are
    overlap-added, so each filter's tail rings on into the following frames
    (one batched FFT for all frames, no loop).

    * ``crossfade="hann"``: segment ``n`` is the audio under a Hann window of
      ``2 * hop_length`` samples centred on sample ``n * hop_length`` (the
      frame convention of :func:`~ddsp_lab.core.upsample.upsample_hann`; the
      last frame is held over the final hop). Successive filters crossfade
      smoothly.
    * ``crossfade="none"``: segment ``n`` is samples ``[n * hop, (n + 1) *
      hop)`` unwindowed (the original DDSP scheme): cheaper, but a filter
      change is a step at a frame boundary.

    The windows sum to one, so with the same impulse response in every frame
    both schemes equal ordinary convolution with it exactly.

    Args:
        audio: ``[B, F * hop_length]``.
        impulse_responses: ``[B, F, K]`` (batch 1 broadcasts against audio
            batch and the other way round).
        hop_length: samples per control frame.
        delay: samples dropped from the start of the full convolution, e.g.
            ``(K - 1) // 2`` to compensate a linear-phase filter; ``0 .. K - 1``.
        crossfade: ``"hann"`` or ``"none"``.

    Returns:
        ``[B, F * hop_length]``: ``y[t] = sum_n sum_k h_n[k] * (w_n x)[t + delay - k]``.
    """
    hop_length = check_hop_length(hop_length)
    check_tensor(audio, "audio", ndim=2)
    check_controls(impulse_responses, "impulse_responses")
    check_crossfade(crossfade)
    batch = _broadcast_batch(audio, impulse_responses, "audio", "impulse_responses")
    frames, ir_length = impulse_responses.shape[1:]
    if audio.shape[-1] != frames * hop_length:
        raise ValueError(
            f"audio has {audio.shape[-1]} samples but {frames} frames at hop_length {hop_length} "
            f"need frames * hop_length = {frames * hop_length}"
        )
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay < ir_length:
        raise ValueError(f"delay must be an int in 0 .. {ir_length - 1} (impulse length - 1), got {delay!r}")
    dtype = torch.promote_types(audio.dtype, impulse_responses.dtype)
    audio = audio.to(dtype).expand(batch, -1)
    impulse_responses = impulse_responses.to(dtype).expand(batch, -1, -1)

    if crossfade == "hann":
        segment_length = 2 * hop_length
        # One hop of zeros either side, so segment n spans samples
        # [(n - 1) * hop, (n + 1) * hop) of the audio, n = 0 .. F.
        padded = F.pad(audio, (hop_length, hop_length))
        window = torch.hann_window(segment_length, periodic=True, device=audio.device, dtype=dtype)
        segments = padded.unfold(-1, segment_length, hop_length) * window
        # Segment F covers the last half hop of frame F - 1's window: hold that frame's filter.
        impulse_responses = torch.cat([impulse_responses, impulse_responses[:, -1:]], dim=1)
        offset = hop_length
    else:
        segment_length = hop_length
        segments = audio.reshape(batch, frames, hop_length)
        offset = 0
    n_segments = segments.shape[1]
    convolved_length = segment_length + ir_length - 1
    n_fft = fast_fft_length(convolved_length)
    spectrum = torch.fft.rfft(segments, n_fft) * torch.fft.rfft(impulse_responses, n_fft)
    convolved = torch.fft.irfft(spectrum, n_fft)[..., :convolved_length]
    # Overlap-add: segment n starts at padded sample n * hop.
    total_length = (n_segments - 1) * hop_length + convolved_length
    summed = F.fold(
        convolved.transpose(1, 2),
        output_size=(1, total_length),
        kernel_size=(1, convolved_length),
        stride=(1, hop_length),
    ).reshape(batch, total_length)
    start = offset + delay
    return summed[:, start: start + frames * hop_length]


def time_varying_fir(
    audio: torch.Tensor,
    magnitudes: torch.Tensor,
    hop_length: int,
    ir_length: Optional[int] = None,
    window: Optional[str] = "hann",
    crossfade: str = "hann",
) -> torch.Tensor:
    """Filter audio with a linear-phase FIR that changes every control frame.

    Each frame's magnitudes become an FIR via
    :func:`frequency_response_to_fir`; :func:`time_varying_convolve` applies
    them, and the ``(ir_length - 1) / 2`` samples of linear-phase delay are
    removed so the output lines up with the input (a constant all-ones
    response returns the input unchanged).

    Args:
        audio: ``[B, F * hop_length]``.
        magnitudes: ``[B, F, n_bands]`` linear gains ``>= 0`` from 0 Hz to
            Nyquist (band ``k`` at ``k * sample_rate / (2 * (n_bands - 1))`` Hz).
        hop_length: samples per control frame.
        ir_length: FIR taps, odd, ``<= 2 * n_bands - 1`` (the default).
        window: FIR design window (see :func:`frequency_response_to_fir`).
        crossfade: how successive frames' filters meet: ``"hann"`` or
            ``"none"`` (see :func:`time_varying_convolve`).

    Returns:
        ``[B, F * hop_length]`` filtered audio.
    """
    check_tensor(audio, "audio", ndim=2)
    check_controls(magnitudes, "magnitudes")
    impulse_responses = frequency_response_to_fir(magnitudes, ir_length, window)
    delay = (impulse_responses.shape[-1] - 1) // 2
    return time_varying_convolve(audio, impulse_responses, hop_length, delay, crossfade)


__all__ = [
    "CONVOLUTION_MODES",
    "CROSSFADES",
    "FIR_WINDOWS",
    "check_crossfade",
    "check_fir_window",
    "check_ir_length",
    "check_n_bands",
    "fast_fft_length",
    "fft_convolve",
    "default_ir_length",
    "frequency_response_to_fir",
    "time_varying_convolve",
    "time_varying_fir",
]
