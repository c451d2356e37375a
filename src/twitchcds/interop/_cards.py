"""CDS Hooks request checking and cards (private; the service is in ``cds_hooks``).

Everything here is a pure function of JSON data, so the HTTP layer only reads bytes and maps
errors to status codes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Final

from twitchcds.assessment import Assessment
from twitchcds.errors import InvalidInputError, Problem
from twitchcds.interop._builder import NothingToAssessError
from twitchcds.interop._fhir_export import service_request
from twitchcds.interop._fhir_read import Item
from twitchcds.interop._policy import OVERRIDE_REASONS, OVERRIDE_SYSTEM, fires
from twitchcds.interop.fhir import bundle_problems, read_resources
from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["DOCS_URL", "HOOK", "METHOD_URL", "PREFETCH", "SERVICE_ID", "PrefetchMissingError",
           "cards", "discovery", "handle_request"]

SERVICE_ID: Final = "twitchcds"
HOOK: Final = "patient-view"
DOCS_URL: Final = "https://twitchcds.readthedocs.io"
METHOD_URL: Final = f"{DOCS_URL}/en/latest/explanation/model.html"
"""Documentation of the method, linked from every card."""
PREFETCH: Final[Mapping[str, str]] = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}&_sort=-date&_count=500",
    "conditions": "Condition?patient={{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
}
"""Prefetch templates: the patient, and search Bundles of observations, conditions, medications."""

_EXPECTED: Final[Mapping[str, frozenset[str]]] = {
    "observations": frozenset({"Observation"}),
    "conditions": frozenset({"Condition"}),
    "medications": frozenset({"MedicationRequest", "MedicationStatement", "Medication"}),
}
_INDICATOR: Final[Mapping[str, str]] = {"self-care": "info", "routine": "info",
                                        "soon": "warning", "urgent": "warning",
                                        "emergency": "critical"}
_SUMMARY_CHARS: Final = 140


class PrefetchMissingError(InvalidInputError):
    """Raised when a CDS Hooks request lacks prefetch data the service needs (HTTP 412).

    This version makes no calls back to the EHR's FHIR server, so every prefetch key must be
    sent (``null`` when the EHR has no such data).
    """

    prefix = "prefetch missing"


def discovery() -> dict[str, Any]:
    """Return the CDS Hooks discovery document (``GET /cds-services``).

    Examples
    --------
    >>> service = discovery()["services"][0]
    >>> service["id"], service["hook"], sorted(service["prefetch"])
    ('twitchcds', 'patient-view', ['conditions', 'medications', 'observations', 'patient'])
    """
    return {"services": [{
        "id": SERVICE_ID, "hook": HOOK, "title": "twitchcds: muscle twitching",
        "description": "Ranked causes of muscle twitching (fasciculations) with triage from red "
                       "flags and recommended tests, from a cited noisy-OR knowledge graph. "
                       "Supports clinicians; does not diagnose.",
        "prefetch": dict(PREFETCH), "usageRequirements": "Send every prefetch key (null when "
                                                          "there is no data): no FHIR server "
                                                          "calls are made.",
    }]}


def _bad(path: str, message: str, value: Any = None) -> InvalidInputError:
    problem = Problem(path, message) if value is None else Problem(path, message, value)
    return InvalidInputError.from_problems([problem])


def _text(data: Mapping[str, Any], key: str, path: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{path}.{key}", "is required and must be a non-empty string", value)
    return value


def _prefetch_items(prefetch: Mapping[str, Any],
                    full_urls: dict[str, str] | None = None) -> list[Item]:
    items: list[Item] = []
    for key in PREFETCH:
        if key not in prefetch:
            raise PrefetchMissingError.from_problems([Problem(
                f"$.prefetch.{key}", f"prefetch {key!r} is required ({PREFETCH[key]}); send "
                                     "null when there is no data")])
        value, path = prefetch[key], f"$.prefetch.{key}"
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise _bad(path, "must be a FHIR resource (JSON object) or null", type(value).__name__)
        wanted = "Patient" if key == "patient" else "Bundle"
        if value.get("resourceType") != wanted:
            raise _bad(f"{path}.resourceType", f"must be {wanted!r}", value.get("resourceType"))
        if key == "patient":
            items.append((path, value))
            continue
        problems = bundle_problems(value, path)
        if problems:
            raise InvalidInputError.from_problems(problems)
        for i, entry in enumerate(value.get("entry", [])):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            kind = resource.get("resourceType") if isinstance(resource, Mapping) else None
            if kind == "OperationOutcome" or resource is None:
                continue  # search warnings, or an entry with no resource
            if kind not in _EXPECTED[key]:
                raise _bad(f"{path}.entry[{i}].resource.resourceType",
                           f"must be one of {', '.join(sorted(_EXPECTED[key]))}", kind)
            items.append((f"{path}.entry[{i}].resource", resource))
            if full_urls is not None and isinstance(entry.get("fullUrl"), str):
                full_urls[f"{path}.entry[{i}].resource"] = entry["fullUrl"]
    return items


def handle_request(data: Any, kb: KnowledgeBase | None = None, *,
                   on_date: date | None = None,
                   report: Callable[[Assessment], str] | None = None) -> dict[str, Any]:
    """Answer one CDS Hooks ``patient-view`` request (parsed JSON) with ``{"cards": [...]}``.

    At most one card, and none unless the firing policy allows it (see
    :mod:`twitchcds.interop._policy`): a current neuromuscular complaint or a fired red flag, a
    living patient. A record with nothing the knowledge base can use (an all-``null`` prefetch
    included) gets ``{"cards": []}``. ``report``, when given, is called with the assessment of
    a case that gets a card and returns the URL of its report page, which the card links to.

    Raises
    ------
    PrefetchMissingError
        A prefetch key is missing (HTTP 412).
    InvalidInputError
        Any other malformed request or resource (HTTP 400), with its JSON path.
    """
    from twitchcds.pipeline import assess  # noqa: PLC0415  (pipeline imports the whole core)

    if not isinstance(data, Mapping):
        raise _bad("$", "a CDS Hooks request must be a JSON object", type(data).__name__)
    hook = data.get("hook")
    if hook != HOOK:
        raise _bad("$.hook", f"must be {HOOK!r}", hook)
    instance = _text(data, "hookInstance", "$")
    context = data.get("context")
    if not isinstance(context, Mapping):
        raise _bad("$.context", "is required and must be an object")
    patient_id = _text(context, "patientId", "$.context")
    for where, holder, key in (("$.context", context, "userId"), ("$", data, "fhirServer")):
        if key in holder and not isinstance(holder[key], str):
            raise _bad(f"{where}.{key}", "must be a string", type(holder[key]).__name__)
    prefetch = data.get("prefetch")
    if prefetch is None:
        raise PrefetchMissingError.from_problems([Problem(
            "$.prefetch", "prefetch is required: this service makes no FHIR server calls")])
    if not isinstance(prefetch, Mapping):
        raise _bad("$.prefetch", "must be an object", type(prefetch).__name__)
    full_urls: dict[str, str] = {}
    items = _prefetch_items(prefetch, full_urls)
    try:
        imported = read_resources(items, kb=kb, on_date=on_date, patient_id=patient_id,
                                  full_urls=full_urls)
    except NothingToAssessError:
        return {"cards": []}
    result = assess(imported.case, kb)
    if not fires(result, deceased=imported.deceased)[0]:
        return {"cards": []}
    return {"cards": cards(result, hook_instance=instance, patient_id=patient_id,
                           report_url=None if report is None else report(result))}


def _summary(result: Assessment) -> str:
    flags = [r for r in result.triage.reasons if r.kind == "red-flag"]
    if flags:
        text = f"Twitching: triage {result.triage.level}; red flag: {flags[0].text}"
        return text if len(text) <= _SUMMARY_CHARS else text[:_SUMMARY_CHARS - 3] + "..."
    text = f"Twitching: triage {result.triage.level}"
    for i, row in enumerate(result.differential[:3]):
        part = f"{'; top: ' if i == 0 else ', '}{row.name} {row.probability:.0%}"
        if len(text) + len(part) > _SUMMARY_CHARS:
            break
        text += part
    return text


def _detail(result: Assessment) -> str:
    """Return a short detail: triage and why, top causes, proposed tests (the rest is linked)."""
    lines = [f"**Triage: {result.triage.level}**", ""]
    if result.triage.reasons:
        lines += ["Why this triage:", *(f"- {r.text}" for r in result.triage.reasons[:3]), ""]
    if result.scope.status == "unexplained":
        lines += [result.scope.text, ""]
    if result.scope.status != "no-complaint":
        bounds = ({c: (lo, hi) for c, lo, hi in result.uncertainty.intervals}
                  if result.uncertainty else {})
        lines += ["Most likely causes: " + "; ".join(
            f"{row.name} {row.probability:.0%}"
            + (f" ({bounds[row.id][0]:.0%}-{bounds[row.id][1]:.0%})" if bounds else "")
            for row in result.differential[:3]), ""]
        if result.uncertainty is not None:
            u = result.uncertainty
            lines += [f"Order of the top three {'stable' if u.top3_stable else 'uncertain'} "
                      f"under the knowledge base's ranges (kept in {u.top3_stability:.0%} of "
                      f"{u.draws} draws; {u.level:.0%} intervals in brackets).", ""]
    if result.tests:
        lines += ["Proposed tests: " + ", ".join(t.name for t in result.tests), ""]
    lines += [f"_{result.disclaimer}_"]
    return "\n".join(lines)


def cards(result: Assessment, *, hook_instance: str, patient_id: str | None = None,
          report_url: str | None = None) -> list[dict[str, Any]]:
    """Return the CDS Hooks cards for an assessment (one card; a suggestion per test).

    Card and suggestion uuids are uuid5 of ``hook_instance`` and their position, so a repeated
    request gets the same answer. ``report_url``, when given, is linked from the card as the
    full report page (see the service's report route).

    Examples
    --------
    >>> from twitchcds import assess
    >>> card = cards(assess({"age": 30, "findings": [
    ...     {"id": "fasciculations", "status": "present"}]}), hook_instance="h1")[0]
    >>> card["indicator"], card["source"]["label"], len(card["summary"]) <= 140
    ('info', 'twitchcds', True)
    """
    subject = {"reference": f"Patient/{patient_id}"} if patient_id else {
        "display": "unidentified patient"}

    def uid(*parts: object) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, ":".join(["twitchcds", hook_instance,
                                                             *map(str, parts)])))

    suggestions = [{
        "label": f"Propose: {test.name}"[:_SUMMARY_CHARS], "uuid": uid(0, "suggestion", i),
        "isRecommended": True,
        "actions": [{"type": "create", "description": f"Propose {test.name}",
                     "resource": service_request(test, result.kb.test_index.get(test.id),
                                                 subject, result.triage.level)}],
    } for i, test in enumerate(result.tests)]
    card: dict[str, Any] = {
        "uuid": uid(0), "summary": _summary(result),
        "indicator": _INDICATOR[result.triage.level], "detail": _detail(result),
        "source": {"label": "twitchcds", "url": DOCS_URL},
        "overrideReasons": [{"system": OVERRIDE_SYSTEM, "code": code, "display": display}
                            for code, display in OVERRIDE_REASONS],
        "links": [{"label": "How twitchcds ranks causes and sets triage", "url": METHOD_URL,
                   "type": "absolute"}],
    }
    if report_url is not None:
        card["links"].insert(0, {"label": "Full report: differential with intervals, why, "
                                          "tests", "url": report_url, "type": "absolute"})
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "any"
    return [card]
