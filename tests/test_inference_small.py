"""Inference for few present findings: every star at once, straight from the links."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies_inference import Problem, arrays, oracle, problems
from twitchcds.errors import InvalidInputError
from twitchcds.inference import DEFAULT_BUDGET, NoisyOrNetwork, _run, infer
from twitchcds.inference._reduce import fold_absent
from twitchcds.inference._star import solve_stars
from twitchcds.inference._structure import build_structure, present_links

TOL = 1e-9


def _stars(case: Problem, budget: float = np.inf) -> tuple[object, float, float] | None:
    priors, pos, neg = arrays(case)
    folded = fold_absent(case.network, priors, neg, pos)
    return solve_stars(case.network, folded.pi, folded.pi_c, present_links(case.network, pos),
                       budget)


@settings(max_examples=300)
@given(case=st.sampled_from([0.1, 0.2, 0.35]).flatmap(
    lambda density: problems(max_present=8, density=density, inhibitors=True)))
def test_stars_match_brute_force(case: Problem) -> None:
    """Where every component is a star, solving the stars at once equals brute force (with
    inhibitor links, extreme probabilities and impossible evidence); elsewhere it declines."""
    priors, pos, _ = arrays(case)
    structure = build_structure(case.network, pos)
    all_stars = all(c.star for c in structure.components)
    truth = oracle(case)
    solved = _stars(case)
    if truth is None or not all_stars:
        assert solved is None  # the structure's path decides (and reports impossible evidence)
        return
    assert solved is not None
    probs, log_ev, cost = solved
    assert np.abs(np.asarray(probs) - truth[0]).max() <= TOL
    folded = fold_absent(case.network, priors, arrays(case)[2], pos)
    assert folded.log_evidence + log_ev == pytest.approx(truth[1], rel=1e-9, abs=1e-9)
    assert cost == structure.cost  # the same estimate as the components it stands for
    result = infer(case.network, case.priors, case.present, case.absent)
    assert result.method == "exact"
    assert np.array_equal(result.probabilities, probs)
    assert result.estimated_cost == structure.cost
    assert result.log_evidence == pytest.approx(truth[1], rel=1e-9, abs=1e-9)


@settings(max_examples=100)
@given(problems(max_present=6, density=0.15, positive_leaks=True, inhibitors=True))
def test_stars_equal_the_structure_path(case: Problem) -> None:
    """The stars give the same posteriors as the structure's star components and closed forms
    (solved through the structure when the full-table method is off: frontier sums)."""
    priors, pos, neg = arrays(case)
    if _stars(case) is None:
        return
    fast = infer(case.network, case.priors, case.present, case.absent)
    plain = _run(case.network, priors, pos, neg, method="exact", budget=DEFAULT_BUDGET,
                 tables=False)
    assert np.abs(fast.probabilities - plain.probabilities).max() <= TOL
    assert fast.log_evidence == pytest.approx(plain.log_evidence, rel=1e-9, abs=1e-9)


def _two_stars() -> tuple[NoisyOrNetwork, list[float]]:
    # c0 -> f0, f1; c1 -> f2, f3; c2 private to f0; f4 has no shared parent; f5 no parent
    links = [(0, 0, 0.7), (0, 1, 0.4), (1, 2, 0.9), (1, 3, 0.2), (2, 0, 0.5), (3, 4, 0.6)]
    net = NoisyOrNetwork.from_arrays([f"c{i}" for i in range(4)],
                                     [f"f{i}" for i in range(6)],
                                     [0.01, 0.02, 0.0, 0.05, 0.1, 0.3], links)
    return net, [0.1, 0.05, 0.2, 0.3]


def test_two_stars_a_lone_finding_and_an_orphan() -> None:
    """A hand-built case: two stars, a private parent, a lone finding and a parentless one."""
    net, priors = _two_stars()
    case = Problem(net, np.array(priors), [0, 1, 2, 3, 4, 5], [])
    solved = _stars(case)
    assert solved is not None
    truth = oracle(case)
    assert truth is not None
    assert np.abs(infer(net, priors, case.present, []).probabilities - truth[0]).max() <= TOL


def test_a_finding_with_two_shared_parents_takes_the_structure() -> None:
    """When stars would join (a finding with two shared parents) the stars path declines."""
    net, priors = _two_stars()
    joined = NoisyOrNetwork.from_arrays(
        net.condition_ids, net.finding_ids, net.leaks,
        [(0, 0, 0.7), (0, 1, 0.4), (1, 1, 0.9), (1, 3, 0.2)])
    case = Problem(joined, np.array(priors), [0, 1, 3], [])
    assert _stars(case) is None
    truth = oracle(case)
    assert truth is not None
    assert np.abs(infer(joined, priors, case.present, []).probabilities
                  - truth[0]).max() <= TOL


def test_stars_respect_the_budget_and_forced_sampling() -> None:
    """Past the budget, or with method='approximate', the structure's path runs (and samples),
    as it would for the same components."""
    net, priors = _two_stars()
    exact = infer(net, priors, [0, 1, 2, 3], [])
    assert exact.method == "exact"
    cheap = infer(net, priors, [0, 1, 2, 3], [], budget=exact.estimated_cost / 2)
    assert cheap.method == "approximate"
    forced = infer(net, priors, [0, 1, 2, 3], [], method="approximate")
    assert forced.method == "approximate"
    assert forced.estimated_cost == exact.estimated_cost


def test_impossible_star_evidence_still_raises() -> None:
    """Evidence of probability zero is refused as before (the structure's path says so): f0 and
    f1 share c0 and have no leak, and absent f2 (a certain child of c0) rules c0 out."""
    net = NoisyOrNetwork.from_arrays(["c0", "c1"], ["f0", "f1", "f2"], [0.0, 0.0, 0.0],
                                     [(0, 0, 0.5), (0, 1, 0.5), (0, 2, 1.0), (1, 1, 0.5)])
    case = Problem(net, np.array([0.5, 0.5]), [0, 1], [2])
    assert oracle(case) is None
    assert _stars(case) is None
    with pytest.raises(InvalidInputError, match="probability zero"):
        infer(net, [0.5, 0.5], [0, 1], [2])
