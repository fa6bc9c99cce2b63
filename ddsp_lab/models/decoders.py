"""Decoders: networks that turn frame-rate conditioning into raw synthesiser controls.

Both decoders map a list of conditioning tensors ``[batch, frames, channels]``
(scaled pitch, normalised loudness, optionally a latent ``z``) to a dict of
raw, unbounded outputs ``[batch, frames, channels]`` named after the
synthesiser controls they drive; the synthesiser's ``get_controls`` maps them
to physical values. Both are causal (frame ``n`` of the output depends on
frames ``0..n`` of the input only) and work on any number of frames.

* :class:`RnnFcDecoder`: the DDSP decoder. One MLP per input, a GRU over the
  concatenated MLP outputs, and an output MLP over the GRU output concatenated
  with the input MLP outputs.
* :class:`TcnDecoder`: the DDX7 decoder. A stack of causal dilated
  convolutions with residual connections.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..core.checks import check_tensor

LEAKY_SLOPE = 0.01


def _check_size(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_output_sizes(output_sizes: Mapping[str, int]) -> Dict[str, int]:
    if not output_sizes:
        raise ValueError("output_sizes must name at least one output")
    return {str(name): _check_size(size, f"output_sizes[{name!r}]") for name, size in output_sizes.items()}


def _check_inputs(inputs: Sequence[torch.Tensor], sizes: Sequence[int]) -> None:
    if isinstance(inputs, torch.Tensor) or len(inputs) != len(sizes):
        raise ValueError(f"inputs must be a sequence of {len(sizes)} tensors [batch, frames, channels]")
    for number, (tensor, size) in enumerate(zip(inputs, sizes)):
        check_tensor(tensor, f"inputs[{number}]", ndim=3, last_dim=size)
        if tensor.shape[:2] != inputs[0].shape[:2]:
            raise ValueError(
                f"inputs[{number}] has batch/frames {tuple(tensor.shape[:2])} but inputs[0] has "
                f"{tuple(inputs[0].shape[:2])}"
            )
        if tensor.shape[1] == 0:
            raise ValueError(f"inputs[{number}] has no frames (shape {tuple(tensor.shape)})")


def _split(output: torch.Tensor, output_sizes: Dict[str, int]) -> Dict[str, torch.Tensor]:
    parts = torch.split(output, list(output_sizes.values()), dim=-1)
    return dict(zip(output_sizes.keys(), parts))


def mlp(input_size: int, hidden_size: int, layers: int) -> nn.Sequential:
    """``layers`` times (Linear, LayerNorm, LeakyReLU), frame by frame: ``[..., in] -> [..., hidden]``."""
    modules: List[nn.Module] = []
    size = input_size
    for _ in range(layers):
        modules += [nn.Linear(size, hidden_size), nn.LayerNorm(hidden_size), nn.LeakyReLU(LEAKY_SLOPE)]
        size = hidden_size
    return nn.Sequential(*modules)


class RnnFcDecoder(nn.Module):
    """The DDSP decoder: per-input MLPs, a GRU, an output MLP and a linear projection.

    Each input ``i`` (``[B, F, input_sizes[i]]``) goes through its own MLP to
    ``hidden_size`` channels; the MLP outputs, concatenated, feed a
    single-layer GRU of ``gru_size`` units; the GRU output concatenated with
    the MLP outputs goes through the output MLP, and a linear layer makes
    ``sum(output_sizes)`` raw outputs that are split by name.

    Args:
        input_sizes: channels of each conditioning input, e.g. ``(1, 1)``
            for scaled pitch and loudness or ``(1, 1, 16)`` with a latent.
        output_sizes: ``{name: channels}`` of the raw outputs, e.g.
            ``{"amplitude": 1, "harmonic_distribution": 60, "noise_magnitudes": 65}``.
        hidden_size: width of every MLP layer (DDSP: 512).
        gru_size: GRU units (DDSP: 512).
        mlp_layers: layers in each MLP (DDSP: 3).

    Shapes:
        ``forward([x_0 [B, F, C_0], x_1 [B, F, C_1], ...]) -> {name: [B, F, C_name]}``
    """

    def __init__(
        self,
        input_sizes: Sequence[int],
        output_sizes: Mapping[str, int],
        hidden_size: int = 512,
        gru_size: int = 512,
        mlp_layers: int = 3,
    ):
        super().__init__()
        if not input_sizes:
            raise ValueError("input_sizes must list at least one input")
        self.input_sizes = tuple(_check_size(size, f"input_sizes[{i}]") for i, size in enumerate(input_sizes))
        self.output_sizes = _check_output_sizes(output_sizes)
        hidden_size = _check_size(hidden_size, "hidden_size")
        gru_size = _check_size(gru_size, "gru_size")
        mlp_layers = _check_size(mlp_layers, "mlp_layers")
        count = len(self.input_sizes)
        self.input_mlps = nn.ModuleList(mlp(size, hidden_size, mlp_layers) for size in self.input_sizes)
        self.gru = nn.GRU(count * hidden_size, gru_size, batch_first=True)
        self.output_mlp = mlp(count * hidden_size + gru_size, hidden_size, mlp_layers)
        self.projection = nn.Linear(hidden_size, sum(self.output_sizes.values()))

    def forward(self, inputs: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Raw outputs ``{name: [B, F, C]}`` from conditioning ``[B, F, C_i]`` (see the class)."""
        _check_inputs(inputs, self.input_sizes)
        hidden = [stack(x) for stack, x in zip(self.input_mlps, inputs)]
        recurrent, _ = self.gru(torch.cat(hidden, dim=-1))
        output = self.output_mlp(torch.cat(hidden + [recurrent], dim=-1))
        return _split(self.projection(output), self.output_sizes)


class _ChannelNorm(nn.Module):
    """LayerNorm over the channels of every frame of ``[B, C, F]`` (causal, unlike BatchNorm or GroupNorm)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class CausalConv1d(nn.Conv1d):
    """``nn.Conv1d`` padded on the left only, so output frame ``n`` sees input frames ``<= n``.

    Shapes: ``[B, C_in, F] -> [B, C_out, F]``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__(in_channels, out_channels, kernel_size, dilation=dilation)
        self.left_padding = dilation * (kernel_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left_padding, 0)))


class _TcnBlock(nn.Module):
    """Two causal dilated convolutions, each followed by a per-frame LayerNorm and LeakyReLU, plus a residual."""

    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(
            CausalConv1d(channels, channels, kernel_size, dilation),
            _ChannelNorm(channels),
            nn.LeakyReLU(LEAKY_SLOPE),
            CausalConv1d(channels, channels, kernel_size, dilation),
            _ChannelNorm(channels),
            nn.LeakyReLU(LEAKY_SLOPE),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TcnDecoder(nn.Module):
    """The DDX7 decoder: a causal temporal convolutional network.

    The concatenated inputs go through a 1x1 convolution to ``channels``,
    then ``blocks`` residual blocks (block ``b`` has two causal convolutions
    of ``kernel_size`` taps dilated by ``dilation_base ** b``, each followed
    by a per-frame LayerNorm and a LeakyReLU), then a 1x1 convolution to
    ``sum(output_sizes)`` raw outputs split by name. Output frame ``n``
    depends on input frames ``n - receptive_field + 1 .. n``
    (:attr:`receptive_field`; 125 frames, 0.5 s at 250 frames per second,
    for 5 blocks of kernel 3).

    Args:
        input_sizes: channels of each conditioning input.
        output_sizes: ``{name: channels}`` of the raw outputs, e.g. ``{"levels": 6}``.
        channels: hidden channels (DDX7: 128).
        blocks: residual blocks (DDX7: 5 convolution pairs).
        kernel_size: taps of each convolution, ``>= 2``.
        dilation_base: dilation growth per block, ``>= 1``.

    Shapes:
        ``forward([x_0 [B, F, C_0], ...]) -> {name: [B, F, C_name]}``
    """

    def __init__(
        self,
        input_sizes: Sequence[int],
        output_sizes: Mapping[str, int],
        channels: int = 128,
        blocks: int = 5,
        kernel_size: int = 3,
        dilation_base: int = 2,
    ):
        super().__init__()
        if not input_sizes:
            raise ValueError("input_sizes must list at least one input")
        self.input_sizes = tuple(_check_size(size, f"input_sizes[{i}]") for i, size in enumerate(input_sizes))
        self.output_sizes = _check_output_sizes(output_sizes)
        channels = _check_size(channels, "channels")
        blocks = _check_size(blocks, "blocks")
        kernel_size = _check_size(kernel_size, "kernel_size", minimum=2)
        dilation_base = _check_size(dilation_base, "dilation_base")
        self.input_projection = nn.Conv1d(sum(self.input_sizes), channels, 1)
        dilations = [dilation_base ** block for block in range(blocks)]
        self.blocks = nn.Sequential(*(_TcnBlock(channels, kernel_size, d) for d in dilations))
        self.output_projection = nn.Conv1d(channels, sum(self.output_sizes.values()), 1)
        self.receptive_field = 1 + 2 * (kernel_size - 1) * sum(dilations)

    def forward(self, inputs: Sequence[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Raw outputs ``{name: [B, F, C]}`` from conditioning ``[B, F, C_i]`` (see the class)."""
        _check_inputs(inputs, self.input_sizes)
        x = torch.cat(list(inputs), dim=-1).transpose(1, 2)
        x = self.output_projection(self.blocks(self.input_projection(x)))
        return _split(x.transpose(1, 2), self.output_sizes)
