"""The partner API: `POST /oauth/token` (client credentials) and `/api/v1` (bearer tokens).

Plain Starlette endpoints, not @view: no cookies, sessions or CSRF (a bearer token or the
client's credentials authenticate each request; a browser's session is not a credential here).
Errors are JSON as RFC 6749 / 6750 describe them. The rules are in api_service.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from portal.partner import api_service
from portal.partner.api_service import ApiAnswer, ApiAuthError, ApiCaller
from portal.partner.reports.columns import COLUMNS, Kind
from portal.state import AppState
from portal.web import run_in_threadpool

MAX_BODY_BYTES = 4 * 1024 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _oauth_error(code: str, description: str) -> Response:
    if code == "invalid_client":
        return _json({"error": code, "error_description": description}, 401, {"WWW-Authenticate": 'Basic realm="partner-api"'})
    return _json({"error": code, "error_description": description}, 400)


def _bearer_error(exc: ApiAuthError) -> Response:
    status = 403 if exc.code == "insufficient_scope" else 401
    challenge = f'Bearer realm="partner-api", error="{exc.code}", error_description="{exc.description}"'
    return _json({"error": exc.code, "error_description": exc.description}, status, {"WWW-Authenticate": challenge})


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)  # RFC 6749 2.3.1: form-urlencoded before Basic


async def token(request: Request) -> Response:
    state: AppState = request.app.state.portal
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return _oauth_error("invalid_request", "Send the request as application/x-www-form-urlencoded.")
    form = await request.form(max_fields=20)
    grant_type = str(form.get("grant_type", ""))
    if grant_type != "client_credentials":
        return _oauth_error("unsupported_grant_type", "Only grant_type=client_credentials is supported.")
    basic = _basic_credentials(request)
    if basic is not None:
        client_id, secret = basic
    else:
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    scope = str(form["scope"]) if "scope" in form else None

    def run() -> Response:
        try:
            with state.db.unit_of_work() as db:
                issued = api_service.issue_token(db, client_id, secret, scope)
        except ApiAuthError as exc:
            return _oauth_error(exc.code, exc.description)
        return _json({"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in, "scope": issued.scope})

    return await run_in_threadpool(run)


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _api_call(request: Request, scope: str, write: bool, action: Callable[[Session, ApiCaller], ApiAnswer]) -> Response:
    state: AppState = request.app.state.portal
    bearer = _bearer(request)

    def run() -> Response:
        try:
            with state.db.unit_of_work(write=write) as db:
                caller = api_service.authenticate(db, bearer, scope)
                answer = action(db, caller)
                if answer.status_code >= 400 and answer.status_code not in (409, 422):
                    db.rollback()  # nothing of a refused request is kept
        except ApiAuthError as exc:
            return _bearer_error(exc)
        except IntegrityError:  # the same Idempotency-Key sent twice at once: the loser retries
            return _json({"error": "conflict", "message": "A request with this Idempotency-Key is in progress; retry."}, 409)
        return _json(answer.body, answer.status_code)

    return await run_in_threadpool(run)


async def reports(request: Request) -> Response:
    if request.method == "GET":
        period = request.query_params.get("period")
        return await _api_call(request, "reports:read", False, lambda db, caller: api_service.list_submissions(db, caller, period))
    raw = await request.body()
    body: Any = None
    if len(raw) <= MAX_BODY_BYTES:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None
    key = request.headers.get("idempotency-key")

    def submit(db: Session, caller: ApiCaller) -> ApiAnswer:
        if not isinstance(body, dict):
            return ApiAnswer(400, {"error": "invalid_request", "message": "The body must be a JSON object of at most 4 MiB."})
        return api_service.submit_report(db, caller, body, key)

    return await _api_call(request, "reports:write", True, submit)


STRING = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _json_of(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _line_schema(kind: Kind) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"One {kind.value} line; the fields are the columns of the report template.",
        "properties": {column.name: {"type": ["string", "number"], "description": column.en} for column in COLUMNS[kind]},
        "required": [column.name for column in COLUMNS[kind] if column.required],
    }


def openapi_document(server: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the partner API."""
    bearer_errors = {
        "401": _error_response('No, an unknown, expired or revoked token (WWW-Authenticate: Bearer error="invalid_token").'),
        "403": _error_response("The token lacks the scope (error insufficient_scope)."),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Partner API",
            "version": "1.0.0",
            "description": "Inventory and sell-through reports from partners' own systems. Each API client belongs to one "
            "partner account and only ever reads or writes that account's data.",
        },
        "servers": [{"url": server}],
        "components": {
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": f"Client credentials; tokens live {int(api_service.TOKEN_LIFETIME.total_seconds())} seconds.",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {s: s for s in api_service.SCOPES}}},
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}, "message": {"type": "string"}},
                    "required": ["error"],
                },
                "Token": {
                    "type": "object",
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"const": "Bearer"},
                        "expires_in": {"type": "integer"},
                        "scope": {"type": "string"},
                    },
                    "required": ["access_token", "token_type", "expires_in", "scope"],
                },
                "InventoryLine": _line_schema(Kind.INVENTORY),
                "SellThroughLine": _line_schema(Kind.SELL_THROUGH),
                "ReportRequest": {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": ["sell_through", "inventory"]},
                        "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                        "mode": {"enum": ["add", "replace"], "default": "add"},
                        "lines": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": api_service.MAX_LINES,
                            "items": {"oneOf": [_ref("InventoryLine"), _ref("SellThroughLine")]},
                        },
                    },
                    "required": ["kind", "period", "lines"],
                },
                "LineResult": {
                    "type": "object",
                    "properties": {
                        "line": {"type": "integer", "description": "1-based position in the request's lines"},
                        "status": {"enum": ["accepted", "rejected"]},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "code": {"type": "string"},
                                    "field": {"type": ["string", "null"]},
                                    "message": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Submission": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "kind": {"enum": ["sell_through", "inventory"]},
                        "period": {"type": "string"},
                        "version": {"type": "integer"},
                        "status": {"enum": ["current", "superseded"]},
                        "source": {"type": "string"},
                        "accepted_lines": {"type": "integer"},
                        "rejected_lines": {"type": "integer"},
                        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
                "ReportResult": {
                    "type": "object",
                    "properties": {"submission": _ref("Submission"), "lines": {"type": "array", "items": _ref("LineResult")}},
                },
            },
        },
        "paths": {
            "/oauth/token": {
                "post": {
                    "summary": "Get an access token (client credentials)",
                    "description": "Authenticate with HTTP Basic (client_id:client_secret) or the client_id and client_secret fields.",
                    "security": [],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "grant_type": {"const": "client_credentials"},
                                        "scope": {"type": "string", "description": "Space-separated; default: all of the client's scopes"},
                                        "client_id": {"type": "string"},
                                        "client_secret": {"type": "string"},
                                    },
                                    "required": ["grant_type"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {"description": "A bearer token", "content": {"application/json": {"schema": _ref("Token")}}},
                        "400": _error_response("invalid_request, invalid_scope or unsupported_grant_type"),
                        "401": _error_response("invalid_client"),
                    },
                }
            },
            "/api/v1/reports": {
                "get": {
                    "summary": "The partner's report submissions",
                    "security": [{"oauth2": ["reports:read"]}],
                    "parameters": [{"name": "period", "in": "query", "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}}],
                    "responses": {
                        "200": {
                            "description": "Submissions, newest period first",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"submissions": {"type": "array", "items": _ref("Submission")}},
                                    }
                                }
                            },
                        },
                        **bearer_errors,
                    },
                },
                "post": {
                    "summary": "Submit report lines",
                    "description": "Accepted lines become the next version of the period's report. With an Idempotency-Key, "
                    "a retry of the same request gets the first answer again and commits nothing more.",
                    "security": [{"oauth2": ["reports:write"]}],
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": api_service.MAX_KEY_LENGTH}}
                    ],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ReportRequest")}}},
                    "responses": {
                        "200": {
                            "description": "Committed; a result per line",
                            "content": {"application/json": {"schema": _ref("ReportResult")}},
                        },
                        "400": _error_response("The request is malformed"),
                        "409": _error_response("Already submitted, or the Idempotency-Key was used for another request"),
                        "422": _error_response("No line was accepted (lines: a result per line); nothing was committed"),
                        **bearer_errors,
                    },
                },
            },
            "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OK"}}}},
        },
    }


async def openapi(request: Request) -> Response:
    state: AppState = request.app.state.portal
    return _json(openapi_document(state.settings.base_url.rstrip("/")))


routes: list[BaseRoute] = [
    Route("/oauth/token", token, methods=["POST"], name="oauth_token"),
    Route("/api/v1/reports", reports, methods=["GET", "POST"], name="api_reports"),
    Route("/api/v1/openapi.json", openapi, methods=["GET"], name="api_openapi"),
]
