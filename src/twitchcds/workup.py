"""Work-up: tests ranked by expected value of information per unit cost, and next questions.

Utility (the threshold approach of Pauker & Kassirer 1980): for each condition the clinician
decides whether to act on it. Missing a present condition costs ``miss_loss[severity]``, acting on
an absent one costs ``false_alarm_loss``; at posterior ``p`` the best decision's expected loss is
``min(miss_loss * p, false_alarm_loss * (1 - p))``. The picture's loss is the sum over conditions.
A test's value is the expected reduction of that loss over its outcomes (the joint results of the
findings it reveals, each weighted by its predictive probability under the current posterior).
The loss is concave in each posterior, so the value is never negative, and it is zero for a test
whose outcomes cannot change any posterior. A test is recommended when value / cost reaches the
knowledge base's ``min_value_per_cost``; questions (unobserved symptoms and signs) are ranked by
the same value at no cost.

Examples
--------
>>> import numpy as np
>>> from twitchcds import load_knowledge_base
>>> kb = load_knowledge_base()
>>> loss = expected_loss(kb, np.zeros(len(kb.conditions)))
>>> loss
0.0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.evidence import Evidence
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import Test
from twitchcds.scoring import Scorer
from twitchcds.typing import Status

__all__ = [
    "Outcome",
    "Question",
    "TestValue",
    "expected_loss",
    "next_questions",
    "rank_tests",
]

MAX_REVEALED = 6
"""Tests revealing more unobserved findings than this are valued on their first six."""


@frozen
class Outcome:
    """One possible result of a test: the statuses it would show, how likely, what then."""

    findings: tuple[tuple[str, Status], ...]
    probability: float
    posterior: tuple[tuple[str, float], ...]
    """The three most probable conditions after this outcome."""


@frozen
class TestValue:
    """A test's expected value of information, its cost, and why."""

    __test__ = False  # not a pytest test class

    id: str
    name: str
    value: float
    cost: float
    value_per_cost: float
    recommended: bool
    rationale: str
    outcomes: tuple[Outcome, ...]


@frozen
class Question:
    """An unobserved finding worth asking about or examining next."""

    finding: str
    text: str
    value: float


def _losses(kb: KnowledgeBase) -> tuple[npt.NDArray[np.float64], float]:
    miss = np.array([kb.decision.miss_loss[c.severity] for c in kb.conditions], dtype=np.float64)
    return miss, kb.decision.false_alarm_loss


def expected_loss(kb: KnowledgeBase, probabilities: npt.NDArray[np.float64]) -> float:
    """Return the summed expected loss of the best act-or-not decision per condition."""
    miss, false_alarm = _losses(kb)
    return float(np.minimum(miss * probabilities, false_alarm * (1.0 - probabilities)).sum())


def _outcomes(
    scorer: Scorer, evidence: Evidence, findings: Sequence[str], base_log_evidence: float,
) -> list[tuple[tuple[tuple[str, Status], ...], float, npt.NDArray[np.float64]]]:
    out = []
    statuses: tuple[Status, Status] = ("present", "absent")
    for combo in itertools.product(statuses, repeat=len(findings)):
        pairs = tuple(zip(findings, combo, strict=True))
        present = set(evidence.present) | {f for f, s in pairs if s == "present"}
        absent = set(evidence.absent) | {f for f, s in pairs if s == "absent"}
        result = scorer.run(present, absent)
        probability = math.exp(result.log_evidence - base_log_evidence)
        out.append((pairs, probability, result.probabilities))
    return out


def _value(kb: KnowledgeBase, base_loss: float, outcomes: Sequence[
        tuple[object, float, npt.NDArray[np.float64]]]) -> float:
    total = sum(p for _, p, _ in outcomes)
    after = sum(p * expected_loss(kb, post) for _, p, post in outcomes) / total
    return max(0.0, base_loss - after)


def _top(kb: KnowledgeBase, probs: npt.NDArray[np.float64], n: int = 3) -> tuple[
        tuple[str, float], ...]:
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))[:n]
    return tuple((kb.conditions[i].id, float(probs[i])) for i in order)


def _rationale(kb: KnowledgeBase, test: Test, current: npt.NDArray[np.float64],
               outcomes: Sequence[Outcome], posts: Sequence[npt.NDArray[np.float64]]) -> str:
    shift = sum(o.probability * np.abs(post - current) for o, post in zip(outcomes, posts,
                                                                          strict=True))
    i = int(np.argmax(shift))
    name = kb.conditions[i].name
    lo = min(float(post[i]) for post in posts)
    hi = max(float(post[i]) for post in posts)
    return (f"{test.name} would move {name} most: now {current[i]:.1%}, between {lo:.1%} and "
            f"{hi:.1%} depending on the result (relative cost {test.cost:g}, "
            f"{test.invasiveness} invasiveness, about {test.turnaround_days:g} days).")


def rank_tests(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
               log_evidence: float) -> tuple[TestValue, ...]:
    """Value every test of the knowledge base; best value per cost first.

    Tests whose findings are all observed already have value 0. Only tests with
    ``recommended=True`` are meant to be shown to a user (see :attr:`TestValue.recommended`).
    """
    kb = scorer.kb
    base_loss = expected_loss(kb, current)
    values = []
    for test in kb.tests:
        unknown = [f for f in test.reveals if evidence.status(f) is None][:MAX_REVEALED]
        if not unknown:
            values.append(TestValue(test.id, test.name, 0.0, test.cost, 0.0, recommended=False,
                                    rationale="Its results are already known.", outcomes=()))
            continue
        raw = _outcomes(scorer, evidence, unknown, log_evidence)
        value = _value(kb, base_loss, raw)
        outcomes = tuple(Outcome(pairs, p, _top(kb, post)) for pairs, p, post in raw)
        per_cost = value / test.cost
        values.append(TestValue(
            test.id, test.name, value, test.cost, per_cost,
            recommended=per_cost >= kb.decision.min_value_per_cost,
            rationale=_rationale(kb, test, current, outcomes, [post for _, _, post in raw]),
            outcomes=outcomes))
    return tuple(sorted(values, key=lambda t: (-t.value_per_cost, t.cost, t.id)))


def next_questions(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
                   log_evidence: float, limit: int = 10) -> tuple[Question, ...]:
    """Unobserved askable findings (those with a ``question``), by expected value; top ``limit``."""
    kb = scorer.kb
    base_loss = expected_loss(kb, current)
    questions = []
    for finding in kb.findings:
        if finding.question is None or evidence.status(finding.id) is not None:
            continue
        value = _value(kb, base_loss, _outcomes(scorer, evidence, [finding.id], log_evidence))
        if value > 1e-9:
            questions.append(Question(finding.id, finding.question, value))
    questions.sort(key=lambda q: (-q.value, q.finding))
    return tuple(questions[:limit])
