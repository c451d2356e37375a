"""Explanations: how much each finding moved each condition's log-odds.

Weights are exact chain-rule contributions on the natural log-odds scale. Absent findings come
first: with only absent evidence the noisy-OR posterior factorises over conditions, so an absent
finding ``f`` changes condition ``c``'s log-odds by exactly ``log(1 - p_cf)`` (zero when unlinked).
Absent findings with inhibitor links do not factorise; they are added next, one at a time, then
the present findings, in knowledge-base order, each weight being the change in log-odds it causes
given everything before it; a present finding not linked to ``c`` can still lower it (explaining
away by another cause), and a finding that ``c`` inhibits lowers it when present. For every
condition the weights sum exactly to ``logit(posterior) - logit(prior)``.

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

__all__ = ["Contribution", "explain", "logit"]

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


def _isolated(kb: KnowledgeBase, condition: str, finding: str,
              status: Status) -> tuple[float, tuple[str, ...]] | None:
    """Weight of ``finding`` on ``condition`` alone, ``log(P(f | c alone) / P(f | nothing))``.

    ``None`` when the knowledge base does not link them.
    """
    leak = kb.finding_index[finding].leak
    link = kb.link_index.get((condition, finding))
    if link is not None:
        if status == "absent":
            return math.log1p(-link.probability), link.references
        alone = 1.0 - (1.0 - leak) * (1.0 - link.probability)
        return math.log(alone / leak), link.references
    inhibitor = kb.inhibitor_index.get((condition, finding))
    if inhibitor is None:
        return None
    keep = 1.0 - inhibitor.probability
    if status == "present":
        return math.log(keep), inhibitor.references
    return math.log((1.0 - leak * keep) / (1.0 - leak)), inhibitor.references


def _cited(kb: KnowledgeBase, condition: str, finding: str) -> tuple[str, ...] | None:
    """Return the references of their link or inhibitor link, ``None`` when there is none."""
    link = kb.link_index.get((condition, finding)) or kb.inhibitor_index.get((condition, finding))
    return None if link is None else link.references


def explain(scorer: Scorer, evidence: Evidence, *,
            chain: bool = True) -> tuple[tuple[Contribution, ...], ...]:
    """Return, per condition (in knowledge-base order), its contributions by decreasing ``|w|``.

    Costs one inference per present finding and per absent finding that has inhibitors. With
    ``chain=False`` (used when inference had to be approximate, where each extra run is a
    sampling run) present findings and absent inhibited findings get their *isolated* link
    weight instead, ``log(P(f | c alone) / P(f | nothing))`` for linked findings only; such
    weights do not sum to the posterior change, and the assessment says so.

    Notes
    -----
    Absent findings without inhibitors factorise over conditions given only absent evidence, so
    their weights are exact closed forms (``log(1 - p_cf)``). An absent finding with inhibitors
    does not factorise (``P(f absent | c) = Q B + (1 - B)``), so it joins the present findings
    in the chain: absent inhibited findings first, then present findings, each weight being
    the change of log-odds it causes given everything before it. The weights still sum exactly
    to ``logit(posterior) - logit(prior)``.
    """
    kb = scorer.kb
    order = kb.finding_position
    absent = sorted(evidence.absent, key=order.__getitem__)
    present = sorted(evidence.present, key=order.__getitem__)
    blocked = {i.finding for i in kb.inhibitors}
    plain = [f for f in absent if f not in blocked]
    n = len(kb.conditions)
    rows: list[list[Contribution]] = [[] for _ in range(n)]
    for f in plain:
        for i, c in enumerate(kb.conditions):
            link = kb.link_index.get((c.id, f))
            if link is not None:
                rows[i].append(Contribution(f, "absent", math.log1p(-link.probability),
                                            link.references, linked=True))
    steps: list[tuple[str, Status]] = [(f, "absent") for f in absent if f in blocked]
    steps += [(f, "present") for f in present]
    if not chain:
        for f, status in steps:
            for i, c in enumerate(kb.conditions):
                isolated = _isolated(kb, c.id, f, status)
                if isolated is not None:
                    rows[i].append(Contribution(f, status, isolated[0], isolated[1],
                                                linked=True))
        return tuple(tuple(sorted(r, key=lambda e: (-abs(e.weight), e.finding))) for r in rows)
    shown: dict[Status, list[str]] = {"present": [], "absent": list(plain)}
    previous = logit(scorer.run((), plain).probabilities)
    for f, status in steps:
        shown[status].append(f)
        current = logit(scorer.run(shown["present"], shown["absent"]).probabilities)
        delta = current - previous
        previous = current
        for i, c in enumerate(kb.conditions):
            refs = _cited(kb, c.id, f)
            if refs is None and abs(delta[i]) < 1e-12:
                continue
            rows[i].append(Contribution(f, status, float(delta[i]), refs or (),
                                        linked=refs is not None))
    return tuple(tuple(sorted(r, key=lambda e: (-abs(e.weight), e.finding))) for r in rows)
