"""Inference: exact frontier sum vs brute force, reductions, approximation, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.strategies_inference import Problem, oracle, problems
from twitchcds import KnowledgeBase
from twitchcds.errors import ContradictionError, InvalidInputError, UnknownCodeError
from twitchcds.inference import (
    DEFAULT_BUDGET,
    InferenceResult,
    NoisyOrNetwork,
    _run,
    compile_network,
    infer,
    posterior,
)
from twitchcds.inference._brute import brute_force
from twitchcds.inference._exact import STEP_OVERHEAD, Plan, make_plan

TOL = 1e-9
APPROX_TOL = 0.02  # documented in infer's Notes
APPROX_LOG_EVIDENCE_TOL = 0.1


def _net(n_c: int, n_f: int, leaks: list[float],
         links: list[tuple[int, int, float]]) -> NoisyOrNetwork:
    return NoisyOrNetwork.from_arrays([f"c{i}" for i in range(n_c)],
                                      [f"f{i}" for i in range(n_f)], leaks, links)


def _unreduced(case: Problem, *, split: bool = True, collapse: bool = True) -> InferenceResult:
    return _run(case.network, np.asarray(case.priors), np.array(case.present, dtype=np.intp),
                np.array(case.absent, dtype=np.intp), method="exact", budget=DEFAULT_BUDGET,
                split=split, collapse=collapse)


# --- exactness -------------------------------------------------------------------------------

@settings(max_examples=150)
@given(problems())
def test_exact_matches_brute_force(case: Problem) -> None:
    """Exact posteriors and log evidence equal brute-force enumeration, or both say impossible."""
    truth = oracle(case)
    if truth is None:
        with pytest.raises(InvalidInputError):
            infer(case.network, case.priors, case.present, case.absent, method="exact")
        return
    result = infer(case.network, case.priors, case.present, case.absent, method="exact")
    assert result.method == "exact"
    assert np.abs(result.probabilities - truth[0]).max() <= TOL
    assert result.log_evidence == pytest.approx(truth[1], rel=1e-9, abs=1e-9)
    assert np.all((result.probabilities >= 0.0) & (result.probabilities <= 1.0))
    assert result.positive_findings == len(case.present)


@settings(max_examples=60)
@given(problems(max_conditions=12, min_findings=20, max_findings=25, min_present=15,
                max_present=20, positive_leaks=True))
def test_many_positive_findings_match_brute_force(case: Problem) -> None:
    """With 15 to 20 present findings the exact method still matches brute force to 1e-9."""
    post, log_ev = brute_force(case.network, case.priors, case.present, case.absent)
    result = infer(case.network, case.priors, case.present, case.absent, method="exact")
    assert np.abs(result.probabilities - post).max() <= TOL
    assert result.log_evidence == pytest.approx(log_ev, rel=1e-9)


@settings(max_examples=80)
@given(problems(positive_leaks=True), st.sampled_from([(False, True), (True, False),
                                                       (False, False)]))
def test_reductions_equal_unreduced(case: Problem, flags: tuple[bool, bool]) -> None:
    """Splitting into components and collapsing private parents do not change any result."""
    split, collapse = flags
    full = _unreduced(case)
    plain = _unreduced(case, split=split, collapse=collapse)
    assert np.abs(full.probabilities - plain.probabilities).max() <= 1e-12
    assert full.log_evidence == pytest.approx(plain.log_evidence, rel=1e-12, abs=1e-12)


def test_conditions_without_positive_children_keep_folded_prior() -> None:
    """A condition linked only to absent findings gets exactly its folded prior."""
    net = _net(2, 2, [0.1, 0.1], [(0, 0, 0.5), (1, 1, 0.4)])
    result = infer(net, [0.3, 0.2], present=[0], absent=[1])
    folded = 0.2 * 0.6 / (0.2 * 0.6 + 0.8)
    assert result.probabilities[1] == pytest.approx(folded, rel=1e-15)


def test_explaining_away() -> None:
    """Observing the other cause's own finding lowers the posterior of the first cause."""
    net = _net(2, 2, [0.01, 0.01], [(0, 0, 0.8), (1, 0, 0.8), (1, 1, 0.9)])
    alone = infer(net, [0.1, 0.1], present=[0], absent=[]).probabilities
    explained = infer(net, [0.1, 0.1], present=[0, 1], absent=[]).probabilities
    assert explained[0] < alone[0]
    assert explained[1] > alone[1]


@given(st.floats(0.01, 1.0), st.floats(1e-6, 1 - 1e-6))
def test_absent_finding_lowers_posterior(p: float, prior: float) -> None:
    """An absent child finding lowers a condition's posterior, more so as the link nears 1."""
    net = _net(1, 1, [0.05], [(0, 0, p)])
    after = infer(net, [prior], present=[], absent=[0]).probabilities[0]
    assert after < prior
    stronger = _net(1, 1, [0.05], [(0, 0, min(1.0, p + 0.5 * (1 - p)))])
    assert infer(stronger, [prior], [], [0]).probabilities[0] <= after


def test_many_absent_findings_give_finite_results() -> None:
    """Hundreds of absent findings with strong links give finite posteriors, no NaN."""
    rng = np.random.default_rng(0)
    n_c, n_f = 40, 300
    links = [(c, f, float(rng.uniform(0.9, 1.0 - 1e-9))) for f in range(n_f)
             for c in rng.choice(n_c, size=4, replace=False).tolist()]
    net = _net(n_c, n_f + 3, [0.01] * (n_f + 3),
               [*links, (0, n_f, 0.9), (1, n_f + 1, 0.9), (0, n_f + 2, 0.5)])
    priors = np.full(n_c, 1e-3)
    result = infer(net, priors, present=[n_f, n_f + 1, n_f + 2], absent=list(range(n_f)))
    assert np.all(np.isfinite(result.probabilities))
    assert np.isfinite(result.log_evidence)
    assert np.all((result.probabilities >= 0.0) & (result.probabilities <= 1.0))


def test_parentless_present_finding_contributes_its_leak() -> None:
    """A present finding with no parent changes no posterior and adds log(leak) to evidence."""
    net = _net(1, 2, [0.1, 0.25], [(0, 0, 0.7)])
    base = infer(net, [0.2], present=[0], absent=[])
    more = infer(net, [0.2], present=[0, 1], absent=[])
    assert more.probabilities == pytest.approx(base.probabilities, abs=1e-15)
    assert more.log_evidence == pytest.approx(base.log_evidence + np.log(0.25))


@pytest.mark.parametrize(("leaks", "links", "present", "absent"), [
    pytest.param([0.0], [], [0], [], id="no-parent-no-leak"),
    pytest.param([0.0, 0.1], [(0, 0, 0.5), (0, 1, 1.0)], [0], [1], id="only-cause-ruled-out"),
    pytest.param([0.0, 0.0, 0.1], [(0, 0, 0.5), (0, 1, 0.5), (0, 2, 1.0)], [0, 1], [2],
                 id="shared-cause-ruled-out"),
])
def test_impossible_evidence_raises(leaks: list[float], links: list[tuple[int, int, float]],
                                    present: list[int], absent: list[int]) -> None:
    """Evidence of probability zero raises InvalidInputError instead of returning NaN."""
    net = _net(1, len(leaks), leaks, links)
    with pytest.raises(InvalidInputError, match="probability zero"):
        infer(net, [0.5], present, absent)


def test_cost_follows_structure_not_count() -> None:
    """A chain of 40 present findings is solved exactly with a frontier of width at most 2."""
    n = 40
    links = [(i, i, 0.6) for i in range(n)] + [(i, i + 1, 0.4) for i in range(n - 1)]
    net = _net(n, n, [0.01] * n, links)
    result = infer(net, np.full(n, 0.05), present=list(range(n)), absent=[])
    assert result.method == "exact"
    assert result.estimated_cost < 40 * (STEP_OVERHEAD + 4 * 4)
    # every finding but the ends has two parents and each condition explains its own finding
    assert np.all(result.probabilities > 0.05)


# --- approximation ---------------------------------------------------------------------------

def _approx_case(seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    n_c, n_f = 12, 25
    links = [(c, f, float(rng.uniform(0.05, 0.95))) for f in range(n_f) for c in range(n_c)
             if rng.random() < 0.25]
    net = _net(n_c, n_f, rng.uniform(0.001, 0.1, size=n_f).tolist(), links)
    order = rng.permutation(n_f).tolist()
    k = int(rng.integers(5, 21))
    return Problem(net, rng.uniform(0.01, 0.5, size=n_c), sorted(order[:k]),
                   sorted(order[k:k + 5]))


@pytest.mark.parametrize("seed", range(8))
def test_approximation_error_is_within_tolerance(seed: int) -> None:
    """Forced sampling stays within APPROX_TOL of exact posteriors on moderate networks."""
    case = _approx_case(seed)
    exact = infer(case.network, case.priors, case.present, case.absent, method="exact")
    approx = infer(case.network, case.priors, case.present, case.absent, method="approximate")
    assert approx.method == "approximate"
    assert np.abs(approx.probabilities - exact.probabilities).max() < APPROX_TOL
    assert approx.log_evidence == pytest.approx(exact.log_evidence, abs=APPROX_LOG_EVIDENCE_TOL)
    assert approx.estimated_cost == exact.estimated_cost


def test_approximation_is_deterministic() -> None:
    """Two sampling runs on the same input return identical numbers."""
    case = _approx_case(7)
    first = infer(case.network, case.priors, case.present, case.absent, method="approximate")
    second = infer(case.network, case.priors, case.present, case.absent, method="approximate")
    assert np.array_equal(first.probabilities, second.probabilities)
    assert first.log_evidence == second.log_evidence


def test_auto_chooses_by_estimated_cost() -> None:
    """``auto`` runs exact within the budget and samples when the estimated cost exceeds it."""
    case = _approx_case(3)
    auto = infer(case.network, case.priors, case.present, case.absent)
    assert auto.method == "exact"
    assert 0 < auto.estimated_cost <= DEFAULT_BUDGET
    cheap = infer(case.network, case.priors, case.present, case.absent,
                  budget=auto.estimated_cost / 2)
    assert cheap.method == "approximate"


def test_single_finding_components_are_always_exact() -> None:
    """Components without shared conditions are solved in closed form even when forced."""
    net = _net(2, 2, [0.1, 0.1], [(0, 0, 0.5), (1, 1, 0.5)])
    result = infer(net, [0.2, 0.3], [0, 1], [], method="approximate")
    assert result.method == "exact"
    assert result.probabilities == pytest.approx(brute_force(net, np.array([0.2, 0.3]),
                                                             [0, 1], [])[0], abs=TOL)


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("priors", "path"), [
    pytest.param([0.5, 0.0], "$.priors[1]", id="zero"),
    pytest.param([1.0, 0.5], "$.priors[0]", id="one"),
    pytest.param([0.5, float("nan")], "$.priors[1]", id="nan"),
    pytest.param([0.5], "$.priors", id="shape"),
])
def test_infer_rejects_bad_priors(priors: list[float], path: str) -> None:
    """A prior outside (0, 1) or of the wrong shape is refused, naming its index."""
    net = _net(2, 1, [0.1], [(0, 0, 0.5)])
    with pytest.raises(InvalidInputError) as info:
        infer(net, priors, [0], [])
    assert info.value.path == path


def test_infer_rejects_bad_indices_and_contradictions() -> None:
    """Out-of-range finding indices and a finding both present and absent are refused."""
    net = _net(1, 2, [0.1, 0.1], [(0, 0, 0.5)])
    with pytest.raises(InvalidInputError) as info:
        infer(net, [0.5], [0, 5], [])
    assert info.value.path == "$.present[1]"
    with pytest.raises(ContradictionError) as clash:
        infer(net, [0.5], [1], [0, 1])
    assert (clash.value.path, clash.value.value) == ("$.absent[1]", 1)
    with pytest.raises(InvalidInputError, match="method"):
        infer(net, [0.5], [0], [], method="magic")  # type: ignore[arg-type]


def test_from_arrays_lists_every_problem() -> None:
    """Building a network with bad leaks and links reports every problem at once."""
    with pytest.raises(InvalidInputError) as info:
        _net(1, 2, [1.0, 0.1], [(0, 0, 0.0), (3, 0, 0.5), (0, 1, 0.5), (0, 1, 0.4)])
    assert [p.path for p in info.value.problems] == ["$.leaks[0]", "$.links[0]", "$.links[1]",
                                                     "$.links[3]"]


# --- knowledge-base entry point --------------------------------------------------------------

def test_compiled_network_follows_kb_order(mini_kb: KnowledgeBase) -> None:
    """The compiled network keeps the knowledge base's order of conditions and findings."""
    net = compile_network(mini_kb)
    assert net.condition_ids == tuple(c.id for c in mini_kb.conditions)
    assert net.finding_ids == tuple(f.id for f in mini_kb.findings)
    assert net.n_links == len(mini_kb.links)


def test_posterior_matches_brute_force(mini_kb: KnowledgeBase) -> None:
    """``posterior`` by id uses primary-care priors and equals enumeration, in KB order."""
    net = compile_network(mini_kb)
    ids = [f.id for f in mini_kb.findings]
    present, absent = ids[:2], ids[2:4]
    post = posterior(mini_kb, present, absent)
    assert list(post) == [c.id for c in mini_kb.conditions]
    priors = np.array([c.prior["primary-care"] for c in mini_kb.conditions])
    truth, _ = brute_force(net, priors, [0, 1], [2, 3])
    assert np.abs(np.array(list(post.values())) - truth).max() <= TOL


@pytest.mark.parametrize(("present", "absent", "error", "path"), [
    pytest.param(["nope"], [], UnknownCodeError, "$.present[0]", id="unknown-present"),
    pytest.param([], ["twitching", "nope"], UnknownCodeError, "$.absent[1]",
                 id="unknown-absent"),
    pytest.param(["twitching"], ["cramps", "twitching"], ContradictionError, "$.absent[1]",
                 id="both"),
    pytest.param("twitching", [], InvalidInputError, "$.present", id="bare-string"),
    pytest.param(["twitching", 3], [], InvalidInputError, "$.present[1]", id="not-a-string"),
    pytest.param([], None, InvalidInputError, "$.absent", id="not-iterable"),
])
def test_posterior_rejects_bad_ids(mini_kb: KnowledgeBase, present: object, absent: object,
                                   error: type[Exception], path: str) -> None:
    """Bad finding ids raise the library's error with the JSON path of the first problem."""
    with pytest.raises(error) as info:
        posterior(mini_kb, present, absent)  # type: ignore[arg-type]
    assert type(info.value) is error
    assert info.value.path == path  # type: ignore[attr-defined]


@pytest.mark.parametrize(("present", "absent"), [
    pytest.param([], [], id="nothing"),
    pytest.param(("twitching", "twitching"), [], id="duplicate-tuple"),
    pytest.param(iter(["cramps"]), iter(["weakness"]), id="iterators"),
])
def test_posterior_accepts_nearby_valid_ids(mini_kb: KnowledgeBase, present: object,
                                            absent: object) -> None:
    """Empty lists, duplicates and one-shot iterators are accepted."""
    post = posterior(mini_kb, present, absent)  # type: ignore[arg-type]
    assert all(0.0 <= p <= 1.0 for p in post.values())


# --- planning --------------------------------------------------------------------------------

def _numpy_plan(children: tuple[np.ndarray, ...], k: int) -> Plan:
    """The greedy frontier order as first written, with numpy incidence products (reference)."""
    m = len(children)
    incidence = np.zeros((m, k))
    for j, ch in enumerate(children):
        incidence[j, ch] = 1.0
    remaining = incidence.sum(axis=0)
    not_entered = np.ones(k)
    done = np.zeros(m, dtype=bool)
    order, entering, retiring = [], [], []
    width, max_width, cost = 0, 0, 0.0
    for _ in range(m):
        peak = width + incidence @ not_entered
        key = (peak - incidence @ (remaining == 1)) * (k + 1) + peak
        key[done] = np.inf
        j = int(np.argmin(key))
        ch = children[j]
        ent = ch[not_entered[ch] > 0]
        not_entered[ch] = 0.0
        remaining[ch] -= 1.0
        ret = ch[remaining[ch] == 0]
        done[j] = True
        order.append(j)
        entering.append(ent)
        retiring.append(ret)
        top = width + ent.size
        max_width = max(max_width, top)
        cost += STEP_OVERHEAD + 2.0 ** min(top, 1000) * (ch.size + 2)
        width = top - ret.size
    return Plan(tuple(order), tuple(entering), tuple(retiring), max_width, cost)


@settings(max_examples=200)
@given(st.integers(1, 30).flatmap(lambda k: st.tuples(st.just(k), st.lists(
    st.lists(st.integers(0, k - 1), min_size=1, max_size=k, unique=True), max_size=40))))
def test_bitmask_plan_equals_numpy_plan(drawn: tuple[int, list[list[int]]]) -> None:
    """The frontier order planned on bit masks is the one planned with numpy products."""
    k, lists = drawn
    children = tuple(np.array(sorted(ch), dtype=np.intp) for ch in lists)
    got, want = make_plan(children, k), _numpy_plan(children, k)
    assert got.order == want.order
    assert got.max_width == want.max_width
    assert got.cost == want.cost
    for a, b in zip(got.entering + got.retiring, want.entering + want.retiring, strict=True):
        assert a.tolist() == b.tolist()
