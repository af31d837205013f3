"""The partner API: `POST /oauth/token` (client credentials) and `/api/v1` (bearer tokens).

Plain Starlette endpoints, not @view: no cookies, sessions or CSRF (a bearer token or the
client's credentials authenticate each request; a browser's session is not a credential here).
Errors are JSON as RFC 6749 / 6750 describe them: the `error` code is stable English, the
`error_description` / `message` is in the caller's language (Accept-Language; English unless
Chinese is asked for). `WWW-Authenticate` stays English (a header is ASCII). The token endpoint
is rate limited (429, `slow_down`, Retry-After). The rules are in api_service.
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
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from portal.errors import RateLimited
from portal.i18n import N_, Translator, negotiate
from portal.partner import api_service
from portal.partner.api_service import ApiAnswer, ApiAuthError, ApiCaller
from portal.partner.reports.columns import COLUMNS, Kind
from portal.state import AppState
from portal.web import client_ip, run_in_threadpool

MAX_BODY_BYTES = 4 * 1024 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


def _translator(request: Request) -> Translator:
    state: AppState = request.app.state.portal
    return state.catalogues.get(negotiate(request.headers.get("accept-language")))


def _oauth_error(translator: Translator, code: str, description: str, **params: object) -> Response:
    body = {"error": code, "error_description": translator.gettext(description, **params)}
    if code == "invalid_client":
        return _json(body, 401, {"WWW-Authenticate": 'Basic realm="partner-api"'})
    return _json(body, 400)


def _slow_down(translator: Translator, exc: RateLimited) -> Response:
    body = {"error": "slow_down", "error_description": translator.gettext(N_("Too many token requests; retry later."))}
    return _json(body, 429, {"Retry-After": str(exc.retry_after)})


def _bearer_error(translator: Translator, exc: ApiAuthError) -> Response:
    status = 403 if exc.code == "insufficient_scope" else 401
    challenge = f'Bearer realm="partner-api", error="{exc.code}", error_description="{exc.english}"'
    body = {"error": exc.code, "error_description": translator.gettext(exc.description, **exc.params)}
    return _json(body, status, {"WWW-Authenticate": challenge})


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
    translator = _translator(request)
    ip = client_ip(request)
    refusal: Response | None = None
    client_id = secret = ""
    scope: str | None = None
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        refusal = _oauth_error(translator, "invalid_request", N_("Send the request as application/x-www-form-urlencoded."))
    else:
        try:
            form = await request.form(max_fields=20)
        except HTTPException:  # too many fields, or a body that is no form at all
            form = None
        if form is None:
            refusal = _oauth_error(translator, "invalid_request", N_("Send the request as application/x-www-form-urlencoded."))
        else:
            basic = _basic_credentials(request)
            if basic is not None:
                client_id, secret = basic
            else:
                client_id, secret = _text(form.get("client_id")), _text(form.get("client_secret"))
            scope = _text(form.get("scope")) if "scope" in form else None
            if _text(form.get("grant_type")) != "client_credentials":
                refusal = _oauth_error(translator, "unsupported_grant_type", N_("Only grant_type=client_credentials is supported."))

    def run() -> Response:
        try:
            with state.db.unit_of_work() as db:  # counted in its own transaction: a refusal counts too
                api_service.count_token_request(db, ip, client_id)
        except RateLimited as exc:
            return _slow_down(translator, exc)
        if refusal is not None:
            return refusal
        try:
            with state.db.unit_of_work() as db:
                issued = api_service.issue_token(db, client_id, secret, scope)
        except ApiAuthError as exc:
            return _oauth_error(translator, exc.code, exc.description, **exc.params)
        return _json({"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in, "scope": issued.scope})

    return await run_in_threadpool(run)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _bearer(request: Request) -> str:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def _api_call(request: Request, scope: str, write: bool, action: Callable[[Session, ApiCaller], ApiAnswer]) -> Response:
    state: AppState = request.app.state.portal
    bearer = _bearer(request)
    translator = _translator(request)

    def run() -> Response:
        try:
            with api_service.speaking(translator), state.db.unit_of_work(write=write) as db:
                caller = api_service.authenticate(db, bearer, scope)
                answer = action(db, caller)
                if answer.status_code >= 400 and answer.status_code not in (409, 422):
                    db.rollback()  # nothing of a refused request is kept
        except ApiAuthError as exc:
            return _bearer_error(translator, exc)
        except IntegrityError:  # the same Idempotency-Key sent twice at once: the loser retries
            message = translator.gettext(N_("A request with this Idempotency-Key is in progress; retry."))
            return _json({"error": "conflict", "message": message}, 409)
        return _json(answer.body, answer.status_code)

    return await run_in_threadpool(run)


def _has_nul(value: object) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


async def _capped_body(request: Request) -> bytes | None:
    """The body, read no further than MAX_BODY_BYTES (None when it is larger)."""
    declared = request.headers.get("content-length", "")
    if declared and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def reports(request: Request) -> Response:
    if request.method == "GET":
        period = request.query_params.get("period")
        return await _api_call(request, "reports:read", False, lambda db, caller: api_service.list_submissions(db, caller, period))
    raw = await _capped_body(request)
    if raw is None:
        message = _translator(request).gettext(N_("The body must be a JSON object of at most 4 MiB."))
        return _json({"error": "request_too_large", "message": message}, 413)
    body: Any = None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = None
    key = request.headers.get("idempotency-key")

    def submit(db: Session, caller: ApiCaller) -> ApiAnswer:
        if not isinstance(body, dict):
            message = api_service.translate(N_("The body must be a JSON object of at most 4 MiB."))
            return ApiAnswer(400, {"error": "invalid_request", "message": message})
        if _has_nul(body):  # no database keeps one in text (PostgreSQL refuses it)
            message = api_service.translate(N_("Text in the request must not contain NUL characters."))
            return ApiAnswer(400, {"error": "invalid_request", "message": message})
        return api_service.submit_report(db, caller, body, key)

    return await _api_call(request, "reports:write", True, submit)


STRING = {"type": "string"}
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": api_service.MAX_KEY_LENGTH}
PERIOD_PATTERN = "^(199[0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$"
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": _ref(name)}


def _json_of(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


TEXT: dict[str, Any] = {"type": "string"}
DATE: dict[str, Any] = {"type": "string", "format": "date", "description": "YYYY-MM-DD"}
# What each column takes (the validator also reads what spreadsheets hold, e.g. "1,200" or 45366).
COLUMN_SCHEMAS: dict[str, dict[str, Any]] = {
    "as_of": DATE,
    "sold_on": DATE,
    "quantity": {"type": "integer", "minimum": 0},
    "unit_price": {"type": ["string", "number"], "description": 'A decimal with at most two decimals, e.g. "1299.00"'},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217, e.g. CNY"},
    "country": {"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2, e.g. CN"},
}
EXAMPLE_REPORT = {
    "kind": "sell_through",
    "period": "2026-03",
    "mode": "add",
    "lines": [
        {
            "sold_on": "2026-03-14",
            "sku": "NW-MB-B650",
            "quantity": 2,
            "unit_price": "1299.00",
            "currency": "CNY",
            "customer_name": "Shenzhen Harbor Tech",
            "country": "CN",
            "postcode": "518000",
            "serial": "",
            "invoice_ref": "INV-2026-0314",
        }
    ],
}


def _line_schema(kind: Kind) -> dict[str, Any]:
    return {
        "type": "object",
        "description": f"One {kind.value} line; the fields are the columns of the report template.",
        "properties": {column.name: {**COLUMN_SCHEMAS.get(column.name, TEXT), "title": column.en} for column in COLUMNS[kind]},
        "required": [column.name for column in COLUMNS[kind] if column.required],
    }


def _report_request(kind: Kind, line: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "kind": {"const": kind.value},
            "period": {"type": "string", "pattern": PERIOD_PATTERN, "description": "YYYY-MM"},
            "mode": {
                "enum": ["add", "replace"],
                "default": "add",
                "description": "add: to the period's current lines; replace: the period's lines become these",
            },
            "lines": {"type": "array", "minItems": 1, "maxItems": api_service.MAX_LINES, "items": _ref(line)},
        },
        "required": ["kind", "period", "lines"],
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
                    "description": "`error` is a stable code; `error_description` (OAuth) or `message` is for people, in the "
                    "language of Accept-Language (English or Chinese).",
                    "properties": {
                        "error": {"type": "string"},
                        "error_description": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": "string", "description": "The request field at fault"},
                        "lines": {"type": "array", "items": _ref("LineResult"), "description": "A result per line"},
                    },
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
                    "description": "A report of one kind for one period; its lines are of that kind.",
                    "oneOf": [_report_request(Kind.SELL_THROUGH, "SellThroughLine"), _report_request(Kind.INVENTORY, "InventoryLine")],
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
                                    "code": {
                                        "type": "string",
                                        "description": "Stable (CONTRACTS.md): missing_field, unknown_sku, inactive_sku, bad_date,"
                                        " future_date, outside_period, bad_quantity, bad_price, unknown_currency, serial_mismatch,"
                                        " duplicate; also too_long, unknown_country, bad_postcode.",
                                    },
                                    "detail": {"type": "string", "description": "The finer reason behind `code`."},
                                    "field": {"type": ["string", "null"]},
                                    "message": {"type": "string", "description": "In the language of Accept-Language."},
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
                        "429": {**_error_response("slow_down: too many token requests (this address or client)"), "headers": RETRY_AFTER},
                    },
                }
            },
            "/api/v1/reports": {
                "get": {
                    "summary": "The partner's report submissions",
                    "security": [{"oauth2": ["reports:read"]}],
                    "parameters": [{"name": "period", "in": "query", "schema": {"type": "string", "pattern": PERIOD_PATTERN}}],
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
                        "400": _error_response("The period is not YYYY-MM (invalid_request)"),
                        **bearer_errors,
                    },
                },
                "post": {
                    "summary": "Submit report lines",
                    "description": "Accepted lines become the next version of the period's report. With an Idempotency-Key, "
                    "a retry of the same request gets the first answer again and commits nothing more.",
                    "security": [{"oauth2": ["reports:write"]}],
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": IDEMPOTENCY_KEY}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref("ReportRequest"), "examples": {"sell_through": {"value": EXAMPLE_REPORT}}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Committed; a result per line",
                            "content": {"application/json": {"schema": _ref("ReportResult")}},
                        },
                        "400": _error_response("The request is malformed"),
                        "409": _error_response("Already submitted, or the Idempotency-Key was used for another request"),
                        "413": _error_response("The body is larger than 4 MiB (request_too_large)"),
                        "422": _error_response("No line was accepted (lines: a result per line); nothing was committed"),
                        **bearer_errors,
                    },
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
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
