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

Computation. Every outcome needs a posterior, so a naive work-up runs one inference per outcome
of every test and two per question (hundreds per case). Instead, every "current evidence plus
some of these findings absent" row shares the current present findings, so the rows of all
tests (a row several tests need is solved once), and separately all questions' rows, are solved
in one batched exact inference (:meth:`~twitchcds.scoring.Scorer.run_absent_batch`): an absent
finding only re-folds priors.
Outcomes with findings present follow by inclusion-exclusion over the findings shown present,
``P(e, S+, T-) = sum over U in S of (-1)^|U| P(e, (T + U)-)``, and the same for each
condition's joint probability: for ``r`` revealed findings these signs form a fixed
``2**r x 2**r`` matrix (computed once, at import, for ``r`` up to ``MAX_REVEALED``), so all the
outcomes of a test are one matrix product with its rows, and their losses, top conditions and
lab-constraint checks are array operations too. A finding with inhibitor links is grouped by
its status instead (``_grouped``; the group with all of them absent joins the shared
batch), and an inhibited question's "present" outcome gets one inference of its own.
Expected losses are computed from these joint probabilities, so a value's error is at most a
few units of rounding of the batched inference (about 1e-14) whatever the outcome
probabilities; an outcome's own posterior divides by its probability, so
when the cancellation factor ``sum |terms| / P(outcome)`` times ``BATCH_ROUNDING`` exceeds
``OUTCOME_TOLERANCE`` that outcome is not taken from the batch. Such outcomes are improbable
because some finding shown present is: while one finding is shown present in two or more of
them, they are solved again by inclusion-exclusion from a batch with that finding present (which
removes its small probability from the cancellation factor); any still ill-conditioned get one
direct inference each. Values and posteriors therefore agree with one inference per outcome to
within 1e-10.

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
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from attrs import evolve, frozen

from twitchcds.compiled import CompiledModel
from twitchcds.evidence import Evidence
from twitchcds.inference import RANK_DIGITS, rank_order
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.knowledge.model import RedFlag, Test
from twitchcds.scoring import Scorer
from twitchcds.triage import level_rank
from twitchcds.typing import Status

__all__ = [
    "Outcome",
    "Question",
    "TestValue",
    "expected_loss",
    "held_questions",
    "lab_constraints",
    "next_questions",
    "rank_tests",
]

MAX_REVEALED = 6
"""Tests revealing more unobserved findings than this are valued on their first six."""

BATCH_ROUNDING = 1e-14
"""Bound used for the relative rounding error of one batched inference.

Measured on the built-in knowledge base: an outcome posterior's error is below 1.3e-15 times
its cancellation factor (``benchmarks/bench_assess.py --check``, with the shared batch and the
re-batched improbable outcomes), so this leaves a margin of about 8.
"""

OUTCOME_TOLERANCE = 1e-10
"""Largest error allowed in an outcome posterior computed by inclusion-exclusion."""


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
    miss, false_alarm = model.miss_loss, model.false_alarm_loss
    return float(np.minimum(miss * probabilities, false_alarm * (1.0 - probabilities)).sum())


def lab_constraints(kb: KnowledgeBase) -> tuple[tuple[str, str, bool], ...]:
    """Return the logical links between findings derived from one lab value.

    See ``KnowledgeBase.lab_constraints``; test outcomes that break them are
    impossible.
    """
    return kb.lab_constraints


def _possible(kb: KnowledgeBase, evidence: Evidence,
              findings: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Which joint results of ``findings`` respect :func:`lab_constraints`, by absent bits.

    Entry ``v`` is the result with ``findings[i]`` absent where bit ``i`` of ``v`` is set. Only
    links naming one of ``findings`` are checked: the evidence stage refuses evidence that
    breaks a link by itself.
    """
    at = {f: i for i, f in enumerate(findings)}
    v = np.arange(1 << len(findings))
    ok = np.ones(v.size, dtype=np.bool_)

    def shows(f: str, status: Status) -> npt.NDArray[np.bool_]:
        if f in at:
            bit: npt.NDArray[np.bool_] = ((v >> at[f]) & 1) == (status == "absent")
            return bit
        return np.full(v.size, evidence.status(f) == status)

    for a, b, implies in lab_constraints(kb):
        if a in at or b in at:
            ok &= ~(shows(a, "present") & shows(b, "absent" if implies else "present"))
    return ok


def _blocked(kb: KnowledgeBase, evidence: Evidence) -> set[str]:
    """Unobserved findings one of whose statuses :func:`lab_constraints` rule out."""
    out = set()
    for a, b, implies in lab_constraints(kb):
        if evidence.status(b) == ("absent" if implies else "present"):
            out.add(a)  # a cannot be present
        if evidence.status(a) == "present":
            out.add(b)
    return out


def _respects(status: dict[str, Status], constraints: Sequence[tuple[str, str, bool]]) -> bool:
    for a, b, implies in constraints:
        if status.get(a) == "present" and status.get(b) == ("absent" if implies else "present"):
            return False
    return True


def _outcomes(
    scorer: Scorer, evidence: Evidence, findings: Sequence[str], base_log_evidence: float,
) -> list[tuple[tuple[tuple[str, Status], ...], float, npt.NDArray[np.float64]]]:
    """Enumerate the possible joint results of ``findings``, their probabilities and posteriors.

    One inference per result (the reference the batched work-up is tested against).
    Probabilities are renormalised over the outcomes that respect :func:`lab_constraints`.
    """
    constraints = lab_constraints(scorer.kb)
    known: dict[str, Status] = dict.fromkeys(evidence.present, "present")
    known.update(dict.fromkeys(evidence.absent, "absent"))
    out = []
    statuses: tuple[Status, Status] = ("present", "absent")
    for combo in itertools.product(statuses, repeat=len(findings)):
        pairs = tuple(zip(findings, combo, strict=True))
        if not _respects({**known, **dict(pairs)}, constraints):
            continue
        present = set(evidence.present) | {f for f, s in pairs if s == "present"}
        absent = set(evidence.absent) | {f for f, s in pairs if s == "absent"}
        result = scorer.run(present, absent)
        probability = math.exp(result.log_evidence - base_log_evidence)
        out.append((pairs, probability, result.probabilities))
    total = sum(p for _, p, _ in out)
    return [(pairs, p / total, post) for pairs, p, post in out]


def _subset_rows(r: int) -> npt.NDArray[np.float64]:
    """Row ``v`` marks the findings absent in subset ``v`` (bit ``i`` of ``v`` = finding ``i``)."""
    v = np.arange(1 << r)
    return ((v[:, None] >> np.arange(r)[None, :]) & 1).astype(np.float64)


def _enumeration(r: int) -> npt.NDArray[np.intp]:
    """Absent bits of the joint results of ``r`` findings in the order they are listed.

    The order of ``itertools.product(("present", "absent"), repeat=r)``: the first finding
    varies slowest, present first. (The bits reversed, so this permutation is its own inverse.)
    """
    bits = _subset_rows(r)[:, ::-1].astype(np.intp)
    listed: npt.NDArray[np.intp] = (bits << np.arange(r)).sum(axis=1)
    return listed


def _inclusion_exclusion(r: int) -> npt.NDArray[np.float64]:
    """``M[a, t] = (-1)**|t - a|`` when ``a`` is a subset of ``t``, else 0 (module Notes).

    Row ``a`` gives the result "the findings of ``a`` absent, the others present" from the
    subset rows: ``P(result) = M[a] @ P(subset absent)``.
    """
    v = np.arange(1 << r)
    extra = v[None, :] & ~v[:, None]
    odd = _subset_rows(r).sum(axis=1).astype(np.intp)[extra] & 1
    return np.where((v[:, None] & ~v[None, :]) == 0, 1.0 - 2.0 * odd, 0.0)


# Fixed tables for up to MAX_REVEALED findings (they depend on no knowledge base).
_ENUMERATION = tuple(_enumeration(r) for r in range(MAX_REVEALED + 1))
_SIGNS = tuple(_inclusion_exclusion(r) for r in range(MAX_REVEALED + 1))
_STATUSES: tuple[tuple[tuple[Status, ...], ...], ...] = tuple(
    tuple(tuple("absent" if (v >> i) & 1 else "present" for i in range(r))
          for v in range(1 << r))
    for r in range(MAX_REVEALED + 1))

_Batch = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]
_Solved = tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]
"""Possible results as absent bits (in listing order), their probabilities and posteriors."""


def _joint_batch(scorer: Scorer, evidence: Evidence,
                 groups: Sequence[tuple[Sequence[str], Sequence[str]]]) -> list[_Batch] | None:
    """Solve the rows of every group ``(findings, also)`` in one batch.

    A group's rows are the subset rows of ``findings`` (:func:`_subset_rows`), each with every
    finding of ``also`` absent too. All rows share the present findings, so they share one
    structure; a row needed by several groups (the current evidence alone, or the same findings
    absent) is solved once. Returns each group's ``(posteriors, log evidences)`` in subset
    order, or ``None`` when the batch cannot run exactly.
    """
    columns = {f: i for i, f in enumerate(dict.fromkeys(
        f for findings, also in groups for f in (*findings, *also)))}
    blocks = []
    for findings, also in groups:
        block = np.zeros((1 << len(findings), len(columns)))
        block[:, [columns[f] for f in findings]] = _subset_rows(len(findings))
        block[:, [columns[f] for f in also]] = 1.0
        blocks.append(block)
    rows, pick = np.unique(np.concatenate(blocks), axis=0, return_inverse=True)
    batch = scorer.run_absent_batch(evidence.present, evidence.absent, list(columns), rows)
    if batch is None:
        return None
    probs, log_ev = batch
    ends = np.cumsum([len(block) for block in blocks])[:-1]
    return [(probs[p], log_ev[p]) for p in np.split(pick.reshape(-1), ends)]


_Raw = list[tuple[tuple[tuple[str, Status], ...], float, npt.NDArray[np.float64]]]


def _outcomes_batched(
    scorer: Scorer, evidence: Evidence, findings: Sequence[str], base_log_evidence: float,
    batch: _Batch | None = None,
) -> _Raw | None:
    """:func:`_outcomes` from one batched inference by inclusion-exclusion (module Notes).

    The same list, from :func:`_solved` (``batch`` as there); ``None`` when the batch cannot
    run exactly.
    """
    solved = _solved(scorer, evidence, findings, base_log_evidence, batch)
    if solved is None:
        return None
    absent, probability, posterior = solved
    r = len(findings)
    return [(tuple(zip(findings, _STATUSES[r][v], strict=True)), p, post)
            for v, p, post in zip(absent.tolist(), probability.tolist(), posterior, strict=True)]


def _solved(scorer: Scorer, evidence: Evidence, findings: Sequence[str],
            base_log_evidence: float, batch: _Batch | None) -> _Solved | None:
    """Return the possible results of ``findings``, normalised, from batched inference.

    ``batch``, when already solved, is the batched inference of the subset rows of the findings
    without inhibitor links, with those with links absent (see :func:`_joint_batch`). Returns
    ``None`` when the batch cannot run exactly (the caller falls back to :func:`_outcomes`).
    Findings with inhibitor links are handled by :func:`_grouped`.
    """
    held = [f for f in findings if f in scorer.model.inhibited]
    out = (_grouped(scorer, evidence, findings, held, base_log_evidence, batch=batch) if held
           else _raw_batched(scorer, evidence, findings, base_log_evidence, batch))
    if out is None:
        return None
    absent, probability, posterior = out
    return absent, probability / probability.sum(), posterior


def _observed(evidence: Evidence, findings: Sequence[str],
              statuses: Sequence[Status]) -> Evidence:
    """Return ``evidence`` with ``findings`` observed with ``statuses``."""
    shown = dict(zip(findings, statuses, strict=True))
    return evolve(evidence,
                  present=evidence.present | {f for f, st in shown.items() if st == "present"},
                  absent=evidence.absent | {f for f, st in shown.items() if st == "absent"})


def _spread(bits: npt.NDArray[np.intp], positions: Sequence[int]) -> npt.NDArray[np.intp]:
    """Bit ``k`` of ``bits`` moved to bit ``positions[k]``."""
    out = np.zeros_like(bits)
    for k, i in enumerate(positions):
        out |= ((bits >> k) & 1) << i
    return out


def _gather(bits: npt.NDArray[np.intp], positions: Sequence[int]) -> npt.NDArray[np.intp]:
    """Bit ``positions[k]`` of ``bits`` moved to bit ``k`` (the inverse of :func:`_spread`)."""
    out = np.zeros_like(bits)
    for k, i in enumerate(positions):
        out |= ((bits >> i) & 1) << k
    return out


def _grouped(scorer: Scorer, evidence: Evidence, findings: Sequence[str], held: Sequence[str],
             base_log_evidence: float, *, batch: _Batch | None) -> _Solved | None:
    """Unnormalised outcomes of ``findings`` when ``held`` of them have inhibitor links.

    Showing an inhibited finding present also observes its exclusion evidence, which
    inclusion-exclusion over "also absent" rows cannot express. So the outcomes are grouped by
    the status of each ``held`` finding; a group is one batch with its held findings shown
    present added to the present findings and the others to the absent ones, and only the
    remaining findings are handled by inclusion-exclusion (``2**k`` batches for ``k`` held
    findings, ``2**r`` rows in all as before). ``batch``, when given, is the group with every
    held finding absent (see :func:`_solved`).
    """
    at_held = [i for i, f in enumerate(findings) if f in held]
    at_rest = [i for i, f in enumerate(findings) if f not in held]
    rest = [findings[i] for i in at_rest]
    parts = []
    for g in np.flatnonzero(_possible(scorer.kb, evidence, held)).tolist():
        sub = _observed(evidence, held, _STATUSES[len(held)][g])
        given = batch if g == (1 << len(held)) - 1 else None  # every held finding absent
        if rest:
            raw = _raw_batched(scorer, sub, rest, base_log_evidence, given)
            if raw is None:
                return None
        else:  # nothing left to batch: the group is one outcome
            if given is None:
                result = scorer.run(sub.present, sub.absent)
                given = (result.probabilities[None, :], np.array([result.log_evidence]))
            raw = (np.zeros(1, dtype=np.intp), np.exp(given[1] - base_log_evidence), given[0])
        absent, probability, posterior = raw
        parts.append((_spread(absent, at_rest) | _spread(np.array(g), at_held), probability,
                      posterior))
    absent = np.concatenate([a for a, _, _ in parts])
    order = np.argsort(_ENUMERATION[len(findings)][absent])
    return (absent[order], np.concatenate([p for _, p, _ in parts])[order],
            np.concatenate([post for _, _, post in parts])[order])


def _raw_batched(
    scorer: Scorer, evidence: Evidence, findings: Sequence[str], base_log_evidence: float,
    batch: _Batch | None,
) -> _Solved | None:
    """Unnormalised outcomes of ``findings`` (none inhibited) for :func:`_solved`.

    Probabilities are relative to ``base_log_evidence``. All results come from one product
    with the inclusion-exclusion signs; the ill-conditioned ones are then re-solved
    (:func:`_resolve`).
    """
    r = len(findings)
    if batch is None:
        batch = scorer.run_absent_batch(evidence.present, evidence.absent, findings,
                                        _subset_rows(r))
    if batch is None:
        return None
    probs, log_ev = batch
    weight = np.exp(log_ev - base_log_evidence)  # P(subset absent | evidence)
    listed = _ENUMERATION[r]
    absent = listed[_possible(scorer.kb, evidence, findings)[listed]]
    probability, posterior, ok = _combine(weight, weight[:, None] * probs, absent, r)
    if not ok.all():  # ill-conditioned (very improbable outcomes)
        _resolve(scorer, evidence, findings, base_log_evidence, absent=absent,
                 probability=probability, posterior=posterior, pending=np.flatnonzero(~ok))
    return absent, probability, posterior


def _combine(weight: npt.NDArray[np.float64], joint: npt.NDArray[np.float64],
             absent: npt.NDArray[np.intp], r: int,
             ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Probabilities and posteriors of the results ``absent`` of ``r`` findings (module Notes).

    ``weight[v]`` and ``joint[v]`` are the probability of subset ``v`` absent (relative to the
    current evidence) and that times the posterior. The third array is false where the
    cancellation factor makes the result less accurate than ``OUTCOME_TOLERANCE`` (those
    posteriors are not usable).
    """
    signs = _SIGNS[r][absent]
    probability = signs @ weight
    scale = np.abs(signs) @ weight
    ok = (probability > 0.0) & (scale * BATCH_ROUNDING <= OUTCOME_TOLERANCE * probability)
    posterior = np.clip((signs @ joint) / np.where(ok, probability, 1.0)[:, None], 0.0, 1.0)
    return probability, posterior, ok


def _resolve(scorer: Scorer, evidence: Evidence, findings: Sequence[str],
             base_log_evidence: float, *, absent: npt.NDArray[np.intp],
             probability: npt.NDArray[np.float64], posterior: npt.NDArray[np.float64],
             pending: npt.NDArray[np.intp]) -> None:
    """Fill in the ill-conditioned outcomes ``pending`` (positions in ``absent``) in place.

    They are improbable because some finding shown present is; while one finding ``f`` is shown
    present in two or more of them, those are solved by inclusion-exclusion again from a batch
    with ``f`` also present (the same exact batched inference, now with probabilities relative
    to ``P(e, f present)``, so the cancellation factor loses the factor ``1 / P(f | e)``). Those
    still ill-conditioned, and the rest, get one direct inference each, as before.
    """
    r = len(findings)
    tried: set[int] = set()
    unresolved = np.zeros(absent.size, dtype=np.bool_)
    unresolved[pending] = True
    while True:
        pending = np.flatnonzero(unresolved)
        shown = ((1 << r) - 1) & ~absent[pending]
        counts = [0 if j in tried else int(((shown >> j) & 1).sum()) for j in range(r)]
        j = max(range(r), key=lambda i: (counts[i], -i))
        if counts[j] < 2:
            break
        tried.add(j)
        rest = [i for i in range(r) if i != j]
        group = pending[(shown >> j) & 1 == 1]
        sub = _gather(absent[group], rest)
        needed = np.flatnonzero(_SIGNS[r - 1][sub].any(axis=0))
        batch = scorer.run_absent_batch({*evidence.present, findings[j]}, evidence.absent,
                                        [findings[i] for i in rest],
                                        _subset_rows(r - 1)[needed])
        if batch is None:
            break
        probs, log_ev = batch
        # P(f present, subset absent | evidence) at the subsets needed (the others unused)
        weight = np.zeros(1 << (r - 1))
        weight[needed] = np.exp(log_ev - base_log_evidence)
        joint = np.zeros((1 << (r - 1), probs.shape[1]))
        joint[needed] = weight[needed, None] * probs
        p, post, ok = _combine(weight, joint, sub, r - 1)
        probability[group[ok]], posterior[group[ok]] = p[ok], post[ok]
        unresolved[group[ok]] = False
    for at in np.flatnonzero(unresolved).tolist():  # one direct inference
        seen = _observed(evidence, findings, _STATUSES[r][int(absent[at])])
        result = scorer.run(seen.present, seen.absent)
        probability[at] = math.exp(result.log_evidence - base_log_evidence)
        posterior[at] = result.probabilities


def _submasks(mask: int) -> list[int]:
    """Every submask of ``mask`` (including 0 and ``mask``)."""
    out = []
    sub = mask
    while True:
        out.append(sub)
        if sub == 0:
            return out
        sub = (sub - 1) & mask


def _losses(model: CompiledModel, posteriors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """:func:`expected_loss` of each row of ``posteriors``."""
    miss, false_alarm = model.miss_loss, model.false_alarm_loss
    losses: npt.NDArray[np.float64] = np.minimum(miss * posteriors,
                                                 false_alarm * (1.0 - posteriors)).sum(axis=1)
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


def _rationale(kb: KnowledgeBase, test: Test, current: npt.NDArray[np.float64],
               probability: npt.NDArray[np.float64],
               posterior: npt.NDArray[np.float64]) -> str:
    shift = (probability[:, None] * np.abs(posterior - current)).sum(axis=0)
    i = int(np.argmax(shift))
    name = kb.conditions[i].name
    lo, hi = float(posterior[:, i].min()), float(posterior[:, i].max())
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
    # every test's rows in one batch (they share the present findings, hence the structure);
    # of a test revealing inhibited findings, the rows with all of those absent (see _grouped)
    inhibited = scorer.model.inhibited
    groups = [([f for f in unknown if f not in inhibited], [f for f in unknown if f in inhibited])
              for unknown in revealed if unknown]
    joint = iter(_joint_batch(scorer, evidence, groups) or ()) if valued and groups else None
    for test, unknown in zip(kb.tests, revealed, strict=True):
        if not unknown:
            values.append(TestValue(test.id, test.name, 0.0, test.cost, 0.0, recommended=False,
                                    rationale="Its results are already known.", outcomes=()))
            continue
        flags = indications.get(test.id, [])
        confirms = confirmations.get(test.id, [])
        if valued:
            batch = next(joint, None) if joint is not None else None
            solved = (_solved(scorer, evidence, unknown, log_evidence, batch)
                      if batch is not None else None)
            if solved is None:
                raw = _outcomes(scorer, evidence, unknown, log_evidence)
                pairs = [pair for pair, _, _ in raw]
                probability = np.array([p for _, p, _ in raw])
                posterior = np.array([post for _, _, post in raw])
            else:
                absent, probability, posterior = solved
                statuses = _STATUSES[len(unknown)]
                pairs = [tuple(zip(unknown, statuses[v], strict=True)) for v in absent.tolist()]
            value = max(0.0, base_loss - float(probability @ _losses(scorer.model, posterior)))
            outcomes = tuple(Outcome(*o) for o in zip(pairs, probability.tolist(),
                                                      _tops(kb, posterior), strict=True))
            rationale = _rationale(kb, test, current, probability, posterior)
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


def held_questions(kb: KnowledgeBase, model: CompiledModel, evidence: Evidence) -> list[str]:
    """Askable findings whose "present" outcome :func:`next_questions` solves one by one.

    Those with inhibitor links (showing one present also observes exclusion evidence, which the
    questions' shared batch cannot express): each needs the inference of the current evidence
    with it present, which :func:`twitchcds.pipeline.run_many` solves for a whole chunk of cases
    at once.

    Examples
    --------
    >>> from twitchcds import Case, load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> from twitchcds.evidence import derive_evidence
    >>> kb = load_knowledge_base()
    >>> model = compile_model(kb)
    >>> held = held_questions(kb, model, derive_evidence(Case.from_dict({"age": 40}), kb))
    >>> 0 < len(held) and set(held) <= model.inhibited
    True
    """
    blocked = _blocked(kb, evidence)
    return [f for f in _askable(kb, evidence) if f not in blocked and f in model.inhibited]


def next_questions(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
                   log_evidence: float, limit: int = 10) -> tuple[Question, ...]:
    """Unobserved askable findings (those with a ``question``), by expected value; top ``limit``.

    All candidates are valued from one batched inference (each row: the current evidence plus
    one candidate absent); "present" follows as the current joint probability minus the
    "absent" one, so no division by a small probability occurs. For a finding with inhibitor
    links, showing it present also observes exclusion evidence: its "present" outcome gets one
    inference of its own.
    """
    kb = scorer.kb
    base_loss = expected_loss(scorer.model, current)
    candidates = _askable(kb, evidence)
    values = _question_values(scorer, evidence, current, log_evidence, ids=candidates,
                              base_loss=base_loss)
    questions = []
    for finding_id, value in zip(candidates, values, strict=True):
        if value > 1e-9:
            question = kb.finding_index[finding_id].question
            assert question is not None  # noqa: S101  (candidates have one)
            questions.append(Question(finding_id, question, value))
    questions.sort(key=lambda q: (-round(q.value, RANK_DIGITS), q.finding))  # as _order
    return tuple(questions[:limit])


def _held_value(scorer: Scorer, evidence: Evidence, finding: str, log_evidence: float, *,
                absent: tuple[npt.NDArray[np.float64], float], base_loss: float) -> float:
    """Value of observing an inhibited ``finding``, whose "absent" outcome is in a batch.

    ``absent`` is that outcome's posterior and log evidence; "present" gets one inference (it
    observes the exclusion evidence too). As :func:`_outcomes` for ``[finding]``.
    """
    shown = scorer.run({*evidence.present, finding}, evidence.absent)
    p_pos = math.exp(shown.log_evidence - log_evidence)
    p_neg = math.exp(absent[1] - log_evidence)
    total = p_pos + p_neg
    return _value(scorer.model, base_loss, [("present", p_pos / total, shown.probabilities),
                                            ("absent", p_neg / total, absent[0])])


def _question_values(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
                     log_evidence: float, *, ids: Sequence[str], base_loss: float,
                     ) -> list[float]:
    """Return the expected loss reduction of observing each of ``ids`` (one batch)."""
    # an inhibited finding shown present also observes exclusion evidence, which the
    # "also absent" batch cannot express: its "present" outcome gets one inference of its own
    # (and a finding with a status the lab constraints rule out is valued by _outcomes)
    blocked = _blocked(scorer.kb, evidence)
    batch_ids = [f for f in ids if f not in blocked]
    batch = (scorer.run_absent_batch(evidence.present, evidence.absent, batch_ids,
                                     np.eye(len(batch_ids))) if batch_ids else None)
    values = {}
    if batch is not None:
        miss, false_alarm = scorer.model.miss_loss, scorer.model.false_alarm_loss
        # the same findings as held_questions (which run_many solves ahead for a chunk)
        held = np.array([f in scorer.model.inhibited for f in batch_ids], dtype=np.bool_)
        for at in np.flatnonzero(held).tolist():
            values[batch_ids[at]] = _held_value(scorer, evidence, batch_ids[at], log_evidence,
                                                absent=(batch[0][at], float(batch[1][at])),
                                                base_loss=base_loss)
        batch_ids = [f for f, h in zip(batch_ids, held, strict=True) if not h]
        probs, log_ev = batch[0][~held], batch[1][~held]
        p_neg = np.minimum(np.exp(log_ev - log_evidence), 1.0)
        joint_neg = p_neg[:, None] * probs
        p_pos = 1.0 - p_neg
        joint_pos = np.clip(current[None, :] - joint_neg, 0.0, p_pos[:, None])
        after = (np.minimum(miss * joint_neg, false_alarm * (p_neg[:, None] - joint_neg))
                 + np.minimum(miss * joint_pos, false_alarm * (p_pos[:, None] - joint_pos)))
        values.update(zip(batch_ids, np.maximum(0.0, base_loss - after.sum(axis=1)).tolist(),
                          strict=True))
    for f in ids:
        if f not in values:
            values[f] = _value(scorer.model, base_loss,
                               _outcomes(scorer, evidence, [f], log_evidence))
    return [values[f] for f in ids]
