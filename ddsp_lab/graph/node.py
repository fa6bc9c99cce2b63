"""The ``Node`` base class: a unit generator (or a small adapter) with declared ports.

A node declares

* its **signal inputs** (:meth:`Node.input_ports`), which other nodes'
  outputs connect to (an unconnected required input is an error);
* its **outputs** (:meth:`Node.output_ports`);
* its **parameters** (:meth:`Node.parameter_specs`), each held as a
  :class:`~ddsp_lab.graph.parameters.Parameter` (fixed, learnable or
  external). A parameter is also an input port: a connection into it either
  replaces its value or modulates it (``"add"``, ``"multiply"``).

Nodes are built for a sample rate and hop length when they are added to a
:class:`~ddsp_lab.graph.graph.Graph`; that is when the wrapped unit
generators are constructed, so a preset can be rebuilt at any sample rate.

New node types (an FM operator, a wavetable, ...) subclass :class:`Node`,
implement :meth:`Node.render`, and call :func:`register_node` so that presets
can name them. Nodes that may sit inside a feedback cycle also set
``supports_blocks = True`` and implement :meth:`Node.render_block`.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Type

import torch
from torch import nn

from .errors import GraphError
from .parameters import Parameter, ParameterSpec, as_parameter
from .ports import AUDIO, Port

#: Node types by name, for presets: ``{"Oscillator": nodes.Oscillator, ...}``.
NODE_TYPES: Dict[str, Type["Node"]] = {}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_name(name, what: str) -> str:
    """Check a node, port or control name (an identifier: letters, digits, ``_``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise GraphError(
            f"{what} must be an identifier (letters, digits and _, not starting with a digit), got {name!r}"
        )
    return name


def register_node(cls: Type["Node"]) -> Type["Node"]:
    """Class decorator: make a node type loadable from presets under its class name."""
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise TypeError(f"register_node expects a Node subclass, got {cls!r}")
    existing = NODE_TYPES.get(cls.__name__)
    if existing is not None and existing is not cls:
        raise GraphError(f"a node type named {cls.__name__!r} is already registered ({existing.__module__})")
    NODE_TYPES[cls.__name__] = cls
    return cls


@dataclass
class RenderContext:
    """What every node sees while a graph renders.

    Attributes:
        sample_rate: Hz.
        hop_length: samples per control frame.
        batch: ``B``.
        frames: ``F``; audio signals have ``F * hop_length`` samples.
        dtype, device: of every tensor the render creates.
        controls: the external controls by name (see
            :class:`~ddsp_lab.graph.parameters.External`).
    """

    sample_rate: int
    hop_length: int
    batch: int
    frames: int
    dtype: torch.dtype
    device: torch.device
    controls: Mapping[str, torch.Tensor] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        """``T = frames * hop_length``."""
        return self.frames * self.hop_length


class Node(nn.Module, abc.ABC):
    """Base class of graph nodes.

    Subclasses call ``super().__init__(options, parameters)`` with their
    constructor options (JSON-serialisable values, saved in presets) and
    their parameters (anything :func:`~ddsp_lab.graph.parameters.as_parameter`
    accepts, or ``None`` for the spec's default), and implement
    :meth:`render`. ``cls(**options, **parameters)`` must rebuild the node.

    Args:
        options: constructor options by name.
        parameters: parameter values by name (``None``: the default).
    """

    #: Whether :meth:`render_block` is implemented (required inside feedback cycles).
    supports_blocks: bool = False

    def __init__(self, options: Mapping[str, Any], parameters: Mapping[str, Any]):
        super().__init__()
        self.options: Dict[str, Any] = dict(options)
        self.sample_rate: Optional[int] = None
        self.hop_length: Optional[int] = None
        self._in_graph = False
        specs = self.parameter_specs()
        unknown = sorted(set(parameters) - set(specs))
        if unknown:
            raise GraphError(
                f"{self.type_name} has no parameter(s) {unknown}; its parameters are {sorted(specs) or 'none'}"
            )
        self.node_parameters = nn.ModuleDict()
        for name, spec in specs.items():
            value = parameters.get(name)
            where = f"{self.type_name}.{name}"
            parameter = as_parameter(spec.default if value is None else value, where)
            parameter.check(spec, where)
            parameter.claim(where)
            self.node_parameters[name] = parameter

    @property
    def type_name(self) -> str:
        """The registered type name (the class name)."""
        return type(self).__name__

    # --- declared interface -------------------------------------------------

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        """Parameters by name (they may depend on the options)."""
        return {}

    def input_ports(self) -> Dict[str, Port]:
        """Signal inputs by name (default: none)."""
        return {}

    def output_ports(self) -> Dict[str, Port]:
        """Outputs by name (default: one audio output ``"out"``)."""
        return {"out": Port("out", AUDIO)}

    def parameter(self, name: str) -> Parameter:
        """The :class:`~ddsp_lab.graph.parameters.Parameter` held for ``name``."""
        if name not in self.node_parameters:
            raise GraphError(self._unknown_parameter(name))
        return self.node_parameters[name]

    def set_parameter(self, name: str, value) -> Parameter:
        """Replace a parameter (a Parameter, a number, a sequence or a control name)."""
        spec = self.parameter_specs().get(name)
        if spec is None:
            raise GraphError(self._unknown_parameter(name))
        where = f"{self.type_name}.{name}"
        parameter = as_parameter(value, where)
        parameter.check(spec, where)
        parameter.claim(where)
        self.node_parameters[name] = parameter
        return parameter

    def _unknown_parameter(self, name: str) -> str:
        return f"{self.type_name} has no parameter {name!r}; its parameters are {sorted(self.node_parameters)}"

    # --- building and rendering ---------------------------------------------

    def build(self, sample_rate: int, hop_length: int) -> None:
        """Construct the wrapped units for a sample rate (Hz) and hop (samples)."""
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self._build()

    def _build(self) -> None:
        """Subclass hook: create unit generators once ``sample_rate`` and ``hop_length`` are known."""

    @abc.abstractmethod
    def render(
        self, inputs: Dict[str, torch.Tensor], params: Dict[str, torch.Tensor], context: RenderContext
    ) -> Dict[str, torch.Tensor]:
        """Render the whole signal.

        Args:
            inputs: connected signal inputs by port name (audio ``[B, T]``,
                control ``[B, F, C]``); optional unconnected inputs are absent.
            params: every parameter in physical units, ``[B, F, C]`` (control
                rate) or ``[B, 1, C]`` (note rate).
            context: the render's sizes, dtype, device and controls.

        Returns:
            Outputs by port name.
        """

    def initial_state(self, context: RenderContext) -> Any:
        """State before the first block of a feedback render (default ``None``)."""
        return None

    def render_block(
        self,
        inputs: Dict[str, torch.Tensor],
        params: Dict[str, torch.Tensor],
        state: Any,
        context: RenderContext,
    ) -> Tuple[Dict[str, torch.Tensor], Any]:
        """Render one block inside a feedback cycle (only when ``supports_blocks``).

        Inputs and outputs are slices of the signals: ``[B, L]`` in an audio
        cycle, ``[B, L, C]`` in a control cycle. In an audio cycle, control
        parameters arrive upsampled to audio rate, ``[B, L, C]`` (note-rate
        ones stay ``[B, 1, C]``).

        Returns:
            ``(outputs, next_state)``.
        """
        raise GraphError(f"{self.type_name} cannot render in blocks, so it cannot sit inside a feedback cycle")

    def describe(self) -> str:
        """``Type(option=value, ...)`` for summaries."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items() if v is not None)
        return f"{self.type_name}({shown})"

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.options.items())
