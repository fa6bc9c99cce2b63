"""Ports: the named, typed inputs and outputs of graph nodes.

Three rates exist:

* ``"audio"``: ``[B, T]`` signals, ``T = F * hop_length`` samples;
* ``"control"``: ``[B, F, C]`` frame-rate controls (frame ``n`` is the value
  at sample ``n * hop_length``, as everywhere in ddsp_lab);
* ``"note"``: ``[B, 1, C]``, one value per note (per batch item), for
  parameters that a unit generator takes once per note (envelope times,
  string decay, reverb size).

A connection needs equal rates, with one exception: a note-rate value may
drive a control-rate port (a constant is a valid control). Audio and control
rates never mix implicitly; ``nodes.ToAudioRate`` and ``nodes.ToControlRate``
convert on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from .errors import GraphError

AUDIO = "audio"
CONTROL = "control"
NOTE = "note"
RATES: Tuple[str, ...] = (AUDIO, CONTROL, NOTE)


def check_rate(rate, name: str = "rate", allowed: Tuple[str, ...] = RATES) -> str:
    """Return ``rate`` if it is one of ``allowed``, else raise a ``GraphError`` naming ``name``."""
    if rate not in allowed:
        raise GraphError(f"{name} must be one of {allowed}, got {rate!r}")
    return rate


def rate_shape(rate: str, channels: Optional[int] = 1) -> str:
    """Human-readable tensor layout of a rate, e.g. ``"control [B, F, 3]"``."""
    if rate == AUDIO:
        return "audio [B, T]"
    size = "C" if channels is None else str(channels)
    if rate == CONTROL:
        return f"control [B, F, {size}]"
    return f"note [B, 1, {size}]"


def rates_compatible(source_rate: str, target_rate: str) -> bool:
    """Whether a ``source_rate`` output may drive a ``target_rate`` port."""
    return source_rate == target_rate or (source_rate == NOTE and target_rate == CONTROL)


@dataclass(frozen=True)
class Port:
    """A named input or output of a node.

    Attributes:
        name: port name, unique among the node's inputs (or outputs).
        rate: ``"audio"``, ``"control"`` or ``"note"``.
        channels: ``C`` of a control or note port (1 for audio).
        optional: an input that may stay unconnected.
        description: what the signal means, with its unit.
    """

    name: str
    rate: str
    channels: int = 1
    optional: bool = False
    description: str = ""

    def describe(self) -> str:
        """``"name: control [B, F, 1]"`` style description."""
        return f"{self.name}: {rate_shape(self.rate, self.channels)}"


def split_endpoint(text, what: str) -> Tuple[str, Optional[str]]:
    """Split ``"node.port"`` (or ``"node"``) into ``(node, port or None)``.

    Args:
        text: endpoint string.
        what: ``"source"`` or ``"target"``, used in error messages.
    """
    if not isinstance(text, str) or not text or text.count(".") > 1:
        raise GraphError(f"{what} must be a string 'node' or 'node.port', got {text!r}")
    node, _, port = text.partition(".")
    if not node or (port == "" and "." in text):
        raise GraphError(f"{what} must be a string 'node' or 'node.port', got {text!r}")
    return node, (port or None)
