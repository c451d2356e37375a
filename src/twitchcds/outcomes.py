"""The possible results of observing unobserved findings: probabilities and posteriors.

The work-up (:mod:`twitchcds.workup`) values a test by its outcomes: the joint results of the
findings it reveals, each with its predictive probability under the current evidence and the
posterior it would leave. :func:`enumerate_outcomes` runs one inference per result (the
reference); :func:`solve_outcomes` gets every result of many tests from one batch.

Computation. Every "current evidence plus some of these findings absent" row shares the
current present findings, so the rows of all tests (a row several tests need is solved once)
are solved in one batched exact inference (:meth:`~twitchcds.scoring.Scorer.run_absent_batch`):
an absent finding only re-folds priors. Outcomes with findings present follow by
inclusion-exclusion over the findings shown present, ``P(e, S+, T-) = sum over U in S of
(-1)^|U| P(e, (T + U)-)``, and the same for each condition's joint probability: for ``r``
revealed findings these signs form a fixed ``2**r x 2**r`` matrix (computed once, at import,
for ``r`` up to ``MAX_REVEALED``), so all the outcomes of a test are one matrix product with
its rows. Showing a finding with inhibitor links present also observes its exclusion evidence,
so every term of such an outcome carries that evidence as one more batch column (``shown`` in
:meth:`~twitchcds.scoring.Scorer.run_absent_batch`): ``P(e, h+) = P(e, X_h) - P(e, X_h, h-)``
for the exclusion evidence ``X_h`` of ``h``, and these rows join the same batch.

Joint probabilities are accurate to a few units of rounding of the batched inference (about
1e-14) whatever the outcome probabilities; an outcome's own posterior divides by its
probability, so when the cancellation factor ``sum |terms| / P(outcome)`` times
``BATCH_ROUNDING`` exceeds ``OUTCOME_TOLERANCE`` that outcome is not taken from the batch.
Such outcomes are improbable because some finding shown present is. They are solved again
directly, all in one more batch whose rows observe each outcome's findings as it shows them
(:meth:`~twitchcds.scoring.Scorer.run_results`: the findings shown present join the structure
and rows that do not show them leave them unobserved), so no difference is taken; one direct
inference each when that batch cannot run exactly. Posteriors therefore agree with one
inference per outcome to within ``OUTCOME_TOLERANCE`` (1e-9). Results that break a lab
constraint (:func:`lab_constraints`) are impossible and left out.

Examples
--------
>>> from twitchcds import Case, load_knowledge_base
>>> from twitchcds.compiled import compile_model
>>> from twitchcds.evidence import derive_evidence
>>> from twitchcds.priors import case_priors
>>> kb = load_knowledge_base()
>>> model = compile_model(kb)
>>> case = Case.from_dict({"findings": [{"id": "fasciculations", "status": "present"}]})
>>> evidence = derive_evidence(case, kb)
>>> priors = case_priors(model, case.setting, evidence.risk_factors).adjusted
>>> scorer = Scorer.for_priors(kb, model, priors)
>>> base = scorer.run(evidence.present, evidence.absent)
>>> reveals = ["muscle_cramps", "muscle_weakness"]
>>> fast = batched_outcomes(scorer, evidence, reveals, base.log_evidence)
>>> slow = enumerate_outcomes(scorer, evidence, reveals, base.log_evidence)
>>> [dict(pairs)["muscle_weakness"] for pairs, _, _ in fast]
['present', 'absent', 'present', 'absent']
>>> max(abs(p - q) for (_, p, _), (_, q, _) in zip(fast, slow, strict=True)) < 1e-12
True
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from attrs import evolve

from twitchcds.evidence import Evidence
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.scoring import Scorer
from twitchcds.typing import Status

__all__ = [
    "BATCH_ROUNDING",
    "MAX_REVEALED",
    "OUTCOME_TOLERANCE",
    "STATUSES",
    "OutcomeList",
    "batched_outcomes",
    "blocked",
    "enumerate_outcomes",
    "lab_constraints",
    "possible",
    "possible_results",
    "solve_outcomes",
]

MAX_REVEALED = 6
"""Tests revealing more unobserved findings than this are valued on their first six."""

BATCH_ROUNDING = 1e-14
"""Bound used for the relative rounding error of one batched inference.

Measured on the built-in knowledge base: an outcome posterior's error is below 1.9e-15 times
its cancellation factor (``benchmarks/bench_assess.py --check``, 1,799 outcomes, with the shared
batch and exclusion-evidence columns), so this leaves a margin of about 5.
"""

OUTCOME_TOLERANCE = 1e-9
"""Largest error allowed in an outcome posterior computed by inclusion-exclusion.

The exactness every inference path is tested to against brute force and independent engines.
(It was 1e-10; at 1e-9 about half of the improbable outcomes solved again are not, and the
posteriors shown, six significant digits, did not change on 177 varied cases.)
"""


OutcomeList = list[tuple[tuple[tuple[str, Status], ...], float, npt.NDArray[np.float64]]]
"""Outcomes as ``(findings and statuses, probability, posterior of every condition)``."""


def lab_constraints(kb: KnowledgeBase) -> tuple[tuple[str, str, bool], ...]:
    """Return the logical links between findings derived from one lab value.

    See ``KnowledgeBase.lab_constraints``; test outcomes that break them are
    impossible.
    """
    return kb.lab_constraints


def possible(kb: KnowledgeBase, evidence: Evidence,
             findings: Sequence[str]) -> npt.NDArray[np.bool_]:
    """Return which joint results of ``findings`` respect :func:`lab_constraints`.

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


def blocked(kb: KnowledgeBase, evidence: Evidence) -> set[str]:
    """Return the unobserved findings one of whose statuses :func:`lab_constraints` rule out."""
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


def enumerate_outcomes(scorer: Scorer, evidence: Evidence, findings: Sequence[str],
                       base_log_evidence: float) -> OutcomeList:
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
STATUSES: tuple[tuple[tuple[Status, ...], ...], ...] = tuple(
    tuple(tuple("absent" if (v >> i) & 1 else "present" for i in range(r))
          for v in range(1 << r))
    for r in range(MAX_REVEALED + 1))
"""``STATUSES[r][v]``: the statuses of ``r`` findings in the result with absent bits ``v``."""


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


def _unique_rows(rows: npt.NDArray[np.float64],
                 ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.intp]]:
    """``np.unique(rows, axis=0, return_inverse=True)`` for 0/1 rows, in the same order.

    Each row is packed to bytes (first column in the highest bit), so byte order is the rows'
    lexicographic order; about ten times faster than comparing rows of floats.

    >>> rows = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> unique, inverse = _unique_rows(rows)
    >>> unique.tolist(), inverse.tolist()
    ([[0.0, 1.0], [1.0, 0.0]], [1, 0, 1])
    """
    packed = np.packbits(rows.astype(np.bool_), axis=1)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


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
        rows, pick = _unique_rows(np.concatenate(blocks))
    batch = scorer.run_absent_batch(evidence.present, evidence.absent, list(columns), rows,
                                    shown=list(shown))
    if batch is None:
        return None
    probs, log_ev = batch
    starts = np.cumsum([0, *(len(m) for m in signs)]).tolist()
    offsets = np.cumsum([0, *(len(block) for block in blocks)]).tolist()
    table = np.zeros((starts[-1], len(rows)))  # results x rows: the signs of every item
    for i, matrix in enumerate(signs):
        table[starts[i]:starts[i + 1], pick[offsets[i]:offsets[i + 1]]] = matrix
    weight = np.exp(log_ev - base_log_evidence)  # P(row | evidence)
    return _Joint(table @ weight, table @ (weight[:, None] * probs), np.abs(table) @ weight,
                  starts)


def possible_results(kb: KnowledgeBase, evidence: Evidence, findings: Sequence[str],
                     ) -> npt.NDArray[np.intp]:
    """Return the absent bits of the possible joint results of ``findings``, in listing order.

    The listing order is that of ``itertools.product(("present", "absent"), repeat=r)``: the
    first finding varies slowest, present first.
    """
    listed = _ENUMERATION[len(findings)]
    results: npt.NDArray[np.intp] = listed[possible(kb, evidence, findings)[listed]]
    return results


def batched_outcomes(scorer: Scorer, evidence: Evidence, findings: Sequence[str],
                     base_log_evidence: float) -> OutcomeList | None:
    """:func:`enumerate_outcomes` from one batched inference by inclusion-exclusion.

    The same list; ``None`` when the batch cannot run exactly.
    """
    absent = possible_results(scorer.kb, evidence, findings)
    solved = solve_outcomes(scorer, evidence, [(findings, absent)], base_log_evidence)
    if solved is None:
        return None
    [(probability, posterior)] = solved
    r = len(findings)
    return [(tuple(zip(findings, STATUSES[r][v], strict=True)), p, post)
            for v, p, post in zip(absent.tolist(), probability.tolist(), posterior, strict=True)]


class _Open(NamedTuple):
    """One item's results while some are still to be solved again (see :func:`_resolve`)."""

    findings: Sequence[str]
    absent: npt.NDArray[np.intp]
    probability: npt.NDArray[np.float64]
    posterior: npt.NDArray[np.float64]
    unresolved: npt.NDArray[np.bool_]


def solve_outcomes(scorer: Scorer, evidence: Evidence,
                   items: Sequence[tuple[Sequence[str], npt.NDArray[np.intp]]],
                   base_log_evidence: float,
                   ) -> list[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] | None:
    """Return normalised probabilities and posteriors of each item ``(findings, absent)``'s results.

    All from one batch; the ill-conditioned results of all items are then solved again
    together (module notes). ``None`` when the batch cannot run exactly.
    """
    joint = _joint_batch(scorer, evidence, items, base_log_evidence)
    if joint is None:
        return None
    ok = joint.ok()
    posterior = joint.posterior(ok)
    parts = [_Open(findings, absent, joint.probability[start:stop].copy(),
                   posterior[start:stop], ~ok[start:stop])
             for (findings, absent), start, stop in zip(items, joint.starts[:-1],
                                                        joint.starts[1:], strict=True)]
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


def _resolve(scorer: Scorer, evidence: Evidence, base_log_evidence: float,
             parts: Sequence[_Open]) -> None:
    """Solve the ill-conditioned results of ``parts`` again, in place, each directly.

    They are improbable because some finding shown present is. Each becomes one row of a batch
    that observes its findings as the result shows them (:meth:`~twitchcds.scoring.Scorer.
    run_results`): no probability is a difference of two others, so nothing cancels. When that
    batch cannot run exactly, each gets one direct inference.
    """
    todo = [(part, at) for part in parts for at in np.flatnonzero(part.unresolved).tolist()]
    if not todo:
        return
    findings = list(dict.fromkeys(f for part, _ in todo for f in part.findings))
    column = {f: i for i, f in enumerate(findings)}
    shows = np.full((len(todo), len(findings)), -1, dtype=np.int8)
    for b, (part, at) in enumerate(todo):
        r = len(part.findings)
        shows[b, [column[f] for f in part.findings]] = 1 - ((int(part.absent[at]) >> np.arange(
            r)) & 1)
    solved = scorer.run_results(evidence.present, evidence.absent, findings, shows)
    if solved is not None:
        probs, log_ev = solved
        for (part, at), probability, posterior in zip(
                todo, np.exp(log_ev - base_log_evidence).tolist(), probs, strict=True):
            part.probability[at] = probability
            part.posterior[at] = posterior
            part.unresolved[at] = False
        return
    for part in parts:
        for at in np.flatnonzero(part.unresolved).tolist():  # one direct inference
            seen = _observed(evidence, part.findings,
                             STATUSES[len(part.findings)][int(part.absent[at])])
            result = scorer.run(seen.present, seen.absent)
            part.probability[at] = math.exp(result.log_evidence - base_log_evidence)
            part.posterior[at] = result.probabilities
