"""The CDS Hooks service over real HTTP (uvicorn on a loopback port, httpx client)."""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from fhir.resources.R4B.servicerequest import ServiceRequest  # noqa: E402

from twitchcds import load_knowledge_base  # noqa: E402
from twitchcds.interop.cds_hooks import create_app  # noqa: E402

REQUEST = json.loads((Path(__file__).parent / "data" / "cds_hooks" /
                      "patient_view_request.json").read_text(encoding="utf-8"))
SERVICE = "/cds-services/twitchcds"
_OBS = REQUEST["prefetch"]["observations"]
LIGHT = {**REQUEST, "prefetch": {  # fewer findings: a quicker assessment for the load test
    **REQUEST["prefetch"], "conditions": None, "medications": None,
    "observations": {**_OBS, "entry": [e for e in _OBS["entry"]
                                       if e["resource"].get("id") in {"fx-1", "wk-1"}]}}}
LIMIT = 256 * 1024
ON = date(2025, 2, 3)  # the day the example chart is opened


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """Run the app with uvicorn in a background thread on a free loopback port."""
    app = create_app(load_knowledge_base(), cors_origins=("https://ehr.example.org",),
                     max_body_bytes=LIMIT, clock=lambda: ON)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, access_log=False, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[Any]:
    with httpx.Client(base_url=base_url, timeout=30) as c:
        yield c


def test_discovery_lists_the_service(client):
    """GET /cds-services lists service twitchcds on patient-view with the four prefetch keys."""
    response = client.get("/cds-services")
    assert response.status_code == 200
    service = response.json()["services"][0]
    assert service["id"] == "twitchcds"
    assert service["hook"] == "patient-view"
    assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert set(service["prefetch"]) == {"patient", "observations", "conditions", "medications"}


def test_patient_view_returns_a_card(client):
    """A prefetched EHR request gets one card with triage indicator, source and test proposals."""
    response = client.post(SERVICE, json=REQUEST)
    assert response.status_code == 200, response.text
    (card,) = response.json()["cards"]
    assert len(card["summary"]) <= 140
    assert card["summary"].startswith("Twitching: triage urgent")  # cramps on a PPI: FDA
    assert card["indicator"] == "warning"
    assert "Hypokalemia" in card["detail"]
    assert card["source"]["label"] == "twitchcds"
    assert card["source"]["url"].startswith("https://")
    assert card["selectionBehavior"] == "any"
    for suggestion in card["suggestions"]:
        (action,) = suggestion["actions"]
        assert action["type"] == "create"
        resource = ServiceRequest.model_validate(action["resource"])
        assert resource.intent == "proposal"
        assert resource.subject.reference == "Patient/pat-7f3c"


def test_concurrent_requests_get_identical_answers(client):
    """Twenty concurrent requests are all answered, with byte-identical cards."""
    def call(_: int) -> tuple[int, str]:
        response = client.post(SERVICE, json=LIGHT)
        return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(call, range(20)))
    assert {status for status, _ in results} == {200}
    assert len({text for _, text in results}) == 1


def test_cors_preflight_allows_the_configured_origin(client):
    """A CORS preflight from a configured origin is allowed; others are not."""
    headers = {"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"}
    ok = client.options(SERVICE, headers=headers)
    assert ok.headers["access-control-allow-origin"] == "https://ehr.example.org"
    other = client.options(SERVICE, headers={**headers, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def _without(path: str) -> dict[str, Any]:
    data = copy.deepcopy(REQUEST)
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[key]
    del target[last]
    return data


def _set(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(REQUEST)
    *parents, last = path.split(".")
    target = data
    for key in parents:
        target = target[key] if not key.isdigit() else target[int(key)]
    target[int(last) if last.isdigit() else last] = value
    return data


OBS = "$.prefetch.observations.entry"
BAD = [
    ("not-json", b"{hook: 1", 400, "$"),
    ("nan-literal", b'{"hook": NaN}', 400, "$"),
    ("bad-utf8", b'{"hook": "\xff"}', 400, "$"),
    ("json-array", [REQUEST], 400, "$"),
    ("wrong-hook", _set("hook", "order-select"), 400, "$.hook"),
    ("no-hook-instance", _without("hookInstance"), 400, "$.hookInstance"),
    ("no-context", _without("context"), 400, "$.context"),
    ("patient-id-number", _set("context.patientId", 7), 400, "$.context.patientId"),
    ("no-prefetch", _without("prefetch"), 412, "$.prefetch"),
    ("prefetch-key-missing", _without("prefetch.observations"), 412,
     "$.prefetch.observations"),
    ("prefetch-not-object", _set("prefetch", []), 400, "$.prefetch"),
    ("patient-wrong-type", _set("prefetch.patient", {"resourceType": "Observation"}), 400,
     "$.prefetch.patient.resourceType"),
    ("observations-not-bundle", _set("prefetch.observations", {"resourceType": "Patient"}),
     400, "$.prefetch.observations.resourceType"),
    ("condition-in-observations", _set("prefetch.observations.entry.0.resource",
                                       REQUEST["prefetch"]["conditions"]["entry"][0][
                                           "resource"]), 400, f"{OBS}[0].resource.resourceType"),
    ("malformed-value", _set("prefetch.observations.entry.1.resource.valueQuantity.value",
                             "low"), 400, f"{OBS}[1].resource.valueQuantity.value"),
    ("other-patient-in-context", _set("context.patientId", "someone-else"), 400,
     "$.prefetch.patient.id"),
]


@pytest.mark.parametrize(("body", "status", "path"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])
def test_malformed_requests_get_json_4xx(client, body, status, path):
    """A malformed request is answered with a JSON error naming the path, never a 500."""
    if isinstance(body, bytes):
        response = client.post(SERVICE, content=body,
                                headers={"Content-Type": "application/json"})
    else:
        response = client.post(SERVICE, json=body)
    assert response.status_code == status, response.text
    assert response.json()["path"] == path
    assert response.json()["error"]


def test_oversized_body_gets_413_and_the_server_keeps_serving(client):
    """A body over the limit is refused with 413, and the next request still succeeds."""
    big = json.dumps({**REQUEST, "padding": "x" * (LIMIT + 1)}).encode()
    assert client.post(SERVICE, content=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]

    assert client.post(SERVICE, content=chunks()).status_code == 413
    assert client.post(SERVICE, json=REQUEST).status_code == 200


def test_unknown_routes_and_methods_get_json_errors(client):
    """Unknown routes get a JSON 404 and wrong methods a JSON 405."""
    assert client.get("/nope").json()["path"] == "$"
    assert client.get(SERVICE).status_code == 405


@pytest.mark.parametrize(("level", "indicator"), [
    ("self-care", "info"), ("routine", "info"), ("soon", "warning"), ("urgent", "warning"),
    ("emergency", "critical")])
def test_indicator_follows_triage(level, indicator):
    """The card indicator is info, warning or critical according to the triage level."""
    import attrs

    from twitchcds import assess
    from twitchcds.interop.cds_hooks import cards
    from twitchcds.triage import Triage

    result = attrs.evolve(assess({"age": 30}, workup=False), triage=Triage(level, ()))
    (card,) = cards(result, hook_instance="h")
    assert card["indicator"] == indicator
    assert len(card["summary"]) <= 140


def test_serve_runs_uvicorn_without_access_log(monkeypatch):
    """serve() hands the app to uvicorn on loopback with the access log off."""
    from twitchcds.interop import cds_hooks

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    cds_hooks.serve()
    assert seen["host"] == "127.0.0.1"
    assert seen["port"] == 8000
    assert seen["access_log"] is False
