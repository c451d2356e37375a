"""The CDS Hooks service on records: firing policy, card shape, feedback, OpenAPI fuzzing."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
jsonschema = pytest.importorskip("jsonschema")
schemathesis = pytest.importorskip("schemathesis")

import anyio  # noqa: E402
import httpx  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from twitchcds import load_knowledge_base  # noqa: E402
from twitchcds.interop._openapi import CARD_SCHEMA, openapi_document  # noqa: E402
from twitchcds.interop.cds_hooks import create_app, handle_request  # noqa: E402

DATA = Path(__file__).parent / "data"
REQUEST = json.loads((DATA / "cds_hooks" / "patient_view_request.json").read_text("utf-8"))
SYNTHEA = sorted((DATA / "synthea").glob("*.json"))
ON = date(2025, 2, 3)
KB = load_knowledge_base()
# The OpenAPI document is 3.0 (nullable); the card schema is plain JSON Schema there.
CARD_VALIDATOR = jsonschema.Draft202012Validator(
    CARD_SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
APP = create_app(KB, clock=lambda: ON)


def call(app: Any, method: str, url: str, body: Any = None) -> httpx.Response:
    """One in-process request to the ASGI app (no network)."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await c.request(method, url, json=body)

    return anyio.run(go)


def chart(path: Path) -> tuple[dict[str, Any], date]:
    """A patient-view request for a Synthea record, and the date of its last entry."""
    bundle = json.loads(path.read_text(encoding="utf-8"))
    entries = list(bundle["entry"])
    pid = next(e["resource"]["id"] for e in entries
               if e["resource"]["resourceType"] == "Patient")
    prefetch: dict[str, Any] = {"patient": next(e["resource"] for e in entries if e[
        "resource"]["resourceType"] == "Patient")}
    for key, kinds in (("observations", {"Observation"}), ("conditions", {"Condition"}),
                       ("medications", {"MedicationRequest", "MedicationStatement",
                                        "Medication"})):
        found = [{"fullUrl": e["fullUrl"], "resource": e["resource"]} for e in entries
                 if e["resource"]["resourceType"] in kinds]
        prefetch[key] = ({"resourceType": "Bundle", "type": "searchset", "entry": found}
                         if found else None)
    dates = [e["resource"].get("effectiveDateTime", "")[:10] for e in entries]
    return ({"hook": "patient-view", "hookInstance": f"h-{pid}",
             "context": {"userId": "Practitioner/1", "patientId": pid},
             "prefetch": prefetch}, date.fromisoformat(max(d for d in dates if d)))


# --- defect 1: alert fatigue ------------------------------------------------------------------

def test_synthea_charts_without_a_complaint_get_no_card():
    """Charts of patients with no neuromuscular complaint and no red flag get no card (they
    all got one)."""
    carded = []
    for path in SYNTHEA:
        request, on = chart(path)
        answer = handle_request(request, KB, on_date=on)
        carded += [path.stem for _ in answer["cards"]]
    assert carded == []


def test_complaint_gets_exactly_one_valid_card():
    """A chart with twitching and weakness gets one card, valid against the CDS Hooks card
    schema, with override reasons and a link."""
    answer = handle_request(REQUEST, KB, on_date=ON)
    (card,) = answer["cards"]
    CARD_VALIDATOR.validate(card)
    assert {r["code"] for r in card["overrideReasons"]} >= {"not-relevant", "disagree"}
    assert card["links"][0]["type"] == "absolute"


def test_red_flag_without_complaint_gets_a_card():
    """A current red flag (potassium 2.3 mmol/L in blood) gets a card even without a complaint."""
    obs = {"resourceType": "Observation", "id": "k", "status": "final",
           "effectiveDateTime": "2025-02-02",
           "code": {"coding": [{"system": "http://loinc.org", "code": "6298-4"}]},
           "valueQuantity": {"value": 2.3, "unit": "mmol/L",
                             "system": "http://unitsofmeasure.org", "code": "mmol/L"}}
    request = copy.deepcopy(REQUEST)
    request["prefetch"].update(conditions=None, medications=None, observations={
        "resourceType": "Bundle", "type": "searchset", "entry": [{"resource": obs}]})
    (card,) = handle_request(request, KB, on_date=ON)["cards"]
    CARD_VALIDATOR.validate(card)
    assert "red flag" in card["summary"]
    assert card["indicator"] in {"warning", "critical"}


def test_deceased_patient_gets_no_card():
    """No card for a chart of a patient recorded as deceased."""
    request = copy.deepcopy(REQUEST)
    request["prefetch"]["patient"]["deceasedDateTime"] = "2025-02-02T00:00:00Z"
    assert handle_request(request, KB, on_date=ON) == {"cards": []}


# --- feedback ---------------------------------------------------------------------------------

def test_feedback_is_counted_without_comments():
    """POST /feedback counts outcomes and override reasons, and keeps no comment."""
    app = create_app(KB, clock=lambda: ON)
    body = {"feedback": [
        {"card": "c1", "outcome": "accepted", "outcomeTimestamp": "2025-02-03T10:00:00Z",
         "acceptedSuggestions": [{"id": "s1"}]},
        {"card": "c2", "outcome": "overridden", "outcomeTimestamp": "2025-02-03T10:01:00Z",
         "overrideReason": {"reason": {"code": "not-relevant", "system": "x"},
                            "userComment": "patient Jane Doe says it stopped"}}]}
    response = call(app, "POST", "/cds-services/twitchcds/feedback", body)
    assert response.status_code == 200
    assert response.json() == {"received": 2}
    bad = call(app, "POST", "/cds-services/twitchcds/feedback",
               {"feedback": [{"card": "c", "outcome": "maybe", "outcomeTimestamp": "now"}]})
    assert bad.status_code == 400
    assert bad.json()["path"] == "$.feedback[0].outcome"
    assert app.state.feedback.counts() == {"accepted": {"": 1}, "overridden": {"not-relevant": 1}}
    assert "Jane" not in repr(app.state.feedback.counts())


# --- OpenAPI ----------------------------------------------------------------------------------

def test_openapi_document_is_served_and_names_every_route():
    """GET /openapi.json serves the document, naming the three CDS Hooks routes."""
    doc = call(APP, "GET", "/openapi.json").json()
    assert doc == openapi_document()
    assert {"/cds-services", "/cds-services/twitchcds",
            "/cds-services/twitchcds/feedback"} <= set(doc["paths"])


schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_service_fuzzed_from_its_openapi_document(case):
    """Requests generated from the OpenAPI document never get a 5xx, and every response
    conforms to the documented status codes, content type, headers and schemas."""
    # The data-acceptance checks expect valid data -> 2xx and invalid data -> 400/422; DESIGN 9
    # answers a missing prefetch with 412 whichever it is, so those two checks are left out.
    case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance,
                                            schemathesis.checks.negative_data_rejection])
