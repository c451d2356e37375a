"""The service's OpenAPI 3.0 description (``GET /openapi.json``; private, see ``cds_hooks``).

Describes every route, request body and response (errors included) closely enough that a tool
can fuzz the service from it: the test suite runs schemathesis against it and checks that no
request gets a 5xx and every response matches its schema. The card schema follows CDS Hooks
2.0 (``uuid``, ``summary`` of at most 140 characters, ``indicator``, ``source``, ``suggestions``,
``selectionBehavior``, ``overrideReasons``, ``links``).

Examples
--------
>>> doc = openapi_document()
>>> sorted(doc["paths"])
['/cds-services', '/cds-services/twitchcds', '/cds-services/twitchcds/feedback',
 '/cds-services/twitchcds/report/{token}', '/openapi.json']
"""

from __future__ import annotations

from typing import Any

__all__ = ["CARD_SCHEMA", "openapi_document"]

_CODING: dict[str, Any] = {
    "type": "object", "required": ["code", "system"],
    "properties": {"code": {"type": "string"}, "system": {"type": "string"},
                   "display": {"type": "string"}}}

CARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["uuid", "summary", "indicator", "source"],
    "properties": {
        "uuid": {"type": "string", "format": "uuid"},
        "summary": {"type": "string", "maxLength": 140, "minLength": 1},
        "detail": {"type": "string"},
        "indicator": {"type": "string", "enum": ["info", "warning", "critical"]},
        "source": {"type": "object", "required": ["label"], "properties": {
            "label": {"type": "string"}, "url": {"type": "string", "format": "uri"},
            "icon": {"type": "string"}, "topic": _CODING}},
        "suggestions": {"type": "array", "items": {
            "type": "object", "required": ["label"], "properties": {
                "label": {"type": "string"}, "uuid": {"type": "string", "format": "uuid"},
                "isRecommended": {"type": "boolean"},
                "actions": {"type": "array", "items": {
                    "type": "object", "required": ["type", "description"], "properties": {
                        "type": {"type": "string", "enum": ["create", "update", "delete"]},
                        "description": {"type": "string"},
                        "resource": {"type": "object"}, "resourceId": {"type": "string"}}}}}}},
        "selectionBehavior": {"type": "string", "enum": ["at-most-one", "any"]},
        "overrideReasons": {"type": "array", "items": _CODING},
        "links": {"type": "array", "items": {
            "type": "object", "required": ["label", "url", "type"], "properties": {
                "label": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                "type": {"type": "string", "enum": ["absolute", "smart"]},
                "appContext": {"type": "string"}}}},
    },
}
"""JSON Schema (OpenAPI 3.0 subset) of a CDS Hooks 2.0 card as this service writes it."""

_ERROR: dict[str, Any] = {
    "type": "object", "required": ["error", "path"],
    "properties": {"error": {"type": "string"}, "path": {"type": "string"}}}

_RESOURCE_OR_NULL: dict[str, Any] = {"type": "object", "nullable": True,
                                     "additionalProperties": True}

_REQUEST: dict[str, Any] = {
    # prefetch and its keys are not schema-required: a missing one is answered 412 (DESIGN 9)
    "type": "object", "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string", "enum": ["patient-view"]},
        "hookInstance": {"type": "string", "minLength": 1},
        "fhirServer": {"type": "string"},
        "context": {"type": "object", "required": ["patientId"], "properties": {
            "userId": {"type": "string"}, "patientId": {"type": "string", "minLength": 1}}},
        "prefetch": {"type": "object", "nullable": True,
                     "properties": dict.fromkeys(
                         ("patient", "observations", "conditions", "medications"),
                         _RESOURCE_OR_NULL)},
    },
}

_FEEDBACK: dict[str, Any] = {
    "type": "object", "required": ["feedback"],
    "properties": {"feedback": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["card", "outcome", "outcomeTimestamp"],
        "properties": {
            "card": {"type": "string", "minLength": 1},
            "outcome": {"type": "string", "enum": ["accepted", "overridden"]},
            "outcomeTimestamp": {"type": "string", "format": "date-time"},
            "acceptedSuggestions": {"type": "array", "items": {
                "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}},
            "overrideReason": {"type": "object", "properties": {
                "reason": _CODING, "userComment": {"type": "string"}}},
        }}}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "Malformed request (JSON path in 'path')", 404: "No such route",
            405: "Method not allowed", 412: "A prefetch key is missing",
            413: "Request body too large", 415: "Body is not JSON"}
    return {str(c): _json({"$ref": "#/components/schemas/Error"}, text[c]) for c in codes}


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.0.3 document of the CDS Hooks service."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "twitchcds CDS Hooks service", "version": "2.0",
                 "description": "CDS Hooks 2.0 patient-view service: causes of muscle "
                                "twitching, triage from red flags, proposed tests."},
        "paths": {
            "/cds-services": {"get": {
                "operationId": "discovery",
                "responses": {"200": _json({"type": "object", "required": ["services"],
                                            "properties": {"services": {"type": "array"}}},
                                           "Discovery document")}}},
            "/cds-services/twitchcds": {"post": {
                "operationId": "patientView",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _REQUEST}}},
                "responses": {"200": _json({"type": "object", "required": ["cards"],
                                            "properties": {"cards": {
                                                "type": "array", "maxItems": 1,
                                                "items": {"$ref": "#/components/schemas/Card"}}}},
                                           "At most one card"),
                              **_errors(400, 412, 413)}}},
            "/cds-services/twitchcds/feedback": {"post": {
                "operationId": "feedback",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _FEEDBACK}}},
                "responses": {"200": _json({"type": "object", "required": ["received"],
                                            "properties": {"received": {"type": "integer",
                                                                        "minimum": 0}}},
                                           "Feedback counted"),
                              **_errors(400, 413)}}},
            "/cds-services/twitchcds/report/{token}": {"get": {
                "operationId": "reportPage",
                "parameters": [{"name": "token", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "The report page of a recent card",
                                      "content": {"text/html": {"schema": {"type": "string"}}}},
                              **_errors(404)}}},
            "/openapi.json": {"get": {
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "This document")}}},
        },
        "components": {"schemas": {"Card": CARD_SCHEMA, "Error": _ERROR}},
    }
