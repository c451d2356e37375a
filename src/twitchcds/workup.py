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

Every outcome needs a posterior; :mod:`twitchcds.outcomes` computes them for all tests from one
batched exact inference (plus one more batch for very improbable outcomes), agreeing with one
inference per outcome to within 1e-9. Values are computed from the outcomes' joint
probabilities. Questions are valued the same way from one batch of their own (each candidate
absent, and for a finding with inhibitor links its exclusion evidence observed).

Guideline indications come first: a test named by a red flag that fired (e.g. needle EMG for
twitching with weakness or wasting) is recommended whatever its value and listed ahead of the
tests recommended by value, with ``indicated_by`` naming the red flags. Next come confirmatory
tests: a test that establishes a condition (``Condition.confirmed_by``) whose posterior reaches
the policy's ``confirm_min_probability`` (e.g. AR CAG-repeat testing when Kennedy disease is
likely), most probable condition first, with ``confirms`` naming the conditions. Value of
information answers "what would change the picture most per unit of cost"; it cannot express that a
diagnosis such as ALS is only made with electrodiagnostic confirmation, which is what the
guideline rule adds.

Examples
--------
>>> import numpy as np
>>> from twitchcds import load_knowledge_base
>>> from twitchcds.compiled import compile_model
>>> model = compile_model(load_knowledge_base())
>>> loss = expected_loss(model, np.zeros(len(model.rows)))
>>> loss
0.0
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.compiled import CompiledModel
from twitchcds.evidence import Evidence
from twitchcds.inference import RANK_DIGITS, rank_order
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import RedFlag, Test
from twitchcds.outcomes import (
    MAX_REVEALED,
    STATUSES,
    blocked,
    enumerate_outcomes,
    lab_constraints,
    possible,
    possible_results,
    solve_outcomes,
)
from twitchcds.scoring import Scorer
from twitchcds.triage import level_rank
from twitchcds.typing import Status

__all__ = [
    "Outcome",
    "Question",
    "TestValue",
    "expected_loss",
    "lab_constraints",
    "next_questions",
    "rank_tests",
]


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
    indicated_by: tuple[str, ...] = ()
    """Red flags whose guideline calls for this test (empty when recommended by value alone)."""
    confirms: tuple[str, ...] = ()
    """Likely conditions this test establishes or excludes."""


@frozen
class Question:
    """An unobserved finding worth asking about or examining next."""

    finding: str
    text: str
    value: float


def expected_loss(model: CompiledModel, probabilities: npt.NDArray[np.float64]) -> float:
    """Return the summed expected loss of the best act-or-not decision per condition."""
    return float(_losses(model, np.asarray(probabilities)[None, :])[0])


def _loss_terms(model: CompiledModel, joint: npt.NDArray[np.float64],
                probability: npt.NDArray[np.float64] | float = 1.0) -> npt.NDArray[np.float64]:
    """Each condition's expected loss per row, from joint probabilities ``P(row, c)``, ``P(row)``.

    The loss is positively homogeneous, so this is ``P(row)`` times the loss of the row's
    posterior; with the default ``probability`` the rows are posteriors.
    """
    miss, false_alarm = model.miss_loss, model.false_alarm_loss
    gap = np.reshape(probability, (-1, 1)) - joint
    terms: npt.NDArray[np.float64] = np.minimum(miss * joint, false_alarm * gap)
    return terms


def _losses(model: CompiledModel, posteriors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`expected_loss` of each row of ``posteriors``."""
    losses: npt.NDArray[np.float64] = _loss_terms(model, posteriors).sum(axis=1)
    return losses


def _value(model: CompiledModel, base_loss: float, outcomes: Sequence[
        tuple[object, float, npt.NDArray[np.float64]]]) -> float:
    after = sum(p * expected_loss(model, post) for _, p, post in outcomes)
    return max(0.0, base_loss - after)


def _tops(kb: KnowledgeBase, posteriors: npt.NDArray[np.float64], n: int = 3) -> list[tuple[
        tuple[str, float], ...]]:
    """Return the ``n`` most probable conditions of each row (ties: knowledge-base order)."""
    order = np.argsort(-posteriors, axis=1, kind="stable")[:, :n].tolist()
    return [tuple((kb.conditions[i].id, row[i]) for i in idx)
            for idx, row in zip(order, posteriors.tolist(), strict=True)]


class _Summary(NamedTuple):
    """What a test's outcomes say: see :meth:`_Valued.summaries`."""

    probabilities: list[float]
    loss_after: float
    """Expected loss after the test (its outcomes' losses weighted by their probabilities)."""
    tops: list[tuple[tuple[str, float], ...]]
    """Each outcome's three most probable conditions."""
    moves: tuple[int, float, float]
    """The condition whose posterior the test shifts most (expected absolute change), and that
    posterior's lowest and highest value over the outcomes."""


class _Valued(NamedTuple):
    """Every valued test's outcomes, stacked: test ``t`` has rows ``starts[t]:starts[t + 1]``."""

    probability: npt.NDArray[np.float64]
    posterior: npt.NDArray[np.float64]
    starts: list[int]

    def summaries(self, kb: KnowledgeBase, model: CompiledModel,
                  current: npt.NDArray[np.float64]) -> Iterator[_Summary]:
        """Each test's :class:`_Summary`, from one array pass over all tests' outcomes."""
        if len(self.starts) < 2:
            return
        losses = _losses(model, self.posterior)
        tops = _tops(kb, self.posterior)
        first = self.starts[:-1]
        shift = np.add.reduceat(self.probability[:, None] * np.abs(self.posterior - current),
                                first, axis=0)
        moved = np.argmax(shift, axis=1)
        at = np.arange(moved.size)
        lo = np.minimum.reduceat(self.posterior, first, axis=0)[at, moved].tolist()
        hi = np.maximum.reduceat(self.posterior, first, axis=0)[at, moved].tolist()
        for t, (start, stop) in enumerate(itertools.pairwise(self.starts)):
            yield _Summary(self.probability[start:stop].tolist(),
                           float(self.probability[start:stop] @ losses[start:stop]),
                           tops[start:stop], (int(moved[t]), lo[t], hi[t]))


def _value_items(scorer: Scorer, evidence: Evidence,
                 items: Sequence[tuple[Sequence[str], npt.NDArray[np.intp]]],
                 log_evidence: float) -> _Valued:
    """Solve the outcomes of every item ``(findings, absent)``, stacked in a :class:`_Valued`.

    From one batch (:func:`~twitchcds.outcomes.solve_outcomes`), or with one inference per
    outcome when the batch cannot run exactly; both list the results ``absent`` in order.
    """
    solved = solve_outcomes(scorer, evidence, items, log_evidence) if items else None
    if solved is None:
        solved = []
        for findings, _ in items:
            raw = enumerate_outcomes(scorer, evidence, findings, log_evidence)
            solved.append((np.array([p for _, p, _ in raw]), np.array([q for _, _, q in raw])))
    n = len(scorer.model.rows)
    return _Valued(np.concatenate([p for p, _ in solved]) if solved else np.zeros(0),
                   np.concatenate([q for _, q in solved]) if solved else np.zeros((0, n)),
                   np.cumsum([0, *(len(p) for p, _ in solved)]).tolist())


def _rationale(kb: KnowledgeBase, test: Test, current: npt.NDArray[np.float64],
               moves: tuple[int, float, float]) -> str:
    i, lo, hi = moves
    name = kb.conditions[i].name
    return (f"{test.name} would move {name} most: now {current[i]:.1%}, between {lo:.1%} and "
            f"{hi:.1%} depending on the result (relative cost {test.cost:g}, "
            f"{test.invasiveness} invasiveness, about {test.turnaround_days:g} days).")


def _indications(fired: Sequence[RedFlag]) -> dict[str, list[RedFlag]]:
    out: dict[str, list[RedFlag]] = {}
    for flag in fired:
        for test in flag.tests:
            out.setdefault(test, []).append(flag)
    return out


def _confirmations(kb: KnowledgeBase, model: CompiledModel,
                   current: npt.NDArray[np.float64]) -> dict[str, list[str]]:
    """Test id -> likely conditions it confirms, most probable condition first.

    Ranked as the differential is (:func:`~twitchcds.inference.rank_order`), so the order is
    the same whichever exact method solved ``current``.
    """
    out: dict[str, list[str]] = {}
    for i in rank_order(current, model.id_rank).tolist():
        condition = kb.conditions[i]
        if current[i] < kb.decision.confirm_min_probability:
            break
        for test in condition.confirmed_by:
            out.setdefault(test, []).append(condition.id)
    return out


def _order(test: TestValue, indicate_rank: dict[str, int],
           confirm_rank: dict[str, int]) -> tuple[int, int, float, float, str]:
    if test.indicated_by:
        return (0, indicate_rank[test.id], 0.0, test.cost, test.id)
    if test.confirms:
        return (1, confirm_rank[test.id], 0.0, test.cost, test.id)
    # values are exact to about 1e-14: rounded, rounding noise cannot reorder tests whose value
    # is nil (an order that then does not depend on which exact method solved the outcomes)
    return (2, 0, -round(test.value_per_cost, RANK_DIGITS), test.cost, test.id)


def rank_tests(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
               log_evidence: float, fired: Sequence[RedFlag] = (), *,
               valued: bool = True) -> tuple[TestValue, ...]:
    """Value every test: red-flag indications first, then confirmatory tests, then value per cost.

    Tests whose findings are all observed already have value 0 and are never recommended. Only
    tests with ``recommended=True`` are meant to be shown to a user; ``fired`` are the red flags
    present, whose ``tests`` are recommended whatever their value. With ``valued=False`` (used
    when inference had to be approximate, where each outcome would cost a sampling run) no
    outcome is enumerated: every value is 0 and only indicated and confirmatory tests are
    recommended.
    """
    kb = scorer.kb
    base_loss = expected_loss(scorer.model, current)
    indications = _indications(fired)
    confirmations = _confirmations(kb, scorer.model, current)
    values = []
    revealed = [[f for f in test.reveals if evidence.status(f) is None][:MAX_REVEALED]
                for test in kb.tests]
    results = [possible_results(kb, evidence, unknown) if unknown and valued else None
               for unknown in revealed]
    items = [(unknown, absent) for unknown, absent in zip(revealed, results, strict=True)
             if absent is not None]
    summaries = _value_items(scorer, evidence, items, log_evidence).summaries(
        kb, scorer.model, current)
    for test, unknown, absent in zip(kb.tests, revealed, results, strict=True):
        if not unknown:
            values.append(TestValue(test.id, test.name, 0.0, test.cost, 0.0, recommended=False,
                                    rationale="Its results are already known.", outcomes=()))
            continue
        flags = indications.get(test.id, [])
        confirms = confirmations.get(test.id, [])
        if absent is not None:
            summary = next(summaries)
            value = max(0.0, base_loss - summary.loss_after)
            statuses = STATUSES[len(unknown)]
            outcomes = tuple(Outcome(tuple(zip(unknown, statuses[v], strict=True)), p, top)
                             for v, p, top in zip(absent.tolist(), summary.probabilities,
                                                  summary.tops, strict=True))
            rationale = _rationale(kb, test, current, summary.moves)
        else:
            value, outcomes = 0.0, ()
            rationale = ("Not valued: this case needed approximate inference, so outcomes were "
                         "not enumerated.")
        per_cost = value / test.cost
        if confirms:
            names = ", ".join(kb.condition_index[c].name for c in confirms)
            rationale = (f"Establishes or excludes {names}, now likely enough to confirm. "
                         + rationale)
        if flags:
            rationale = (f"Indicated by the red flag(s): {'; '.join(f.text for f in flags)}. "
                         + rationale)
        values.append(TestValue(
            test.id, test.name, value, test.cost, per_cost,
            recommended=bool(flags or confirms) or (
                valued and per_cost >= kb.decision.min_value_per_cost),
            rationale=rationale, outcomes=outcomes, indicated_by=tuple(f.id for f in flags),
            confirms=tuple(confirms)))
    # Indicated tests: the most urgent flag's tests first, then in knowledge-base order.
    indicate_rank = {t: rank for rank, t in enumerate(sorted(
        indications, key=lambda t: -max(level_rank(f.level) for f in indications[t])))}
    confirm_rank = {t: rank for rank, t in enumerate(confirmations)}
    return tuple(sorted(values, key=lambda t: _order(t, indicate_rank, confirm_rank)))


def _askable(kb: KnowledgeBase, evidence: Evidence) -> list[str]:
    """Unobserved findings with a question, in knowledge-base order."""
    return [f.id for f in kb.findings if f.question is not None and evidence.status(f.id) is None]


def next_questions(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
                   log_evidence: float, limit: int = 10) -> tuple[Question, ...]:
    """Unobserved askable findings (those with a ``question``), by expected value; top ``limit``.

    All candidates are valued from one batched inference (rows: the current evidence, each
    candidate absent, and for a finding with inhibitor links its exclusion evidence observed
    with and without it absent); values come from joint probabilities, so no division by a
    small probability occurs.
    """
    kb = scorer.kb
    base_loss = expected_loss(scorer.model, current)
    candidates = _askable(kb, evidence)
    values = _question_values(scorer, evidence, log_evidence, ids=candidates,
                              base_loss=base_loss)
    questions = []
    for finding_id, value in zip(candidates, values, strict=True):
        if value > 1e-9:
            question = kb.finding_index[finding_id].question
            assert question is not None  # noqa: S101  (candidates have one)
            questions.append(Question(finding_id, question, value))
    questions.sort(key=lambda q: (-round(q.value, RANK_DIGITS), q.finding))  # as _order
    return tuple(questions[:limit])


def _question_values(scorer: Scorer, evidence: Evidence, log_evidence: float, *,
                     ids: Sequence[str], base_loss: float) -> list[float]:
    """Return the expected loss reduction of observing each of ``ids`` (one batch).

    Rows: the current evidence, each candidate absent, and for a candidate with inhibitor
    links its exclusion evidence observed without and with it absent. "Absent" is its row;
    "present" is the current evidence minus "absent" (for an inhibited finding: its exclusion
    evidence minus that with it absent, so showing it present observes its exclusion evidence
    too). A status the lab constraints rule out gets probability 0. The loss is computed from
    joint probabilities, so no division by a small probability occurs.
    """
    if not ids:
        return []
    model = scorer.model
    held = [f for f in ids if f in model.inhibited]
    n, m = len(ids), len(held)
    rows = np.zeros((1 + n + 2 * m, n + m))
    rows[1:1 + n, :n] = np.eye(n)
    at = np.array([ids.index(f) for f in held], dtype=np.intp)
    rows[1 + n:, n:] = np.vstack((np.eye(m), np.eye(m)))
    rows[1 + n + m + np.arange(m), at] = 1.0
    batch = scorer.run_absent_batch(evidence.present, evidence.absent, ids, rows, shown=held)
    if batch is None:
        return [_value(model, base_loss, enumerate_outcomes(scorer, evidence, [f], log_evidence))
                for f in ids]
    probs, log_ev = batch
    weight = np.exp(log_ev - log_evidence)
    joint = weight[:, None] * probs
    shown, hidden = np.zeros(n, dtype=np.intp), 1 + np.arange(n)  # "present": shown - hidden
    shown[at], hidden[at] = 1 + n + np.arange(m), 1 + n + m + np.arange(m)
    ruled_out = blocked(scorer.kb, evidence)
    can = np.array([possible(scorer.kb, evidence, [f]) if f in ruled_out else (True, True)
                    for f in ids], dtype=np.bool_)  # [present, absent] possible
    p_pos = np.maximum(weight[shown] - weight[hidden], 0.0) * can[:, 0]
    p_neg = weight[1:1 + n] * can[:, 1]
    j_pos = np.clip(joint[shown] - joint[hidden], 0.0, p_pos[:, None])
    j_neg = joint[1:1 + n] * can[:, 1:]
    after = (_loss_terms(model, j_neg, p_neg) + _loss_terms(model, j_pos, p_pos)).sum(axis=1)
    values: list[float] = np.maximum(0.0, base_loss - after / (p_pos + p_neg)).tolist()
    return values
