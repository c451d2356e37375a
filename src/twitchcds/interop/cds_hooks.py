"""A CDS Hooks 2.0 ``patient-view`` service: a Starlette ASGI app, served by uvicorn.

Endpoints
---------
``GET /cds-services``
    Discovery: service ``twitchcds`` on hook ``patient-view`` with prefetch templates
    ``patient``, ``observations``, ``conditions``, ``medications`` (:data:`PREFETCH`).
``POST /cds-services/twitchcds``
    A CDS Hooks request whose ``prefetch`` holds the Patient and search Bundles; the answer is
    ``{"cards": [...]}``: at most one card, and only when the firing policy allows it (a current
    neuromuscular complaint or a fired red flag, a living patient; see the CDS Hooks how-to);
    otherwise ``{"cards": []}``, also for an all-``null``
    prefetch. The card: summary <= 140 characters; indicator ``info`` for self-care and routine
    triage, ``warning`` for soon and urgent, ``critical`` for emergency; a short markdown detail
    (triage and why, top three causes, proposed tests) and a link to the method; source label;
    ``overrideReasons``; suggestions proposing each recommended test as a ServiceRequest (action
    ``create``).
``POST /cds-services/twitchcds/feedback``
    CDS Hooks 2.0 feedback (accepted / overridden, with the override reason); answered
    ``{"received": n}``. Only counts are kept (``app.state.feedback``), never comments.
``GET /cds-services/twitchcds/report/{token}``
    The report page (HTML) of an assessment this service answered with a card, linked from the
    card. Off unless ``report_pages`` is set: then the service keeps at most that many pages in
    memory, each for ``report_ttl_seconds`` (see :mod:`twitchcds.interop._report_store`); an
    unknown or expired token gets 404. Behind the same authentication as every other route; the
    card's link is under ``auth.public_url`` when authentication is configured.
``GET /openapi.json``
    The OpenAPI 3.0 description of these routes, request bodies and responses.

Errors are JSON ``{"error": message, "path": json_path}``: 400 for malformed JSON, fields,
resources or units; 412 when a prefetch key is missing (this version never calls the EHR's FHIR
server, so the EHR must prefetch everything, sending ``null`` for no data); 413 for a body over
``max_body_bytes`` (1 MiB by default); 404/405 for other routes and methods. The server keeps
serving after any of them.

Authentication (``auth``, an :class:`AuthConfig`): every call, discovery included, must carry
``Authorization: Bearer <JWT>`` signed by a trusted EHR as the CDS Hooks specification
("Trusting CDS Clients") requires; other calls get 401 with a JSON error and a
``WWW-Authenticate`` header before any route runs. :func:`serve` refuses to listen beyond
loopback without it unless told ``insecure_no_auth``. See the deployment guide.

Privacy: the app logs nothing but the optional audit lines (logger ``twitchcds.audit``: who
called which route, when, with which outcome; never a token, body or patient data); :func:`serve`
turns uvicorn's access log off.

Examples
--------
A chart with no neuromuscular complaint and no red flag gets no card:

>>> request = {
...     "hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
...     "context": {"userId": "Practitioner/1", "patientId": "p1"},
...     "prefetch": {"patient": {"resourceType": "Patient", "id": "p1", "gender": "male",
...                              "birthDate": "1990-01-01"},
...                  "observations": None, "conditions": None, "medications": None}}
>>> handle_request(request)
{'cards': []}

Twitching noted today gets one card:

>>> request["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset",
...     "entry": [{"resource": {"resourceType": "Condition", "id": "c1",
...         "subject": {"reference": "Patient/p1"},
...         "clinicalStatus": {"coding": [{"code": "active"}]},
...         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "82470000"}]}}}]}
>>> [card["indicator"] for card in handle_request(request)["cards"]]
['info']
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Final

from twitchcds.assessment import Assessment
from twitchcds.errors import TwitchCDSError
from twitchcds.interop._auth import AuthMiddleware, Verifier, open_audit_log
from twitchcds.interop._auth_config import AuthConfig, TrustedIssuer, check_listen
from twitchcds.interop._cards import (
    DOCS_URL,
    HOOK,
    PREFETCH,
    SERVICE_ID,
    PrefetchMissingError,
    cards,
    discovery,
    handle_request,
)
from twitchcds.interop._extras import require
from twitchcds.interop._feedback import FeedbackLog, parse_feedback
from twitchcds.interop._openapi import openapi_document
from twitchcds.interop._report_store import ReportStore
from twitchcds.interop.html import render_html
from twitchcds.knowledge.base import KnowledgeBase

__all__ = ["DOCS_URL", "HOOK", "MAX_BODY_BYTES", "PREFETCH", "SERVICE_ID", "AuthConfig",
           "PrefetchMissingError", "TrustedIssuer", "cards", "create_app", "discovery",
           "handle_request", "serve"]

MAX_BODY_BYTES: Final = 1 << 20
"""Largest request body accepted by default (1 MiB); larger bodies get 413."""


class _BodyTooLargeError(Exception):
    """The body exceeded the limit (internal; becomes a 413 response)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _linker(store: ReportStore, base: str) -> Callable[[Assessment], str]:
    """Return a callback that keeps an assessment's report page and returns its URL."""
    def report(result: Assessment) -> str:
        return base + store.put(render_html(result))
    return report


def create_app(kb: KnowledgeBase | None = None, *, cors_origins: Sequence[str] = (),  # noqa: PLR0915  (one closure per route, sharing the app's state)
               max_body_bytes: int = MAX_BODY_BYTES, auth: AuthConfig | None = None,
               audit: bool = False, clock: Callable[[], date] = date.today,
               report_pages: int = 0, report_ttl_seconds: float = 600.0) -> Any:
    """Return the CDS Hooks service as a Starlette ASGI application.

    Parameters
    ----------
    kb : KnowledgeBase, optional
        Knowledge base to assess with (default: built-in, loaded on first request).
    cors_origins : sequence of str
        Origins allowed by CORS (e.g. the EHR's SMART app origin); none by default.
    max_body_bytes : int
        Larger request bodies are refused with 413.
    auth : AuthConfig, optional
        Trusted EHRs and token rules; every call must then carry a valid bearer JWT. None (the
        default): calls are not authenticated, for loopback use only.
    audit : bool
        Write one line per call to the ``twitchcds.audit`` logger (INFO): time, auth outcome,
        status, method, route, client address, and the token's ``iss``, ``tenant``, ``kid`` and
        ``jti``; nothing from the body.
    clock : Callable
        Returns the date a chart is opened on (default ``datetime.date.today``); records are
        read as of that date (old entries are history; see the FHIR how-to).
    report_pages : int
        Keep the report pages of this many recent cards in memory and link each card to its
        page (``GET /cds-services/twitchcds/report/{token}``); 0 (the default): no pages, no
        link.
    report_ttl_seconds : float
        How long a report page is kept (default 10 minutes).

    Returns
    -------
    starlette.applications.Starlette

    Raises
    ------
    MissingExtraError
        Without Starlette or PyJWT (``pip install "twitchcds[serve]"``).
    ConfigurationError
        When an issuer's ``jwks_file`` cannot be read or holds no usable JWK Set.
    """
    applications = require("starlette.applications", "serve")
    concurrency = require("starlette.concurrency", "serve")
    exceptions = require("starlette.exceptions", "serve")
    middleware = require("starlette.middleware", "serve")
    cors = require("starlette.middleware.cors", "serve")
    responses = require("starlette.responses", "serve")
    routing = require("starlette.routing", "serve")

    def error(status: int, message: str, path: str = "$") -> Any:
        return responses.JSONResponse({"error": message, "path": path}, status_code=status)

    async def read_body(request: Any) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_body_bytes:
            raise _BodyTooLargeError
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise _BodyTooLargeError
        return bytes(body)

    async def services(request: Any) -> Any:
        return responses.JSONResponse(discovery())

    async def openapi(request: Any) -> Any:
        return responses.JSONResponse(openapi_document())

    async def read_json(request: Any) -> Any:
        """Return the parsed body, or an error response."""
        try:
            body = await read_body(request)
        except _BodyTooLargeError:
            return error(413, f"request body is larger than {max_body_bytes} bytes")
        try:
            return json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, NaN
            return error(400, f"request body is not valid JSON: {type(exc).__name__}")

    async def feedback(request: Any) -> Any:
        data = await read_json(request)
        if isinstance(data, responses.Response):
            return data
        try:
            received = feedback_log.record(parse_feedback(data))
        except TwitchCDSError as exc:
            return error(400, str(exc), exc.path)
        return responses.JSONResponse({"received": received})

    async def service(request: Any) -> Any:
        data = await read_json(request)
        if isinstance(data, responses.Response):
            return data
        report = None
        if store is not None:
            # behind a proxy the configured public URL is the one the EHR can reach (and the
            # one its tokens name in aud)
            root = auth.public_url if auth is not None else str(request.base_url).rstrip("/")
            report = _linker(store, f"{root}/cds-services/{SERVICE_ID}/report/")
        try:
            answer = await concurrency.run_in_threadpool(handle_request, data, kb,
                                                          on_date=clock(), report=report)
        except PrefetchMissingError as exc:
            return error(412, str(exc), exc.path)
        except TwitchCDSError as exc:
            return error(400, str(exc), exc.path)
        return responses.JSONResponse(answer)

    async def report_page(request: Any) -> Any:
        page = None if store is None else store.get(request.path_params["token"])
        if page is None:
            return error(404, "no such report (unknown or expired)")
        return responses.HTMLResponse(page, headers={
            "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                       "img-src data:"})

    async def http_error(request: Any, exc: Any) -> Any:
        response = error(exc.status_code, str(exc.detail))
        response.headers.update(getattr(exc, "headers", None) or {})  # e.g. Allow on a 405
        return response

    async def server_error(request: Any, exc: Exception) -> Any:
        return error(500, "internal error")  # no details: they could hold patient data

    feedback_log = FeedbackLog()
    store = ReportStore(report_pages, report_ttl_seconds) if report_pages else None
    stack = [middleware.Middleware(cors.CORSMiddleware, allow_origins=list(cors_origins),
                                   allow_methods=["GET", "POST", "OPTIONS"],
                                   allow_headers=["Authorization", "Content-Type"])]
    stack = stack if cors_origins else []
    if auth is not None or audit:  # inside CORS, so preflights (which carry no token) pass
        verifier = None if auth is None else Verifier(auth)
        stack.append(middleware.Middleware(AuthMiddleware, verifier=verifier, audit=audit))
    app = applications.Starlette(
        routes=[routing.Route("/cds-services", services, methods=["GET"]),
                routing.Route(f"/cds-services/{SERVICE_ID}", service, methods=["POST"]),
                routing.Route(f"/cds-services/{SERVICE_ID}/feedback", feedback,
                              methods=["POST"]),
                routing.Route(f"/cds-services/{SERVICE_ID}/report/{{token}}", report_page,
                              methods=["GET"]),
                routing.Route("/openapi.json", openapi, methods=["GET"])],
        middleware=stack,
        exception_handlers={exceptions.HTTPException: http_error, Exception: server_error},
    )
    app.state.feedback = feedback_log
    app.state.reports = store
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, kb: KnowledgeBase | None = None,
          cors_origins: Sequence[str] = (), max_body_bytes: int = MAX_BODY_BYTES,
          auth: AuthConfig | None = None, insecure_no_auth: bool = False,
          audit_log: str | Path | None = None, report_pages: int = 0,
          report_ttl_seconds: float = 600.0) -> None:
    """Run the CDS Hooks service with uvicorn until interrupted (``twitchcds serve``).

    Access logging is off and the log level is ``warning``, so no request is logged; audit
    lines go to ``audit_log`` (or ``auth.audit_log``) when one is given.

    Parameters
    ----------
    host, port
        Where to listen; anything but loopback needs ``auth`` (or ``insecure_no_auth``).
    auth : AuthConfig, optional
        Trusted EHRs and token rules (see :func:`create_app`).
    insecure_no_auth : bool
        Serve beyond loopback without authentication (local development only).
    audit_log : str or Path, optional
        Append one audit line per call to this file.
    report_pages, report_ttl_seconds
        Report pages linked from the cards (see :func:`create_app`); off by default.

    Raises
    ------
    ConfigurationError
        When ``host`` is not loopback and neither ``auth`` nor ``insecure_no_auth`` is given.
    MissingExtraError
        Without Starlette, PyJWT or uvicorn (``pip install "twitchcds[serve]"``).
    """
    check_listen(host, auth, insecure_no_auth=insecure_no_auth)
    uvicorn = require("uvicorn", "serve")
    audit_log = audit_log if audit_log is not None else auth.audit_log if auth else None
    app = create_app(kb, cors_origins=cors_origins, max_body_bytes=max_body_bytes, auth=auth,
                     audit=audit_log is not None, report_pages=report_pages,
                     report_ttl_seconds=report_ttl_seconds)
    if audit_log is not None:
        open_audit_log(audit_log)
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning",
                server_header=False)
