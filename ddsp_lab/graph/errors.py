"""The error raised for an invalid synth graph or preset.

``GraphError`` is a ``ValueError``, so code that already catches bad input
(``except ValueError``) catches graph errors too; its message names the node,
port, connection or preset field at fault and says what was expected.
"""

from __future__ import annotations


class GraphError(ValueError):
    """An invalid graph, connection, control or preset (a ``ValueError``)."""
