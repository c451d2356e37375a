"""Public type aliases used across twitchcds.

Examples
--------
>>> from twitchcds.typing import TRIAGE_LEVELS
>>> TRIAGE_LEVELS.index("urgent") > TRIAGE_LEVELS.index("routine")
True
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

__all__ = [
    "CATEGORIES",
    "SETTINGS",
    "SEVERITIES",
    "STATUSES",
    "TRIAGE_LEVELS",
    "Category",
    "ConditionId",
    "FindingId",
    "Method",
    "Probability",
    "Setting",
    "Severity",
    "Sex",
    "Status",
    "TestId",
    "TriageLevel",
]

Probability: TypeAlias = float
"""A probability in [0, 1]."""

ConditionId: TypeAlias = str
"""Identifier of a candidate cause, e.g. ``"hypomagnesemia"`` (DESIGN section 7)."""

FindingId: TypeAlias = str
"""Identifier of a finding (symptom, sign, history item, lab or test result)."""

TestId: TypeAlias = str
"""Identifier of a diagnostic test, e.g. ``"emg"``."""

TriageLevel: TypeAlias = Literal["self-care", "routine", "soon", "urgent", "emergency"]
"""How soon the patient should be seen, lowest to highest."""

TRIAGE_LEVELS: Final[tuple[TriageLevel, ...]] = (
    "self-care", "routine", "soon", "urgent", "emergency",
)
"""Triage levels ordered from lowest to highest urgency."""

Method: TypeAlias = Literal["auto", "exact", "approximate"]
"""Inference method asked of :func:`twitchcds.assess`: chosen by estimated cost, or forced."""

Setting: TypeAlias = Literal["primary-care", "neuromuscular-clinic"]
"""Care setting whose base priors apply."""

SETTINGS: Final[tuple[Setting, ...]] = ("primary-care", "neuromuscular-clinic")
"""Supported care settings; the first is the default."""

Sex: TypeAlias = Literal["female", "male", "other", "unknown"]
"""Administrative sex as given in a case."""

Status: TypeAlias = Literal["present", "absent"]
"""Status of a finding in a case; unknown findings are simply not listed."""

STATUSES: Final[tuple[Status, ...]] = ("present", "absent")
"""The two finding statuses."""

Category: TypeAlias = Literal[
    "benign", "lifestyle", "metabolic", "endocrine", "drug-toxic", "neurological",
]
"""Clinical category of a condition."""

CATEGORIES: Final[tuple[Category, ...]] = (
    "benign", "lifestyle", "metabolic", "endocrine", "drug-toxic", "neurological",
)
"""Condition categories."""

Severity: TypeAlias = Literal["mild", "moderate", "serious", "critical"]
"""How much harm a missed diagnosis of the condition would do."""

SEVERITIES: Final[tuple[Severity, ...]] = ("mild", "moderate", "serious", "critical")
"""Severities ordered from least to most harmful if missed."""
