"""Presets: a graph with its parameter values as readable, versioned JSON.

Layout (``"version": 1``)::

    {
      "format": "ddsp_lab.graph",
      "version": 1,
      "name": "subtractive",
      "description": "...",
      "sample_rate": 16000,
      "hop_length": 64,
      "nodes": [
        {"name": "osc", "type": "Oscillator",
         "options": {"waveform": "saw", "max_harmonics": null},
         "parameters": {
           "f0_hz": {"kind": "external", "control": "f0_hz", "unit": "Hz"},
           "amplitude": {"kind": "fixed", "value": 0.5, "unit": ""}}},
        {"name": "filter", "type": "StateVariableFilter", "options": {"output": "lowpass"},
         "parameters": {
           "cutoff_hz": {"kind": "learnable", "value": 1200.0, "range": [50.0, 8000.0],
                         "curve": "log", "normalized": 0.6302..., "unit": "Hz"}, ...}}
      ],
      "connections": [{"from": "osc.out", "to": "filter.in", "mode": "replace"}, ...],
      "output": "vca.out"
    }

Values are in physical units; ``"unit"`` is informative. A learnable
parameter also stores its ``"normalized"`` value so that a round trip renders
identical samples; edit ``"value"`` by hand and the stale ``"normalized"`` is
ignored. Loading checks the format, the version and every field, and rebuilds
the graph through the same ``add`` / ``connect`` calls as Python code, so a
preset gets the same validation and error messages.

Presets are portable across sample rates: every value is physical, so
``load_preset(path, sample_rate=48000)`` rebuilds the graph at 48 kHz with
the hop scaled to keep the frame duration.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional, Union

from ..core.checks import check_sample_rate
from .errors import GraphError
from ..io import write_text_atomic
from .graph import MODES, Graph
from .node import NODE_TYPES
from .parameters import parameter_from_dict

FORMAT = "ddsp_lab.graph"
VERSION = 1

PathLike = Union[str, os.PathLike]


def graph_to_dict(graph: Graph) -> Dict[str, Any]:
    """The preset of ``graph`` as a JSON-ready dict (see the module docstring)."""
    if not isinstance(graph, Graph):
        raise TypeError(f"graph must be a Graph, got {type(graph).__name__}")
    from .. import __version__ as package_version

    nodes = []
    for name, node in graph.nodes.items():
        specs = node.parameter_specs()
        parameters = {}
        for pname, parameter in node.node_parameters.items():
            entry = parameter.to_dict()
            entry["unit"] = specs[pname].unit
            parameters[pname] = entry
        nodes.append({"name": name, "type": node.type_name, "options": dict(node.options), "parameters": parameters})
    return {
        "format": FORMAT,
        "version": VERSION,
        "ddsp_lab_version": package_version,
        "name": graph.name,
        "description": graph.description,
        "sample_rate": graph.sample_rate,
        "hop_length": graph.hop_length,
        "nodes": nodes,
        "connections": [
            {"from": c.source_key, "to": c.target_key, "mode": c.mode} for c in graph.connections
        ],
        "output": graph.output,
    }


def _field(data: Dict[str, Any], key: str, kind, where: str):
    if key not in data:
        raise GraphError(f"{where} is missing the field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise GraphError(f"{where}: {key!r} must be a {names}, got {value!r}")
    return value


def graph_from_dict(data: Dict[str, Any], sample_rate: Optional[int] = None) -> Graph:
    """Rebuild a graph from a preset dict.

    Args:
        data: the parsed JSON.
        sample_rate: rebuild at this rate instead of the preset's (Hz); the
            hop length is scaled to keep the frame duration.

    Raises:
        GraphError: wrong format or version, missing or malformed fields,
            unknown node types, bad options or parameters, or an invalid graph.
    """
    if not isinstance(data, dict):
        raise GraphError(f"a preset must be a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise GraphError(f"not a ddsp_lab graph preset: 'format' must be {FORMAT!r}, got {data.get('format')!r}")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise GraphError(f"preset 'version' must be an integer, got {version!r}")
    if version > VERSION:
        raise GraphError(
            f"preset version {version} is newer than this ddsp_lab reads (version {VERSION}); upgrade ddsp_lab"
        )
    if version < 1:
        raise GraphError(f"preset version must be >= 1, got {version}")
    try:
        preset_rate = check_sample_rate(_field(data, "sample_rate", int, "preset"), "preset sample_rate")
    except GraphError:
        raise
    except ValueError as error:
        raise GraphError(str(error)) from None
    hop_length = _field(data, "hop_length", int, "preset")
    if hop_length <= 0:
        raise GraphError(f"preset hop_length must be a positive integer, got {hop_length}")
    if sample_rate is not None:
        sample_rate = check_sample_rate(sample_rate)
        hop_length = max(1, round(hop_length * sample_rate / preset_rate))
    else:
        sample_rate = preset_rate
    graph = Graph(sample_rate, hop_length, name=data.get("name", "graph") or "graph",
                  description=data.get("description", "") or "")
    for index, entry in enumerate(_field(data, "nodes", list, "preset")):
        where = f"preset nodes[{index}]"
        if not isinstance(entry, dict):
            raise GraphError(f"{where} must be an object, got {entry!r}")
        name = _field(entry, "name", str, where)
        where = f"preset node {name!r}"
        type_name = _field(entry, "type", str, where)
        if type_name not in NODE_TYPES:
            raise GraphError(
                f"{where} has the unknown node type {type_name!r}; known types: {', '.join(sorted(NODE_TYPES))}"
            )
        options = entry.get("options", {})
        if not isinstance(options, dict):
            raise GraphError(f"{where}: 'options' must be an object, got {options!r}")
        raw_parameters = entry.get("parameters", {})
        if not isinstance(raw_parameters, dict):
            raise GraphError(f"{where}: 'parameters' must be an object, got {raw_parameters!r}")
        parameters = {
            pname: parameter_from_dict(value, f"{where} parameter {pname!r}") for pname, value in raw_parameters.items()
        }
        cls = NODE_TYPES[type_name]
        try:
            node = cls(**options, **parameters)
        except TypeError as error:
            raise GraphError(f"{where} ({type_name}): bad options or parameters: {error}") from None
        except GraphError as error:
            raise GraphError(f"{where} ({type_name}): {error}") from None
        graph.add(name, node)
    for index, entry in enumerate(_field(data, "connections", list, "preset")):
        where = f"preset connections[{index}]"
        if not isinstance(entry, dict):
            raise GraphError(f"{where} must be an object with 'from' and 'to', got {entry!r}")
        mode = entry.get("mode", "replace")
        if mode not in MODES:
            raise GraphError(f"{where}: 'mode' must be one of {MODES}, got {mode!r}")
        try:
            graph.connect(_field(entry, "from", str, where), _field(entry, "to", str, where), mode)
        except GraphError as error:
            raise GraphError(f"{where}: {error}") from None
    output = _field(data, "output", str, "preset")
    graph.set_output(output)
    graph.validate()
    return graph


def save_preset(graph: Graph, path: PathLike) -> str:
    """Write ``graph`` as a JSON preset, atomically (temporary file, then rename).

    Args:
        graph: the graph.
        path: destination ``.json`` file; its folder must exist.

    Returns:
        ``path`` as a string.
    """
    path = os.fspath(path)
    data = graph_to_dict(graph)
    try:
        text = json.dumps(data, indent=2, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise GraphError(
            f"the graph cannot be written as JSON (a node option is not a plain value?): {error}"
        ) from None
    return write_text_atomic(path, text + "\n")


def load_preset(path: PathLike, sample_rate: Optional[int] = None) -> Graph:
    """Read a JSON preset into a :class:`~ddsp_lab.graph.graph.Graph`.

    Args:
        path: the ``.json`` file.
        sample_rate: rebuild at this rate (Hz) instead of the preset's.

    Raises:
        FileNotFoundError: no such file.
        GraphError: not JSON, not a graph preset, an unsupported version, or
            an invalid graph (the message names the field or node).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"preset not found: {path}")
    if os.path.isdir(path):
        raise GraphError(f"{path} is a directory, not a preset file")
    try:
        with open(path, encoding="utf-8") as stream:
            data = json.load(stream)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GraphError(f"{path} is not valid JSON: {error}") from None
    try:
        return graph_from_dict(data, sample_rate=sample_rate)
    except GraphError as error:
        raise GraphError(f"{path}: {error}") from None
