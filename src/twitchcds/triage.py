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

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from attrs import frozen

from twitchcds.compiled import CompiledModel
from twitchcds.knowledge.model import Condition, Escalation, RedFlag
from twitchcds.scope import Scope
from twitchcds.typing import TRIAGE_LEVELS, TriageLevel

__all__ = ["Triage", "TriageReason", "fired_red_flags", "level_rank", "triage",
           "triage_many"]


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
    escalating = (() if scope is not None and scope.status == "no-complaint"
                  else model.escalating)
    escalated = []
    for condition in escalating:
        p = probabilities.get(condition.id, 0.0)
        reached = [e for e in condition.escalations if p >= e.min_probability]
        if reached:
            escalated.append(_escalation(condition, p, reached))
    return _triage(fired, scope, escalated)


def triage_many(model: CompiledModel, present: Sequence[frozenset[str]],
                probabilities: npt.NDArray[np.float64],
                scopes: Sequence[Scope | None]) -> list[Triage]:
    """:func:`triage` for many cases, the escalation rules tested for all of them at once.

    Row ``r`` of ``probabilities`` holds case ``r``'s posteriors in the model's condition
    order; ``present[r]`` and ``scopes[r]`` are its findings and risk factors, and its scope.

    Examples
    --------
    >>> import numpy as np
    >>> from twitchcds import load_knowledge_base
    >>> from twitchcds.compiled import compile_model
    >>> model = compile_model(load_knowledge_base())
    >>> n = len(model.conditions)
    >>> [t.level for t in triage_many(model, [frozenset()] * 2,
    ...                               np.array([np.zeros(n), np.ones(n)]), [None, None])]
    ['self-care', 'emergency']
    """
    rules = [(i, e) for i, c in enumerate(model.escalating) for e in c.escalations]
    columns = [model.condition_position[model.escalating[i].id] for i, _ in rules]
    reached = probabilities[:, columns] >= np.array([e.min_probability for _, e in rules])
    hits: list[dict[int, list[Escalation]]] = [{} for _ in present]
    for r, j in zip(*np.nonzero(reached), strict=True):  # rows, then rules in order
        i, rule = rules[j]
        hits[r].setdefault(i, []).append(rule)
    out = []
    for r, (context, scope) in enumerate(zip(present, scopes, strict=True)):
        escalated = []
        if scope is None or scope.status != "no-complaint":
            for i, rules_hit in hits[r].items():
                condition = model.escalating[i]
                p = float(probabilities[r, model.condition_position[condition.id]])
                escalated.append(_escalation(condition, p, rules_hit))
        out.append(_triage(fired_red_flags(model, context), scope, escalated))
    return out


def _escalation(condition: Condition, p: float, reached: list[Escalation]) -> TriageReason:
    """Return the reason for the highest level among a condition's ``reached`` rules."""
    top = max(reached, key=lambda e: level_rank(e.level))
    return TriageReason(
        f"likely_{condition.id}",
        f"{condition.name} has probability {p:.0%} (at least {top.min_probability:.0%} "
        f"calls for '{top.level}')", top.level, top.references, kind="probability")


def _triage(fired: tuple[RedFlag, ...], scope: Scope | None,
            escalated: list[TriageReason]) -> Triage:
    """Red flags, the scope's reason and the escalations, highest level first."""
    reasons = [TriageReason(flag.id, flag.text, flag.level, flag.references)
               for flag in fired]
    if scope is not None and scope.status == "unexplained":
        reasons.append(TriageReason("scope_unexplained", scope.text, "routine", (),
                                    kind="scope"))
    reasons += escalated
    reasons.sort(key=lambda r: (-level_rank(r.level), r.kind, r.id))
    level: TriageLevel = reasons[0].level if reasons else TRIAGE_LEVELS[0]
    return Triage(level, tuple(reasons))
