"""Many evidence rows at once (:func:`twitchcds.inference.infer_many`) against one row at a time.

The slot table and the one-row engine are independent exact methods; every row of
``infer_many`` must equal :func:`infer` on that row to 1e-12, and brute-force enumeration to
1e-9, on random networks with extreme probabilities and inhibitor links.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies_inference import Problem, extreme_probabilities, oracle, problems
from twitchcds.errors import ContradictionError, InvalidInputError
from twitchcds.inference import NoisyOrNetwork, infer, infer_many
from twitchcds.inference._many import MAX_SLOTS

SAME = 1e-12


def _rows(case: Problem, data: st.DataObject, n_rows: int) -> tuple[Any, Any, Any]:
    """Draw ``n_rows`` rows of priors and disjoint present/absent masks on ``case``'s network."""
    n_c, n_f = case.network.n_conditions, case.network.n_findings
    priors = np.array([data.draw(st.lists(extreme_probabilities(), min_size=n_c, max_size=n_c))
                       for _ in range(n_rows)])
    status = np.array([data.draw(st.lists(st.sampled_from([0, 0, 1, 2]), min_size=n_f,
                                          max_size=n_f)) for _ in range(n_rows)])
    return priors, status == 1, status == 2


def _one(network: NoisyOrNetwork, priors: Any, present: Any, absent: Any) -> Any:
    try:
        return infer(network, priors, np.flatnonzero(present).tolist(),
                     np.flatnonzero(absent).tolist())
    except InvalidInputError:
        return None


@settings(max_examples=120)
@given(problems(max_conditions=8, max_findings=12, inhibitors=True), st.data(),
       st.integers(1, 6))
def test_every_row_equals_one_row_inference(case: Problem, data: st.DataObject,
                                            n_rows: int) -> None:
    """Row r of infer_many equals infer on row r to 1e-12 (posteriors and log evidence)."""
    priors, present, absent = _rows(case, data, n_rows)
    singles = [_one(case.network, *row) for row in zip(priors, present, absent, strict=True)]
    if any(s is None for s in singles):  # an impossible row is reported, naming the row
        first = next(r for r, s in enumerate(singles) if s is None)
        with pytest.raises(InvalidInputError, match="cannot occur") as info:
            infer_many(case.network, priors, present, absent)
        assert info.value.path == f"$.present[{first}]"
        return
    many = infer_many(case.network, priors, present, absent)
    for r, single in enumerate(singles):
        assert np.abs(many.probabilities[r] - single.probabilities).max() <= SAME
        assert many.log_evidence[r] == pytest.approx(single.log_evidence, rel=SAME, abs=SAME)
        assert bool(many.exact[r]) == (single.method == "exact")
    assert np.all((many.probabilities >= 0.0) & (many.probabilities <= 1.0))


@settings(max_examples=80)
@given(problems(max_conditions=10, inhibitors=True, max_present=MAX_SLOTS + 4))
def test_rows_match_brute_force(case: Problem) -> None:
    """A single row, on either side of MAX_SLOTS, equals brute-force enumeration to 1e-9."""
    n_f = case.network.n_findings
    present = np.zeros((1, n_f), dtype=bool)
    absent = np.zeros((1, n_f), dtype=bool)
    present[0, case.present] = True
    absent[0, case.absent] = True
    truth = oracle(case)
    if truth is None:
        with pytest.raises(InvalidInputError):
            infer_many(case.network, case.priors[None, :], present, absent)
        return
    many = infer_many(case.network, case.priors[None, :], present, absent)
    assert np.abs(many.probabilities[0] - truth[0]).max() <= 1e-9
    assert many.log_evidence[0] == pytest.approx(truth[1], rel=1e-9, abs=1e-9)


def test_zero_rows_and_no_evidence() -> None:
    net = NoisyOrNetwork.from_arrays(["a", "b"], ["x"], [0.1], [(0, 0, 0.5)])
    empty = infer_many(net, np.zeros((0, 2)), np.zeros((0, 1), bool), np.zeros((0, 1), bool))
    assert empty.probabilities.shape == (0, 2)
    none = infer_many(net, [[0.2, 0.3]], [[False]], [[False]])
    assert none.probabilities.tolist() == [[0.2, 0.3]]
    assert none.log_evidence.tolist() == [0.0]


@pytest.mark.parametrize(("priors", "present", "absent", "path"), [
    ([[0.2]], [[False]], [[False]], "$.priors"),
    ([[0.2, 1.0]], [[False]], [[False]], "$.priors[0][1]"),
    ([[0.2, 0.3]], [[0]], [[False]], "$.present"),
    ([[0.2, 0.3]], [[False]], [[False, True]], "$.absent"),
])
def test_bad_arrays_name_the_field(priors: Any, present: Any, absent: Any, path: str) -> None:
    net = NoisyOrNetwork.from_arrays(["a", "b"], ["x"], [0.1], [(0, 0, 0.5)])
    with pytest.raises(InvalidInputError) as info:
        infer_many(net, priors, present, absent)
    assert info.value.path == path


def test_contradiction_names_row_and_finding() -> None:
    net = NoisyOrNetwork.from_arrays(["a"], ["x", "y"], [0.1, 0.1], [(0, 0, 0.5)])
    with pytest.raises(ContradictionError) as info:
        infer_many(net, [[0.2], [0.2]], [[False, False], [False, True]],
                   [[False, False], [False, True]])
    assert info.value.path == "$.absent[1][1]"
