"""The OpenAPI 3.0 document of the participant API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERROR = {"description": "refused", "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _ERROR for c in codes}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": {
        "$ref": f"#/components/schemas/{schema}"}}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = schema or {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    auth = [{"bearer": []}]
    return {
        "openapi": "3.0.3",
        "info": {"title": "stylestudy participant API", "version": "1"},
        "paths": {
            "/api/studies/{slug}/sessions": {"post": {
                "summary": "Accept consent: start a session and allocate its trials",
                "parameters": [{"name": "slug", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "requestBody": _body("Start"),
                "responses": {"201": _ok("session started", {
                    "type": "object", "required": ["token", "state"],
                    "properties": {"token": {"type": "string"}, "state": {"type": "string"}}}),
                    **_errors(400, 403, 404, 409, 422, 429)}}},
            "/api/session": {"get": {
                "summary": "The session's state and trials", "security": auth,
                "responses": {"200": _ok("session state"), **_errors(401)}}},
            "/api/responses": {"post": {
                "summary": "Store one judgment; a replay returns the stored row",
                "security": auth, "requestBody": _body("Response"),
                "responses": {"201": _ok("stored", {"$ref": "#/components/schemas/Stored"}),
                              "200": _ok("replay", {"$ref": "#/components/schemas/Stored"}),
                              **_errors(400, 401, 403, 404, 409, 422, 429)}}},
            "/api/beacon": {"post": {
                "summary": "sendBeacon flush: a response with the token in the body",
                "requestBody": _body("Response"),
                "responses": {"201": _ok("stored"), "200": _ok("replay"),
                              **_errors(400, 401, 403, 404, 409, 422, 429)}}},
            "/api/events": {"post": {
                "summary": "Log a client event", "security": auth,
                "requestBody": _body("Event"),
                "responses": {"201": _ok("stored"), "200": _ok("replay, not stored again"),
                              **_errors(400, 401, 403, 422, 429)}}},
            "/api/events/beacon": {"post": {
                "summary": "sendBeacon flush: an event with the token in the body",
                "requestBody": _body("Event"),
                "responses": {"201": _ok("stored"), "200": _ok("replay, not stored again"),
                              **_errors(400, 401, 403, 422, 429)}}},
            "/api/session/reload": {"post": {
                "summary": "Report that the page resumed the session (reload or new tab)",
                "security": auth,
                "responses": {"200": _ok("state, reload count and the study's limit"),
                              **_errors(401, 403)}}},
            "/api/session/complete": {"post": {
                "summary": "Complete the session once every trial is stored",
                "security": auth, "requestBody": {"content": {"application/json": {
                    "schema": {"type": "object",
                               "properties": {"feedback": {"type": "string"}}}}}},
                "responses": {"200": _ok("completion action"),
                              **_errors(400, 401, 403, 409, 422)}}},
            "/api/session/return": {"post": {
                "summary": "Withdraw from the study", "security": auth,
                "responses": {"200": _ok("returned"), **_errors(401, 403, 409)}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}}},
                "Start": {"type": "object", "required": ["consent"], "properties": {
                    "consent": {"type": "boolean"},
                    "params": {"type": "object", "additionalProperties": {"type": "string"}},
                    "viewport": {"type": "object",
                                 "additionalProperties": {"type": "number"}}}},
                "Response": {"type": "object", "required": ["response_id", "trial", "choice"],
                             "properties": {
                                 "response_id": {"type": "string", "format": "uuid"},
                                 "trial": {"type": "string"},
                                 "choice": {"type": "string",
                                            "enum": ["left", "right", "not_sure"]},
                                 "rt_ms": {"type": "number", "minimum": 0},
                                 "client_time": {"type": "string"},
                                 "token": {"type": "string"}}},
                "Stored": {"type": "object", "required": ["response_id", "trial",
                                                          "received_at"],
                           "properties": {"response_id": {"type": "string"},
                                          "trial": {"type": "string"},
                                          "received_at": {"type": "string"},
                                          "correct": {"type": "boolean"}}},
                "Event": {"type": "object", "required": ["kind"], "properties": {
                    "kind": {"type": "string"}, "payload": {"type": "object"},
                    "event_id": {"type": "string", "format": "uuid"},
                    "client_time": {"type": "string"},
                    "token": {"type": "string"}}},
            },
        },
    }
