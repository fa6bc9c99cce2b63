"""The 32 DX7 algorithms: table against the reference routing, flag bytes, tensors."""

import json
from pathlib import Path

import pytest
import torch

from ddsp_lab.dx7 import (
    ALGORITHMS,
    all_carrier_masks,
    all_feedback_masks,
    all_modulation_matrices,
    carrier_mask,
    feedback_mask,
    get_algorithm,
    modulation_matrix,
)
from ddsp_lab.dx7.algorithms import (
    FLAG_FEEDBACK_IN,
    FLAG_FEEDBACK_OUT,
    FLAG_IN_BUS_ONE,
    FLAG_IN_BUS_TWO,
    FLAG_OUT_BUS_ADD,
    FLAG_OUT_BUS_ONE,
    FLAG_OUT_BUS_TWO,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "dx7" / "algorithms.json"


def _decode_flags(flags):
    """Run the engine's two-bus scheme over flag bytes OP6..OP1.

    Returns (carriers, edges, self-feedback operator, DX7 loop source): an
    evaluation independent of the hand-written edge lists.
    """
    buses = {1: set(), 2: set()}
    carriers, edges = set(), set()
    feedback_op = loop_from = None
    for op, flag in zip(range(6, 0, -1), flags):
        in_bus = (1 if flag & FLAG_IN_BUS_ONE else 0) + (2 if flag & FLAG_IN_BUS_TWO else 0)
        out_bus = (1 if flag & FLAG_OUT_BUS_ONE else 0) + (2 if flag & FLAG_OUT_BUS_TWO else 0)
        if in_bus:
            edges |= {(src, op) for src in buses[in_bus]}
        if flag & FLAG_FEEDBACK_IN and flag & FLAG_FEEDBACK_OUT:
            feedback_op = op
        elif flag & FLAG_FEEDBACK_OUT:
            loop_from = op
        if out_bus == 0:
            carriers.add(op)
        elif flag & FLAG_OUT_BUS_ADD:
            buses[out_bus] = buses[out_bus] | {op}
        else:
            buses[out_bus] = {op}
    return carriers, edges, feedback_op, loop_from


def test_table_matches_reference_routing():
    if not REFERENCE.is_file():
        pytest.skip(f"{REFERENCE} not available")
    reference = json.loads(REFERENCE.read_text())
    assert [entry["algorithm"] for entry in reference] == list(range(1, 33))
    for entry in reference:
        alg = get_algorithm(entry["algorithm"])
        label = f"algorithm {alg.number}"
        assert list(alg.carriers) == entry["carriers"], label
        for dst in range(1, 7):
            assert sorted(alg.modulators_of(dst)) == sorted(entry["modulators"][str(dst)]), f"{label} OP{dst}"
        assert alg.feedback_operator == entry["feedback_op"], label
        assert alg.feedback_loop_from == entry["mmontag_feedback_loop_from"], label
        # The reference also lists the engine steps (OP6 first): compare with the flag bytes.
        for step, flag in zip(entry["steps"], alg.flags):
            in_bus = (1 if flag & FLAG_IN_BUS_ONE else 0) + (2 if flag & FLAG_IN_BUS_TWO else 0)
            out_bus = (1 if flag & FLAG_OUT_BUS_ONE else 0) + (2 if flag & FLAG_OUT_BUS_TWO else 0)
            assert step["inbus"] == in_bus and step["outbus"] == out_bus, f"{label} OP{step['op']}"
            assert step["add"] == bool(flag & FLAG_OUT_BUS_ADD), f"{label} OP{step['op']}"
            assert step["fb"] == bool(flag & FLAG_FEEDBACK_IN), f"{label} OP{step['op']}"


def test_flag_bytes_reproduce_the_edge_lists():
    for alg in ALGORITHMS:
        carriers, edges, feedback_op, loop_from = _decode_flags(alg.flags)
        assert carriers == set(alg.carriers), alg.number
        assert edges == set(alg.edges), alg.number
        assert len(edges) == len(alg.edges), alg.number  # no duplicate edges in the table
        assert feedback_op == alg.feedback_operator, alg.number
        assert loop_from == alg.feedback_loop_from, alg.number


def test_structural_invariants():
    assert [alg.number for alg in ALGORITHMS] == list(range(1, 33))
    for alg in ALGORITHMS:
        sources = {src for src, _ in alg.edges}
        # Every operator either sounds or modulates, never both, never neither.
        assert sources.isdisjoint(alg.carriers), alg.number
        assert sources | set(alg.carriers) == set(range(1, 7)), alg.number
        # Modulation always runs from a higher to a lower operator number.
        assert all(src > dst for src, dst in alg.edges), alg.number
        # The self-feedback operator has no other modulator.
        assert alg.modulators_of(alg.feedback_operator) == (), alg.number
    assert {alg.number: alg.feedback_loop_from for alg in ALGORITHMS if alg.feedback_loop_from} == {4: 4, 6: 5}


def test_well_known_algorithms():
    # Algorithm 1: two stacks, 2->1 and 6->5->4->3, feedback on OP6.
    alg1 = get_algorithm(1)
    assert alg1.carriers == (1, 3) and set(alg1.edges) == {(2, 1), (4, 3), (5, 4), (6, 5)}
    assert alg1.feedback_operator == 6
    # Algorithm 32: six sine carriers, no modulation.
    alg32 = get_algorithm(32)
    assert alg32.carriers == (1, 2, 3, 4, 5, 6) and alg32.edges == ()
    assert alg32.is_carrier(6) and not alg1.is_carrier(2)


def test_matrix_and_masks():
    for alg in ALGORITHMS:
        matrix = modulation_matrix(alg.number)
        assert matrix.shape == (6, 6) and matrix.dtype == torch.float32
        expected = torch.zeros(6, 6)
        for src, dst in alg.edges:
            expected[dst - 1, src - 1] = 1
        assert torch.equal(matrix, expected)
        assert torch.equal(matrix, torch.triu(matrix, diagonal=1))
        mask = carrier_mask(alg.number)
        assert mask.tolist() == [1.0 if op in alg.carriers else 0.0 for op in range(1, 7)]
        # A carrier modulates nothing: its column of M is empty.
        assert float((matrix.sum(dim=0) * mask).sum()) == 0.0
        assert feedback_mask(alg.number).tolist() == [1.0 if op == alg.feedback_operator else 0.0 for op in range(1, 7)]
    # Algorithm 16: OP1 is modulated by OP2, OP3 and OP5.
    assert modulation_matrix(16)[0].tolist() == [0, 1, 1, 0, 1, 0]


def test_stacked_tensors_and_dtype():
    matrices = all_modulation_matrices(dtype=torch.float64)
    assert matrices.shape == (32, 6, 6) and matrices.dtype == torch.float64
    assert torch.equal(matrices[21], modulation_matrix(22, dtype=torch.float64))
    assert all_carrier_masks().shape == (32, 6)
    assert torch.equal(all_carrier_masks()[4], carrier_mask(5))
    assert torch.equal(all_feedback_masks().sum(dim=1), torch.ones(32))


def test_bad_algorithm_numbers():
    with pytest.raises(ValueError, match="1..32"):
        get_algorithm(0)
    with pytest.raises(ValueError, match="1..32"):
        modulation_matrix(33)
    with pytest.raises(TypeError, match="number"):
        get_algorithm("1")
    with pytest.raises(ValueError, match="operator"):
        get_algorithm(1).modulators_of(7)
