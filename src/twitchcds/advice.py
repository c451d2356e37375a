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

from twitchcds.compiled import CompiledModel
from twitchcds.inference import rank_order
from twitchcds.knowledge.model import RedFlag
from twitchcds.triage import fired_red_flags

__all__ = ["AdviceItem", "advise"]

_SAFETY_NET_LIMIT = 8


@frozen
class AdviceItem:
    """One piece of advice; ``condition`` is ``None`` for the general safety net."""

    condition: str | None
    text: str
    kind: str
    references: tuple[str, ...]


def advise(model: CompiledModel, probabilities: Mapping[str, float],
           present: frozenset[str], fired: tuple[RedFlag, ...] | None = None,
           ) -> tuple[AdviceItem, ...]:
    """Return advice for likely conditions, then the safety net.

    ``fired`` is ``fired_red_flags(model, present)`` when the caller has it already.
    """
    order = rank_order([probabilities[c.id] for c in model.conditions], model.id_rank)
    ranked = [model.conditions[i] for i in order]
    items: list[AdviceItem] = []
    likely: list[int] = []
    for rank, condition in enumerate(ranked):
        if rank > 0 and probabilities[condition.id] < model.advice_min_probability:
            break
        likely.append(model.condition_position[condition.id])
        items.extend(AdviceItem(condition.id, a.text, a.kind, a.references)
                     for a in condition.advice)
    fired_ids = {flag.id for flag in (fired_red_flags(model, present) if fired is None
                                      else fired)}
    # noticeable: what it needs beyond symptoms and signs (a medicine taken, a lab or test
    # result) is already present, and some alternative of its any_of part can be noticed
    candidates = [entry for entry in model.safety_net
                  if entry.flag.id not in fired_ids and entry.noticeable_any
                  and entry.in_hand <= present]
    # Within the limit, flags about this person come first (most urgent first within each
    # group): those naming something already present or a finding a likely condition causes.
    ids = model.network.finding_ids
    near = set(present).union(*({ids[f] for f in model.network.children(c)[0]}
                                for c in likely))
    candidates.sort(key=lambda e: near.isdisjoint(e.flag.all_of) and near.isdisjoint(
        e.flag.any_of))
    items.extend(AdviceItem(None, entry.text, "safety-net", entry.flag.references)
                 for entry in candidates[:_SAFETY_NET_LIMIT])
    return tuple(items)
