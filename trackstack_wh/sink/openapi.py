"""The sink's OpenAPI 3.1 document (served at ``GET /openapi.json``)."""

from __future__ import annotations

from typing import Any

ERROR_CODES = {
    "400": "Not valid JSON (invalid_json, with its position), not a batch of events "
    "(invalid_body), arrays or objects nested deeper than sink.max_depth (too_deep), or a "
    "gzip body that cannot be read (invalid_gzip)",
    "401": "x-ts-key missing or unknown",
    "403": "Origin, domain or page URL not allowed for the key's project",
    "408": "The body did not arrive within sink.body_timeout_seconds (body_timeout); the "
    "connection is closed",
    "413": "Body larger than sink.max_body_bytes, or more than sink.max_events_per_request",
    "415": "Content-Type is not application/json (or an unsupported Content-Encoding)",
    "429": "The project's daily event quota is used up (see Retry-After)",
    "500": "An unexpected error in the sink (internal); it is logged and counted",
    "503": "The landing directory cannot be written right now (see Retry-After)",
}

_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
}
_EVENT = {
    "type": "object",
    "description": "A TrackStack event: flat, nested (userData / customData) or seed 002 "
    '(event_name / event_data / projectKey), or an identify record ({"type": '
    '"identify", "userId", "anonymousId", "traits": {...}}). Fields are checked '
    "by ingest, not here: a record with a wrong or missing field is landed and quarantined "
    "with its reason.",
    "anyOf": [
        {"required": ["event"]},
        {"required": ["event_name"]},
        {"required": ["type"], "properties": {"type": {"const": "identify"}}},
        {"required": ["traits"]},
    ],
    "properties": {
        name: {"description": text}
        for name, text in {
            "event": "Canonical or PascalCase extension event name",
            "event_name": "Event name (seed 002 shape)",
            "eventId": "Idempotency key (duplicates are dropped by ingest)",
            "ts": "ISO-8601, epoch seconds or milliseconds (the receive time if absent)",
            "projectKey": "The key, when sent without x-ts-key (never stored)",
        }.items()
    },
}
_ITEM = {
    "description": "An event object. Any other item is accepted too: it is landed as sent "
    "and quarantined by ingest with its reason, so a bad event never sinks its batch.",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": _json(_ERROR)}
    if retry_after:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
        }
    return response


def openapi_document() -> dict[str, Any]:
    """The document: POST /events (and its preflight), /healthz, /metrics."""
    post_responses: dict[str, Any] = {
        "202": {
            "description": "Written and fsync'd to landing; ingest picks it up",
            "content": _json(
                {
                    "type": "object",
                    "required": ["accepted", "batch_id"],
                    "properties": {
                        "accepted": {"type": "integer", "minimum": 0},
                        "batch_id": {"type": "string"},
                    },
                }
            ),
        }
    }
    for code, description in ERROR_CODES.items():
        post_responses[code] = _error(description, retry_after=code in ("429", "503"))
    header = {"in": "header", "required": False, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trackstack_wh HTTP sink",
            "version": "1",
            "description": "Edge-compatible event intake: POST /events lands batches durably.",
        },
        "components": {
            "securitySchemes": {"tsKey": {"type": "apiKey", "in": "header", "name": "x-ts-key"}}
        },
        "paths": {
            "/events": {
                "post": {
                    "summary": "Send a batch of events",
                    "security": [{"tsKey": []}, {}],
                    "description": "The key goes in x-ts-key, or as projectKey in a single "
                    "seed 002 event.",
                    "parameters": [
                        {
                            **header,
                            "name": "x-ts-domain",
                            "description": "Origin hostname for calls without an Origin header",
                        },
                        {**header, "name": "X-SDK-Version"},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": _json(
                            {
                                "oneOf": [
                                    {
                                        "type": "object",
                                        "required": ["events"],
                                        "properties": {"events": {"type": "array", "items": _ITEM}},
                                    },
                                    {"type": "array", "items": _ITEM},
                                    {**_EVENT, "not": {"required": ["events"]}},
                                ]
                            }
                        ),
                    },
                    "responses": post_responses,
                },
                "options": {
                    "summary": "CORS preflight",
                    "responses": {
                        "204": {"description": "The origin may send events"},
                        "403": _error("The origin is not allowed for any project"),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness and landing status",
                    "responses": {
                        "200": {"description": "Serving", "content": _json({"type": "object"})},
                        "503": {
                            "description": "Landing writes are failing",
                            "content": _json({"type": "object"}),
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
    }
