"""The batched work-up gives the answers of one inference per outcome.

The reference is :func:`twitchcds.outcomes.enumerate_outcomes`.

Random valid cases of the built-in knowledge base (lab values, so lab-derived findings and their
constraints; inhibited findings observed or revealed by a test) are ranked by
:func:`~twitchcds.workup.rank_tests` and :func:`~twitchcds.workup.next_questions`, and every
number is compared with the plain enumeration, to ``outcomes.OUTCOME_TOLERANCE`` (1e-9, the
exactness the engine is tested to). No expected number is written down.
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from tests.strategies import kb_cases
from twitchcds import Case, KnowledgeBase, load_knowledge_base, outcomes
from twitchcds import workup as wu
from twitchcds.compiled import compile_model
from twitchcds.evidence import Evidence, derive_evidence
from twitchcds.priors import case_priors
from twitchcds.scoring import Scorer
from twitchcds.workup import MAX_REVEALED, TestValue, next_questions, rank_tests

TOL = outcomes.OUTCOME_TOLERANCE


@cache
def _builtin() -> KnowledgeBase:
    return load_knowledge_base()


def _setup(payload: dict[str, Any]) -> tuple[Scorer, Evidence]:
    kb = _builtin()
    case = Case.from_dict(payload)
    evidence = derive_evidence(case, kb)
    model = compile_model(kb)
    priors = case_priors(model, case.setting, evidence.risk_factors)
    return Scorer.for_priors(kb, model, priors.adjusted), evidence


def _check_order(keys: list[float]) -> None:
    """Consecutive reference sort keys never decrease by more than rounding (near ties, which
    rounding decides, may come in either order)."""
    for a, b in itertools.pairwise(keys):
        assert a <= b + TOL, (a, b)


def _check_tests(scorer: Scorer, evidence: Evidence) -> None:
    kb = scorer.kb
    base = scorer.run(evidence.present, evidence.absent)
    assume(base.method == "exact")
    loss = wu.expected_loss(scorer.model, base.probabilities)
    ranked = rank_tests(scorer, evidence, base.probabilities, base.log_evidence)
    assert sorted(t.id for t in ranked) == sorted(t.id for t in kb.tests)
    want_value: dict[str, float] = {}
    for test in ranked:
        unknown = [f for f in kb.test_index[test.id].reveals
                   if evidence.status(f) is None][:MAX_REVEALED]
        slow = (outcomes.enumerate_outcomes(scorer, evidence, unknown, base.log_evidence)
                if unknown else [])
        want_value[test.id] = wu._value(scorer.model, loss, slow) if unknown else 0.0
        assert test.value == pytest.approx(want_value[test.id], abs=TOL)
        assert [o.findings for o in test.outcomes] == [pairs for pairs, _, _ in slow]
        for outcome, (_, p, post) in zip(test.outcomes, slow, strict=True):
            assert outcome.probability == pytest.approx(p, abs=TOL)
            listed = [q for _, q in outcome.posterior]
            assert listed == pytest.approx(sorted(post, reverse=True)[:3], abs=TOL)
            for condition, q in outcome.posterior:
                assert q == pytest.approx(post[kb.conditions.index(
                    kb.condition_index[condition])], abs=TOL)
        vpc = want_value[test.id] / test.cost
        if not (test.indicated_by or test.confirms) and abs(
                vpc - kb.decision.min_value_per_cost) > TOL:
            assert test.recommended == (vpc >= kb.decision.min_value_per_cost)
    by_value = [t for t in ranked if not (t.indicated_by or t.confirms)]
    _check_order([-want_value[t.id] / t.cost for t in by_value])


def _reference_questions(scorer: Scorer, evidence: Evidence) -> dict[str, float]:
    base = scorer.run(evidence.present, evidence.absent)
    loss = wu.expected_loss(scorer.model, base.probabilities)
    enumerate_outcomes = outcomes.enumerate_outcomes
    return {f.id: wu._value(scorer.model, loss,
                            enumerate_outcomes(scorer, evidence, [f.id], base.log_evidence))
            for f in scorer.kb.findings if f.question is not None and evidence.status(f.id) is None}


def _check_questions(scorer: Scorer, evidence: Evidence) -> None:
    base = scorer.run(evidence.present, evidence.absent)
    assume(base.method == "exact")
    want = _reference_questions(scorer, evidence)
    got = next_questions(scorer, evidence, base.probabilities, base.log_evidence,
                         limit=len(want))
    for question in got:
        assert question.value == pytest.approx(want[question.finding], abs=TOL)
    assert {q.finding for q in got} >= {f for f, v in want.items() if v > 1e-9 + TOL}
    _check_order([-want[q.finding] for q in got])


_SLOW = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])


@_SLOW
@given(kb_cases(_builtin(), max_findings=8))
def test_rank_tests_equals_one_inference_per_outcome(payload: dict[str, Any]) -> None:
    """Every test's value, outcomes, outcome probabilities and posteriors, recommendation and
    place equal those from one inference per outcome (ties within rounding may swap)."""
    _check_tests(*_setup(payload))


@_SLOW
@given(kb_cases(_builtin(), max_findings=8))
def test_next_questions_equal_one_inference_per_outcome(payload: dict[str, Any]) -> None:
    """Every question's value and place equal those from two inferences per question."""
    _check_questions(*_setup(payload))


@pytest.mark.parametrize("path", ["one batch", "one inference each"])
@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(kb_cases(_builtin(), max_findings=8))
def test_ill_conditioned_outcomes_are_resolved_exactly(path: str, payload: dict[str, Any],
                                                       ) -> None:
    """With a pessimistic rounding bound most outcomes count as ill-conditioned, so they are
    solved again directly: as rows of one batch, or (when that batch cannot run) one inference
    each; the results still equal one inference per outcome."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(outcomes, "BATCH_ROUNDING", 1e-4)
        if path != "one batch":
            mp.setattr(Scorer, "run_results", lambda *args, **kwargs: None)
        _check_tests(*_setup(payload))


def test_inhibited_and_lab_findings_are_covered() -> None:
    """The built-in knowledge base has tests revealing inhibited and lab-constrained findings,
    so the properties above go through the grouped and constrained paths."""
    kb = _builtin()
    model = compile_model(kb)
    reveals = {f for t in kb.tests for f in t.reveals}
    assert reveals & model.inhibited
    assert reveals & {a for a, _, _ in kb.lab_constraints}
    assert {f.id for f in kb.findings if f.question} & model.inhibited


def test_outcome_lists_keep_their_shape() -> None:
    """Outcomes are listed in enumeration order (first finding slowest, present first)."""
    scorer, evidence = _setup({"findings": [{"id": "fasciculations", "status": "present"}]})
    base = scorer.run(evidence.present, evidence.absent)
    ranked: dict[str, TestValue] = {t.id: t for t in rank_tests(
        scorer, evidence, base.probabilities, base.log_evidence)}
    emg = ranked["emg"]
    first = [dict(o.findings) for o in emg.outcomes]
    assert first[0] == dict.fromkeys(first[0], "present")
    assert first[-1] == dict.fromkeys(first[-1], "absent")
    assert np.isclose(sum(o.probability for o in emg.outcomes), 1.0)
