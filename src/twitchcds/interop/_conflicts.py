"""Resolving sources in a record that disagree about a finding (private; see ``_builder``).

A health record holds many sources that may disagree: a problem-list entry "prediabetes"
(hyperglycaemia present) and an HbA1c of 6.1% (hyperglycaemia absent); an old "Fasciculation"
Condition and a recent observation that twitching is absent. Case v1 JSON refuses such a case
(:class:`~twitchcds.errors.ContradictionError`); imports from records resolve the disagreement by
one documented rule and report it (DESIGN section 6a):

1. a lab result beats a Condition (problem-list entry) or a coded Observation finding: it is a
   measurement;
2. otherwise the more recent source wins (a dated source beats an undated one);
3. on the same date, or both undated, an Observation beats a Condition: it is the more specific
   record of one examination;
4. otherwise the statement that the finding is present is kept (a reported finding is not
   dropped on an undated denial), and the conflict is reported for the clinician to check.

Each item's findings are found by deriving the evidence of a one-item case, so labs (through
their bands), HPO descendants and SNOMED CT codes all count, exactly as in a full assessment.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from attrs import frozen

from twitchcds.case import Case
from twitchcds.errors import TwitchCDSError
from twitchcds.evidence import derive_evidence
from twitchcds.interop._report import Conflict
from twitchcds.knowledge.base import KnowledgeBase
from twitchcds.typing import Status

__all__ = ["Candidate", "facts_of", "resolve"]

_CONDITION: Final = "Condition"


@frozen
class Candidate:
    """One case item (finding or lab) with what it says about each knowledge-base finding."""

    kind: str  # "findings" or "labs"
    index: int
    facts: dict[str, Status]
    origin: Any

    @property
    def is_lab(self) -> bool:
        """Whether the item is a lab result."""
        return self.kind == "labs"

    def rank(self, finding: str) -> tuple[bool, float, bool, bool]:
        """Sort key of the resolution rule: lab, date, Observation over Condition, present."""
        when = self.origin.when
        return (self.is_lab, when.timestamp() if when else -math.inf,
                self.origin.resource_type != _CONDITION, self.facts[finding] == "present")


def facts_of(kb: KnowledgeBase, data: dict[str, Any],
             cache: dict[str, dict[str, Status]]) -> dict[str, Status]:
    """Return ``{finding: status}`` that a one-item case ``data`` says (``{}`` if it errs)."""
    key = json.dumps(data, sort_keys=True)
    if key not in cache:
        try:
            evidence = derive_evidence(Case.from_dict(data), kb)
        except TwitchCDSError:  # reported when the whole case is built
            cache[key] = {}
        else:
            facts: dict[str, Status] = dict.fromkeys(evidence.present, "present")
            facts |= dict.fromkeys(evidence.absent, "absent")
            cache[key] = facts
    return cache[key]


def _why(winner: Candidate, loser: Candidate) -> str:
    if winner.is_lab != loser.is_lab:
        kind = "a Condition (problem-list entry)" if loser.origin.resource_type == _CONDITION \
            else f"an {loser.origin.resource_type} finding"
        return f"a lab result beats {kind}"
    new, old = winner.origin.when, loser.origin.when
    if new is not None and old is None:
        return "a dated source beats an undated one"
    if new is not None and old is not None and new != old:
        return "the more recent source wins"
    if winner.origin.resource_type != loser.origin.resource_type and (
            loser.origin.resource_type == _CONDITION):
        return "on the same date an Observation beats a Condition (problem-list entry)"
    return "sources of equal weight: the finding is kept present; check the record"


def resolve(candidates: Sequence[Candidate],
            drop: Callable[[Candidate, str], None]) -> tuple[list[Candidate], list[Conflict]]:
    """Resolve every disagreement among ``candidates``; return the survivors and the conflicts.

    ``drop(candidate, reason)`` is called for each item left out (the builder lists it as
    skipped).
    """
    alive = list(candidates)
    conflicts: list[Conflict] = []
    while True:
        seen: dict[str, set[Status]] = {}
        clash = None
        for item in alive:
            for finding, status in item.facts.items():
                seen.setdefault(finding, set()).add(status)
                if len(seen[finding]) > 1:
                    clash = finding
                    break
            if clash:
                break
        if clash is None:
            return alive, conflicts
        group = [c for c in alive if clash in c.facts]
        winner = max(group, key=lambda c: c.rank(clash))
        for loser in group:
            if loser.facts[clash] == winner.facts[clash]:
                continue
            rule = _why(winner, loser)
            conflicts.append(Conflict(clash, winner.origin.path, loser.origin.path,
                                      winner.facts[clash], loser.facts[clash], rule))
            drop(loser, f"conflicts with {winner.origin.path} about {clash}: {rule}")
            alive.remove(loser)
