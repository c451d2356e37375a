"""Triage: how soon the patient should be seen.

Red flags set a floor that no probability can lower: each red flag of the knowledge base whose
pattern is present forces at least its level. A pattern names findings and, where the danger lies
in the combination, active risk factors (muscle weakness while taking a diuretic). Probabilities
can only raise the level further, by a condition's escalation rules (e.g. a likely serious cause).
The result is the highest level reached, with every reason that fired; with nothing fired it is
``self-care``.

Examples
--------
>>> from twitchcds import load_knowledge_base
>>> from twitchcds.compiled import compile_model
>>> from twitchcds.triage import triage
>>> model = compile_model(load_knowledge_base())
>>> probs = {c.id: 0.0 for c in model.conditions}
>>> triage(model, frozenset(), probs).level
'self-care'
"""

from __future__ import annotations

from collections.abc import Mapping

from attrs import frozen

from twitchcds.compiled import CompiledModel
from twitchcds.knowledge.model import RedFlag
from twitchcds.scope import Scope
from twitchcds.typing import TRIAGE_LEVELS, TriageLevel

__all__ = ["Triage", "TriageReason", "fired_red_flags", "level_rank", "triage"]


@frozen
class TriageReason:
    """Why the level is at least ``level``: a red flag (``kind='red-flag'``) or a probability."""

    id: str
    text: str
    level: TriageLevel
    references: tuple[str, ...]
    kind: str = "red-flag"


@frozen
class Triage:
    """The triage level and every reason behind it (highest level first)."""

    level: TriageLevel
    reasons: tuple[TriageReason, ...]


def level_rank(level: TriageLevel) -> int:
    """Position of a level in :data:`twitchcds.typing.TRIAGE_LEVELS` (0 = self-care)."""
    return TRIAGE_LEVELS.index(level)


def fired_red_flags(model: CompiledModel, present: frozenset[str]) -> tuple[RedFlag, ...]:
    """Red flags whose pattern is present (ids of present findings and active risk factors).

    Only the flags naming something present are tested, in knowledge-base order.
    """
    named = sorted({i for name in present for i in model.red_flags_naming.get(name, ())})
    return tuple(flag for flag, need, some in (model.red_flags[i] for i in named)
                 if need <= present and (not some or not some.isdisjoint(present)))


def triage(model: CompiledModel, present: frozenset[str],
           probabilities: Mapping[str, float],
           fired: tuple[RedFlag, ...] | None = None, *, scope: Scope | None = None) -> Triage:
    """Return the triage level for present findings and posterior probabilities.

    Parameters
    ----------
    model : CompiledModel
        The compiled knowledge base.
    present : frozenset of str
        Findings present (after derivation) and active risk factors.
    probabilities : mapping
        Posterior probability of each condition id.
    fired : tuple of RedFlag, optional
        ``fired_red_flags(model, present)`` when the caller has it already.
    scope : Scope, optional
        The case's scope (DESIGN §6a): with ``no-complaint`` only red flags count (no condition
        probability escalates); with ``unexplained`` the level is at least ``routine``.
    """
    if fired is None:
        fired = fired_red_flags(model, present)
    reasons = [TriageReason(flag.id, flag.text, flag.level, flag.references)
               for flag in fired]
    if scope is not None and scope.status == "unexplained":
        reasons.append(TriageReason("scope_unexplained", scope.text, "routine", (),
                                    kind="scope"))
    escalating = (() if scope is not None and scope.status == "no-complaint"
                  else model.escalating)
    for condition in escalating:
        p = probabilities.get(condition.id, 0.0)
        reached = [e for e in condition.escalations if p >= e.min_probability]
        if reached:
            top = max(reached, key=lambda e: level_rank(e.level))
            reasons.append(TriageReason(
                f"likely_{condition.id}",
                f"{condition.name} has probability {p:.0%} (at least {top.min_probability:.0%} "
                f"calls for '{top.level}')", top.level, top.references, kind="probability"))
    reasons.sort(key=lambda r: (-level_rank(r.level), r.kind, r.id))
    level: TriageLevel = reasons[0].level if reasons else TRIAGE_LEVELS[0]
    return Triage(level, tuple(reasons))
