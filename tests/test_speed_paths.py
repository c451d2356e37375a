"""Fast paths of inference and work-up give the same answers as the plain ones."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.strategies_inference import Problem, arrays, batch_rows, extra_batch, problems
from twitchcds import Case, KnowledgeBase, assess
from twitchcds.compiled import compile_model
from twitchcds.errors import InvalidInputError
from twitchcds.evidence import Evidence, derive_evidence
from twitchcds.inference import DEFAULT_BUDGET, _run, infer
from twitchcds.inference import _engine as engine
from twitchcds.inference import _table as table
from twitchcds.inference._brute import brute_force
from twitchcds.inference._engine import planned_for, run_batch, table_pays
from twitchcds.inference._reduce import fold_absent, fold_batch
from twitchcds.inference._split import factor_steps
from twitchcds.inference._structure import structure
from twitchcds.outcomes import _unique_rows, batched_outcomes, enumerate_outcomes
from twitchcds.priors import case_priors
from twitchcds.scoring import Method, Scorer
from twitchcds.workup import (
    _question_values,
    _value,
    expected_loss,
    next_questions,
    rank_tests,
)

TOL = 1e-9

# (largest one-row table solved entry by entry, largest table planned whole: a batch on it, or
# a row the per-entry kernel does not take, uses dense products; larger tables use two
# Kronecker factors)
KERNELS = [(32, 32), (0, 32), (0, 0)]


@pytest.mark.parametrize(("one", "whole"), KERNELS)
@settings(max_examples=60)
@given(case=problems(positive_leaks=True))
def test_table_kernels_match_brute_force(case: Problem, one: int, whole: int) -> None:
    """Every full-table kernel (per-entry, dense, split) equals brute force."""
    post, log_ev = brute_force(case.network, case.priors, case.present, case.absent)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(table, "MAX_ONE_CELLS", one)
        mp.setattr(table, "MAX_KRON_CELLS", whole)
        result = infer(case.network, case.priors, case.present, case.absent, method="exact")
    assert np.abs(result.probabilities - post).max() <= TOL
    assert result.log_evidence == pytest.approx(log_ev, rel=1e-9, abs=1e-9)


@st.composite
def _steps(draw: st.DrawFn, max_k: int = 5) -> tuple[tuple[Any, ...], tuple[Any, ...], int]:
    """Random shared conditions over up to ``max_k`` findings (children and link
    probabilities), with links of probability 0 and 1 among them."""
    k = draw(st.integers(1, max_k))
    children, probs = [], []
    for _ in range(draw(st.integers(0, 6))):
        ch = draw(st.lists(st.integers(0, k - 1), min_size=1, unique=True))
        children.append(np.array(sorted(ch), dtype=np.intp))
        probs.append(np.array([draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
                               for _ in ch]))
    return tuple(children), tuple(probs), k


@given(steps=_steps())
def test_kronecker_plans_equal_enumerated_plans(steps: tuple[tuple[Any, ...],
                                                            tuple[Any, ...], int]) -> None:
    """A small table planned whole (Kronecker products) has the same operators as one whose
    entries are enumerated condition by condition, including every diagonal entry."""
    children, probs, k = steps
    whole = table.make_table_plan(children, probs, k)
    listed = table._listed_plan(children, probs, k)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(table, "MAX_KRON_CELLS", 0)
        entry_cost = table.table_cost(children, k)
    assert whole.dense is not None
    assert listed.dense is None
    n, m = 1 << k, len(children)
    for plan in (whole, listed):
        assert plan.bounds[-1] == plan.src.size
        assert np.array_equal(np.bincount(plan.step, minlength=m),
                              np.diff(np.array(plan.bounds)))
    dense, same = np.zeros((2, m, n, n)), np.zeros((2, m, n, n))
    for i, plan in enumerate((whole, listed)):
        dense[i, plan.step, plan.dst, plan.src] = plan.val
        same[i, plan.step, plan.dst, plan.src] = plan.same
    assert np.allclose(dense[0], dense[1], rtol=0.0, atol=1e-15)
    assert np.array_equal(dense[0], whole.dense)
    assert np.array_equal(same[0], same[1])
    assert np.array_equal(same[0], np.broadcast_to(np.eye(n), (m, n, n)))
    assert whole.cost < entry_cost  # planned whole, the set-up is cheaper


@given(steps=_steps(max_k=7))
def test_split_factors_multiply_to_step_operators(steps: tuple[tuple[Any, ...],
                                                               tuple[Any, ...], int]) -> None:
    """Each step's high and low factors (the split kernel) have the step's operator as their
    Kronecker product, so the split kernel applies the same non-negative matrices."""
    children, probs, k = steps
    plan = table._listed_plan(children, probs, k)
    high, low = factor_steps(plan)
    n = 1 << k
    want = np.zeros((len(children), n, n))
    want[plan.step, plan.dst, plan.src] = plan.val
    for t in range(len(children)):
        assert np.allclose(np.kron(high[t], low[t]), want[t], rtol=0.0, atol=1e-15)
        assert (high[t] >= 0.0).all()
        assert (low[t] >= 0.0).all()


@settings(max_examples=60)
@given(case=problems(positive_leaks=True))
def test_frontier_and_table_methods_agree(case: Problem) -> None:
    """The frontier sum (tables off) and the full-table method give the same posteriors."""
    priors, pos, neg = arrays(case)
    plain = _run(case.network, priors, pos, neg, method="exact", budget=DEFAULT_BUDGET,
                 tables=False)
    fast = _run(case.network, priors, pos, neg, method="exact", budget=DEFAULT_BUDGET)
    assert np.abs(plain.probabilities - fast.probabilities).max() <= TOL
    assert plain.log_evidence == pytest.approx(fast.log_evidence, rel=1e-9, abs=1e-9)


@settings(max_examples=80)
@given(case=problems(max_present=6, density=0.2), extremes=st.booleans())
def test_star_closed_form_equals_the_frontier_sum(case: Problem, extremes: bool) -> None:
    """A component with one shared condition: closed form == frontier sum, row by row."""
    from twitchcds.inference._exact import solve_batch
    from twitchcds.inference._star import solve_star
    from twitchcds.inference._structure import build_structure, frontier_steps, structure_values

    priors, pos, neg = arrays(case)
    st_ = build_structure(case.network, pos)
    folded = fold_absent(case.network, priors, neg)
    # a batch of two rows: the folded priors, and priors pushed to the extremes
    pi = np.stack([folded.pi, np.where(folded.pi > 0.5, 1.0 - 1e-12, 1e-12)
                   if extremes else folded.pi[::-1]])
    pi_c = 1.0 - pi
    values = structure_values(case.network, st_, pi, pi_c)
    for comp in st_.components:
        if not comp.star:
            continue
        args = (pi[:, comp.shared], pi_c[:, comp.shared], values.log_rho[:, comp.rows])
        priv = {"priv_pi": values.pi[:, comp.priv],
                "priv_log_rho": values.priv_log_rho[:, comp.priv]}
        try:
            want = solve_batch(frontier_steps(comp), *args, **priv)
        except InvalidInputError:
            with pytest.raises(InvalidInputError):
                solve_star(comp, *args, **priv)
            continue
        got = solve_star(comp, *args, **priv)
        assert np.allclose(got[0], want[0], rtol=1e-9, atol=1e-9)
        assert np.abs(got[1] - want[1]).max(initial=0.0) <= TOL
        assert np.abs(got[2] - want[2]).max(initial=0.0) <= TOL


@pytest.mark.parametrize("choice", ["by cost", "table whenever planned"])
@pytest.mark.parametrize(("one", "whole"), KERNELS)
@settings(max_examples=40)
@given(case=problems(positive_leaks=True, max_absent=6), data=st.data())
def test_batch_rows_equal_single_runs(case: Problem, one: int, whole: int, choice: str,
                                      data: st.DataObject) -> None:
    """Each row of a batched solve equals solving that row alone (both kernels, any size).

    Batches choose between a component's full table and its frontier sum by cost
    (:func:`~twitchcds.inference._engine.table_pays`); forcing the table keeps every table
    kernel tested on batches too.
    """
    priors, pos, neg = arrays(case)
    extra, rows = extra_batch(case, data)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(table, "MAX_ONE_CELLS", one)
        mp.setattr(table, "MAX_KRON_CELLS", whole)
        if choice != "by cost":
            mp.setattr(engine, "table_pays", lambda comp, rows: comp.table is not None)
        batch = run_batch(case.network, priors, pos, neg, extra=rows, extra_findings=extra,
                          method="exact", budget=DEFAULT_BUDGET)
    assert batch is not None
    for b, row in enumerate(rows):
        absent = np.union1d(neg, extra[row > 0]).astype(np.intp)
        one = _run(case.network, priors, pos, absent, method="exact", budget=DEFAULT_BUDGET)
        assert np.abs(batch[0][b] - one.probabilities).max() <= TOL
        assert batch[1][b] == pytest.approx(one.log_evidence, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("choice", ["by cost", "table whenever planned"])
@settings(max_examples=60)
@given(case=problems(positive_leaks=True, max_absent=6, inhibitors=True), data=st.data())
def test_rows_with_findings_unobserved_equal_single_runs(case: Problem, choice: str,
                                                         data: st.DataObject) -> None:
    """A batch whose rows each show some further findings present, absent or unobserved
    (``run_batch``'s ``unobserved``) equals one inference per row with those findings alone,
    inhibitor links and their exclusion evidence included."""
    priors, pos, neg = arrays(case)
    free = [f for f in range(case.network.n_findings) if f not in set(case.present)
            and f not in set(case.absent)]
    assume(free)
    more = np.array(sorted(data.draw(st.lists(st.sampled_from(free), unique=True, min_size=1,
                                              max_size=4))), dtype=np.intp)
    shows = np.array(data.draw(st.lists(st.lists(st.sampled_from([-1, 0, 1]), min_size=more.size,
                                                 max_size=more.size), min_size=1, max_size=6)),
                     dtype=np.int8)
    structure_pos = np.union1d(pos, more[(shows == 1).any(axis=0)]).astype(np.intp)
    unobserved = np.zeros((shows.shape[0], structure_pos.size), dtype=np.bool_)
    for i, f in enumerate(more.tolist()):
        if f in structure_pos:
            unobserved[:, np.searchsorted(structure_pos, f)] = shows[:, i] != 1
    orphan = [f for f in more[(shows == 1).any(axis=0)].tolist()
              if case.network.parents(f)[0].size == 0 and (shows[:, more == f] != 1).any()]
    with pytest.MonkeyPatch.context() as mp:
        if choice != "by cost":
            mp.setattr(engine, "table_pays", lambda comp, rows: comp.table is not None)
        batch = run_batch(case.network, priors, structure_pos, neg,
                          extra=(shows == 0).astype(np.float64), extra_findings=more,
                          method="exact", budget=DEFAULT_BUDGET, unobserved=unobserved)
    if orphan:  # an orphan's leak sits outside the rows: refused, for one run per row
        assert batch is None
        return
    assert batch is not None
    for b, row in enumerate(shows):
        present = np.union1d(pos, more[row == 1]).astype(np.intp)
        absent = np.union1d(neg, more[row == 0]).astype(np.intp)
        one = _run(case.network, priors, present, absent, method="exact", budget=DEFAULT_BUDGET)
        assert np.abs(batch[0][b] - one.probabilities).max() <= TOL
        assert batch[1][b] == pytest.approx(one.log_evidence, rel=1e-9, abs=1e-9)


@settings(max_examples=40)
@given(case=problems(max_absent=6), data=st.data())
def test_fold_batch_equals_fold_absent(case: Problem, data: st.DataObject) -> None:
    """Folding a batch of absent sets equals folding each set alone."""
    priors, _, neg = arrays(case)
    extra = np.array(data.draw(st.lists(st.integers(0, case.network.n_findings - 1),
                                        unique=True, max_size=3)), dtype=np.intp)
    extra = np.setdiff1d(extra, neg).astype(np.intp)
    rows = batch_rows(extra.size)
    pi, pi_c, log_ev = fold_batch(case.network, priors, neg, rows, extra)
    for b, row in enumerate(rows):
        one = fold_absent(case.network, priors, np.union1d(neg, extra[row > 0]).astype(np.intp))
        assert np.allclose(pi[b], one.pi, rtol=1e-12, atol=1e-300)
        assert np.allclose(pi_c[b], one.pi_c, rtol=1e-12, atol=1e-300)
        assert log_ev[b] == pytest.approx(one.log_evidence, rel=1e-12, abs=1e-12)


def test_structures_are_cached_per_network() -> None:
    """The same present set on the same network reuses one structure; other networks do not."""
    from twitchcds.inference import NoisyOrNetwork

    def net() -> NoisyOrNetwork:
        return NoisyOrNetwork.from_arrays(["a", "b"], ["x", "y"], [0.1, 0.1],
                                          [(0, 0, 0.5), (1, 0, 0.5), (1, 1, 0.5)])

    one, two = net(), net()
    assert structure(one, (0, 1)) is structure(one, (0, 1))
    assert structure(one, (0, 1)) is not structure(two, (0, 1))


def test_impossible_rows_raise_in_a_batch() -> None:
    """A batch whose evidence cannot occur raises like a single run."""
    from twitchcds.inference import NoisyOrNetwork

    net = NoisyOrNetwork.from_arrays(["a", "b"], ["x", "y"], [0.0, 0.0],
                                     [(0, 0, 1.0), (0, 1, 0.5), (1, 0, 0.5)])
    with pytest.raises(InvalidInputError):
        run_batch(net, np.array([0.5, 0.5]), np.array([1]), np.array([0]),
                  extra=np.zeros((2, 0)), extra_findings=np.zeros(0, dtype=np.intp),
                  method="exact", budget=DEFAULT_BUDGET)


# --- work-up ---------------------------------------------------------------------------------

CASES = [
    {"age": 63, "sex": "male", "findings": [
        {"id": "fasciculations", "status": "present"},
        {"id": "muscle_weakness", "status": "present"},
        {"id": "muscle_atrophy", "status": "present"},
        {"id": "hyperreflexia", "status": "present"}],
     "history": {"duration_days": 150, "progressive": True, "distribution": "multifocal"}},
    {"age": 27, "findings": [{"id": "fasciculations", "status": "present"}],
     "history": {"caffeine_mg_per_day": 650, "sleep_hours_per_night": 5}},
    {"labs": [{"loinc": "2823-3", "value": 2.6, "unit": "mmol/L"}],
     "findings": [{"id": "muscle_cramps", "status": "present"}]},
]


def _scorer(kb: KnowledgeBase, payload: dict[str, Any], method: Method = "auto",
            ) -> tuple[Scorer, Evidence]:
    case = Case.from_dict(payload)
    evidence = derive_evidence(case, kb)
    model = compile_model(kb)
    priors = case_priors(model, case.setting, evidence.risk_factors)
    return Scorer.for_priors(kb, model, priors.adjusted, method), evidence


@pytest.mark.parametrize("payload", CASES)
def test_batched_outcomes_equal_one_inference_per_outcome(kb: KnowledgeBase,
                                                          payload: dict[str, Any]) -> None:
    """Outcome probabilities and posteriors from one batch equal one inference per outcome."""
    scorer, evidence = _scorer(kb, payload)
    base = scorer.run(evidence.present, evidence.absent)
    for test in kb.tests:
        unknown = [f for f in test.reveals if evidence.status(f) is None][:6]
        if not unknown:
            continue
        fast = batched_outcomes(scorer, evidence, unknown, base.log_evidence)
        slow = enumerate_outcomes(scorer, evidence, unknown, base.log_evidence)
        assert fast is not None
        assert [o[0] for o in fast] == [o[0] for o in slow]
        for (_, p1, post1), (_, p2, post2) in zip(fast, slow, strict=True):
            assert p1 == pytest.approx(p2, abs=1e-12)
            assert np.abs(post1 - post2).max() <= 1e-9


@pytest.mark.parametrize("payload", CASES)
def test_batched_question_values_equal_two_inferences(kb: KnowledgeBase,
                                                      payload: dict[str, Any]) -> None:
    """Every question's value from the batch equals valuing its two outcomes directly."""
    scorer, evidence = _scorer(kb, payload)
    base = scorer.run(evidence.present, evidence.absent)
    loss = expected_loss(scorer.model, base.probabilities)
    ids = [f.id for f in kb.findings if f.question and evidence.status(f.id) is None]
    fast = _question_values(scorer, evidence, base.log_evidence, ids=ids,
                            base_loss=loss)
    for f, value in zip(ids, fast, strict=True):
        slow = _value(scorer.model, loss,
                      enumerate_outcomes(scorer, evidence, [f], base.log_evidence))
        assert value == pytest.approx(slow, abs=1e-12)


def test_approximate_method_keeps_the_plain_work_up(kb: KnowledgeBase) -> None:
    """With method='approximate' no batch runs: the work-up is valued outcome by outcome."""
    scorer, evidence = _scorer(kb, CASES[1], method="approximate")
    assert scorer.run_absent_batch(evidence.present, evidence.absent, ["muscle_cramps"],
                                   np.ones((1, 1))) is None
    base = scorer.run(evidence.present, evidence.absent)
    tests = rank_tests(scorer, evidence, base.probabilities, base.log_evidence)
    questions = next_questions(scorer, evidence, base.probabilities, base.log_evidence)
    assert all(t.value >= 0.0 for t in tests)
    assert all(q.value > 0.0 for q in questions)


@pytest.mark.parametrize("payload", CASES)
def test_rank_tests_without_the_batch_gives_the_same_work_up(
        kb: KnowledgeBase, payload: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """When the shared batch cannot run, valuing outcome by outcome gives the same tests.

    Same order, values, outcomes (statuses, probabilities, top conditions) and rationales:
    the stacked per-test summaries line up with their tests either way.
    """
    scorer, evidence = _scorer(kb, payload)
    base = scorer.run(evidence.present, evidence.absent)
    fired = list(kb.red_flags)[:2]
    batched = rank_tests(scorer, evidence, base.probabilities, base.log_evidence, fired)
    monkeypatch.setattr(Scorer, "run_absent_batch", lambda *args, **kwargs: None)
    plain = rank_tests(scorer, evidence, base.probabilities, base.log_evidence, fired)
    assert [t.id for t in plain] == [t.id for t in batched]
    for one, other in zip(plain, batched, strict=True):
        assert one.value == pytest.approx(other.value, abs=1e-10)
        assert one.rationale == other.rationale
        assert one.recommended == other.recommended
        assert [o.findings for o in one.outcomes] == [o.findings for o in other.outcomes]
        for a, b in zip(one.outcomes, other.outcomes, strict=True):
            assert a.probability == pytest.approx(b.probability, abs=1e-12)
            assert [c for c, _ in a.posterior] == [c for c, _ in b.posterior]
            assert np.allclose([q for _, q in a.posterior], [q for _, q in b.posterior],
                               rtol=0.0, atol=1e-9)


def test_outcome_probabilities_sum_to_one(kb: KnowledgeBase) -> None:
    """Each test's possible outcomes have probabilities summing to 1."""
    result = assess(CASES[0], kb)
    for test in result.all_tests:
        if test.outcomes:
            assert math.fsum(o.probability for o in test.outcomes) == pytest.approx(1.0)
    assert list(itertools.islice(result.questions, 1))


@pytest.mark.parametrize("payload", CASES)
def test_rank_tests_equals_one_inference_per_outcome(kb: KnowledgeBase,
                                                     payload: dict[str, Any]) -> None:
    """The work-up (all tests in one batch, improbable outcomes solved again directly) is exact."""
    scorer, evidence = _scorer(kb, payload)
    base = scorer.run(evidence.present, evidence.absent)
    loss = expected_loss(scorer.model, base.probabilities)
    tests = {t.id: t for t in rank_tests(scorer, evidence, base.probabilities,
                                         base.log_evidence)}
    for test in kb.tests:
        unknown = [f for f in test.reveals if evidence.status(f) is None][:6]
        if not unknown:
            assert tests[test.id].value == 0.0
            continue
        slow = enumerate_outcomes(scorer, evidence, unknown, base.log_evidence)
        assert tests[test.id].value == pytest.approx(_value(scorer.model, loss, slow), abs=1e-10)
        for outcome, (pairs, p, _) in zip(tests[test.id].outcomes, slow, strict=True):
            assert outcome.findings == pairs
            assert outcome.probability == pytest.approx(p, abs=1e-12)


def test_assessing_with_a_knowledge_base_does_not_keep_it_alive() -> None:
    """Every per-knowledge-base cache and memo that assess fills lets the knowledge base go."""
    import gc
    import weakref

    import attrs

    from twitchcds import load_knowledge_base

    kb = attrs.evolve(load_knowledge_base())
    assess({"age": 70, "sex": "male", "findings": [
        {"id": "fasciculations", "status": "present"},
        {"id": "muscle_weakness", "status": "present"}]}, kb)
    gone = weakref.ref(kb)
    del kb
    gc.collect()
    assert gone() is None


def test_table_component_falls_back_to_a_plan_built_on_demand() -> None:
    """A component planned for the full table only (no frontier plan) still solves evidence
    too improbable for unscaled table cells, by building its frontier plan when needed."""
    from twitchcds.inference import NoisyOrNetwork
    from twitchcds.inference._structure import build_structure

    m, k = 8, 3
    links = [(c, f, 0.3 + 0.05 * c) for c in range(m) for f in range(k)]
    net = NoisyOrNetwork.from_arrays([f"c{i}" for i in range(m)], [f"f{i}" for i in range(k)],
                                     [0.0] * k, links)
    (comp,) = build_structure(net, np.arange(k)).components
    assert comp.table is not None
    assert comp.plan is None  # the table was certainly cheaper: no frontier plan was made
    priors = np.full(m, 1e-300)  # P(evidence) ~ 1e-300: below what the table scales safely
    result = infer(net, priors, list(range(k)), [], method="exact")
    want, log_ev = brute_force(net, priors, list(range(k)), [])
    assert np.abs(result.probabilities - want).max() <= TOL
    assert result.log_evidence == pytest.approx(log_ev, rel=1e-9)


@settings(max_examples=60)
@given(case=problems(positive_leaks=True, inhibitors=True, max_present=12), data=st.data())
def test_rows_with_their_own_link_probabilities_equal_one_inference_each(
        case: Problem, data: st.DataObject) -> None:
    """:func:`~twitchcds.inference._engine.run_draws` (through the interval draws) equals one
    inference per row on a network with that row's link probabilities and leaks, on random
    networks with inhibitor links and every kind of component."""
    from twitchcds.intervals import _batched_draws, _engine_draws, _gather, _Observed

    net = case.network
    chosen = case.present + case.absent
    entries, ptr = _gather(net.parent_ptr, chosen)
    inh_entries, inh_ptr = _gather(net.inhibit_ptr, chosen)
    observed = _Observed(len(case.present), np.array(case.present, dtype=np.intp), entries, ptr,
                         np.repeat(np.arange(len(chosen)), np.diff(ptr)), inh_entries, inh_ptr)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rows = data.draw(st.integers(1, 6))
    args = {"links": rng.uniform(1e-4, 1 - 1e-4, (rows, entries.size)),
            "leaks": rng.uniform(1e-6, 0.3, (rows, len(chosen))),
            "priors": rng.uniform(1e-4, 0.9, (rows, net.n_conditions))}
    fast = _batched_draws(net, observed, **args)
    assert fast is not None
    assert np.abs(fast - _engine_draws(net, observed, **args)).max() <= 1e-12


def _component_of(links: list[tuple[int, int, float]], m: int, k: int) -> Any:
    from twitchcds.inference import NoisyOrNetwork
    from twitchcds.inference._structure import build_structure

    net = NoisyOrNetwork.from_arrays([f"c{i}" for i in range(m)], [f"f{i}" for i in range(k)],
                                     [0.0] * k, links)
    (comp,) = build_structure(net, np.arange(k)).components
    return comp


def test_batches_take_the_frontier_sum_where_it_is_cheaper_per_row() -> None:
    """One row keeps the structure's full table; a batch leaves it for the frontier sum only
    where that is cheaper per row: a band of overlapping conditions (narrow frontier), not a
    dense block (a frontier as wide as the table)."""
    k, m = 9, 14  # band: condition c has findings c // 2 to c // 2 + 2
    band = _component_of([(c, c // 2 + j, 0.4) for c in range(m) for j in range(3)], m, k)
    dense = _component_of([(c, f, 0.2 + 0.01 * c) for c in range(12) for f in range(k)], 12, k)
    for comp in (band, dense):
        assert comp.table is not None  # the structure chose the table for one row
        assert planned_for(comp, 1) is comp
        assert table_pays(comp, 1)
    assert not table_pays(planned_for(band, 100), 100)
    assert table_pays(planned_for(dense, 100), 100)


@given(st.integers(1, 40), st.integers(1, 90), st.floats(0.0, 1.0), st.data())
def test_unique_rows_equals_numpy_unique(n: int, m: int, density: float,
                                         data: st.DataObject) -> None:
    """The packed-bytes row dedup of the shared batch gives ``np.unique(axis=0)``'s rows,
    order and inverse, for any 0/1 rows (repeats included; over 64 columns too)."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = (rng.random((n, m)) < density).astype(np.float64)
    rows = rows[rng.integers(0, n, 2 * n)]
    want, want_inverse = np.unique(rows, axis=0, return_inverse=True)
    got, inverse = _unique_rows(rows)
    assert np.array_equal(got, want)
    assert np.array_equal(inverse, want_inverse.reshape(-1))
