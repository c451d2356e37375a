"""Now versus history in health records: the time windows the importers apply (private).

A record holds years of entries; an assessment is about now. The FHIR importer reads as
**history** (not current findings; DESIGN section 6a), and lists in the import report (entries
with a code the knowledge base can place also enter the case as findings with ``"current":
false``, which the assessment reports and never uses):

- a Condition whose ``clinicalStatus`` is ``inactive``, ``resolved`` or ``remission``, or that
  has an ``abatement[x]``;
- an active Condition whose onset (``onset[x]``, else ``recordedDate``) is more than
  :data:`CONDITION_ACUTE_DAYS` days before the assessment date and whose finding is an acute
  event: a finding that an ``urgent`` or ``emergency`` red flag of the knowledge base names and
  no lower-level flag does (seizure, tetany, dyspnoea, incontinence, ... but not twitching or
  weakness), or one of :data:`EPISODE_FINDINGS`. Epilepsy diagnosed years ago is not a seizure
  today; a chronic finding (cramps, weakness) on the problem list stays current;
- an Observation finding (HPO/SNOMED CT, yes/no) dated more than :data:`FINDING_DAYS` days
  before the assessment date;
- a lab result dated more than :data:`LAB_DAYS` days before the assessment date (left out of the
  case: an old value says little about today).

Undated entries are current. The assessment date is ``on_date`` (default today), or the date of
death for a deceased patient, whose age is then the age at death.

Examples
--------
>>> from datetime import date, datetime, UTC
>>> older_than(datetime(2024, 1, 1, tzinfo=UTC), date(2025, 1, 1), LAB_DAYS)
True
>>> older_than(None, date(2025, 1, 1), LAB_DAYS)
False
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["CONDITION_ACUTE_DAYS", "EPISODE_FINDINGS", "FINDING_DAYS", "LAB_DAYS",
           "PAST_CLINICAL", "VITAL_SIGN_DAYS", "VITAL_SIGN_LOINC", "acute_findings", "lab_days",
           "older_than"]

CONDITION_ACUTE_DAYS: Final = 90
"""An active Condition naming an acute event is history once its onset is this many days old."""

FINDING_DAYS: Final = 90
"""An Observation finding is history once it is this many days old."""

LAB_DAYS: Final = 365
"""A lab result is left out once it is this many days old."""

VITAL_SIGN_DAYS: Final = 1
"""A vital sign is left out once it is this many days old: it describes the patient then."""

VITAL_SIGN_LOINC: Final = frozenset({"8480-6", "8867-4", "9279-1", "8310-5", "59408-5",
                                     "2708-6"})
"""LOINC codes of the vital signs the knowledge base reads (derivations.toml)."""


def lab_days(loinc: str) -> int:
    """How old a result of ``loinc`` may be and still be read (vital signs: a day)."""
    return VITAL_SIGN_DAYS if loinc in VITAL_SIGN_LOINC else LAB_DAYS


PAST_CLINICAL: Final = frozenset({"inactive", "resolved", "remission"})
"""Condition ``clinicalStatus`` codes that mean the condition is no longer current."""

EPISODE_FINDINGS: Final = frozenset({"seizure", "tetany", "vomiting", "diarrhea",
                                     "dehydration_signs", "palpitations", "tachycardia"})
"""Findings that describe an episode rather than a lasting state (besides red-flag findings)."""


def acute_findings(kb: KnowledgeBase) -> frozenset[str]:
    """Return the findings treated as acute events: red-flag findings and episode findings."""
    high: set[str] = set()
    low: set[str] = set()
    for flag in kb.red_flags:
        (high if flag.level in {"urgent", "emergency"} else low).update(flag.all_of, flag.any_of)
    named = high - low
    return frozenset(named & set(kb.finding_index)) | (EPISODE_FINDINGS & set(kb.finding_index))


def older_than(when: datetime | None, as_of: date, days: int) -> bool:
    """Whether ``when`` is more than ``days`` days before ``as_of`` (``False`` if undated)."""
    return when is not None and (as_of - when.date()).days > days
