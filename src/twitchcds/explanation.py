"""Explanations: how much each finding moved each condition's log-odds.

Weights are exact chain-rule contributions on the natural log-odds scale. Absent findings come
first: with only absent evidence the noisy-OR posterior factorises over conditions, so an absent
finding ``f`` changes condition ``c``'s log-odds by exactly ``log(1 - p_cf)`` (zero when unlinked).
An absent finding is never evidence through an inhibitor link (its exclusion node is
unobserved), so this holds with inhibitors too. Present findings are then added one at a time in
knowledge-base order, each weight being the change in log-odds it causes given everything before
it; a present finding not linked to ``c`` can still lower it (explaining away by another cause),
and a present finding that ``c`` inhibits lowers it: its weight includes the exclusion factor
``log(1 - s)``. For every condition the weights sum exactly to
``logit(posterior) - logit(prior)``.

Examples
--------
>>> from twitchcds import assess
>>> result = assess({"findings": [{"id": "fasciculations", "status": "present"}]})
>>> top = result.differential[0]
>>> import math
>>> logit = lambda p: math.log(p) - math.log1p(-p)
>>> abs(sum(e.weight for e in top.evidence) - (logit(top.probability) - logit(top.prior))) < 1e-6
True
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.evidence import Evidence
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.scoring import Scorer
from twitchcds.typing import Status

__all__ = ["Contribution", "chain_evidence", "explain", "logit"]

_CLIP = 1e-15


@frozen
class Contribution:
    """One finding's signed contribution to one condition's log-odds, with its references.

    ``linked`` says whether the knowledge base links the condition to the finding (as a cause
    or an inhibitor, whose references are cited); an unlinked present finding acts by
    explaining away, and cites no link.
    """

    finding: str
    status: Status
    weight: float
    references: tuple[str, ...]
    linked: bool


def logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Natural log-odds, clipped away from 0 and 1 so that certainty stays finite."""
    q = np.clip(p, _CLIP, 1.0 - _CLIP)
    result: npt.NDArray[np.float64] = np.log(q) - np.log1p(-q)
    return result


UNLINKED_FLOOR = 1e-12
"""Smallest weight listed for a present finding not linked to the condition (see below)."""

LOGIT_ROUNDING = 1e-13
"""Bound on the rounding of a posterior ``p`` near 1, relative to ``1 - p``, in log-odds terms.

A log-odds near certainty amplifies the rounding of ``p`` by ``1 / (1 - p)``, so two exact
methods (one case alone, or a chunk of cases at once) can differ there by far more than
``UNLINKED_FLOOR`` (seen: 1.9e-12 at ``p = 0.9994`` for a finding with no effect at all).
"""


def _unlinked_floor(before: npt.NDArray[np.float64],
                    after: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per condition, the weight below which an unlinked finding's step is rounding noise.

    ``UNLINKED_FLOOR``, or near certainty ``LOGIT_ROUNDING * (1 / (1 - p_before) + 1 / (1 -
    p_after))`` when larger (``p`` clipped as :func:`logit` clips it).

    Examples
    --------
    >>> floor = _unlinked_floor(np.array([0.5, 0.9994]), np.array([0.5, 0.9994]))
    >>> [float(f"{x:.3g}") for x in floor]
    [1e-12, 3.33e-10]
    """
    amplified = LOGIT_ROUNDING * (1.0 / (1.0 - np.clip(before, 0.0, 1.0 - _CLIP))
                                  + 1.0 / (1.0 - np.clip(after, 0.0, 1.0 - _CLIP)))
    floor: npt.NDArray[np.float64] = np.maximum(UNLINKED_FLOOR, amplified)
    return floor


def _isolated(kb: KnowledgeBase, condition: str,
              finding: str) -> tuple[float, tuple[str, ...]] | None:
    """Weight of present ``finding`` on ``condition`` alone: ``log(P(f | c) / P(f | none))``.

    With an inhibitor link the observation includes its exclusion evidence ``o``, so the weight
    is ``log(P(f, o | c alone) / P(f, o | nothing)) = log(1 - s)``. ``None`` when the knowledge
    base does not link them.
    """
    link = kb.link_index.get((condition, finding))
    if link is not None:
        leak = kb.finding_index[finding].leak
        alone = 1.0 - (1.0 - leak) * (1.0 - link.probability)
        return math.log(alone / leak), link.references
    inhibitor = kb.inhibitor_index.get((condition, finding))
    if inhibitor is None:
        return None
    return math.log1p(-inhibitor.probability), inhibitor.references


def _cited(kb: KnowledgeBase, condition: str, finding: str) -> tuple[str, ...] | None:
    """Return the references of their link or inhibitor link, ``None`` when there is none."""
    link = kb.link_index.get((condition, finding)) or kb.inhibitor_index.get((condition, finding))
    return None if link is None else link.references


def chain_evidence(kb: KnowledgeBase, evidence: Evidence,
                   ) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Return the evidence sets :func:`explain` solves: ``(present, absent)`` ids per step.

    Step 0 has every absent finding and no present one; step ``j`` adds the first ``j`` present
    findings in knowledge-base order.

    Examples
    --------
    >>> from twitchcds import Case, load_knowledge_base
    >>> from twitchcds.evidence import derive_evidence
    >>> kb = load_knowledge_base()
    >>> evidence = derive_evidence(Case.from_dict({"findings": [
    ...     {"id": "fasciculations", "status": "present"},
    ...     {"id": "muscle_cramps", "status": "absent"}]}), kb)
    >>> chain_evidence(kb, evidence)
    [((), ('muscle_cramps',)), (('fasciculations',), ('muscle_cramps',))]
    """
    order = kb.finding_position
    absent = tuple(sorted(evidence.absent, key=order.__getitem__))
    present = tuple(sorted(evidence.present, key=order.__getitem__))
    return [(present[:j], absent) for j in range(len(present) + 1)]


def explain(scorer: Scorer, evidence: Evidence, *,
            chain: bool = True) -> tuple[tuple[Contribution, ...], ...]:
    """Return, per condition (in knowledge-base order), its contributions by decreasing ``|w|``.

    Costs one inference per present finding (``scorer.run`` of each :func:`chain_evidence`
    set; :func:`twitchcds.pipeline.run_many` solves them for many cases at once and hands them
    to the scorer beforehand). With ``chain=False`` (used when inference had to
    be approximate, where each extra run is a sampling run) present findings get their
    *isolated* link weight instead, ``log(P(f | c alone) / P(f | nothing))`` for linked findings
    only (``log(1 - s)`` for a condition that ``f`` is evidence against); such weights do not sum
    to the posterior change, and the assessment says so.

    Notes
    -----
    Absent findings factorise over conditions given only absent evidence, so their weights are
    exact closed forms (``log(1 - p_cf)``); inhibitor links give them none, since an absent
    finding's exclusion evidence is unobserved. A present finding's chain weight includes the
    exclusion evidence it brings (a factor ``1 - s`` on the odds of each condition it is
    evidence against). The weights sum exactly to ``logit(posterior) - logit(prior)``.
    """
    kb = scorer.kb
    order = kb.finding_position
    absent = sorted(evidence.absent, key=order.__getitem__)
    present = sorted(evidence.present, key=order.__getitem__)
    n = len(kb.conditions)
    rows: list[list[Contribution]] = [[] for _ in range(n)]
    for f in absent:
        for i, c in enumerate(kb.conditions):
            link = kb.link_index.get((c.id, f))
            if link is not None:
                rows[i].append(Contribution(f, "absent", math.log1p(-link.probability),
                                            link.references, linked=True))
    if not chain:
        for f in present:
            for i, c in enumerate(kb.conditions):
                isolated = _isolated(kb, c.id, f)
                if isolated is not None:
                    rows[i].append(Contribution(f, "present", isolated[0], isolated[1],
                                                linked=True))
        return tuple(tuple(sorted(r, key=lambda e: (-abs(e.weight), e.finding))) for r in rows)
    steps = [scorer.run(pos, neg).probabilities for pos, neg in chain_evidence(kb, evidence)]
    previous = logit(steps[0])
    for j, f in enumerate(present):
        current = logit(steps[j + 1])
        delta = current - previous
        previous = current
        floor = _unlinked_floor(steps[j], steps[j + 1])
        for i, c in enumerate(kb.conditions):
            refs = _cited(kb, c.id, f)
            if refs is None and abs(delta[i]) < floor[i]:
                continue
            rows[i].append(Contribution(f, "present", float(delta[i]), refs or (),
                                        linked=refs is not None))
    return tuple(tuple(sorted(r, key=lambda e: (-abs(e.weight), e.finding))) for r in rows)
