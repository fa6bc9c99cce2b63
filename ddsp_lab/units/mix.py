"""Mixing: sums, crossfades and gains of signals.

Controls of :class:`Mix` and :class:`Gain` may be given at any of three
rates, all broadcast to the audio ``[B, T]``:

* a constant: a number or a ``[]`` tensor, or one value per item ``[B]`` / ``[B, 1]``;
* frame rate: ``[B, F, 1]`` with ``F * hop_length == T``, interpolated
  linearly (frame ``n`` is the value at sample ``n * hop_length``, see
  :func:`~ddsp_lab.core.upsample.upsample_linear`);
* audio rate: ``[B, T]``.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..core.checks import check_hop_length, check_tensor
from ..core.conversions import db_to_amplitude
from ..core.upsample import upsample_linear
from .base import Processor

ControlLike = Union[int, float, torch.Tensor]

_UNITS = ("db", "linear")


def control_to_audio_rate(
    value: ControlLike, name: str, audio: torch.Tensor, hop_length: Optional[int] = None
) -> torch.Tensor:
    """Broadcast a constant, per-item, frame-rate or audio-rate control to ``audio``.

    Args:
        value: a number, ``[]``, ``[B]``, ``[B, 1]``, ``[B, F, 1]`` (frame rate)
            or ``[B, T]`` (audio rate).
        name: argument name for error messages.
        audio: ``[B, T]`` signal the control applies to (sets batch, length,
            device and dtype).
        hop_length: samples per frame, needed for frame-rate controls.

    Returns:
        A tensor broadcastable to ``[B, T]`` (``[1, 1]``, ``[B, 1]`` or ``[B, T]``).
    """
    batch, length = audio.shape
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor, got bool")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        return torch.full((1, 1), float(value), device=audio.device, dtype=audio.dtype)
    check_tensor(value, name, ndim=(0, 1, 2, 3))
    if value.device != audio.device:
        raise ValueError(f"{name} is on {value.device} but the audio is on {audio.device}")
    if value.dim() == 3:
        if value.shape[0] not in (1, batch) or value.shape[2] != 1:
            raise ValueError(f"{name} at frame rate must be [{batch}, frames, 1], got shape {tuple(value.shape)}")
        if hop_length is None:
            raise ValueError(f"{name} is a frame-rate control [B, F, 1]; give the unit a hop_length")
        frames = value.shape[1]
        if frames * hop_length != length:
            raise ValueError(
                f"{name} has {frames} frames; at hop_length {hop_length} that is {frames * hop_length} "
                f"samples, but the audio has {length}"
            )
        return upsample_linear(value.to(audio.dtype), hop_length)[..., 0]
    if value.dim() == 2 and value.shape[1] not in (1, length) or value.dim() >= 1 and value.shape[0] not in (1, batch):
        raise ValueError(
            f"{name} must be a number, [], [{batch}], [{batch}, 1], [{batch}, frames, 1] or "
            f"[{batch}, {length}] (audio rate), got shape {tuple(value.shape)}"
        )
    value = value.to(audio.dtype)
    if value.dim() == 0:
        return value.reshape(1, 1)
    if value.dim() == 1:
        return value.reshape(-1, 1)
    return value


def _check_signal(signal, name: str) -> torch.Tensor:
    check_tensor(signal, name, ndim=2)
    if signal.shape[1] == 0:
        raise ValueError(f"{name} is empty (0 samples)")
    return signal


class Add(Processor):
    """Sum of any number of signals of the same shape.

    Signals are ``[B, T]`` audio (or ``[B, F, C]`` frame-rate controls); all
    must have exactly the same shape and device.

    Shapes:
        ``Add()(a, b, c) == Add().get_signal([a, b, c]) -> same shape as a``
    """

    def get_controls(self, *signals: torch.Tensor) -> Dict[str, Tuple[torch.Tensor, ...]]:
        """Collect the signals: ``{"signals": signals}``."""
        return {"signals": tuple(signals)}

    def get_signal(self, signals: Sequence[torch.Tensor]) -> torch.Tensor:
        """Add the signals.

        Args:
            signals: a non-empty sequence of tensors of one shape (``[B, T]`` or ``[B, F, C]``).

        Returns:
            Their sum, same shape.
        """
        if isinstance(signals, torch.Tensor) or not isinstance(signals, (list, tuple)):
            raise TypeError("signals must be a list or tuple of tensors; call Add()(a, b, ...) to add tensors")
        if len(signals) == 0:
            raise ValueError("signals is empty: Add needs at least one signal")
        first = check_tensor(signals[0], "signals[0]", ndim=(2, 3))
        total = first
        for index, signal in enumerate(signals[1:], start=1):
            check_tensor(signal, f"signals[{index}]", ndim=(2, 3))
            if signal.shape != first.shape:
                raise ValueError(
                    f"signals[{index}] has shape {tuple(signal.shape)} but signals[0] has "
                    f"{tuple(first.shape)}; Add needs signals of one shape"
                )
            if signal.device != first.device:
                raise ValueError(f"signals[{index}] is on {signal.device} but signals[0] is on {first.device}")
            total = total + signal
        return total


class Mix(Processor):
    """Crossfade between two signals: ``mix = 0`` gives ``signal_a``, ``1`` gives ``signal_b``.

    Linear: ``(1 - mix) * a + mix * b`` (constant amplitude for correlated
    signals). Equal power: ``cos(pi/2 mix) * a + sin(pi/2 mix) * b`` (constant
    power for uncorrelated signals; -3 dB each at ``mix = 0.5``).

    Args:
        hop_length: samples per frame, for frame-rate mix controls.
        equal_power: use the equal-power law.

    Shapes:
        ``get_signal(signal_a [B, T], signal_b [B, T], mix) -> [B, T]``, ``mix``
        in ``[0, 1]`` as a constant, per item, ``[B, F, 1]`` or ``[B, T]``.
    """

    def __init__(self, hop_length: Optional[int] = None, equal_power: bool = False):
        super().__init__()
        self.hop_length = None if hop_length is None else check_hop_length(hop_length)
        self.equal_power = bool(equal_power)

    def get_controls(
        self, signal_a: torch.Tensor, signal_b: torch.Tensor, mix: torch.Tensor
    ) -> Dict[str, torch.Tensor]:
        """Map a raw (unbounded) ``mix`` onto ``(0, 1)`` with a sigmoid; signals pass through."""
        check_tensor(mix, "mix")
        return {"signal_a": signal_a, "signal_b": signal_b, "mix": torch.sigmoid(mix)}

    def get_signal(self, signal_a: torch.Tensor, signal_b: torch.Tensor, mix: ControlLike) -> torch.Tensor:
        """Crossfade.

        Args:
            signal_a: ``[B, T]`` heard alone at ``mix = 0``.
            signal_b: ``[B, T]`` heard alone at ``mix = 1``.
            mix: in ``[0, 1]``; constant, per item, frame rate or audio rate.

        Returns:
            ``[B, T]``.
        """
        _check_signal(signal_a, "signal_a")
        _check_signal(signal_b, "signal_b")
        if signal_a.shape != signal_b.shape:
            raise ValueError(
                f"signal_a has shape {tuple(signal_a.shape)} but signal_b has {tuple(signal_b.shape)}; "
                "Mix needs signals of one shape"
            )
        amount = control_to_audio_rate(mix, "mix", signal_a, self.hop_length)
        # Checked before upsampling: interpolation stays within the frames' range.
        given = amount if isinstance(mix, (int, float)) else mix
        if bool(((given < 0) | (given > 1)).any()):
            raise ValueError(
                f"mix must lie in [0, 1], got values in [{float(given.min()):.6g}, {float(given.max()):.6g}]"
            )
        if self.equal_power:
            angle = amount * (math.pi / 2.0)
            return torch.cos(angle) * signal_a + torch.sin(angle) * signal_b
        return signal_a + amount * (signal_b - signal_a)


class Gain(Processor):
    """Multiply a signal by a gain in dB or linear units.

    The gain is either the unit's own value (fixed, or a learnable
    ``nn.Parameter``), used when :meth:`get_signal` gets no ``gain``, or a
    control passed to :meth:`get_signal` (constant, per item, frame rate or
    audio rate). Linear gains may be negative (phase inversion); dB gains
    map through ``10^(dB/20)``.

    Args:
        gain: the unit's own gain, in ``unit`` (default 0 dB).
        unit: ``"db"`` (default) or ``"linear"``.
        learnable: make the unit's own gain an ``nn.Parameter``.
        hop_length: samples per frame, for frame-rate gain controls.
        control_range: ``(low, high)`` in ``unit`` that :meth:`get_controls`
            maps raw gains onto with a sigmoid (default ``(-60, 12)`` dB or
            ``(0, 2)`` linear).

    Shapes:
        ``get_signal(audio [B, T], gain=None) -> [B, T]``
    """

    def __init__(
        self,
        gain: float = 0.0,
        unit: str = "db",
        learnable: bool = False,
        hop_length: Optional[int] = None,
        control_range: Optional[Tuple[float, float]] = None,
    ):
        super().__init__()
        if unit not in _UNITS:
            raise ValueError(f"unit must be one of {_UNITS}, got {unit!r}")
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain):
            raise ValueError(f"gain must be a finite number, got {gain!r}")
        self.unit = unit
        self.hop_length = None if hop_length is None else check_hop_length(hop_length)
        if control_range is None:
            control_range = (-60.0, 12.0) if unit == "db" else (0.0, 2.0)
        if len(control_range) != 2 or not control_range[0] < control_range[1]:
            raise ValueError(f"control_range must be (low, high) with low < high, got {control_range!r}")
        self.control_range = (float(control_range[0]), float(control_range[1]))
        value = torch.tensor(float(gain))
        if learnable:
            self.gain = nn.Parameter(value)
        else:
            self.register_buffer("gain", value)

    def get_controls(self, audio: torch.Tensor, gain: Optional[torch.Tensor] = None) -> Dict[str, object]:
        """Map a raw (unbounded) ``gain`` onto ``control_range`` with a sigmoid.

        Without ``gain`` the unit's own gain is used.
        """
        if gain is None:
            return {"audio": audio, "gain": None}
        check_tensor(gain, "gain")
        low, high = self.control_range
        return {"audio": audio, "gain": low + (high - low) * torch.sigmoid(gain)}

    def get_signal(self, audio: torch.Tensor, gain: Optional[ControlLike] = None) -> torch.Tensor:
        """Apply the gain.

        Args:
            audio: ``[B, T]``.
            gain: optional gain in the unit's ``unit``; constant, per item,
                ``[B, F, 1]`` or ``[B, T]``. Default: the unit's own gain.

        Returns:
            ``[B, T]``.
        """
        _check_signal(audio, "audio")
        if gain is None:
            value = self.gain.to(device=audio.device, dtype=audio.dtype).reshape(1, 1)
        else:
            value = control_to_audio_rate(gain, "gain", audio, self.hop_length)
        factor = db_to_amplitude(value) if self.unit == "db" else value
        return audio * factor
