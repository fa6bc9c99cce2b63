"""The 32 DX7 algorithms as routing tables.

An algorithm says which operators modulate which, which ones are carriers
(summed into the voice output) and which operator carries the feedback loop.
Operators are numbered OP1..OP6 as on the DX7 panel. In the tensors returned
here, index ``i`` is operator ``OP(i + 1)``: row/column 0 is OP1, 5 is OP6
(the sysex data stores OP6 first, the tensors do not).

Every modulation edge goes from a higher-numbered to a lower-numbered
operator, so evaluating the operators in the order OP6, OP5, ..., OP1 computes
every modulator before the operator it modulates: all modulation is
same-sample, except feedback, which uses the operator's previous outputs.
Several modulators of one operator add their outputs (phase offsets).

The table reproduces the routing of Dexed's msfa engine (``FmCore::algorithms``
in ``fm_core.cc``), including its per-operator flag bytes, and agrees with the
independent table of mmontag/dx7-synth-js for all 32 algorithms.

**Feedback in algorithms 4 and 6.** On the original DX7 (and Dexed's "Mark I"
engine) the feedback loop of algorithm 4 runs through three operators (OP4's
output is fed back into OP6, which modulates OP5, which modulates OP4), and
that of algorithm 6 through two (OP5's output fed back into OP6). The msfa
"modern" engine approximates both with OP6 self-feedback.
:attr:`Algorithm.feedback_operator` is the msfa self-feedback operator (OP6 in
both cases); :attr:`Algorithm.feedback_loop_from` names the operator whose
output closes the longer DX7 loop (4 and 5 respectively, ``None`` elsewhere).
The Mark I engine also feeds these two loops, and OP6 of algorithm 32, back
four times more weakly than ordinary self-feedback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch

NUM_OPERATORS = 6
NUM_ALGORITHMS = 32

# Flag-byte bits of msfa's FmOperatorFlags: where an operator reads its
# modulation from and where it writes its output, in the engine's two-bus
# evaluation scheme.
FLAG_OUT_BUS_ONE = 0x01
FLAG_OUT_BUS_TWO = 0x02
FLAG_OUT_BUS_ADD = 0x04
FLAG_IN_BUS_ONE = 0x10
FLAG_IN_BUS_TWO = 0x20
FLAG_FEEDBACK_IN = 0x40
FLAG_FEEDBACK_OUT = 0x80


@dataclass(frozen=True)
class Algorithm:
    """Routing of one DX7 algorithm.

    Attributes:
        number: algorithm number as shown on the DX7, 1..32.
        carriers: operator numbers (1..6) summed into the voice output,
            ascending.
        edges: modulation edges ``(source, destination)`` as operator numbers;
            the source's output is added to the destination's phase.
        feedback_operator: operator (1..6) with self-feedback in the msfa
            engine; the voice's feedback parameter (0..7) sets its amount.
        feedback_loop_from: for algorithms 4 and 6, the operator whose output
            the original DX7 feeds back into OP6 (4 resp. 5); ``None`` for the
            others. See the module docstring.
        flags: msfa flag bytes in the engine's processing order OP6..OP1
            (bits 0-1 output bus, 0 = voice output; bit 2 add to the bus
            instead of overwriting it; bits 4-5 input bus, 0 = none; bit 6
            feedback input; bit 7 feedback output).
    """

    number: int
    carriers: Tuple[int, ...]
    edges: Tuple[Tuple[int, int], ...]
    feedback_operator: int
    feedback_loop_from: Optional[int]
    flags: Tuple[int, ...]

    def modulators_of(self, operator: int) -> Tuple[int, ...]:
        """Operator numbers that modulate ``operator`` (1..6), ascending."""
        _check_operator(operator)
        return tuple(sorted(src for src, dst in self.edges if dst == operator))

    def is_carrier(self, operator: int) -> bool:
        """Whether ``operator`` (1..6) is summed into the voice output."""
        _check_operator(operator)
        return operator in self.carriers


def _build(number, carriers, edges, feedback_operator, flags, feedback_loop_from=None):
    return Algorithm(
        number=number,
        carriers=tuple(carriers),
        edges=tuple(edges),
        feedback_operator=feedback_operator,
        feedback_loop_from=feedback_loop_from,
        flags=tuple(flags),
    )


# (carriers, edges (src, dst), feedback operator, flag bytes OP6..OP1)
ALGORITHMS: Tuple[Algorithm, ...] = (
    _build(1, (1, 3), ((6, 5), (5, 4), (4, 3), (2, 1)), 6, (0xC1, 0x11, 0x11, 0x14, 0x01, 0x14)),
    _build(2, (1, 3), ((6, 5), (5, 4), (4, 3), (2, 1)), 2, (0x01, 0x11, 0x11, 0x14, 0xC1, 0x14)),
    _build(3, (1, 4), ((6, 5), (5, 4), (3, 2), (2, 1)), 6, (0xC1, 0x11, 0x14, 0x01, 0x11, 0x14)),
    _build(4, (1, 4), ((6, 5), (5, 4), (3, 2), (2, 1)), 6, (0xC1, 0x11, 0x94, 0x01, 0x11, 0x14), 4),
    _build(5, (1, 3, 5), ((6, 5), (4, 3), (2, 1)), 6, (0xC1, 0x14, 0x01, 0x14, 0x01, 0x14)),
    _build(6, (1, 3, 5), ((6, 5), (4, 3), (2, 1)), 6, (0xC1, 0x94, 0x01, 0x14, 0x01, 0x14), 5),
    _build(7, (1, 3), ((6, 5), (4, 3), (5, 3), (2, 1)), 6, (0xC1, 0x11, 0x05, 0x14, 0x01, 0x14)),
    _build(8, (1, 3), ((6, 5), (4, 3), (5, 3), (2, 1)), 4, (0x01, 0x11, 0xC5, 0x14, 0x01, 0x14)),
    _build(9, (1, 3), ((6, 5), (4, 3), (5, 3), (2, 1)), 2, (0x01, 0x11, 0x05, 0x14, 0xC1, 0x14)),
    _build(10, (1, 4), ((5, 4), (6, 4), (3, 2), (2, 1)), 3, (0x01, 0x05, 0x14, 0xC1, 0x11, 0x14)),
    _build(11, (1, 4), ((5, 4), (6, 4), (3, 2), (2, 1)), 6, (0xC1, 0x05, 0x14, 0x01, 0x11, 0x14)),
    _build(12, (1, 3), ((4, 3), (5, 3), (6, 3), (2, 1)), 2, (0x01, 0x05, 0x05, 0x14, 0xC1, 0x14)),
    _build(13, (1, 3), ((4, 3), (5, 3), (6, 3), (2, 1)), 6, (0xC1, 0x05, 0x05, 0x14, 0x01, 0x14)),
    _build(14, (1, 3), ((5, 4), (6, 4), (4, 3), (2, 1)), 6, (0xC1, 0x05, 0x11, 0x14, 0x01, 0x14)),
    _build(15, (1, 3), ((5, 4), (6, 4), (4, 3), (2, 1)), 2, (0x01, 0x05, 0x11, 0x14, 0xC1, 0x14)),
    _build(16, (1,), ((6, 5), (4, 3), (2, 1), (3, 1), (5, 1)), 6, (0xC1, 0x11, 0x02, 0x25, 0x05, 0x14)),
    _build(17, (1,), ((6, 5), (4, 3), (2, 1), (3, 1), (5, 1)), 2, (0x01, 0x11, 0x02, 0x25, 0xC5, 0x14)),
    _build(18, (1,), ((6, 5), (5, 4), (2, 1), (3, 1), (4, 1)), 3, (0x01, 0x11, 0x11, 0xC5, 0x05, 0x14)),
    _build(19, (1, 4, 5), ((6, 5), (6, 4), (3, 2), (2, 1)), 6, (0xC1, 0x14, 0x14, 0x01, 0x11, 0x14)),
    _build(20, (1, 2, 4), ((5, 4), (6, 4), (3, 2), (3, 1)), 3, (0x01, 0x05, 0x14, 0xC1, 0x14, 0x14)),
    _build(21, (1, 2, 4, 5), ((6, 5), (6, 4), (3, 2), (3, 1)), 3, (0x01, 0x14, 0x14, 0xC1, 0x14, 0x14)),
    _build(22, (1, 3, 4, 5), ((6, 5), (6, 4), (6, 3), (2, 1)), 6, (0xC1, 0x14, 0x14, 0x14, 0x01, 0x14)),
    _build(23, (1, 2, 4, 5), ((6, 5), (6, 4), (3, 2)), 6, (0xC1, 0x14, 0x14, 0x01, 0x14, 0x04)),
    _build(24, (1, 2, 3, 4, 5), ((6, 5), (6, 4), (6, 3)), 6, (0xC1, 0x14, 0x14, 0x14, 0x04, 0x04)),
    _build(25, (1, 2, 3, 4, 5), ((6, 5), (6, 4)), 6, (0xC1, 0x14, 0x14, 0x04, 0x04, 0x04)),
    _build(26, (1, 2, 4), ((5, 4), (6, 4), (3, 2)), 6, (0xC1, 0x05, 0x14, 0x01, 0x14, 0x04)),
    _build(27, (1, 2, 4), ((5, 4), (6, 4), (3, 2)), 3, (0x01, 0x05, 0x14, 0xC1, 0x14, 0x04)),
    _build(28, (1, 3, 6), ((5, 4), (4, 3), (2, 1)), 5, (0x04, 0xC1, 0x11, 0x14, 0x01, 0x14)),
    _build(29, (1, 2, 3, 5), ((6, 5), (4, 3)), 6, (0xC1, 0x14, 0x01, 0x14, 0x04, 0x04)),
    _build(30, (1, 2, 3, 6), ((5, 4), (4, 3)), 5, (0x04, 0xC1, 0x11, 0x14, 0x04, 0x04)),
    _build(31, (1, 2, 3, 4, 5), ((6, 5),), 6, (0xC1, 0x14, 0x04, 0x04, 0x04, 0x04)),
    _build(32, (1, 2, 3, 4, 5, 6), (), 6, (0xC4, 0x04, 0x04, 0x04, 0x04, 0x04)),
)


def _check_operator(operator) -> None:
    if isinstance(operator, bool) or not isinstance(operator, int):
        raise TypeError(f"operator must be an int 1..6, got {type(operator).__name__}")
    if not 1 <= operator <= NUM_OPERATORS:
        raise ValueError(f"operator must be 1..6 (OP1..OP6), got {operator}")


def get_algorithm(number: int) -> Algorithm:
    """The routing of DX7 algorithm ``number`` (1..32, as shown on the DX7).

    Note that the voice data stores the algorithm as 0..31; :class:`Voice`
    already converts it to 1..32.

    Raises:
        TypeError: ``number`` is not an int.
        ValueError: ``number`` is outside 1..32.
    """
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"number must be an int 1..32, got {type(number).__name__}")
    if not 1 <= number <= NUM_ALGORITHMS:
        raise ValueError(f"number must be an algorithm number 1..32, got {number}")
    return ALGORITHMS[number - 1]


def modulation_matrix(
    number: int, dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """Modulation matrix of algorithm ``number`` (1..32).

    Returns:
        ``[6, 6]`` tensor ``M`` with ``M[dst, src] = 1`` when operator
        ``OP(src + 1)`` modulates ``OP(dst + 1)``, else 0 (index 0 is OP1).
        The phase offset of every operator is then ``M @ outputs`` for
        operator outputs stacked OP1..OP6. Feedback is not part of ``M``
        (see :func:`feedback_mask`). ``M`` is strictly upper triangular:
        modulators always have higher numbers.
    """
    algorithm = get_algorithm(number)
    matrix = torch.zeros(NUM_OPERATORS, NUM_OPERATORS, dtype=dtype, device=device)
    for src, dst in algorithm.edges:
        matrix[dst - 1, src - 1] = 1
    return matrix


def carrier_mask(
    number: int, dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """``[6]`` tensor, 1 for the carriers of algorithm ``number`` (index 0 is OP1).

    Carriers are summed without normalisation by their count, as in Dexed.
    """
    algorithm = get_algorithm(number)
    mask = torch.zeros(NUM_OPERATORS, dtype=dtype, device=device)
    for op in algorithm.carriers:
        mask[op - 1] = 1
    return mask


def feedback_mask(
    number: int, dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """``[6]`` one-hot tensor marking the self-feedback operator (index 0 is OP1)."""
    algorithm = get_algorithm(number)
    mask = torch.zeros(NUM_OPERATORS, dtype=dtype, device=device)
    mask[algorithm.feedback_operator - 1] = 1
    return mask


def all_modulation_matrices(
    dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """``[32, 6, 6]``: :func:`modulation_matrix` of algorithms 1..32 stacked.

    Handy for batched rendering or for a soft (differentiable) choice of
    algorithm as a weighted sum of these matrices.
    """
    return torch.stack([modulation_matrix(n, dtype, device) for n in range(1, NUM_ALGORITHMS + 1)])


def all_carrier_masks(
    dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """``[32, 6]``: :func:`carrier_mask` of algorithms 1..32 stacked."""
    return torch.stack([carrier_mask(n, dtype, device) for n in range(1, NUM_ALGORITHMS + 1)])


def all_feedback_masks(
    dtype: torch.dtype = torch.float32, device: Optional[torch.device] = None
) -> torch.Tensor:
    """``[32, 6]``: :func:`feedback_mask` of algorithms 1..32 stacked."""
    return torch.stack([feedback_mask(n, dtype, device) for n in range(1, NUM_ALGORITHMS + 1)])
