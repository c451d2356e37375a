"""CDS Hooks 2.0 feedback: what the EHR reports about the cards (private; see ``cds_hooks``).

``POST /cds-services/twitchcds/feedback`` takes ``{"feedback": [...]}``, each item naming a card
(its ``uuid``), the ``outcome`` (``accepted`` or ``overridden``), the ``outcomeTimestamp``, and
``acceptedSuggestions`` or an ``overrideReason`` (a Coding from the card's ``overrideReasons`` and
an optional free-text ``userComment``). The service keeps **counts only** (outcome, override
reason code): no card ids, no timestamps, no comments, since free text can hold patient data.

Examples
--------
>>> log = FeedbackLog()
>>> log.record(parse_feedback({"feedback": [{
...     "card": "9a3f", "outcome": "overridden", "outcomeTimestamp": "2025-02-03T10:00:00Z",
...     "overrideReason": {"reason": {"code": "not-relevant",
...                                   "system": "https://twitchcds.readthedocs.io/override-reasons"}}
... }]}))
1
>>> log.counts()
{'overridden': {'not-relevant': 1}}
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from attrs import frozen

from twitchcds.errors import InvalidInputError, Problem

__all__ = ["OUTCOMES", "FeedbackItem", "FeedbackLog", "parse_feedback"]

OUTCOMES: Final = frozenset({"accepted", "overridden"})
"""The outcomes CDS Hooks 2.0 defines."""


@frozen
class FeedbackItem:
    """One outcome, reduced to what is kept: the outcome and the override reason code."""

    outcome: str
    reason: str = ""


def _text(data: Mapping[str, Any], key: str, path: str, problems: list[Problem],
          *, required: bool = True) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append(Problem(f"{path}.{key}", "must be a non-empty string", value))
        return None
    return value


def _item(raw: Any, path: str, problems: list[Problem]) -> FeedbackItem | None:
    if not isinstance(raw, Mapping):
        problems.append(Problem(path, "must be an object", type(raw).__name__))
        return None
    start = len(problems)
    _text(raw, "card", path, problems)
    outcome = _text(raw, "outcome", path, problems)
    if outcome is not None and outcome not in OUTCOMES:
        problems.append(Problem(f"{path}.outcome", "must be accepted or overridden", outcome))
    stamp = _text(raw, "outcomeTimestamp", path, problems)
    if stamp is not None:
        try:
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            problems.append(Problem(f"{path}.outcomeTimestamp", "must be an ISO 8601 instant",
                                    stamp))
    accepted = raw.get("acceptedSuggestions")
    if accepted is not None and (not isinstance(accepted, list) or not all(
            isinstance(s, Mapping) and isinstance(s.get("id"), str) for s in accepted)):
        problems.append(Problem(f"{path}.acceptedSuggestions",
                                'must be a list of {"id": suggestion uuid}'))
    reason = ""
    override = raw.get("overrideReason")
    if override is not None and not isinstance(override, Mapping):
        problems.append(Problem(f"{path}.overrideReason", "must be an object"))
    elif override is not None:
        coding = override.get("reason")
        if coding is not None and not isinstance(coding, Mapping):
            problems.append(Problem(f"{path}.overrideReason.reason", "must be a Coding"))
        elif coding is not None:
            where = f"{path}.overrideReason.reason"
            reason = _text(coding, "code", where, problems) or ""
            _text(coding, "system", where, problems)
            if "display" in coding and not isinstance(coding["display"], str):
                problems.append(Problem(f"{where}.display", "must be a string"))
        comment = override.get("userComment")
        if comment is not None and not isinstance(comment, str):
            problems.append(Problem(f"{path}.overrideReason.userComment", "must be a string"))
    if len(problems) > start or outcome is None:
        return None
    return FeedbackItem(outcome, reason)


def parse_feedback(data: Any) -> list[FeedbackItem]:
    """Check a feedback request (parsed JSON) and return its items.

    Raises
    ------
    InvalidInputError
        Every problem with its JSON path (e.g. ``$.feedback[0].outcome``).
    """
    if not isinstance(data, Mapping):
        raise InvalidInputError.from_problems([Problem("$", "a feedback request must be a JSON "
                                                            "object", type(data).__name__)])
    raw = data.get("feedback")
    if not isinstance(raw, list) or not raw:
        raise InvalidInputError.from_problems([Problem("$.feedback",
                                                       "is required and must be a non-empty "
                                                       "array")])
    problems: list[Problem] = []
    items = [_item(r, f"$.feedback[{i}]", problems) for i, r in enumerate(raw)]
    if problems:
        raise InvalidInputError.from_problems(problems)
    return [item for item in items if item is not None]


class FeedbackLog:
    """Thread-safe counts of feedback outcomes and override reasons (nothing else is kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def record(self, items: list[FeedbackItem]) -> int:
        """Count ``items``; return how many were recorded."""
        with self._lock:
            self._counts.update((i.outcome, i.reason) for i in items)
        return len(items)

    def counts(self) -> dict[str, dict[str, int]]:
        """Return ``{outcome: {override reason code or "": count}}``."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (outcome, reason), n in sorted(self._counts.items()):
                out.setdefault(outcome, {})[reason] = n
            return out
