"""Routing nodes: external inputs, mixing, gain, products, delays and rate conversion.

The pointwise nodes here (:class:`Mixer`, :class:`VCA`, :class:`Multiply`)
and :class:`Delay` render in blocks, so they can close feedback cycles.
"""

from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from ...core.checks import check_tensor
from ...core.upsample import upsample_hann, upsample_linear
from ...units.mix import Add, Gain
from ..errors import GraphError
from ..node import Node, check_name, register_node
from ..parameters import ParameterSpec
from ..ports import AUDIO, CONTROL, Port
from ._common import check_channels, check_choice, check_signal_rate


@register_node
class Input(Node):
    """An external signal entering the graph: audio to process, or a control curve.

    The signal is passed at render time under ``name`` in the controls
    (like an :class:`~ddsp_lab.graph.parameters.External` parameter), so a
    graph can be an effect chain over a recording.

    Args:
        name: control name, an identifier.
        rate: ``"audio"`` (``[B, T]`` with ``T = F * hop_length``, or
            ``[T]``) or ``"control"`` (``[B, F, channels]``).
        channels: channels of a control input.

    Ports:
        out: the signal, at ``rate``.
    """

    def __init__(self, name: str, rate: str = AUDIO, channels: int = 1):
        check_name(name, "Input name")
        check_signal_rate(rate)
        check_channels(channels)
        if rate == AUDIO and channels != 1:
            raise GraphError("an audio Input has one channel")
        super().__init__({"name": name, "rate": rate, "channels": channels}, {})

    def output_ports(self) -> Dict[str, Port]:
        return {"out": Port("out", self.options["rate"], self.options["channels"])}

    def render(self, inputs, params, context):
        name = self.options["name"]
        if name not in context.controls:
            known = ", ".join(sorted(context.controls)) or "none"
            raise GraphError(f"the graph reads the input {name!r}, which was not given (controls given: {known})")
        value = context.controls[name]
        label = f"controls[{name!r}]"
        if self.options["rate"] == AUDIO:
            check_tensor(value, label, ndim=(1, 2))
            value = value.reshape(1, -1) if value.dim() == 1 else value
            if value.shape[1] != context.samples or value.shape[0] not in (1, context.batch):
                raise GraphError(
                    f"{label} must be audio [{context.batch} or 1, {context.samples}] ({context.frames} frames of "
                    f"{context.hop_length} samples), got shape {tuple(value.shape)}; pad or trim it to whole frames"
                )
        else:
            check_tensor(value, label, ndim=3)
            expected = (context.frames, self.options["channels"])
            if tuple(value.shape[1:]) != expected or value.shape[0] not in (1, context.batch):
                raise GraphError(
                    f"{label} must be [{context.batch} or 1, {expected[0]}, {expected[1]}], "
                    f"got shape {tuple(value.shape)}"
                )
        value = value.to(device=context.device, dtype=context.dtype)
        return {"out": value.expand(context.batch, *value.shape[1:])}


@register_node
class Mixer(Node):
    """Sum of several signals, each with its own gain.

    ``out = sum_i gain_i * in_i``; the gains are linear, control rate (they
    can be modulated: a crossfade is ``gain0 = 1 - x``, ``gain1 = x``), and
    may be learnable.

    Args:
        inputs: number of inputs (``in0``, ``in1``, ...), at least 1.
        rate: ``"audio"`` or ``"control"``.
        channels: channels of a control-rate mixer.
        gain0, gain1, ...: linear gain of each input (default 1).

    Ports:
        in0 .. in{inputs-1}: signals at ``rate`` (all required).
        out: their weighted sum.
    """

    supports_blocks = True

    def __init__(self, inputs: int = 2, rate: str = AUDIO, channels: int = 1, **gains):
        check_channels(inputs, "inputs")
        check_signal_rate(rate)
        check_channels(channels)
        super().__init__({"inputs": inputs, "rate": rate, "channels": channels}, gains)

    def _rate_port(self, name: str) -> Port:
        rate = self.options["rate"]
        return Port(name, rate, self.options["channels"] if rate == CONTROL else 1)

    def input_ports(self) -> Dict[str, Port]:
        return {f"in{i}": self._rate_port(f"in{i}") for i in range(self.options["inputs"])}

    def output_ports(self) -> Dict[str, Port]:
        return {"out": self._rate_port("out")}

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {
            f"gain{i}": ParameterSpec(f"gain{i}", default=1.0, description=f"linear gain of in{i}")
            for i in range(self.options["inputs"])
        }

    def _build(self):
        self.gain_unit = Gain(unit="linear", hop_length=self.hop_length)
        self.add_unit = Add()

    def render(self, inputs, params, context):
        count = self.options["inputs"]
        if self.options["rate"] == AUDIO:
            scaled = [self.gain_unit.get_signal(inputs[f"in{i}"], params[f"gain{i}"]) for i in range(count)]
        else:
            scaled = [inputs[f"in{i}"] * params[f"gain{i}"] for i in range(count)]
        return {"out": self.add_unit.get_signal(scaled)}

    def render_block(self, inputs, params, state, context):
        squeeze = self.options["rate"] == AUDIO
        total = None
        for i in range(self.options["inputs"]):
            gain = params[f"gain{i}"]
            term = inputs[f"in{i}"] * (gain[..., 0] if squeeze else gain)
            total = term if total is None else total + term
        return {"out": total}, state


@register_node
class VCA(Node):
    """Voltage-controlled amplifier: audio times a control-rate gain.

    ``out = in * gain`` with the gain upsampled linearly to audio rate.
    Connect an envelope to ``gain`` (``mode="replace"``), or multiply a
    learnable level by it (``mode="multiply"``).

    Args:
        gain: linear gain (default 1).

    Ports:
        in: audio. out: audio.
    """

    supports_blocks = True

    def __init__(self, gain=None):
        super().__init__({}, {"gain": gain})

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", AUDIO)}

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {"gain": ParameterSpec("gain", default=1.0, description="linear gain")}

    def _build(self):
        self.gain_unit = Gain(unit="linear", hop_length=self.hop_length)

    def render(self, inputs, params, context):
        return {"out": self.gain_unit.get_signal(inputs["in"], params["gain"])}

    def render_block(self, inputs, params, state, context):
        return {"out": inputs["in"] * params["gain"][..., 0]}, state


@register_node
class Multiply(Node):
    """Product of two signals of one rate (ring modulation at audio rate).

    Args:
        rate: ``"audio"`` or ``"control"``.
        channels: channels of control-rate signals.

    Ports:
        a, b: signals at ``rate``. out: ``a * b``.
    """

    supports_blocks = True

    def __init__(self, rate: str = AUDIO, channels: int = 1):
        check_signal_rate(rate)
        check_channels(channels)
        super().__init__({"rate": rate, "channels": channels}, {})

    def _port(self, name):
        rate = self.options["rate"]
        return Port(name, rate, self.options["channels"] if rate == CONTROL else 1)

    def input_ports(self) -> Dict[str, Port]:
        return {"a": self._port("a"), "b": self._port("b")}

    def output_ports(self) -> Dict[str, Port]:
        return {"out": self._port("out")}

    def render(self, inputs, params, context):
        return {"out": inputs["a"] * inputs["b"]}

    def render_block(self, inputs, params, state, context):
        return {"out": inputs["a"] * inputs["b"]}, state


@register_node
class Delay(Node):
    """An integer delay: the node that makes feedback cycles possible.

    Give ``samples`` for an audio-rate delay or ``frames`` for a control-rate
    one. The output starts with zeros. Inside a cycle the graph renders the
    cycle's nodes block by block, a block being the shortest delay in the
    cycle, so a short delay costs more Python steps (a 1-sample delay is a
    loop over samples).

    Args:
        samples: delay in samples (audio rate), ``>= 1``.
        frames: delay in control frames (control rate), ``>= 1``.
        channels: channels of a control-rate delay.

    Ports:
        in: signal. out: the signal delayed.
    """

    supports_blocks = True

    def __init__(self, samples: Optional[int] = None, frames: Optional[int] = None, channels: int = 1):
        if (samples is None) == (frames is None):
            raise GraphError("Delay needs exactly one of samples (audio rate) or frames (control rate)")
        length = samples if frames is None else frames
        check_channels(length, "samples" if frames is None else "frames")
        check_channels(channels)
        if samples is not None and channels != 1:
            raise GraphError("an audio-rate Delay has one channel")
        super().__init__({"samples": samples, "frames": frames, "channels": channels}, {})

    @property
    def rate(self) -> str:
        """``"audio"`` or ``"control"``."""
        return AUDIO if self.options["samples"] is not None else CONTROL

    @property
    def length(self) -> int:
        """The delay in samples (audio) or frames (control)."""
        return self.options["samples"] if self.rate == AUDIO else self.options["frames"]

    def _port(self, name):
        return Port(name, self.rate, self.options["channels"])

    def input_ports(self) -> Dict[str, Port]:
        return {"in": self._port("in")}

    def output_ports(self) -> Dict[str, Port]:
        return {"out": self._port("out")}

    def render(self, inputs, params, context):
        signal = inputs["in"]
        length = signal.shape[1]
        if self.rate == AUDIO:
            return {"out": F.pad(signal, (self.length, 0))[:, :length]}
        return {"out": F.pad(signal, (0, 0, self.length, 0))[:, :length]}

    def initial_state(self, context):
        if self.rate == AUDIO:
            shape = (context.batch, self.length)
        else:
            shape = (context.batch, self.length, self.options["channels"])
        return torch.zeros(shape, device=context.device, dtype=context.dtype)

    def emit(self, state: torch.Tensor, length: int) -> torch.Tensor:
        """The next ``length`` output values (``length <= delay``) from the buffered past input."""
        return state[:, :length]

    def absorb(self, state: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
        """The buffer after one block of input: the last ``delay`` input values."""
        return torch.cat([state[:, block.shape[1]:], block.expand(state.shape[0], *block.shape[1:])], dim=1)

    def render_block(self, inputs, params, state, context):
        raise GraphError("Delay renders through emit() and absorb() inside cycles")


@register_node
class ToAudioRate(Node):
    """Convert a one-channel control to an audio-rate signal.

    Args:
        interpolation: ``"linear"`` (frame ``n`` at sample ``n * hop``, the
            convention of every unit) or ``"hann"`` (overlapping Hann
            windows, smoother).

    Ports:
        in: control ``[B, F, 1]``. out: audio ``[B, T]``.
    """

    def __init__(self, interpolation: str = "linear"):
        check_choice(interpolation, "interpolation", ("linear", "hann"))
        super().__init__({"interpolation": interpolation}, {})

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", CONTROL)}

    def render(self, inputs, params, context):
        upsample = upsample_linear if self.options["interpolation"] == "linear" else upsample_hann
        return {"out": upsample(inputs["in"], self.hop_length)[..., 0]}


@register_node
class ToControlRate(Node):
    """Convert audio to a one-channel control, one value per frame.

    Args:
        mode: ``"sample"`` (the sample at ``n * hop_length``), ``"mean"``
            or ``"rms"`` (over the ``hop_length`` samples of each frame: an
            envelope follower).

    Ports:
        in: audio ``[B, T]``. out: control ``[B, F, 1]``.
    """

    def __init__(self, mode: str = "rms"):
        check_choice(mode, "mode", ("sample", "mean", "rms"))
        super().__init__({"mode": mode}, {})

    def input_ports(self) -> Dict[str, Port]:
        return {"in": Port("in", AUDIO)}

    def output_ports(self) -> Dict[str, Port]:
        return {"out": Port("out", CONTROL)}

    def render(self, inputs, params, context):
        signal = inputs["in"]
        frames = signal.reshape(signal.shape[0], -1, self.hop_length)
        mode = self.options["mode"]
        if mode == "sample":
            value = frames[..., 0]
        elif mode == "mean":
            value = frames.mean(dim=-1)
        else:
            # The floor keeps the square root's gradient finite over silent frames.
            value = torch.sqrt(torch.clamp(frames.square().mean(dim=-1), min=1e-12))
        return {"out": value.unsqueeze(-1)}


__all__ = ["Input", "Mixer", "VCA", "Multiply", "Delay", "ToAudioRate", "ToControlRate"]
