"""Explanations: how much each finding moved each condition's log-odds.

Weights are exact chain-rule contributions on the natural log-odds scale. Absent findings come
first: with only absent evidence the noisy-OR posterior factorises over conditions, so an absent
finding ``f`` changes condition ``c``'s log-odds by exactly ``log(1 - p_cf)`` (zero when unlinked).
Present findings are then added one at a time in knowledge-base order, each weight being the change
in log-odds it causes given everything before it; a present finding not linked to ``c`` can still
lower it (explaining away by another cause). For every condition the weights sum exactly to
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
from twitchcds.scoring import Scorer
from twitchcds.typing import Status

__all__ = ["Contribution", "explain", "logit"]

_CLIP = 1e-15


@frozen
class Contribution:
    """One finding's signed contribution to one condition's log-odds, with its references.

    ``linked`` says whether the knowledge base links the condition to the finding; an unlinked
    present finding acts by explaining away, and cites no link.
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


def explain(scorer: Scorer, evidence: Evidence, *,
            chain: bool = True) -> tuple[tuple[Contribution, ...], ...]:
    """Return, per condition (in knowledge-base order), its contributions by decreasing ``|w|``.

    Costs one inference per present finding. With ``chain=False`` (used when inference had to be
    approximate, where each extra run is a sampling run) present findings get their *isolated*
    link weight instead, ``log(P(f | c alone) / P(f | nothing))`` for linked findings only; such
    weights do not sum to the posterior change, and the assessment says so.
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
            leak = kb.finding_index[f].leak
            for i, c in enumerate(kb.conditions):
                link = kb.link_index.get((c.id, f))
                if link is not None:
                    alone = 1.0 - (1.0 - leak) * (1.0 - link.probability)
                    rows[i].append(Contribution(f, "present", math.log(alone / leak),
                                                link.references, linked=True))
        return tuple(tuple(sorted(r, key=lambda e: (-abs(e.weight), e.finding))) for r in rows)
    previous = logit(scorer.run((), absent).probabilities)
    for j, f in enumerate(present):
        current = logit(scorer.run(present[: j + 1], absent).probabilities)
        delta = current - previous
        previous = current
        for i, c in enumerate(kb.conditions):
            link = kb.link_index.get((c.id, f))
            if link is None and abs(delta[i]) < 1e-12:
                continue
            rows[i].append(Contribution(
                f, "present", float(delta[i]), link.references if link else (),
                linked=link is not None))
    return tuple(tuple(sorted(r, key=lambda e: (-abs(e.weight), e.finding))) for r in rows)
