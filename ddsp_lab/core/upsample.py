"""Frame-rate to audio-rate upsampling.

Convention used across ddsp_lab: ``frames`` control frames drive
``frames * hop_length`` samples, and frame ``n`` is the value at sample
``n * hop_length``. Linear upsampling ramps from frame ``n`` to frame ``n + 1``
over the ``hop_length`` samples that follow it; the last frame is held.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_controls, check_hop_length


def interpolation_weights(hop_length: int, device=None, dtype=None) -> torch.Tensor:
    """Weights ``j / hop_length`` for ``j = 0 .. hop_length - 1``, shape ``[hop_length]``."""
    return torch.arange(hop_length, device=device, dtype=dtype) / hop_length


def next_frames(controls: torch.Tensor) -> torch.Tensor:
    """Frame ``n + 1`` for every frame ``n``, holding the last: ``[B, F, C] -> [B, F, C]``."""
    return torch.cat([controls[:, 1:], controls[:, -1:]], dim=1)


def upsample_linear(controls: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Linearly interpolate frame-rate controls to audio rate.

    Args:
        controls: ``[batch, frames, channels]``.
        hop_length: samples per frame.

    Returns:
        ``[batch, frames * hop_length, channels]``.
    """
    check_controls(controls, "controls")
    hop_length = check_hop_length(hop_length)
    weights = interpolation_weights(hop_length, controls.device, controls.dtype)[None, None, :, None]
    start = controls.unsqueeze(2)
    end = next_frames(controls).unsqueeze(2)
    audio_rate = start + (end - start) * weights
    batch, frames, _, channels = audio_rate.shape
    return audio_rate.reshape(batch, frames * hop_length, channels)


def upsample_hann(controls: torch.Tensor, hop_length: int) -> torch.Tensor:
    """Upsample by overlap-adding Hann windows of length ``2 * hop_length``.

    Each frame's value is spread with a Hann window centred on sample
    ``n * hop_length``; windows at 50 % overlap sum to one, so a constant
    control stays constant. The result is smoother than linear interpolation
    (no slope discontinuities at frame boundaries).

    Args:
        controls: ``[batch, frames, channels]``.
        hop_length: samples per frame.

    Returns:
        ``[batch, frames * hop_length, channels]``.
    """
    check_controls(controls, "controls")
    hop_length = check_hop_length(hop_length)
    batch, frames, channels = controls.shape
    window_length = 2 * hop_length
    window = torch.hann_window(window_length, periodic=True, device=controls.device, dtype=controls.dtype)
    # Hold the edge frames so the first and last half-windows also sum to one.
    padded = torch.cat([controls[:, :1], controls, controls[:, -1:]], dim=1)
    x = padded.permute(0, 2, 1).reshape(batch * channels, 1, frames + 2)
    kernel = window.reshape(1, 1, window_length)
    # conv_transpose scatters one window per input frame, hop_length apart:
    # padded frame i peaks at output sample i * hop + hop. Frame n sits at
    # padded index n + 1, so its peak lands on n * hop after dropping 2 * hop.
    out = F.conv_transpose1d(x, kernel, stride=hop_length)
    out = out[..., 2 * hop_length: 2 * hop_length + frames * hop_length]
    return out.reshape(batch, channels, frames * hop_length).permute(0, 2, 1)
