"""Custom synth graphs: unit generators wired into a synthesiser, rendered, saved and fitted.

* :class:`Graph`: named nodes and connections; renders audio from note
  events or controls (``graph.render_notes(...)``, ``graph(controls)``).
* :mod:`~ddsp_lab.graph.nodes`: the node catalogue (oscillators, FM
  operator, additive, noise, plucked string, ADSR, LFO, filters, reverb,
  mixer, VCA, delay, rate converters).
* Parameters: :class:`Fixed`, :class:`Learnable` (range and curve, stored
  normalised, shown in physical units), :class:`External` (bound to a named
  control: note pitch, velocity, gate, or a network's outputs).
* :class:`Note` and :func:`notes_to_controls`: note events to controls.
* :func:`save_preset` / :func:`load_preset`: readable, versioned JSON.
* :func:`fit`: fit the learnable parameters to a recording.
* :func:`summary`, :func:`to_dot`, :func:`plot_graph`: seeing a graph.

New node types subclass :class:`Node` and call :func:`register_node`.
"""

from . import nodes
from .errors import GraphError
from .fit import FitResult, fit, save_loss_curve
from .graph import Connection, Graph
from .node import NODE_TYPES, Node, RenderContext, register_node
from .notes import Note, frames_for_duration, notes_to_controls
from .parameters import External, Fixed, Learnable, Parameter, ParameterSpec
from .ports import AUDIO, CONTROL, NOTE, Port
from .presets import graph_from_dict, graph_to_dict, load_preset, save_preset
from .summary import plot_graph, summary, to_dot, write_dot

__all__ = [
    "Graph", "Connection", "GraphError", "nodes", "Node", "NODE_TYPES", "register_node", "RenderContext",
    "Parameter", "Fixed", "Learnable", "External", "ParameterSpec", "Port", "AUDIO", "CONTROL", "NOTE",
    "Note", "notes_to_controls", "frames_for_duration",
    "save_preset", "load_preset", "graph_to_dict", "graph_from_dict",
    "fit", "FitResult", "save_loss_curve",
    "summary", "to_dot", "write_dot", "plot_graph",
]
