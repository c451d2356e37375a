"""Management advice for the likely causes, and a safety net.

Advice is taken from the knowledge base for every condition whose posterior reaches the knowledge
base's ``advice_min_probability`` (and always for the most probable condition), most probable
first. A safety net follows: the red flags not present, in plain words, as reasons to come back.
Only flags the person could notice are listed: a flag that needs a risk factor (a medicine) only
when that risk factor is active, and a flag that needs a lab or test result only when that result
is already present (low potassium: come back if weakness develops).

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
from twitchcds.knowledge.model import RedFlag
from twitchcds.triage import fired_red_flags, level_rank

__all__ = ["AdviceItem", "advise"]

_SAFETY_NET_LIMIT = 8
_MEASURED = frozenset({"lab", "test"})  # finding kinds known only from a result


@frozen
class AdviceItem:
    """One piece of advice; ``condition`` is ``None`` for the general safety net."""

    condition: str | None
    text: str
    kind: str
    references: tuple[str, ...]


def _observable(kb: KnowledgeBase, ident: str) -> bool:
    finding = kb.finding_index.get(ident)
    return finding is not None and finding.kind not in _MEASURED


def _noticeable(kb: KnowledgeBase, flag: RedFlag, present: frozenset[str]) -> bool:
    """Whether what the flag still needs could be noticed by the person or on examination."""
    missing = [x for x in flag.all_of if x not in present]
    if not all(_observable(kb, x) for x in missing):
        return False  # a medicine not taken, or a lab or test result not in hand
    return not flag.any_of or any(_observable(kb, x) for x in flag.any_of)


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
    shown = 0
    for flag in sorted(kb.red_flags, key=lambda f: (-level_rank(f.level), f.id)):
        if shown == _SAFETY_NET_LIMIT:
            break
        if flag.id in fired or not _noticeable(kb, flag, present):
            continue
        items.append(AdviceItem(None, f"Seek care ({flag.level}) if this develops: {flag.text}",
                                "safety-net", flag.references))
        shown += 1
    return tuple(items)
