"""Management advice for the likely causes, and a safety net.

Advice is taken from the knowledge base for every condition whose posterior reaches the knowledge
base's ``advice_min_probability`` (and always for the most probable condition), most probable
first. A safety net follows: the red flags not present, in plain words, as reasons to come back;
a flag that needs a risk factor (a medicine) is only listed when that risk factor is active.

Examples
--------
>>> from twitchcds import assess
>>> result = assess({"age": 30, "findings": [{"id": "fasciculations", "status": "present"}]})
>>> any(item.kind == "safety-net" for item in result.advice)
True
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.triage import fired_red_flags, level_rank

__all__ = ["AdviceItem", "advise"]

_SAFETY_NET_LIMIT = 8


@frozen
class AdviceItem:
    """One piece of advice; ``condition`` is ``None`` for the general safety net."""

    condition: str | None
    text: str
    kind: str
    references: tuple[str, ...]


def advise(kb: KnowledgeBase, probabilities: Mapping[str, float],
           present: frozenset[str]) -> tuple[AdviceItem, ...]:
    """Return advice for likely conditions, then the safety net."""
    ranked = sorted(kb.conditions, key=lambda c: (-probabilities[c.id], c.id))
    items: list[AdviceItem] = []
    for rank, condition in enumerate(ranked):
        if rank > 0 and probabilities[condition.id] < kb.decision.advice_min_probability:
            break
        items.extend(AdviceItem(condition.id, a.text, a.kind, a.references)
                     for a in condition.advice)
    fired = {flag.id for flag in fired_red_flags(kb, present)}
    pending = [flag for flag in kb.red_flags if flag.id not in fired and all(
        x in present for x in flag.all_of if x in kb.risk_factor_index)]
    pending.sort(key=lambda f: (-level_rank(f.level), f.id))
    for flag in pending[:_SAFETY_NET_LIMIT]:
        items.append(AdviceItem(None, f"Seek care ({flag.level}) if this develops: {flag.text}",
                                "safety-net", flag.references))
    return tuple(items)
