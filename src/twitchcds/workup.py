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
lab-constraint checks are array operations too. Showing a finding with inhibitor links present
also observes its exclusion evidence, so every term of such an outcome carries that evidence
as one more batch column (``shown`` in :meth:`~twitchcds.scoring.Scorer.run_absent_batch`):
``P(e, h+) = P(e, X_h) - P(e, X_h, h-)`` for the exclusion evidence ``X_h`` of ``h``, and these
rows join the same batch.
Expected losses are computed from these joint probabilities, so a value's error is at most a
few units of rounding of the batched inference (about 1e-14) whatever the outcome
probabilities; an outcome's own posterior divides by its probability, so
when the cancellation factor ``sum |terms| / P(outcome)`` times ``BATCH_ROUNDING`` exceeds
``OUTCOME_TOLERANCE`` that outcome is not taken from the batch. Such outcomes are improbable
because some finding shown present is: while one finding is shown present in two or more of
them (over all tests), they are solved again by inclusion-exclusion from one batch with that
finding present (which removes its small probability from the cancellation factor); any still
ill-conditioned get one direct inference each. Values and posteriors therefore agree with one
inference per outcome to within 1e-10.

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

import functools
import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

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
    "lab_constraints",
    "next_questions",
    "rank_tests",
]

MAX_REVEALED = 6
"""Tests revealing more unobserved findings than this are valued on their first six."""

BATCH_ROUNDING = 1e-14
"""Bound used for the relative rounding error of one batched inference.

Measured on the built-in knowledge base: an outcome posterior's error is below 1.9e-15 times
its cancellation factor (``benchmarks/bench_assess.py --check``, 1,799 outcomes, with the shared
batch, exclusion-evidence columns and the re-batched improbable outcomes), so this leaves a
margin of about 5.
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

class _Joint(NamedTuple):
    """Results of several items from one batch, relative to the current evidence.

    Item ``i``'s results are rows ``starts[i]:starts[i + 1]``: ``probability`` is ``P(result |
    evidence)`` (not normalised), ``joint[:, c]`` is ``P(result, condition c | evidence)`` and
    ``scale`` the same sum as ``probability`` with every sign positive (its cancellation).
    """

    probability: npt.NDArray[np.float64]
    joint: npt.NDArray[np.float64]
    scale: npt.NDArray[np.float64]
    starts: list[int]

    def ok(self) -> npt.NDArray[np.bool_]:
        """Which results' posteriors are accurate to ``OUTCOME_TOLERANCE`` (module Notes)."""
        ok: npt.NDArray[np.bool_] = (self.probability > 0.0) & (
            self.scale * BATCH_ROUNDING <= OUTCOME_TOLERANCE * self.probability)
        return ok

    def posterior(self, ok: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
        """Each result's posterior (meaningless where not ``ok``)."""
        divisor = np.where(ok, self.probability, 1.0)[:, None]
        return np.clip(self.joint / divisor, 0.0, 1.0)


@functools.cache
def _full_plan(r: int, held: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Batch rows and signs of every result of ``r`` findings (see :func:`_plan`)."""
    results = np.arange(1 << r)
    signs = _SIGNS[r]
    used = signs != 0.0
    keys = ((held & ~results)[:, None] << r) | results[None, :]
    rows, inverse = np.unique(keys[used], return_inverse=True)
    matrix = np.zeros((results.size, rows.size))
    matrix[np.nonzero(used)[0], inverse.reshape(-1)] = signs[used]
    return rows, matrix


def _plan(r: int, held: int, absent: npt.NDArray[np.intp],
          ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Return the batch rows the results ``absent`` of ``r`` findings need, and their signs.

    A row is a key ``t | x << r``: the findings of ``t`` absent, and the exclusion evidence of
    those of ``x`` observed (``x`` within ``held``, the findings with inhibitor links). The
    result with the findings of ``a`` absent and the others present is ``sum over t ⊇ a of
    (-1)**|t - a| P(row t | held - a)`` (module Notes): a held finding shown present observes
    its exclusion evidence in every term. Returns the keys and the ``(len(absent), len(keys))``
    signs. (Cached: it depends on ``r`` and ``held`` alone, like the fixed tables above.)
    """
    rows, matrix = _full_plan(r, held)
    signs = matrix[absent]
    used = signs.any(axis=0)
    return rows[used], signs[:, used]


def _joint_batch(scorer: Scorer, evidence: Evidence,
                 items: Sequence[tuple[Sequence[str], npt.NDArray[np.intp]]],
                 base_log_evidence: float) -> _Joint | None:
    """Solve the results ``absent`` of every item ``(findings, absent)`` from one batch.

    All rows (:func:`_plan`) share the present findings, so they share one structure; a row
    several items need (the current evidence alone, or the same findings absent) is solved
    once. Probabilities are relative to ``base_log_evidence``. Returns ``None`` when the batch
    cannot run exactly.
    """
    inhibited = scorer.model.inhibited
    columns = {f: i for i, f in enumerate(dict.fromkeys(
        f for findings, _ in items for f in findings))}
    shown = {f: len(columns) + i for i, f in enumerate(f for f in columns if f in inhibited)}
    blocks, signs = [], []
    for findings, absent in items:
        r = len(findings)
        held = [i for i, f in enumerate(findings) if f in inhibited]
        keys, matrix = _plan(r, sum(1 << i for i in held), absent)
        block = np.zeros((keys.size, len(columns) + len(shown)))
        block[:, [columns[f] for f in findings]] = (keys[:, None] >> np.arange(r)) & 1
        block[:, [shown[findings[i]] for i in held]] = (keys[:, None] >> (r + np.array(
            held, dtype=np.intp))) & 1
        blocks.append(block)
        signs.append(matrix)
    if len(blocks) == 1:  # one item's rows are distinct already
        rows, pick = blocks[0], np.arange(len(blocks[0]))
    else:
        rows, pick = np.unique(np.concatenate(blocks), axis=0, return_inverse=True)
    batch = scorer.run_absent_batch(evidence.present, evidence.absent, list(columns), rows,
                                    shown=list(shown))
    if batch is None:
        return None
    probs, log_ev = batch
    starts = np.cumsum([0, *(len(m) for m in signs)]).tolist()
    offsets = np.cumsum([0, *(len(block) for block in blocks)]).tolist()
    pick = pick.reshape(-1)
    table = np.zeros((starts[-1], len(rows)))  # results x rows: the signs of every item
    for i, matrix in enumerate(signs):
        table[starts[i]:starts[i + 1], pick[offsets[i]:offsets[i + 1]]] = matrix
    weight = np.exp(log_ev - base_log_evidence)  # P(row | evidence)
    return _Joint(table @ weight, table @ (weight[:, None] * probs), np.abs(table) @ weight,
                  starts)


_Raw = list[tuple[tuple[tuple[str, Status], ...], float, npt.NDArray[np.float64]]]


def _listed(kb: KnowledgeBase, evidence: Evidence, findings: Sequence[str],
            ) -> npt.NDArray[np.intp]:
    """Absent bits of the possible joint results of ``findings``, in listing order."""
    listed = _ENUMERATION[len(findings)]
    possible: npt.NDArray[np.intp] = listed[_possible(kb, evidence, findings)[listed]]
    return possible


def _outcomes_batched(scorer: Scorer, evidence: Evidence, findings: Sequence[str],
                      base_log_evidence: float) -> _Raw | None:
    """:func:`_outcomes` from one batched inference by inclusion-exclusion (module Notes).

    The same list; ``None`` when the batch cannot run exactly.
    """
    absent = _listed(scorer.kb, evidence, findings)
    solved = _solved(scorer, evidence, [(findings, absent)], base_log_evidence)
    if solved is None:
        return None
    [(probability, posterior)] = solved
    r = len(findings)
    return [(tuple(zip(findings, _STATUSES[r][v], strict=True)), p, post)
            for v, p, post in zip(absent.tolist(), probability.tolist(), posterior, strict=True)]


class _Open(NamedTuple):
    """One item's results while some are still to be solved again (see :func:`_resolve`)."""

    findings: Sequence[str]
    absent: npt.NDArray[np.intp]
    probability: npt.NDArray[np.float64]
    posterior: npt.NDArray[np.float64]
    unresolved: npt.NDArray[np.bool_]


def _solved(scorer: Scorer, evidence: Evidence,
            items: Sequence[tuple[Sequence[str], npt.NDArray[np.intp]]],
            base_log_evidence: float,
            ) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] | None:
    """Normalised probabilities and posteriors of every item ``(findings, absent)``'s results.

    All from one batch (:func:`_joint_batch`); the ill-conditioned results of all items are
    then solved again together (:func:`_resolve`). ``None`` when the batch cannot run exactly.
    """
    joint = _joint_batch(scorer, evidence, items, base_log_evidence)
    if joint is None:
        return None
    ok = joint.ok()
    posterior = joint.posterior(ok)
    parts = [_Open(findings, absent, joint.probability[start:stop].copy(),
                   posterior[start:stop], ~ok[start:stop])
             for (findings, absent), start, stop in zip(items, joint.starts[:-1], joint.starts[1:],
                                                        strict=True)]
    if any(part.unresolved.any() for part in parts):  # ill-conditioned: improbable results
        _resolve(scorer, evidence, base_log_evidence, parts)
    return [(part.probability / part.probability.sum(), part.posterior) for part in parts]


def _observed(evidence: Evidence, findings: Sequence[str],
              statuses: Sequence[Status]) -> Evidence:
    """Return ``evidence`` with ``findings`` observed with ``statuses``."""
    shown = dict(zip(findings, statuses, strict=True))
    return evolve(evidence,
                  present=evidence.present | {f for f, st in shown.items() if st == "present"},
                  absent=evidence.absent | {f for f, st in shown.items() if st == "absent"})


def _gather(bits: npt.NDArray[np.intp], positions: Sequence[int]) -> npt.NDArray[np.intp]:
    """Bit ``positions[k]`` of ``bits`` moved to bit ``k``."""
    out = np.zeros_like(bits)
    for k, i in enumerate(positions):
        out |= ((bits >> i) & 1) << k
    return out


def _resolve(scorer: Scorer, evidence: Evidence, base_log_evidence: float,
             parts: Sequence[_Open]) -> None:
    """Solve the ill-conditioned results of ``parts`` again, in place.

    They are improbable because some finding shown present is; while one finding ``f`` is shown
    present in two or more of them (over all parts), those are solved by inclusion-exclusion
    again from one batch with ``f`` also present (the same exact batched inference, now with
    probabilities relative to ``P(e, f present)``, so the cancellation factor loses the factor
    ``1 / P(f | e)``). Those still ill-conditioned, and the rest, get one direct inference each.
    """
    tried: set[str] = set()
    while True:
        counts: dict[str, int] = {}
        parts = [part for part in parts if part.unresolved.any()]
        for part in parts:
            shown = ~part.absent[part.unresolved]
            for j, finding in enumerate(part.findings):
                if finding not in tried:
                    counts[finding] = counts.get(finding, 0) + int(((shown >> j) & 1).sum())
        f = max(counts, key=lambda g: counts[g], default=None)  # ties: the first listed
        if f is None or counts[f] < 2:
            break
        tried.add(f)
        groups, items = [], []
        for part in parts:
            if f not in part.findings:
                continue
            j = list(part.findings).index(f)
            rest = [i for i in range(len(part.findings)) if i != j]
            group = np.flatnonzero(part.unresolved & ((part.absent >> j) & 1 == 0))
            if group.size:
                groups.append((part, group))
                items.append(([part.findings[i] for i in rest], _gather(part.absent[group],
                                                                         rest)))
        given = evolve(evidence, present=evidence.present | {f})
        joint = _joint_batch(scorer, given, items, base_log_evidence)
        if joint is None:
            break
        ok = joint.ok()
        posterior = joint.posterior(ok)
        for (part, group), start, stop in zip(groups, joint.starts[:-1], joint.starts[1:],
                                              strict=True):
            done = ok[start:stop]
            part.probability[group[done]] = joint.probability[start:stop][done]
            part.posterior[group[done]] = posterior[start:stop][done]
            part.unresolved[group[done]] = False
    for part in parts:
        for at in np.flatnonzero(part.unresolved).tolist():  # one direct inference
            seen = _observed(evidence, part.findings,
                             _STATUSES[len(part.findings)][int(part.absent[at])])
            result = scorer.run(seen.present, seen.absent)
            part.probability[at] = math.exp(result.log_evidence - base_log_evidence)
            part.posterior[at] = result.probabilities


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
    # every test's rows in one batch (they share the present findings, hence the structure)
    possible = [_listed(kb, evidence, unknown) if unknown and valued else None
                for unknown in revealed]
    items = [(unknown, absent) for unknown, absent in zip(revealed, possible, strict=True)
             if absent is not None]
    solved = iter(_solved(scorer, evidence, items, log_evidence) or ()) if items else None
    for test, unknown, absent in zip(kb.tests, revealed, possible, strict=True):
        if not unknown:
            values.append(TestValue(test.id, test.name, 0.0, test.cost, 0.0, recommended=False,
                                    rationale="Its results are already known.", outcomes=()))
            continue
        flags = indications.get(test.id, [])
        confirms = confirmations.get(test.id, [])
        if absent is not None:
            result = next(solved, None) if solved is not None else None
            if result is None:
                raw = _outcomes(scorer, evidence, unknown, log_evidence)
                pairs = [pair for pair, _, _ in raw]
                probability = np.array([p for _, p, _ in raw])
                posterior = np.array([post for _, _, post in raw])
            else:
                probability, posterior = result
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


def _question_values(scorer: Scorer, evidence: Evidence, current: npt.NDArray[np.float64],
                     log_evidence: float, *, ids: Sequence[str], base_loss: float,
                     ) -> list[float]:
    """Return the expected loss reduction of observing each of ``ids`` (one batch).

    Rows: the current evidence, each candidate absent, and for a candidate with inhibitor
    links its exclusion evidence observed without and with it absent. "Absent" is its row;
    "present" is the current evidence minus "absent" (for an inhibited finding: its exclusion
    evidence minus that with it absent, so showing it present observes its exclusion evidence
    too). A status the lab constraints rule out gets probability 0. The loss is computed from
    joint probabilities, so no division by a small probability occurs. ``current`` is the
    posterior under the current evidence (the batch solves it again as its first row).
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
        return [_value(model, base_loss, _outcomes(scorer, evidence, [f], log_evidence))
                for f in ids]
    probs, log_ev = batch
    weight = np.exp(log_ev - log_evidence)
    joint = weight[:, None] * probs
    shown, hidden = np.zeros(n, dtype=np.intp), 1 + np.arange(n)  # "present": shown - hidden
    shown[at], hidden[at] = 1 + n + np.arange(m), 1 + n + m + np.arange(m)
    blocked = _blocked(scorer.kb, evidence)
    can = np.array([_possible(scorer.kb, evidence, [f]) if f in blocked else (True, True)
                    for f in ids], dtype=np.bool_)  # [present, absent] possible
    p_pos = np.maximum(weight[shown] - weight[hidden], 0.0) * can[:, 0]
    p_neg = weight[1:1 + n] * can[:, 1]
    j_pos = np.clip(joint[shown] - joint[hidden], 0.0, p_pos[:, None])
    j_neg = joint[1:1 + n] * can[:, 1:]
    miss, false_alarm = model.miss_loss, model.false_alarm_loss
    after = (np.minimum(miss * j_neg, false_alarm * (p_neg[:, None] - j_neg))
             + np.minimum(miss * j_pos, false_alarm * (p_pos[:, None] - j_pos))).sum(axis=1)
    values: list[float] = np.maximum(0.0, base_loss - after / (p_pos + p_neg)).tolist()
    return values
