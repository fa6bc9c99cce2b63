"""``Graph``: unit generators wired into a synthesiser, rendered as one ``nn.Module``.

A graph holds named :class:`~ddsp_lab.graph.node.Node` s and the
connections between their ports::

    graph = Graph(sample_rate=16000, hop_length=64)
    graph.add("osc", nodes.Oscillator(waveform="saw"))
    graph.add("env", nodes.ADSR(decay_s=Learnable(0.3, (0.05, 2.0), "log")))
    graph.add("vca", nodes.VCA())
    graph.connect("osc.out", "vca.in")
    graph.connect("env.out", "vca.gain")
    graph.set_output("vca.out")
    audio = graph.render_notes([Note(60)], duration_s=1.0)      # [1, 16000]

Connections:

* into a **signal input** (``"filter.in"``): one connection per input; mix
  several signals with :class:`~ddsp_lab.graph.nodes.Mixer`;
* into a **parameter** (``"filter.cutoff_hz"``): ``mode="replace"`` (the
  connection is the value; one per parameter), ``"add"`` (the parameter's own
  value plus the signal: an LFO around a cutoff) or ``"multiply"`` (the
  parameter's value times the signal: an envelope on a learnable level). The
  result is ``(value + sum of adds) * product of multiplies``.

Rates must match (audio ``[B, T]``, control ``[B, F, C]``, note
``[B, 1, C]``; a note-rate value may drive a control port). A cycle is legal
only through a :class:`~ddsp_lab.graph.nodes.Delay`; such a feedback group is
rendered block by block (a block being its shortest delay), every other node
in one call over the whole signal. Errors are :class:`GraphError` (a
``ValueError``) naming the node, port or connection at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from ..core.checks import check_hop_length, check_sample_rate, check_tensor
from ..core.upsample import upsample_linear
from .errors import GraphError
from .node import Node, RenderContext, check_name
from .parameters import External, Learnable, ParameterSpec
from .ports import AUDIO, CONTROL, NOTE, Port, rate_shape, rates_compatible, split_endpoint
from .schedule import Step, find_cycle, plan

MODES: Tuple[str, ...] = ("replace", "add", "multiply")


@dataclass(frozen=True)
class Connection:
    """A wire from one node's output to another node's input or parameter.

    Attributes:
        source, source_port: the output, ``source.source_port``.
        target, target_port: the input or parameter, ``target.target_port``.
        mode: ``"replace"``, ``"add"`` or ``"multiply"`` (see the module docstring).
    """

    source: str
    source_port: str
    target: str
    target_port: str
    mode: str = "replace"

    @property
    def source_key(self) -> str:
        """``"source.source_port"``."""
        return f"{self.source}.{self.source_port}"

    @property
    def target_key(self) -> str:
        """``"target.target_port"``."""
        return f"{self.target}.{self.target_port}"

    def __str__(self) -> str:
        suffix = "" if self.mode == "replace" else f" ({self.mode})"
        return f"{self.source_key} -> {self.target_key}{suffix}"


class Graph(nn.Module):
    """A synthesiser graph of unit-generator nodes.

    Args:
        sample_rate: Hz (any positive integer).
        hop_length: audio samples per control frame.
        name: a label shown in summaries and saved in presets.
        description: free text saved in presets.

    Calling the graph renders its output: ``graph(controls, num_frames=None)
    -> [B, F * hop_length]`` (see :meth:`forward`).
    """

    def __init__(self, sample_rate: int, hop_length: int, name: str = "graph", description: str = ""):
        super().__init__()
        self.sample_rate = check_sample_rate(sample_rate)
        self.hop_length = check_hop_length(hop_length)
        if not isinstance(name, str) or not isinstance(description, str):
            raise GraphError("name and description must be strings")
        self.name = name
        self.description = description
        self.nodes = nn.ModuleDict()
        self.connections: List[Connection] = []
        self.output: Optional[str] = None
        self._plan_cache: Optional[List[Step]] = None

    # --- building -----------------------------------------------------------

    def add(self, name: str, node: Node) -> Node:
        """Add ``node`` under ``name`` (an identifier) and build it at the graph's rate.

        Returns:
            The node, for chaining.
        """
        check_name(name, "node name")
        if not isinstance(node, Node):
            raise GraphError(
                f"node {name!r} must be a graph Node (see ddsp_lab.graph.nodes), got {type(node).__name__}"
            )
        if name in self.nodes:
            raise GraphError(f"the graph already has a node named {name!r}")
        if node._in_graph:
            raise GraphError(f"this {node.type_name} node already belongs to a graph; create a new node for {name!r}")
        node.build(self.sample_rate, self.hop_length)
        node._in_graph = True
        self.nodes[name] = node
        self._plan_cache = None
        return node

    def node(self, name: str) -> Node:
        """The node called ``name``."""
        if name not in self.nodes:
            known = ", ".join(self.nodes) or "none"
            raise GraphError(f"unknown node {name!r}; the graph has: {known}")
        return self.nodes[name]

    def _target_port(self, node_name: str, port: Optional[str]) -> Tuple[Port, Optional[ParameterSpec]]:
        node = self.node(node_name)
        inputs = node.input_ports()
        specs = node.parameter_specs()
        if port is None:
            if len(inputs) != 1:
                names = ", ".join(inputs) or "none"
                raise GraphError(
                    f"name the input of {node_name!r} ({node.type_name}) to connect to; its inputs are: {names}"
                )
            port = next(iter(inputs))
        if port in inputs:
            return inputs[port], None
        if port in specs:
            return specs[port].port(), specs[port]
        raise GraphError(
            f"node {node_name!r} ({node.type_name}) has no input or parameter {port!r}; "
            f"inputs: {', '.join(inputs) or 'none'}; parameters: {', '.join(specs) or 'none'}"
        )

    def _source_port(self, node_name: str, port: Optional[str]) -> Port:
        node = self.node(node_name)
        outputs = node.output_ports()
        if port is None:
            if len(outputs) != 1:
                raise GraphError(f"name the output of {node_name!r} ({node.type_name}): {', '.join(outputs)}")
            port = next(iter(outputs))
        if port not in outputs:
            raise GraphError(
                f"node {node_name!r} ({node.type_name}) has no output {port!r}; outputs: {', '.join(outputs)}"
            )
        return outputs[port]

    def connect(self, source: str, target: str, mode: str = "replace") -> Connection:
        """Wire ``source`` (``"node.port"`` or ``"node"`` for its only output) to ``target``.

        ``target`` is ``"node.input"``, ``"node.parameter"``, or ``"node"``
        for a node with one signal input.

        Args:
            source: an output.
            target: a signal input or a parameter.
            mode: ``"replace"``, ``"add"`` or ``"multiply"`` (the last two
                for parameters only).

        Returns:
            The :class:`Connection`.

        Raises:
            GraphError: unknown node or port, rate or channel mismatch, an
                input already connected, or a cycle without a Delay node.
        """
        if mode not in MODES:
            raise GraphError(f"mode must be one of {MODES}, got {mode!r}")
        source_node, source_name = split_endpoint(source, "source")
        target_node, target_name = split_endpoint(target, "target")
        out_port = self._source_port(source_node, source_name)
        in_port, spec = self._target_port(target_node, target_name)
        connection = Connection(source_node, out_port.name, target_node, in_port.name, mode)
        if not rates_compatible(out_port.rate, in_port.rate):
            raise GraphError(f"rate mismatch in {connection}: {_rate_hint(out_port, in_port)}")
        if out_port.rate != AUDIO and out_port.channels != in_port.channels and not (
            spec is not None and out_port.channels == 1
        ):
            raise GraphError(
                f"channel mismatch in {connection}: {connection.source_key} is "
                f"{rate_shape(out_port.rate, out_port.channels)} but {connection.target_key} takes "
                f"{rate_shape(in_port.rate, in_port.channels)}"
            )
        existing = [c for c in self.connections if c.target_key == connection.target_key]
        if spec is None:
            if mode != "replace":
                raise GraphError(
                    f"{connection}: mode {mode!r} applies to parameters; {connection.target_key} is a signal input"
                )
            if existing:
                raise GraphError(
                    f"{connection.target_key} is already connected to {existing[0].source_key}; "
                    "mix several signals with nodes.Mixer"
                )
        elif existing and (mode == "replace" or any(c.mode == "replace" for c in existing)):
            raise GraphError(
                f"{connection}: {connection.target_key} already has {', '.join(str(c) for c in existing)}; a "
                "'replace' connection must be the only one into a parameter (use 'add' or 'multiply' to combine)"
            )
        if any(c == connection for c in self.connections):
            raise GraphError(f"{connection} is already connected")
        delays = self._delay_names()
        edges = [(c.source, c.target) for c in self.connections + [connection] if c.source not in delays]
        cycle = find_cycle(list(self.nodes), edges)
        if cycle is not None:
            raise GraphError(_cycle_message(cycle))
        self.connections.append(connection)
        self._plan_cache = None
        return connection

    def chain(self, *names: str) -> None:
        """Connect ``names[0] -> names[1] -> ...``, each node's only output to the next one's only input."""
        for source, target in zip(names, names[1:]):
            self.connect(source, target)

    def set_output(self, endpoint: str) -> None:
        """Choose the audio output the graph renders (``"node.port"`` or ``"node"``)."""
        node_name, port_name = split_endpoint(endpoint, "output")
        port = self._source_port(node_name, port_name)
        if port.rate != AUDIO:
            raise GraphError(
                f"the graph output must be audio [B, T], but {node_name}.{port.name} is "
                f"{rate_shape(port.rate, port.channels)}; convert it with nodes.ToAudioRate"
            )
        self.output = f"{node_name}.{port.name}"
        self._plan_cache = None

    def _delay_names(self) -> set:
        from .nodes.routing import Delay

        return {name for name, node in self.nodes.items() if isinstance(node, Delay)}

    # --- validation ---------------------------------------------------------

    def validate(self) -> None:
        """Check the whole graph; raise a :class:`GraphError` naming the first problem.

        Checks: an output is set; every required input is connected; every
        cycle passes through a Delay; a feedback group stays at one rate and
        holds only nodes that render in blocks; no learnable parameter is
        overridden by a ``"replace"`` connection (it could never be fitted).
        """
        self._plan()

    def _plan(self) -> List[Step]:
        if self._plan_cache is not None:
            return self._plan_cache
        if not len(self.nodes):
            raise GraphError("the graph has no nodes")
        if self.output is None:
            raise GraphError("the graph has no output; call graph.set_output('node.port')")
        for name, node in self.nodes.items():
            connected = {c.target_port for c in self.connections if c.target == name}
            for port in node.input_ports().values():
                if not port.optional and port.name not in connected:
                    raise GraphError(
                        f"node {name!r} ({node.type_name}) input {port.name!r} "
                        f"({rate_shape(port.rate, port.channels)}) is not connected"
                    )
            for connection in self.connections:
                if connection.target != name or connection.mode != "replace":
                    continue
                is_parameter = connection.target_port in node.node_parameters
                if is_parameter and isinstance(node.node_parameters[connection.target_port], Learnable):
                    raise GraphError(
                        f"{connection.target_key} is Learnable but {connection} replaces it, so it could never "
                        "be fitted; connect with mode='add' or 'multiply', or make the parameter Fixed"
                    )
        delays = self._delay_names()
        edges = [(c.source, c.target) for c in self.connections]
        try:
            steps = plan(list(self.nodes), edges, delays)
        except ValueError as error:
            raise GraphError(_cycle_message(str(error).split(" -> "))) from None
        for step in steps:
            if step.feedback:
                self._check_feedback_group(step)
        self._plan_cache = steps
        return steps

    def _check_feedback_group(self, step: Step) -> None:
        members = set(step.nodes) | set(step.delays)
        cycle = " -> ".join(sorted(members, key=list(self.nodes).index))
        if not step.delays:
            raise GraphError(f"the feedback cycle {cycle} has no Delay node")
        rates = {self.nodes[d].rate for d in step.delays}
        if len(rates) > 1:
            raise GraphError(f"the feedback cycle {cycle} mixes audio and control delays; keep a cycle at one rate")
        rate = rates.pop()
        for name in step.nodes:
            node = self.nodes[name]
            if not node.supports_blocks:
                raise GraphError(
                    f"node {name!r} ({node.type_name}) sits in the feedback cycle {cycle} but cannot render in "
                    "blocks; cycles may hold Delay, Mixer, VCA, Multiply, ScaleOffset, OneZero and SineOperator nodes"
                )
        for connection in self.connections:
            if connection.source in members and connection.target in members:
                port = self.nodes[connection.source].output_ports()[connection.source_port]
                is_parameter = connection.target_port in self.nodes[connection.target].node_parameters
                if port.rate != rate or (rate == AUDIO and is_parameter):
                    raise GraphError(
                        f"{connection} inside the {rate}-rate feedback cycle {cycle} carries a "
                        f"{port.rate}-rate signal; keep a cycle at one rate"
                    )

    def required_controls(self) -> Dict[str, List[str]]:
        """External controls the graph reads: name -> the parameters or inputs that use it."""
        replaced = {c.target_key for c in self.connections if c.mode == "replace"}
        needed: Dict[str, List[str]] = {}
        for name, node in self.nodes.items():
            if node.type_name == "Input":
                needed.setdefault(node.options["name"], []).append(f"{name}.out")
            for pname, parameter in node.node_parameters.items():
                if isinstance(parameter, External) and f"{name}.{pname}" not in replaced:
                    needed.setdefault(parameter.control, []).append(f"{name}.{pname}")
        return needed

    # --- parameters ---------------------------------------------------------

    def learnable_parameters(self) -> Dict[str, Learnable]:
        """Learnable parameters by ``"node.parameter"`` name."""
        return {
            f"{name}.{pname}": parameter
            for name, node in self.nodes.items()
            for pname, parameter in node.node_parameters.items()
            if isinstance(parameter, Learnable)
        }

    def parameter_values(self) -> Dict[str, object]:
        """Physical value of every fixed and learnable parameter by ``"node.parameter"``."""
        values = {}
        for name, node in self.nodes.items():
            for pname, parameter in node.node_parameters.items():
                value = parameter.physical_value()
                if value is not None:
                    values[f"{name}.{pname}"] = value
        return values

    def parameter(self, key: str):
        """The Parameter object at ``"node.parameter"``."""
        node_name, pname = split_endpoint(key, "parameter")
        if pname is None:
            raise GraphError(f"name a parameter as 'node.parameter', got {key!r}")
        return self.node(node_name).parameter(pname)

    def set_parameter(self, key: str, value) -> None:
        """Replace the parameter at ``"node.parameter"`` (a Parameter, number, sequence or control name)."""
        node_name, pname = split_endpoint(key, "parameter")
        if pname is None:
            raise GraphError(f"name a parameter as 'node.parameter', got {key!r}")
        self.node(node_name).set_parameter(pname, value)
        self._plan_cache = None

    # --- rendering ----------------------------------------------------------

    def _default_placement(self) -> Tuple[torch.dtype, torch.device]:
        for tensor in list(self.parameters()) + list(self.buffers()):
            if tensor.is_floating_point():
                return tensor.dtype, tensor.device
        return torch.get_default_dtype(), torch.device("cpu")

    def _context(self, controls, num_frames, batch_size) -> RenderContext:
        if controls is None:
            controls = {}
        if not isinstance(controls, Mapping):
            raise TypeError(f"controls must be a mapping of name -> tensor, got {type(controls).__name__}")
        controls = dict(controls)
        for name, value in controls.items():
            check_tensor(value, f"controls[{name!r}]")
        audio_inputs = {
            n.options["name"] for n in self.nodes.values() if n.type_name == "Input" and n.options["rate"] == AUDIO
        }
        if num_frames is not None:
            if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames <= 0:
                raise GraphError(f"num_frames must be a positive integer, got {num_frames!r}")
            frames = num_frames
        else:
            found = {}
            for name, value in controls.items():
                if name in audio_inputs:
                    length = value.shape[-1]
                    if length % self.hop_length:
                        raise GraphError(
                            f"controls[{name!r}] has {length} samples, not a whole number of frames of "
                            f"{self.hop_length}; pad or trim it"
                        )
                    found[name] = length // self.hop_length
                elif value.dim() == 3 and value.shape[1] > 1:
                    found[name] = value.shape[1]
            if len(set(found.values())) > 1:
                raise GraphError(f"controls disagree on the number of frames: {found}")
            if not found:
                raise GraphError(
                    "cannot tell how many frames to render: pass num_frames (or render notes with a duration)"
                )
            frames = next(iter(found.values()))
        # Audio inputs are [B, T] or [T]; every other control has its batch first ([B], [B, 1], [B, F, C]).
        batches = {
            name: (value.shape[0] if value.dim() == 2 else 1) if name in audio_inputs else value.shape[0]
            for name, value in controls.items()
            if value.dim() >= 1
        }
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
                raise GraphError(f"batch_size must be a positive integer, got {batch_size!r}")
            batch = batch_size
        else:
            batch = max(batches.values(), default=1)
        for name, size in batches.items():
            if size not in (1, batch):
                raise GraphError(f"controls[{name!r}] has batch {size}, but the render has batch {batch}")
        first = next((v for v in controls.values()), None)
        dtype, device = (first.dtype, first.device) if first is not None else self._default_placement()
        return RenderContext(self.sample_rate, self.hop_length, batch, frames, dtype, device, controls)

    def _base_parameters(self, name: str, context: RenderContext) -> Dict[str, torch.Tensor]:
        node = self.nodes[name]
        replaced = {c.target_port for c in self.connections if c.target == name and c.mode == "replace"}
        return {
            pname: node.node_parameters[pname].resolve(context, spec, f"{name}.{pname}")
            for pname, spec in node.parameter_specs().items()
            if pname not in replaced
        }

    def _combine(self, name: str, base: Dict[str, torch.Tensor], lookup, batch: int, length: int):
        """Apply connections to parameters and expand them to ``[B, length, C]`` (``[B, 1, C]`` at note rate)."""
        node = self.nodes[name]
        incoming = [c for c in self.connections if c.target == name and c.target_port in node.node_parameters]
        params = {}
        for pname, spec in node.parameter_specs().items():
            conns = [c for c in incoming if c.target_port == pname]
            replace = [c for c in conns if c.mode == "replace"]
            value = lookup(replace[0].source_key) if replace else base[pname]
            for c in conns:
                if c.mode == "add":
                    value = value + lookup(c.source_key)
            for c in conns:
                if c.mode == "multiply":
                    value = value * lookup(c.source_key)
            shape = (batch, 1 if spec.rate == NOTE else length, spec.channels)
            try:
                params[pname] = value.expand(shape)
            except RuntimeError:
                raise GraphError(
                    f"{name}.{pname} should be {rate_shape(spec.rate, spec.channels)}, but its value and "
                    f"connections give shape {tuple(value.shape)}"
                ) from None
        return params

    def _check_outputs(self, name: str, node: Node, outputs, context: RenderContext) -> None:
        if not isinstance(outputs, dict):
            raise GraphError(f"node {name!r} ({node.type_name}) must return a dict of outputs")
        for port in node.output_ports().values():
            value = outputs.get(port.name)
            if not isinstance(value, torch.Tensor):
                raise GraphError(f"node {name!r} ({node.type_name}) returned no output {port.name!r}")
            if port.rate == AUDIO:
                expected = (context.batch, context.samples)
            else:
                expected = (context.batch, context.frames, port.channels)
            if tuple(value.shape) != expected:
                raise GraphError(
                    f"node {name!r} ({node.type_name}) output {port.name!r} has shape {tuple(value.shape)}, "
                    f"expected {expected}"
                )

    def _render_node(self, name: str, context: RenderContext, signals: Dict[str, torch.Tensor]) -> None:
        node = self.nodes[name]
        inputs = {
            c.target_port: signals[c.source_key]
            for c in self.connections
            if c.target == name and c.target_port not in node.node_parameters
        }
        params = self._combine(name, self._base_parameters(name, context), signals.__getitem__, context.batch,
                               context.frames)
        try:
            outputs = node.render(inputs, params, context)
        except GraphError as error:
            raise GraphError(f"node {name!r} ({node.type_name}): {error}") from error
        except (ValueError, TypeError) as error:
            raise GraphError(f"node {name!r} ({node.type_name}): {error}") from error
        self._check_outputs(name, node, outputs, context)
        for port in node.output_ports():
            signals[f"{name}.{port}"] = outputs[port]

    def _render_feedback(self, step: Step, context: RenderContext, signals: Dict[str, torch.Tensor]) -> None:
        delays = {d: self.nodes[d] for d in step.delays}
        rate = next(iter(delays.values())).rate
        block = min(d.length for d in delays.values())
        total = context.samples if rate == AUDIO else context.frames
        members = set(step.nodes) | set(delays)
        full = {}
        for name in step.nodes:
            if rate == AUDIO:
                params = self._combine(name, self._base_parameters(name, context), signals.__getitem__,
                                       context.batch, context.frames)
                specs = self.nodes[name].parameter_specs()
                full[name] = {
                    k: upsample_linear(v, self.hop_length) if specs[k].rate == CONTROL else v for k, v in params.items()
                }
            else:
                full[name] = self._base_parameters(name, context)
        states = {name: self.nodes[name].initial_state(context) for name in members}
        # Wiring looked up once: (port, source key, whether the source is inside the cycle).
        wiring = {
            name: [(c.target_port, c.source_key, c.source in members) for c in self.connections
                   if c.target == name and c.target_port not in self.nodes[name].node_parameters]
            for name in step.nodes
        }
        delay_sources = {d: next(c.source_key for c in self.connections if c.target == d) for d in delays}
        pieces: Dict[str, List[torch.Tensor]] = {}

        def cut(value, start, stop):
            return value[:, start:stop] if value.shape[1] > 1 else value

        for start in range(0, total, block):
            stop = min(start + block, total)
            current = {f"{d}.out": node.emit(states[d], stop - start) for d, node in delays.items()}

            def lookup(key):
                return current[key] if key.split(".")[0] in members else cut(signals[key], start, stop)

            for name in step.nodes:
                node = self.nodes[name]
                inputs = {
                    port: current[key] if inside else cut(signals[key], start, stop)
                    for port, key, inside in wiring[name]
                }
                sliced = {k: cut(v, start, stop) for k, v in full[name].items()}
                params = sliced if rate == AUDIO else self._combine(name, sliced, lookup, context.batch, stop - start)
                try:
                    outputs, states[name] = node.render_block(inputs, params, states[name], context)
                except (ValueError, TypeError) as error:
                    raise GraphError(f"node {name!r} ({node.type_name}): {error}") from error
                for port, value in outputs.items():
                    current[f"{name}.{port}"] = value
            for d, node in delays.items():
                states[d] = node.absorb(states[d], lookup(delay_sources[d]))
            for key, value in current.items():
                pieces.setdefault(key, []).append(value)
        for key, parts in pieces.items():
            signals[key] = torch.cat(parts, dim=1)

    def _needed(self, keys: Sequence[str]) -> set:
        needed = {key.split(".")[0] for key in keys}
        frontier = list(needed)
        while frontier:
            name = frontier.pop()
            for c in self.connections:
                if c.target == name and c.source not in needed:
                    needed.add(c.source)
                    frontier.append(c.source)
        return needed

    def forward(
        self,
        controls: Optional[Mapping[str, torch.Tensor]] = None,
        num_frames: Optional[int] = None,
        batch_size: Optional[int] = None,
        outputs: Optional[Sequence[str]] = None,
    ) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        """Render the graph.

        Args:
            controls: external controls by name (note events from
                :func:`~ddsp_lab.graph.notes.notes_to_controls`, network
                outputs, audio for :class:`~ddsp_lab.graph.nodes.Input` s):
                ``[B, F, C]``, ``[B, 1, C]``, ``[B, 1]`` or ``[B]``; audio
                inputs ``[B, F * hop_length]``. Extra names are ignored.
            num_frames: ``F``; default: the frames of the controls.
            batch_size: ``B``; default: the largest batch of the controls (1 without).
            outputs: optional ``"node.port"`` names to return instead of the
                graph output (taps of any signal, e.g. an envelope).

        Returns:
            The output audio ``[B, F * hop_length]``, or a dict of the
            requested signals. dtype and device follow the controls (else the
            graph's parameters).
        """
        steps = self._plan()
        keys = [self.output] if outputs is None else list(outputs)
        for key in keys:
            node_name, port = split_endpoint(key, "output")
            if port is None or port not in self.node(node_name).output_ports():
                raise GraphError(f"{key!r} is not an output ('node.port') of the graph")
        context = self._context(controls, num_frames, batch_size)
        needed = self._needed(keys)
        signals: Dict[str, torch.Tensor] = {}
        for step in steps:
            if not needed.intersection(step.nodes + step.delays):
                continue
            if step.feedback:
                self._render_feedback(step, context, signals)
            else:
                self._render_node(step.nodes[0], context, signals)
        if outputs is None:
            return signals[self.output]
        return {key: signals[key] for key in keys}

    def render_notes(
        self,
        notes,
        duration_s: float,
        controls: Optional[Mapping[str, torch.Tensor]] = None,
        outputs: Optional[Sequence[str]] = None,
    ):
        """Render note events (batched: one row per batch item).

        Args:
            notes: a :class:`~ddsp_lab.graph.notes.Note`, a list of notes
                (one per batch item) or a list of lists (a monophonic sequence
                per item); see :func:`~ddsp_lab.graph.notes.notes_to_controls`.
            duration_s: seconds rendered (rounded up to whole frames).
            controls: further controls (network outputs), merged over the
                note controls.
            outputs: as in :meth:`forward`.

        Returns:
            ``[B, ceil(duration_s * sample_rate / hop_length) * hop_length]``
            audio (or the requested signals).
        """
        from .notes import frames_for_duration, notes_to_controls

        frames = frames_for_duration(duration_s, self.sample_rate, self.hop_length)
        dtype, device = self._default_placement()
        note_controls = notes_to_controls(notes, frames, self.sample_rate, self.hop_length, dtype=dtype, device=device)
        note_controls.update(dict(controls or {}))
        return self.forward(note_controls, num_frames=frames, outputs=outputs)

    # --- seeing and saving --------------------------------------------------

    def summary(self) -> str:
        """A text summary: nodes, ports, connections, parameters (see :func:`~ddsp_lab.graph.summary.summary`)."""
        from .summary import summary

        return summary(self)

    def to_dot(self) -> str:
        """Graphviz DOT source of the graph (see :func:`~ddsp_lab.graph.summary.to_dot`)."""
        from .summary import to_dot

        return to_dot(self)

    def save(self, path) -> str:
        """Write the graph and its parameter values as a JSON preset (atomically); returns the path."""
        from .presets import save_preset

        return save_preset(self, path)

    @classmethod
    def load(cls, path, sample_rate: Optional[int] = None) -> "Graph":
        """Read a JSON preset (optionally rebuilt at another sample rate)."""
        from .presets import load_preset

        return load_preset(path, sample_rate=sample_rate)

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
                f"output={self.output!r}")


def _rate_hint(source: Port, target: Port) -> str:
    text = (f"the output is {rate_shape(source.rate, source.channels)} but the input takes "
            f"{rate_shape(target.rate, target.channels)}")
    if source.rate == CONTROL and target.rate == AUDIO:
        return text + "; insert nodes.ToAudioRate to upsample it"
    if source.rate == AUDIO and target.rate in (CONTROL, NOTE):
        if target.rate == NOTE:
            return text + "; note-rate parameters take one value per note and cannot follow a signal"
        return text + "; insert nodes.ToControlRate (an envelope follower) to convert it"
    if source.rate == CONTROL and target.rate == NOTE:
        return text + "; this parameter takes one value per note and cannot follow a time-varying control"
    return text


def _cycle_message(cycle: Sequence[str]) -> str:
    return (
        f"the connections form a cycle {' -> '.join(cycle)} without a Delay node; feedback needs an explicit "
        "nodes.Delay (samples=... at audio rate, frames=... at control rate) in the loop"
    )


__all__ = ["Graph", "Connection", "MODES"]
