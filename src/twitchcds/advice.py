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
from types import MappingProxyType

from attrs import frozen

from twitchcds._state import per_knowledge_base
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


@frozen(eq=False)
class _Plan:
    """What advice needs from a knowledge base, built once per knowledge base.

    ``safety_net`` lists, most urgent first, each red flag with the ids it needs that only a
    result or a medicine could show (they must be present for the flag to be noticeable),
    whether its ``any_of`` part could be noticed, and its safety-net item.
    """

    condition_items: Mapping[str, tuple[AdviceItem, ...]]
    safety_net: tuple[tuple[str, frozenset[str], bool, AdviceItem], ...]


def _plan(kb: KnowledgeBase) -> _Plan:
    items = {c.id: tuple(AdviceItem(c.id, a.text, a.kind, a.references) for a in c.advice)
             for c in kb.conditions}
    net = []
    for flag in sorted(kb.red_flags, key=lambda f: (-level_rank(f.level), f.id)):
        in_hand = frozenset(x for x in flag.all_of if not _observable(kb, x))
        any_ok = not flag.any_of or any(_observable(kb, x) for x in flag.any_of)
        net.append((flag.id, in_hand, any_ok,
                    AdviceItem(None, f"Seek care ({flag.level}) if this develops: {flag.text}",
                               "safety-net", flag.references)))
    return _Plan(MappingProxyType(items), tuple(net))


def advise(kb: KnowledgeBase, probabilities: Mapping[str, float],
           present: frozenset[str], fired: tuple[RedFlag, ...] | None = None,
           ) -> tuple[AdviceItem, ...]:
    """Return advice for likely conditions, then the safety net.

    ``fired`` is ``fired_red_flags(kb, present)`` when the caller has it already.
    """
    plan = per_knowledge_base(kb, _plan)
    ranked = sorted(kb.conditions, key=lambda c: (-probabilities[c.id], c.id))
    items: list[AdviceItem] = []
    for rank, condition in enumerate(ranked):
        if rank > 0 and probabilities[condition.id] < kb.decision.advice_min_probability:
            break
        items.extend(plan.condition_items[condition.id])
    fired_ids = {flag.id for flag in (fired_red_flags(kb, present) if fired is None
                                      else fired)}
    shown = 0
    for flag_id, in_hand, any_ok, item in plan.safety_net:
        if shown == _SAFETY_NET_LIMIT:
            break
        # noticeable: what it needs beyond symptoms and signs (a medicine taken, a lab or test
        # result) is already present, and some alternative of its any_of part can be noticed
        if flag_id in fired_ids or not any_ok or not in_hand <= present:
            continue
        items.append(item)
        shown += 1
    return tuple(items)
