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

__all__ = ["ImportResult", "SkippedResource", "UsedResource"]


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
    """

    resource_type: str
    id: str | None
    path: str
    target: str

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
class ImportResult:
    """A case read from an external format, with a report of what was used and skipped.

    Attributes
    ----------
    case : Case
        The validated case; it assesses against the knowledge base it was read with.
    used : tuple of UsedResource
    skipped : tuple of SkippedResource
    """

    case: Case
    used: tuple[UsedResource, ...] = ()
    skipped: tuple[SkippedResource, ...] = ()

    @property
    def skipped_count(self) -> int:
        """Number of skipped items."""
        return len(self.skipped)

    def report(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (types, ids, paths and reasons; no values)."""
        return {
            "used": [{"resource_type": u.resource_type, "id": u.id, "path": u.path,
                      "target": u.target} for u in self.used],
            "skipped": [{"resource_type": s.resource_type, "id": s.id, "path": s.path,
                         "reason": s.reason} for s in self.skipped],
        }
