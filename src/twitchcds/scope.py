"""Scope: is this a presentation the knowledge base is built for (shared/DESIGN.md, section 6a).

The knowledge base models causes of twitching, cramps and related complaints in a person who
presents with one. Real inputs often are not that: a chart with no complaint at all, or findings
that none of the modelled causes explains. Every assessment says which, so that a ranking of
causes is never read as an answer to a question nobody asked.

- ``no-complaint``: no present finding is one of the knowledge base's *complaint* (index)
  findings (``complaint = true`` in ``findings.toml``: twitching, cramps, spasm, myokymia,
  stiffness, weakness, tetany, paraesthesia, ...) or an abnormal result of one of its
  disease-specific tests (a ``kind = "test"`` finding that a test in ``tests.toml`` reveals:
  EMG, nerve conduction, MRI, genetic tests, antibodies). No condition ranking is offered as
  an answer, triage comes from red flags alone and no condition advice is given.
- ``unexplained``: some present clinical finding (a symptom, sign, lab or test result; history
  items such as tempo or duration describe, they do not need explaining) is probably present
  *for no modelled reason*: its
  posterior probability of being explained by its leak alone is at least
  :data:`UNEXPLAINED_THRESHOLD`. Triage is then at least ``routine``.
- ``in-scope``: otherwise.

The leak-only probability of a present finding ``f`` with leak ``l`` is exact in the noisy-OR
model: ``P(f=1, only the leak | pa) = l / (1 - l) * P(f=0 | pa)``, so

    P(leak only | e) = l / (1 - l) * P(e with f absent instead) / P(e)

which costs one more exact inference for ``f``. A bound from the posterior already at hand
skips that inference when it cannot change the answer: given the parents' states, the
leak-only probability is ``g(q) = l q / (1 - (1 - l) q)`` with ``q`` the product of
``(1 - p_i)`` over the parents that are present, increasing in ``q``; it is 1 when every parent
is absent and at most ``g(1 - p_min)`` otherwise, and every parent is absent with probability
at most ``1 - m`` (``m`` the likeliest parent's posterior), so

    P(leak only | e) <= (1 - m) + m * g(1 - p_min)

A finding no condition causes is explained by its leak alone, with no inference.
"""

from __future__ import annotations

import math
from typing import Final, Literal, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.compiled import CompiledModel
from twitchcds.inference import infer_many
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.scoring import Scorer

__all__ = ["UNEXPLAINED_THRESHOLD", "Scope", "ScopeStatus", "assess_scope", "leak_only",
           "leak_only_bound", "scope_many"]

ScopeStatus: TypeAlias = Literal["in-scope", "no-complaint", "unexplained"]
"""Whether the knowledge base speaks to the input (DESIGN section 6a)."""

UNEXPLAINED_THRESHOLD: Final = 0.9
"""A present finding whose leak-only posterior reaches this is *unexplained*.

Chosen on the team's 45 vignettes, whose diagnoses are all modelled: the largest leak-only
posterior of any present finding there is 0.80 (myokymia in a multiple sclerosis case, a rare
cause with a small prior), so 0.9 flags none of them, while a finding that no modelled condition
causes always scores 1.0. ``evaluation/REPORT.md`` reports the measure on every case set.
"""

UNEXPLAINED_TEXT: Final = ("not explained by the causes twitchcds knows; seek clinical review")


@frozen
class Scope:
    """Whether an assessment is within what the knowledge base models.

    ``findings`` are the complaint findings present (``in-scope``), or the findings that the
    modelled causes explain poorly (``unexplained``), or empty (``no-complaint``).

    Examples
    --------
    >>> Scope("no-complaint", "no neuromuscular complaint in the input").status
    'no-complaint'
    """

    status: ScopeStatus
    text: str
    findings: tuple[str, ...] = ()


def leak_only(scorer: Scorer, present: frozenset[str], absent: frozenset[str],
              finding: str, log_evidence: float) -> float:
    """Posterior probability that present ``finding`` is there by its leak alone (exact).

    ``log_evidence`` is ``log P(e)`` of the case as observed (``present``, ``absent``).

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> from twitchcds.scoring import Scorer
    >>> kb = load_knowledge_base()
    >>> scorer = Scorer.for_priors(kb, compile_model(kb), [c.prior["primary-care"]
    ...                                                    for c in kb.conditions])
    >>> present = frozenset({"fasciculations"})
    >>> base = scorer.run(present, frozenset())
    >>> 0.0 < leak_only(scorer, present, frozenset(), "fasciculations", base.log_evidence) < 1.0
    True
    """
    leak = scorer.kb.finding_index[finding].leak
    flipped = scorer.run(present - {finding}, absent | {finding})
    ratio = math.exp(flipped.log_evidence - log_evidence)
    return min(1.0, leak / (1.0 - leak) * ratio)


def leak_only_bound(model: CompiledModel, finding: str,
                    probabilities: npt.NDArray[np.float64]) -> float:
    """Return an upper bound on :func:`leak_only` from the posterior alone (module notes).

    ``probabilities`` are the posteriors aligned with the model's conditions; 1.0 for a finding
    no condition causes.

    Examples
    --------
    >>> import numpy as np
    >>> from twitchcds import load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> model = compile_model(load_knowledge_base())
    >>> n = len(model.rows)
    >>> leak_only_bound(model, "fasciculations", np.zeros(n))  # no cause likely
    1.0
    >>> round(leak_only_bound(model, "low_potassium", np.ones(n)), 3)
    0.002
    """
    parents, links = model.network.parents(model.finding_position[finding])
    if parents.size == 0:
        return 1.0
    leak = float(model.network.leaks[model.finding_position[finding]])
    m = float(probabilities[parents].max())
    q = 1.0 - float(links.min())
    return min(1.0, _bound(m, leak, q))


_Number = TypeVar("_Number", float, npt.NDArray[np.float64])


def _bound(m: _Number, leak: _Number, q: _Number) -> _Number:
    """Return the bound of the module notes, uncapped (of numbers or of arrays alike)."""
    return (1.0 - m) + m * leak * q / (1.0 - (1.0 - leak) * q)


def _leak_only_bounds(model: CompiledModel, findings: npt.NDArray[np.intp],
                      probabilities: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``leak_only_bound(model, finding i, probabilities[i])`` for caused findings, at once.

    ``findings`` are positions in the model's finding order, each with a parent.
    """
    network = model.network
    unique, inverse = np.unique(findings, return_inverse=True)
    is_parent = np.zeros((unique.size, network.n_conditions), dtype=bool)
    q = np.empty(unique.size)
    for i, finding in enumerate(unique.tolist()):
        parents, links = network.parents(finding)
        is_parent[i, parents] = True
        q[i] = 1.0 - float(links.min())
    m = np.where(is_parent[inverse], probabilities, -np.inf).max(axis=1)
    bound: npt.NDArray[np.float64] = np.minimum(1.0, _bound(m, network.leaks[findings],
                                                             q[inverse]))
    return bound


def _candidates(kb: KnowledgeBase, model: CompiledModel, present: frozenset[str],
                probabilities: npt.NDArray[np.float64],
                ) -> tuple[tuple[str, ...], list[str], list[str]]:
    """Complaints, the clinical findings in question (sorted) and those needing an inference.

    A finding no condition causes is unexplained without inference; a caused one needs the
    exact leak-only probability unless the bound keeps it below the threshold.
    """
    complaints = tuple(sorted(present & model.complaints))
    if not complaints:
        return complaints, [], []
    caused = kb.caused_findings
    clinical = sorted(present - model.history_findings)
    asked = [f for f in clinical
             if f not in caused
             or leak_only_bound(model, f, probabilities) >= UNEXPLAINED_THRESHOLD]
    return complaints, asked, [f for f in asked if f in caused]


def _candidates_many(kb: KnowledgeBase, model: CompiledModel, present: npt.NDArray[np.bool_],
                     probabilities: npt.NDArray[np.float64],
                     ) -> list[tuple[tuple[str, ...], list[str], list[str]]]:
    """:func:`_candidates` of every row of ``present`` (a mask in the model's finding order).

    The same selection as masks over the columns sorted by finding id, with the bounds of
    every row's caused clinical findings computed at once (:func:`_leak_only_bounds`).
    """
    names = sorted(model.network.finding_ids)
    columns = np.array([model.finding_position[f] for f in names], dtype=np.intp)
    found = present[:, columns]
    complaint = found & _flags(names, model.complaints)
    clinical = (found & ~_flags(names, model.history_findings)
                & complaint.any(axis=1, keepdims=True))
    caused = _flags(names, kb.caused_findings)
    rows, at = np.nonzero(clinical & caused)
    low = _leak_only_bounds(model, columns[at], probabilities[rows]) < UNEXPLAINED_THRESHOLD
    asked = clinical.copy()
    asked[rows[low], at[low]] = False
    return [(tuple(complaints), questioned, check) for complaints, questioned, check in zip(
        _by_row(complaint, names), _by_row(asked, names), _by_row(asked & caused, names),
        strict=True)]


def _flags(names: list[str], chosen: frozenset[str]) -> npt.NDArray[np.bool_]:
    """Return whether each name is one of ``chosen``."""
    return np.array([f in chosen for f in names], dtype=bool)


def _by_row(mask: npt.NDArray[np.bool_], names: list[str]) -> list[list[str]]:
    """Return the names of each row's true columns, in column order."""
    out: list[list[str]] = [[] for _ in range(mask.shape[0])]
    rows, columns = np.nonzero(mask)
    for r, j in zip(rows.tolist(), columns.tolist(), strict=True):
        out[r].append(names[j])
    return out


def _scope(kb: KnowledgeBase, complaints: tuple[str, ...], unexplained: list[str]) -> Scope:
    if not complaints:
        return Scope("no-complaint", "No present neuromuscular complaint (twitching, cramps, "
                                     "weakness, ...): the causes below are not an answer; "
                                     "triage comes from red flags alone.")
    if unexplained:
        names = ", ".join(kb.finding_index[f].name for f in unexplained)
        return Scope("unexplained", f"{names}: {UNEXPLAINED_TEXT}.", tuple(unexplained))
    return Scope("in-scope", "A neuromuscular complaint the knowledge base models.",
                 complaints)


def assess_scope(scorer: Scorer, present: frozenset[str], absent: frozenset[str],
                 probabilities: npt.NDArray[np.float64], log_evidence: float) -> Scope:
    """Return the scope of a case from its current findings and posterior.

    Parameters
    ----------
    scorer : Scorer
        The case's scorer (its priors).
    present, absent : frozenset of str
        Current findings (history entries excluded).
    probabilities : ndarray
        Posteriors aligned with ``kb.conditions``, for the bound that skips most inferences.
    log_evidence : float
        ``log P(e)`` of the observed findings.

    Examples
    --------
    >>> from twitchcds import assess
    >>> assess({"age": 40, "sex": "female"}).scope.status
    'no-complaint'
    >>> assess({"findings": [{"id": "fasciculations", "status": "present"}]}).scope.status
    'in-scope'
    """
    kb: KnowledgeBase = scorer.kb
    complaints, asked, check = _candidates(kb, scorer.model, present, probabilities)
    high = {f for f in check
            if leak_only(scorer, present, absent, f, log_evidence) >= UNEXPLAINED_THRESHOLD}
    return _scope(kb, complaints, [f for f in asked if f not in check or f in high])


def scope_many(kb: KnowledgeBase, model: CompiledModel, *, priors: npt.NDArray[np.float64],
               present: npt.NDArray[np.bool_], absent: npt.NDArray[np.bool_],
               probabilities: npt.NDArray[np.float64],
               log_evidence: npt.NDArray[np.float64]) -> list[Scope]:
    """:func:`assess_scope` for many cases, with one inference for all their leak-only checks.

    Row ``r`` of ``priors`` (conditions), ``present`` and ``absent`` (finding masks in the
    model's finding order), ``probabilities`` and ``log_evidence`` describe case ``r``. Every
    check (``f`` absent instead of present, see the module notes) of every case is one row of
    :func:`twitchcds.inference.infer_many`; the result equals :func:`assess_scope`'s to
    rounding.

    Examples
    --------
    >>> from twitchcds import load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> kb = load_knowledge_base()
    >>> model = compile_model(kb)
    >>> present = np.zeros((1, len(kb.findings)), dtype=bool)
    >>> present[0, model.finding_position["fasciculations"]] = True
    >>> priors = np.array([model.base_priors("primary-care")])
    >>> [s.status for s in scope_many(kb, model, priors=priors, present=present,
    ...                               absent=present & False, probabilities=priors,
    ...                               log_evidence=np.zeros(1))]
    ['in-scope']
    """
    position = model.finding_position
    found = _candidates_many(kb, model, present, probabilities)
    checks = [(r, f) for r, (_, _, check) in enumerate(found) for f in check]
    high: set[tuple[int, str]] = set()
    if checks:
        rows = np.array([r for r, _ in checks], dtype=np.intp)
        cols = np.array([position[f] for _, f in checks], dtype=np.intp)
        pos, neg = present[rows], absent[rows]
        at = np.arange(rows.size)
        pos[at, cols], neg[at, cols] = False, True
        flipped = infer_many(model.network, priors[rows], pos, neg)
        leak = model.network.leaks[cols]
        ratio = np.exp(flipped.log_evidence - log_evidence[rows])
        value = np.minimum(1.0, leak / (1.0 - leak) * ratio)
        high = {check for check, v in zip(checks, value.tolist(), strict=True)
                if v >= UNEXPLAINED_THRESHOLD}
    return [_scope(kb, complaints, [f for f in asked if f not in check or (r, f) in high])
            for r, (complaints, asked, check) in enumerate(found)]
