"""Inhibitor links as exclusion evidence: exact inference vs brute force, batches, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.strategies_inference import Problem, arrays, extra_batch, oracle, problems
from twitchcds.errors import InvalidInputError
from twitchcds.inference import DEFAULT_BUDGET, InferenceResult, NoisyOrNetwork, _run, infer
from twitchcds.inference._brute import brute_force
from twitchcds.inference._engine import run_batch

TOL = 1e-9


def _net(n_c: int, n_f: int, leaks: list[float], links: list[tuple[int, int, float]],
         inhibitors: list[tuple[int, int, float]]) -> NoisyOrNetwork:
    return NoisyOrNetwork.from_arrays([f"c{i}" for i in range(n_c)],
                                      [f"f{i}" for i in range(n_f)], leaks, links,
                                      inhibitors=inhibitors)


# --- exactness -------------------------------------------------------------------------------

@settings(max_examples=150)
@given(problems(inhibitors=True, max_absent=8))
def test_inhibited_exact_matches_brute_force(case: Problem) -> None:
    """With inhibitor links, exact posteriors and log evidence equal enumeration to 1e-9."""
    truth = oracle(case)
    if truth is None:
        with pytest.raises(InvalidInputError, match="probability zero"):
            infer(case.network, case.priors, case.present, case.absent, method="exact")
        return
    result = infer(case.network, case.priors, case.present, case.absent, method="exact")
    assert result.method == "exact"
    assert np.abs(result.probabilities - truth[0]).max() <= TOL
    assert result.log_evidence == pytest.approx(truth[1], rel=1e-9, abs=1e-9)
    assert result.positive_findings == len(case.present)


@settings(max_examples=40)
@given(problems(max_conditions=12, min_findings=20, max_findings=25, min_present=15,
                max_present=20, max_absent=5, positive_leaks=True, inhibitors=True))
def test_inhibited_many_positive_findings_match_brute_force(case: Problem) -> None:
    """With 15 to 20 present findings and inhibitors the engine still matches brute force."""
    truth = oracle(case)
    assume(truth is not None)
    assert truth is not None
    result = infer(case.network, case.priors, case.present, case.absent, method="exact")
    assert np.abs(result.probabilities - truth[0]).max() <= TOL
    assert result.log_evidence == pytest.approx(truth[1], rel=1e-9)


@settings(max_examples=60)
@given(problems(positive_leaks=True, inhibitors=True, max_absent=6),
       st.sampled_from([(False, True), (True, False), (False, False)]))
def test_inhibited_reductions_equal_unreduced(case: Problem, flags: tuple[bool, bool]) -> None:
    """Splitting and collapsing change no result when exclusion evidence is folded."""
    priors, pos, neg = arrays(case)
    try:
        full = _run(case.network, priors, pos, neg, method="exact", budget=DEFAULT_BUDGET)
    except InvalidInputError:
        assume(False)
        return
    plain = _run(case.network, priors, pos, neg, method="exact", budget=DEFAULT_BUDGET,
                 split=flags[0], collapse=flags[1])
    assert np.abs(full.probabilities - plain.probabilities).max() <= 1e-12
    assert full.log_evidence == pytest.approx(plain.log_evidence, rel=1e-12, abs=1e-12)


@settings(max_examples=60)
@given(case=problems(positive_leaks=True, inhibitors=True, max_absent=4), data=st.data())
def test_inhibited_batch_rows_match_brute_force(case: Problem, data: st.DataObject) -> None:
    """Each row of a batch (extra absent inhibited findings included) equals enumeration."""
    priors, pos, neg = arrays(case)
    extra, rows = extra_batch(case, data)
    batch = run_batch(case.network, priors, pos, neg, extra=rows, extra_findings=extra,
                      method="exact", budget=DEFAULT_BUDGET)
    assert batch is not None
    for b, row in enumerate(rows):
        absent = np.union1d(neg, extra[row > 0]).astype(np.intp)
        truth = brute_force(case.network, case.priors, case.present, absent.tolist())
        assert np.abs(batch[0][b] - truth[0]).max() <= TOL
        assert batch[1][b] == pytest.approx(truth[1], rel=1e-9, abs=1e-9)
        one = _run(case.network, priors, pos, absent, method="exact", budget=DEFAULT_BUDGET)
        assert np.abs(batch[0][b] - one.probabilities).max() <= TOL


@settings(max_examples=60)
@given(case=problems(positive_leaks=True, inhibitors=True, max_absent=4), data=st.data())
def test_shown_exclusion_columns_give_present_outcomes(case: Problem,
                                                       data: st.DataObject) -> None:
    """A ``shown`` column observes a finding's exclusion evidence: the row with it, minus the
    same row with the finding also absent, is the joint probability (and joint posterior) of
    the finding present, which enumeration gives directly."""
    assume(oracle(case) is not None)
    priors, pos, neg = arrays(case)
    extra, rows = extra_batch(case, data)
    assume(extra.size > 0)
    h = int(extra[0])
    shown = np.array([h], dtype=np.intp)
    rest = rows[rows[:, 0] == 0]  # rows where h is not absent
    with_h = rest.copy()
    with_h[:, 0] = 1.0
    batch = run_batch(case.network, priors, pos, neg, method="exact", budget=DEFAULT_BUDGET,
                      extra=np.vstack((np.hstack((rest, np.ones((len(rest), 1)))),
                                       np.hstack((with_h, np.ones((len(rest), 1)))))),
                      extra_findings=extra, shown=shown)
    assert batch is not None
    probs, log_ev = batch
    n = len(rest)
    for b, row in enumerate(rest):
        absent = np.union1d(neg, extra[row > 0]).astype(np.intp).tolist()
        p = math.exp(log_ev[b]) - math.exp(log_ev[n + b])
        try:
            truth = brute_force(case.network, case.priors, sorted({*case.present, h}), absent)
        except ValueError:  # h cannot be present with this row
            assert p == pytest.approx(0.0, abs=1e-12)
            continue
        assert p == pytest.approx(math.exp(truth[1]), rel=1e-6, abs=1e-12)
        if math.exp(truth[1]) > 1e-6 * math.exp(log_ev[b]):  # not lost to cancellation
            joint = math.exp(log_ev[b]) * probs[b] - math.exp(log_ev[n + b]) * probs[n + b]
            assert np.abs(joint / p - truth[0]).max() <= 1e-6


def _without_inhibitors(network: NoisyOrNetwork) -> NoisyOrNetwork:
    links = [(int(c), f, float(p)) for f in range(network.n_findings)
             for c, p in zip(*network.parents(f), strict=True)]
    return NoisyOrNetwork.from_arrays(network.condition_ids, network.finding_ids,
                                      network.leaks, links)


@settings(max_examples=80)
@given(problems(inhibitors=True, max_absent=8))
def test_absent_and_unknown_inhibited_findings_have_no_inhibitor_effect(case: Problem) -> None:
    """Evidence without a present inhibited finding gives the plain network's numbers exactly."""
    net = case.network
    present = [f for f in case.present if not net.inhibitors(f)[0].size]
    plain = _without_inhibitors(net)
    try:
        want = infer(plain, case.priors, present, case.absent, method="exact")
    except InvalidInputError:
        assume(False)
        return
    got = infer(net, case.priors, present, case.absent, method="exact")
    assert np.array_equal(got.probabilities, want.probabilities)
    assert got.log_evidence == want.log_evidence


# --- meaning ---------------------------------------------------------------------------------

@given(st.floats(1e-6, 1 - 1e-6), st.floats(0.01, 1.0))
def test_present_finding_scales_inhibitor_odds(prior: float, strength: float) -> None:
    """A present finding multiplies an inhibitor's prior odds by exactly 1 - s."""
    net = _net(2, 1, [0.05], [(0, 0, 0.7)], [(1, 0, strength)])
    post = infer(net, [0.3, prior], present=[0], absent=[]).probabilities[1]
    odds = prior / (1 - prior) * (1 - strength)
    assert post == pytest.approx(odds / (1 + odds), rel=1e-12, abs=1e-300)


@given(st.floats(1e-4, 1 - 1e-4), st.floats(0.01, 1.0))
def test_absent_finding_leaves_its_inhibitor_alone(prior: float, strength: float) -> None:
    """An absent finding leaves the exclusion node unobserved: the inhibitor keeps its prior."""
    net = _net(2, 1, [0.05], [(0, 0, 0.7)], [(1, 0, strength)])
    post = infer(net, [0.3, prior], present=[], absent=[0]).probabilities
    assert post[1] == prior
    assert post[0] < 0.3


def test_inhibitor_lowers_a_syndrome_that_excludes_the_finding() -> None:
    """A syndrome defined by a finding's absence drops when the finding is present."""
    # c0 = motor neuron disease (causes twitching and weakness); c1 = benign syndrome (causes
    # twitching, inhibits weakness)
    plain = _net(2, 2, [0.05, 0.03], [(0, 0, 0.9), (0, 1, 0.95), (1, 0, 0.98)], [])
    inhibited = _net(2, 2, [0.05, 0.03], [(0, 0, 0.9), (0, 1, 0.95), (1, 0, 0.98)],
                     [(1, 1, 0.95)])
    before = infer(plain, [0.01, 0.2], present=[0, 1], absent=[]).probabilities
    after = infer(inhibited, [0.01, 0.2], present=[0, 1], absent=[]).probabilities
    assert after[1] < before[1] / 5
    assert after[0] > before[0]


def test_uninhibited_evidence_takes_the_plain_path() -> None:
    """Evidence on findings without inhibitors gives the plain network's numbers exactly."""
    links = [(0, 0, 0.9), (1, 1, 0.5), (1, 0, 0.4)]
    plain = _net(2, 3, [0.1, 0.1, 0.2], links, [])
    inhibited = _net(2, 3, [0.1, 0.1, 0.2], links, [(0, 2, 0.5)])
    a = infer(plain, [0.2, 0.3], present=[0], absent=[1])
    b = infer(inhibited, [0.2, 0.3], present=[0], absent=[1])
    assert np.array_equal(a.probabilities, b.probabilities)
    assert a.log_evidence == b.log_evidence


def test_exclusion_costs_no_more_than_plain_evidence() -> None:
    """Absent inhibited findings add no work: the estimated cost equals the plain network's."""
    rng = np.random.default_rng(3)
    n_c, n_f = 12, 25
    links = [(c, f, float(rng.uniform(0.05, 0.95))) for f in range(n_f) for c in range(n_c)
             if rng.random() < 0.3]
    linked = {(c, f) for c, f, _ in links}
    blocks = [(c, f, 0.9) for c in range(2) for f in range(18, 25) if (c, f) not in linked]
    net = _net(n_c, n_f, [0.05] * n_f, links, blocks)
    plain = _net(n_c, n_f, [0.05] * n_f, links, [])
    priors, present, absent = np.full(n_c, 0.1), list(range(12)), list(range(18, 25))
    a, b = infer(net, priors, present, absent), infer(plain, priors, present, absent)
    assert a.method == b.method == "exact"
    assert a.estimated_cost == b.estimated_cost
    assert np.array_equal(a.probabilities, b.probabilities)


@pytest.mark.parametrize(("present", "absent"), [
    pytest.param([0, 1], [], id="present-but-excluded"),
    pytest.param([2], [0, 1], id="absent-needs-the-cause-absent"),
])
def test_impossible_inhibited_evidence_raises(present: list[int], absent: list[int]) -> None:
    """Evidence of probability zero through inhibitors raises, never returns NaN."""
    # c0 excludes f0 for sure and is the only cause of f1; c1 causes f0 for sure and is the
    # only cause of f2: f0 present needs c0 absent, f0 absent needs c1 absent
    net = _net(2, 3, [0.5, 0.0, 0.0], [(0, 1, 1.0), (1, 0, 1.0), (1, 2, 0.5)], [(0, 0, 1.0)])
    with pytest.raises(ValueError, match="probability zero"):
        brute_force(net, np.array([0.5, 0.5]), present, absent)
    with pytest.raises(InvalidInputError, match="probability zero"):
        infer(net, [0.5, 0.5], present, absent)


def test_from_arrays_reports_bad_inhibitors() -> None:
    """Inhibitor links out of range or repeated are refused, each named by its index."""
    with pytest.raises(InvalidInputError) as info:
        _net(1, 2, [0.1, 0.1], [(0, 0, 0.5)], [(0, 1, 0.0), (2, 1, 0.5), (0, 0, 0.5),
                                                (0, 0, 0.4)])
    assert [p.path for p in info.value.problems] == ["$.inhibitors[0]", "$.inhibitors[1]",
                                                     "$.inhibitors[3]"]


def test_network_lists_its_inhibitors() -> None:
    """``inhibitors(f)`` lists a finding's inhibitors; uninhibited findings have none."""
    net = _net(2, 2, [0.1, 0.1], [(0, 0, 0.5)], [(1, 0, 0.8)])
    conditions, strengths = net.inhibitors(0)
    assert conditions.tolist() == [1]
    assert strengths.tolist() == [0.8]
    assert net.inhibitors(1)[0].size == 0
    assert net.n_inhibitors == 1
    assert _net(1, 1, [0.1], [(0, 0, 0.5)], []).n_inhibitors == 0
    assert net.inhibited.tolist() == [True, False]


def test_result_type_is_unchanged() -> None:
    """Inhibited inference returns the usual InferenceResult with finite evidence."""
    net = _net(2, 2, [0.1, 0.1], [(0, 0, 0.5), (1, 1, 0.5)], [(1, 0, 0.8)])
    result = infer(net, [0.2, 0.3], [1], [0])
    assert isinstance(result, InferenceResult)
    assert math.isfinite(result.log_evidence)
