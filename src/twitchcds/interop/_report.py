"""What an import used and what it skipped: :class:`ImportResult` and its rows.

A health record carries much that the knowledge base does not model (blood pressure, allergy
lists, codes it cannot place). Importers skip such items and list them here with the reason, so
an integrator can see what was read without any patient data being printed or logged.

Examples
--------
>>> from twitchcds import Case
>>> result = ImportResult(
...     Case(age=40),
...     used=(UsedResource("Patient", "p1", "$.entry[0].resource", "age"),),
...     skipped=(SkippedResource("Observation", "bp", "$.entry[1].resource",
...                              "LOINC 85354-9 is not used by the knowledge base"),))
>>> result.skipped_count, result.used[0].reference
(1, 'Patient/p1')
>>> result.report()["skipped"][0]["reason"]
'LOINC 85354-9 is not used by the knowledge base'
"""

from __future__ import annotations

from typing import Any

from attrs import frozen

from twitchcds.case import Case

__all__ = ["Conflict", "HistoryItem", "ImportResult", "SkippedResource", "UsedResource"]


@frozen
class UsedResource:
    """An input item that went into the case.

    Attributes
    ----------
    resource_type : str
        FHIR resource type (``Observation``) or phenopacket element (``phenotypicFeature``).
    id : str or None
        The resource's id, when it has one.
    path : str
        JSON path of the item in the input document, e.g. ``$.entry[3].resource``.
    target : str
        What it became in the case, e.g. ``labs[0]``, ``findings[2]``, ``age``.
    note : str
        How it was read when that is not obvious, e.g. ``LOINC 6298-4 (Potassium [Moles/volume]
        in Blood) read as 2823-3``; empty otherwise.
    """

    resource_type: str
    id: str | None
    path: str
    target: str
    note: str = ""

    @property
    def reference(self) -> str | None:
        """FHIR relative reference ``Type/id``, or ``None`` without an id."""
        return f"{self.resource_type}/{self.id}" if self.id else None


@frozen
class SkippedResource:
    """An input item that was valid but carried nothing the knowledge base can use, and why."""

    resource_type: str
    id: str | None
    path: str
    reason: str


@frozen
class Conflict:
    """Two sources in a record that disagree about a finding, and how it was resolved.

    Imports from records never refuse a whole record because two sources disagree (DESIGN
    section 6a). The rule, in order: a lab result beats a problem-list entry (Condition) or a
    coded observation; otherwise the more recent source wins; on the same date (or undated) an
    Observation beats a Condition; otherwise the statement that the finding is present is kept.
    The losing item is left out of the case and also listed in ``skipped``.

    Attributes
    ----------
    finding : str
        The knowledge-base finding both sources speak about, e.g. ``hyperglycemia``.
    kept, dropped : str
        JSON paths of the winning and the losing item in the input document.
    kept_status, dropped_status : str
        What each said about the finding (``present`` or ``absent``).
    rule : str
        Which step of the rule decided, e.g. ``a lab result beats a Condition``.
    """

    finding: str
    kept: str
    dropped: str
    kept_status: str
    dropped_status: str
    rule: str


@frozen
class HistoryItem:
    """A record entry read as history (past, not current): what it was, where, and why.

    Attributes
    ----------
    resource_type, id, path
        As in :class:`UsedResource`.
    reason : str
        Why it is history, e.g. ``clinicalStatus is resolved`` or ``onset 2012-03-01 is more
        than 90 days before 2019-06-01 and seizure is an acute event``.
    target : str
        The case item it became (``findings[3]``, a finding with ``"current": false``), or
        empty when it was left out of the case (a lab result, a repeated code).
    """

    resource_type: str
    id: str | None
    path: str
    reason: str
    target: str = ""


@frozen
class ImportResult:
    """A case read from an external format, with a report of what was used and skipped.

    Attributes
    ----------
    case : Case
        The validated case; it assesses against the knowledge base it was read with.
    used : tuple of UsedResource
    skipped : tuple of SkippedResource
    conflicts : tuple of Conflict
        Sources that disagreed and how each disagreement was resolved.
    history : tuple of HistoryItem
        Entries read as history (resolved, abated or old) rather than as current findings;
        those the knowledge base can place are in the case with ``"current": false``.
    notes : tuple of str
        Other things the reader should know, e.g. that the patient is deceased and the age is the
        age at death. Notes name no patient data beyond dates and ages.
    deceased : bool
        Whether the record says the patient has died.
    """

    case: Case
    used: tuple[UsedResource, ...] = ()
    skipped: tuple[SkippedResource, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    history: tuple[HistoryItem, ...] = ()
    notes: tuple[str, ...] = ()
    deceased: bool = False

    @property
    def skipped_count(self) -> int:
        """Number of skipped items."""
        return len(self.skipped)

    def report(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (types, ids, paths and reasons; no values)."""
        return {
            "used": [{"resource_type": u.resource_type, "id": u.id, "path": u.path,
                      "target": u.target, **({"note": u.note} if u.note else {})}
                     for u in self.used],
            "skipped": [{"resource_type": s.resource_type, "id": s.id, "path": s.path,
                         "reason": s.reason} for s in self.skipped],
            "conflicts": [{"finding": c.finding, "kept": c.kept, "kept_status": c.kept_status,
                           "dropped": c.dropped, "dropped_status": c.dropped_status,
                           "rule": c.rule} for c in self.conflicts],
            "history": [{"resource_type": h.resource_type, "id": h.id, "path": h.path,
                         "reason": h.reason, "target": h.target} for h in self.history],
            "notes": list(self.notes),
            "deceased": self.deceased,
        }
