"""Seeing a graph: a text summary, Graphviz DOT source, and a PNG diagram.

* :func:`summary`: nodes with their ports, parameters with physical values,
  ranges and bindings, connections, external controls (like a model summary);
* :func:`to_dot` / :func:`write_dot`: Graphviz DOT source (no graphviz
  dependency: render it with ``dot -Tpng graph.dot -o graph.png`` wherever
  Graphviz is installed);
* :func:`plot_graph`: a PNG drawn with matplotlib (layered left to right).

Audio-rate connections are solid, control-rate ones dashed, feedback
connections red.
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence

from .errors import GraphError
from ..io import write_atomic, write_text_atomic
from .graph import Graph
from .parameters import External, Learnable
from .ports import AUDIO, rate_shape
from .schedule import topological_order


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> List[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _connections_into(graph: Graph, key: str):
    return [c for c in graph.connections if c.target_key == key]


def summary(graph: Graph) -> str:
    """A multi-line text summary of ``graph``.

    Lists the sample rate and hop, the output, the external controls and
    which parameters read them, every node with its inputs and outputs, every
    parameter (kind, physical value, range and curve of learnable ones,
    binding of external ones, connections that replace or modulate it) and
    every connection with its rate.
    """
    frame_ms = 1000.0 * graph.hop_length / graph.sample_rate
    learnables = graph.learnable_parameters()
    values = sum(p.channels for p in learnables.values())
    lines = [
        f"Graph {graph.name!r}: {graph.sample_rate} Hz, hop {graph.hop_length} ({frame_ms:.3g} ms frames), "
        f"{len(graph.nodes)} nodes, {len(graph.connections)} connections, "
        f"{len(learnables)} learnable parameters ({values} values)",
    ]
    if graph.description:
        lines.append(f"  {graph.description}")
    lines.append(f"Output: {graph.output or '(not set)'}")
    controls = graph.required_controls()
    if controls:
        lines.append("External controls: " + "; ".join(f"{k} -> {', '.join(v)}" for k, v in controls.items()))
    lines += ["", "Nodes"]
    rows = [("name", "type", "inputs", "outputs")]
    for name, node in graph.nodes.items():
        inputs = ", ".join(p.describe() + (" (optional)" if p.optional else "") for p in node.input_ports().values())
        outputs = ", ".join(p.describe() for p in node.output_ports().values())
        rows.append((name, node.describe(), inputs or "-", outputs or "-"))
    lines += _table(rows)
    lines += ["", "Parameters"]
    rows = [("parameter", "kind", "value", "range / binding", "driven by")]
    for name, node in graph.nodes.items():
        specs = node.parameter_specs()
        for pname, parameter in node.node_parameters.items():
            spec = specs[pname]
            key = f"{name}.{pname}"
            driven = ", ".join(
                c.source_key + ("" if c.mode == "replace" else f" ({c.mode})") for c in _connections_into(graph, key)
            )
            if isinstance(parameter, Learnable):
                value = parameter.describe(spec.unit)
                extra = f"[{parameter.low:g}, {parameter.high:g}] {spec.unit} {parameter.curve}".replace("  ", " ")
            elif isinstance(parameter, External):
                value = "-"
                extra = parameter.describe(spec.unit)
            else:
                value = parameter.describe(spec.unit)
                extra = ""
            kind = parameter.kind + ("" if spec.rate != "note" else " (per note)")
            if any(c.mode == "replace" for c in _connections_into(graph, key)):
                value, extra = "(replaced)", ""
            rows.append((key, kind, value, extra, driven or "-"))
    if len(rows) > 1:
        lines += _table(rows)
    lines += ["", "Connections"]
    rows = [("from", "to", "rate")]
    for c in graph.connections:
        port = graph.nodes[c.source].output_ports()[c.source_port]
        feedback = " (feedback)" if graph.nodes[c.source].type_name == "Delay" and _in_cycle(graph, c.source) else ""
        to = c.target_key + ("" if c.mode == "replace" else f" ({c.mode})")
        rows.append((c.source_key, to, rate_shape(port.rate, port.channels) + feedback))
    if len(rows) > 1:
        lines += _table(rows)
    return "\n".join(lines)


def _in_cycle(graph: Graph, name: str) -> bool:
    """Whether ``name`` can reach itself through the connections."""
    seen, frontier = set(), [name]
    while frontier:
        current = frontier.pop()
        for c in graph.connections:
            if c.source == current:
                if c.target == name:
                    return True
                if c.target not in seen:
                    seen.add(c.target)
                    frontier.append(c.target)
    return False


def _escape(text: str) -> str:
    for char in "\\{}|<>\"":
        text = text.replace(char, "\\" + char)
    return text


def to_dot(graph: Graph) -> str:
    """Graphviz DOT source of ``graph`` (left to right, one record per node).

    Each node shows its connected or bound inputs on the left, its name,
    type and fixed or learnable parameter values (``*`` marks learnable
    ones) in the middle, and its outputs on the right. External controls are
    ellipses; the graph output is a double circle.
    """
    lines = [
        f"digraph {_quote(graph.name)} {{",
        "  rankdir=LR;",
        '  node [shape=record, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    bound: Dict[str, List[str]] = {}
    for name, node in graph.nodes.items():
        specs = node.parameter_specs()
        connected = {c.target_port for c in graph.connections if c.target == name}
        inputs = list(node.input_ports())
        details = []
        for pname, parameter in node.node_parameters.items():
            if pname in connected or isinstance(parameter, External):
                inputs.append(pname)
            if isinstance(parameter, External):
                bound.setdefault(parameter.control, []).append(f"{name}:i_{pname}")
            elif pname not in connected or any(
                c.mode != "replace" for c in graph.connections if c.target == name and c.target_port == pname
            ):
                mark = "*" if isinstance(parameter, Learnable) else ""
                details.append(f"{pname}{mark} = {parameter.describe(specs[pname].unit)}")
        left = "|".join(f"<i_{p}> {_escape(p)}" for p in inputs) or " "
        middle = "\\n".join(_escape(t) for t in [name, node.type_name] + details)
        right = "|".join(f"<o_{p}> {_escape(p)}" for p in node.output_ports()) or " "
        lines.append(f'  {_quote(name)} [label="{{{{{left}}}|{{{middle}}}|{{{right}}}}}"];')
    for control, targets in bound.items():
        control_id = _quote("control:" + control)
        lines.append(f'  {control_id} [shape=ellipse, label={_quote(control)}, style=dashed];')
        for target in targets:
            node_name, port = target.split(":")
            lines.append(f"  {control_id} -> {_quote(node_name)}:{port} [style=dashed];")
    for c in graph.connections:
        port = graph.nodes[c.source].output_ports()[c.source_port]
        attributes = []
        if port.rate != AUDIO:
            attributes.append("style=dashed")
        if c.mode != "replace":
            attributes.append(f'label="{"+" if c.mode == "add" else "x"}"')
        if graph.nodes[c.source].type_name == "Delay" and _in_cycle(graph, c.source):
            attributes.append("color=firebrick")
        suffix = f" [{', '.join(attributes)}]" if attributes else ""
        lines.append(f"  {_quote(c.source)}:o_{c.source_port} -> {_quote(c.target)}:i_{c.target_port}{suffix};")
    if graph.output is not None:
        node_name, port = graph.output.split(".")
        lines.append('  "output" [shape=doublecircle, label="out"];')
        lines.append(f'  {_quote(node_name)}:o_{port} -> "output";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_dot(graph: Graph, path) -> str:
    """Write :func:`to_dot` to ``path`` atomically; returns the path."""
    return write_text_atomic(path, to_dot(graph))


BACK_EDGE_BEND = 0.2


def _back_edges(graph: Graph) -> set:
    """Connections that close cycles in a depth-first walk from the sources (drawn right to left)."""
    names = list(graph.nodes)
    following = {name: [c for c in graph.connections if c.source == name] for name in names}
    has_input = {c.target for c in graph.connections}
    state = {name: 0 for name in names}
    back = set()
    for root in [n for n in names if n not in has_input] + names:
        if state[root]:
            continue
        stack = [(root, iter(following[root]))]
        state[root] = 1
        while stack:
            name, edges = stack[-1]
            connection = next(edges, None)
            if connection is None:
                state[name] = 2
                stack.pop()
            elif state[connection.target] == 1:
                back.add(connection)
            elif state[connection.target] == 0:
                state[connection.target] = 1
                stack.append((connection.target, iter(following[connection.target])))
    return back


def _layers(graph: Graph, back: set) -> Dict[str, int]:
    """Column of every node once the back edges are removed: as late as its consumers allow."""
    names = list(graph.nodes)
    edges = [(c.source, c.target) for c in graph.connections if c not in back]
    order = topological_order(names, edges)
    layer = {name: 0 for name in names}
    for name in order:
        for source, target in edges:
            if source == name:
                layer[target] = max(layer[target], layer[name] + 1)
    # Then every node moves right up to the column before its first consumer,
    # so a modulator sits next to what it modulates.
    for name in reversed(order):
        consumers = [layer[target] for source, target in edges if source == name]
        if consumers:
            layer[name] = min(consumers) - 1
    return layer


def plot_graph(graph: Graph, path, title: str = "") -> str:
    """Draw ``graph`` as a PNG with matplotlib: one box per node, arrows for connections.

    Nodes are placed in columns by their depth in the graph; nodes with
    learnable parameters are shaded orange. Audio
    connections are solid, control-rate ones dashed, the connections that
    close feedback cycles red (drawn back to the left);
    ``+`` and ``x`` mark ``"add"`` and ``"multiply"`` modulation.

    Returns:
        ``path``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if not len(graph.nodes):
        raise GraphError("the graph has no nodes to draw")
    back = _back_edges(graph)
    layer = _layers(graph, back)
    columns: Dict[int, List[str]] = {}
    for name in graph.nodes:
        columns.setdefault(layer[name], []).append(name)
    height = max(len(v) for v in columns.values())
    position = {}
    # Right to left, each column is ordered by the mean height of the nodes
    # it feeds (fewer crossing arrows) and centred vertically.
    for column in sorted(columns, reverse=True):
        names = columns[column]

        def fed_height(name, names=names):
            heights = [position[c.target][1] for c in graph.connections
                       if c.source == name and c not in back and c.target in position]
            return sum(heights) / len(heights) if heights else -names.index(name) - height

        names = sorted(names, key=fed_height, reverse=True)
        for row, name in enumerate(names):
            position[name] = (column * 3.2, (len(names) - 1) / 2.0 - row)
    fig, ax = plt.subplots(figsize=(2.4 + 2.6 * len(columns), 1.4 + 1.3 * height + (1.0 if back else 0.0)))
    box_w, box_h = 2.3, 0.8
    for name, node in graph.nodes.items():
        x, y = position[name]
        learn = any(isinstance(p, Learnable) for p in node.node_parameters.values())
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h, boxstyle="round,pad=0.05",
                                    facecolor="#fde9c8" if learn else "#e8eef7", edgecolor="#445"))
        ax.text(x, y + 0.13, name, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(x, y - 0.17, node.type_name, ha="center", va="center", fontsize=8, color="#333")
    for c in graph.connections:
        (x0, y0), (x1, y1) = position[c.source], position[c.target]
        port = graph.nodes[c.source].output_ports()[c.source_port]
        feedback = c in back
        start = (x0 + box_w / 2, y0) if not feedback else (x0, y0 - box_h / 2)
        end = (x1 - box_w / 2, y1) if not feedback else (x1, y1 - box_h / 2)
        arrow = FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                linestyle="--" if port.rate != AUDIO else "-",
                                color="firebrick" if feedback else "#333",
                                connectionstyle=f"arc3,rad={-BACK_EDGE_BEND if feedback else 0.0}")
        ax.add_patch(arrow)
        label = c.target_port + {"replace": "", "add": " (+)", "multiply": " (x)"}[c.mode]
        # Labels sit near the arrow heads, next to the port they name.
        if feedback:
            ax.text(end[0] + 0.2, end[1] - 0.3, label, ha="left", fontsize=7, color="firebrick")
        else:
            ax.text(0.25 * start[0] + 0.75 * end[0], 0.25 * start[1] + 0.75 * end[1] + 0.1, label,
                    ha="center", fontsize=7, color="#555")
    xs = [p[0] for p in position.values()]
    ys = [p[1] for p in position.values()]
    # A bent arrow of span d sags by bend * d / 2 below its ends.
    sag = max([BACK_EDGE_BEND * abs(position[c.source][0] - position[c.target][0]) / 2 for c in back], default=0.0)
    ax.set_xlim(min(xs) - box_w, max(xs) + box_w)
    ax.set_ylim(min(ys) - box_h / 2 - sag - 0.4, max(ys) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{graph.name} (output: {graph.output})", fontsize=10)
    fig.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        write_atomic(path, lambda temporary: fig.savefig(temporary, dpi=90, format="png"))
    finally:
        plt.close(fig)
    return path
