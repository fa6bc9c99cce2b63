"""Render order of a graph: topological sort, cycle detection and feedback groups.

Pure functions over node names and directed edges (``source -> target``
between nodes); they know nothing of tensors. A cycle is legal only when it
passes through a delay node: with the edges leaving delay nodes removed the
graph must be acyclic. Each strongly connected component that contains a
cycle becomes a *feedback group*, rendered block by block; every other node
renders in one call over the whole signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

Edge = Tuple[str, str]


@dataclass
class Step:
    """One step of a render plan.

    Attributes:
        nodes: one node, or the nodes of a feedback group in their order
            within a block (delay nodes first).
        feedback: whether this step is a feedback group.
    """

    nodes: List[str]
    feedback: bool = False
    delays: List[str] = field(default_factory=list)


def _successors(nodes: Sequence[str], edges: Iterable[Edge]) -> Dict[str, List[str]]:
    following: Dict[str, List[str]] = {name: [] for name in nodes}
    for source, target in edges:
        if target not in following[source]:
            following[source].append(target)
    return following


def find_cycle(nodes: Sequence[str], edges: Iterable[Edge]) -> Optional[List[str]]:
    """A cycle as a node path ``[a, b, ..., a]``, or ``None`` if the graph is acyclic."""
    following = _successors(nodes, edges)
    state: Dict[str, int] = {name: 0 for name in nodes}  # 0 new, 1 on the stack, 2 done
    for root in nodes:
        if state[root]:
            continue
        stack: List[Tuple[str, int]] = [(root, 0)]
        path: List[str] = []
        while stack:
            name, index = stack.pop()
            if index == 0:
                state[name] = 1
                path.append(name)
            if index < len(following[name]):
                stack.append((name, index + 1))
                nxt = following[name][index]
                if state[nxt] == 1:
                    return path[path.index(nxt):] + [nxt]
                if state[nxt] == 0:
                    stack.append((nxt, 0))
            else:
                state[name] = 2
                path.pop()
    return None


def topological_order(nodes: Sequence[str], edges: Iterable[Edge]) -> List[str]:
    """Nodes ordered so that every edge points forward; ties keep the given order.

    The edges must form an acyclic graph over ``nodes`` (edges touching other
    names are ignored).
    """
    members = set(nodes)
    edges = [(s, t) for s, t in edges if s in members and t in members]
    following = _successors(nodes, edges)
    indegree = {name: 0 for name in nodes}
    for targets in following.values():
        for target in targets:
            indegree[target] += 1
    rank = {name: i for i, name in enumerate(nodes)}
    ready = sorted((name for name in nodes if indegree[name] == 0), key=rank.get)
    order: List[str] = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for target in following[name]:
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
                ready.sort(key=rank.get)
    if len(order) != len(nodes):
        raise ValueError("topological_order needs an acyclic graph")
    return order


def strongly_connected_components(nodes: Sequence[str], edges: Iterable[Edge]) -> List[Set[str]]:
    """Tarjan's strongly connected components (iterative), in no particular order."""
    following = _successors(nodes, edges)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    components: List[Set[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: List[Tuple[str, int]] = [(root, 0)]
        while work:
            name, child = work.pop()
            if child == 0:
                index[name] = low[name] = counter
                counter += 1
                stack.append(name)
                on_stack.add(name)
            if child < len(following[name]):
                work.append((name, child + 1))
                nxt = following[name][child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[name] = min(low[name], index[nxt])
                continue
            if low[name] == index[name]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == name:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return components


def plan(nodes: Sequence[str], edges: Sequence[Edge], delay_nodes: Set[str]) -> List[Step]:
    """The render plan: nodes in dependency order, feedback groups as single steps.

    Args:
        nodes: node names in insertion order (ties keep this order).
        edges: ``(source, target)`` node pairs, one per connection.
        delay_nodes: names of delay nodes (their outgoing edges may close cycles).

    Raises:
        ValueError: a cycle that passes through no delay node (the message
            names the cycle).
    """
    instantaneous = [(s, t) for s, t in edges if s not in delay_nodes]
    cycle = find_cycle(nodes, instantaneous)
    if cycle is not None:
        raise ValueError(" -> ".join(cycle))
    components = strongly_connected_components(nodes, edges)
    group_of = {name: i for i, component in enumerate(components) for name in component}
    rank = {name: i for i, name in enumerate(nodes)}
    # Order the components by a topological sort of the condensed graph,
    # each represented by its earliest-inserted member.
    representative = [min(component, key=rank.get) for component in components]
    condensed = {(representative[group_of[s]], representative[group_of[t]]) for s, t in edges
                 if group_of[s] != group_of[t]}
    ordered = topological_order(sorted(representative, key=rank.get), sorted(condensed))
    steps: List[Step] = []
    for head in ordered:
        component = components[group_of[head]]
        members = sorted(component, key=rank.get)
        self_loop = any(s == t == head for s, t in edges)
        if len(members) == 1 and not self_loop:
            steps.append(Step(members))
            continue
        inner = [(s, t) for s, t in instantaneous if s in component and t in component]
        order = topological_order(members, inner)
        delays = [name for name in order if name in delay_nodes]
        steps.append(Step([name for name in order if name not in delay_nodes], feedback=True, delays=delays))
    return steps
