"""Adapter node for the six-operator DX7-style FM synthesiser (:class:`ddsp_lab.units.FMSynth`)."""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence

from ...dx7.algorithms import NUM_OPERATORS
from ..errors import GraphError
from ..node import Node, register_node
from ..parameters import ParameterSpec
from ..ports import NOTE
from .sources import _f0_spec

#: Largest DX7 feedback setting.
MAX_FEEDBACK = 7.0


def _is_number(value, minimum: float) -> bool:
    """A finite int or float ``>= minimum`` (bool excluded)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= minimum


@register_node
class FMSynth(Node):
    """Six DX7-style operators with an algorithm's routing and self-feedback.

    Wraps :class:`ddsp_lab.units.FMSynth` (see it for the modulation
    convention: a modulator of level ``g`` has a peak index of ``2*pi*g``
    rad; the DX7's full scale is ``g = 2``). The routing and the frequency
    ratios are fixed per patch, as in DDX7; the operator levels (over time)
    and the feedback are parameters, so they can be learnable, bound to a
    network's outputs, or driven by envelopes (connect an ADSR to ``levels``
    with ``mode="multiply"``: a one-channel envelope scales every operator).
    For single operators wired by hand, see :class:`SineOperator`.

    Args:
        algorithm: DX7 algorithm 1..32.
        ratios: six frequency ratios to ``f0``, ``> 0``.
        fixed_frequencies_hz: optional six entries, ``None`` or a fixed
            frequency in Hz per operator.
        output_gain: factor on the sum of the carriers.
        f0_hz: Hz ``>= 0`` (default: control ``"f0_hz"``).
        levels: ``[6]`` operator levels ``>= 0`` (default: operator 1 at 1,
            the others silent).
        feedback: DX7 feedback setting in ``[0, 7]``, per note (default 0).

    Ports:
        out: audio.
    """

    def __init__(
        self,
        algorithm: int = 1,
        ratios: Sequence[float] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0),
        fixed_frequencies_hz: Optional[Sequence[Optional[float]]] = None,
        output_gain: float = 1.0,
        f0_hz=None,
        levels=None,
        feedback=None,
    ):
        if isinstance(algorithm, bool) or not isinstance(algorithm, int) or not 1 <= algorithm <= 32:
            raise GraphError(f"algorithm must be a DX7 algorithm number 1..32, got {algorithm!r}")
        ratios = list(ratios)
        if len(ratios) != NUM_OPERATORS or any(
            isinstance(r, bool) or not isinstance(r, (int, float)) or not (math.isfinite(r) and r > 0) for r in ratios
        ):
            raise GraphError(f"ratios must be {NUM_OPERATORS} positive numbers, got {ratios!r}")
        if fixed_frequencies_hz is not None:
            fixed_frequencies_hz = list(fixed_frequencies_hz)
            if len(fixed_frequencies_hz) != NUM_OPERATORS or any(
                f is not None and not _is_number(f, minimum=0.0) for f in fixed_frequencies_hz
            ):
                raise GraphError(
                    f"fixed_frequencies_hz must be {NUM_OPERATORS} entries, each None or Hz >= 0, "
                    f"got {fixed_frequencies_hz!r}"
                )
        if isinstance(output_gain, bool) or not isinstance(output_gain, (int, float)) or not (
            math.isfinite(output_gain) and output_gain >= 0
        ):
            raise GraphError(f"output_gain must be a number >= 0, got {output_gain!r}")
        super().__init__(
            {"algorithm": algorithm, "ratios": [float(r) for r in ratios],
             "fixed_frequencies_hz": fixed_frequencies_hz, "output_gain": float(output_gain)},
            {"f0_hz": f0_hz, "levels": levels, "feedback": feedback},
        )

    def parameter_specs(self) -> Dict[str, ParameterSpec]:
        return {
            "f0_hz": _f0_spec(),
            "levels": ParameterSpec("levels", channels=NUM_OPERATORS, minimum=0.0,
                                    default=[1.0] + [0.0] * (NUM_OPERATORS - 1),
                                    description="operator levels (index 2*pi*level rad as a modulator)"),
            "feedback": ParameterSpec("feedback", NOTE, minimum=0.0, maximum=MAX_FEEDBACK, default=0.0,
                                      description="DX7 feedback setting"),
        }

    def _build(self):
        # Imported here so that the graph layer loads even where the FM unit is absent.
        from ...units.fm import FMSynth as FMSynthUnit

        self.unit = FMSynthUnit(
            self.sample_rate, self.hop_length, algorithm=self.options["algorithm"], ratios=self.options["ratios"],
            fixed_frequencies_hz=self.options["fixed_frequencies_hz"], output_gain=self.options["output_gain"],
        )

    def render(self, inputs, params, context):
        feedback = params["feedback"][:, 0, 0]
        return {"out": self.unit.get_signal(params["f0_hz"], params["levels"], feedback=feedback)}


__all__ = ["FMSynth"]
