"""A real CRM HTTP API for tests: a Starlette app served by uvicorn on 127.0.0.1.

It speaks the v1 protocol of `backend_adapter.connectors.http` over an in-memory store, with
the CRM store's version rule (a lower `version` never overwrites a higher one), and checks
the bearer token. Knobs for the unhappy paths::

    with FakeCrmHttp() as crm:                 # crm.url is the base URL, crm.token the token
        crm.fail_next(2, 503)                  # the next 2 requests answer 503
        crm.fail_next(1, 502, after_write=True)  # the write lands, then the gateway fails
        crm.rate_limit_next(1, retry_after=30) # 429 with Retry-After (seconds or an HTTP-date)
        crm.delay_s = 0.5                      # answers come late (the write itself lands first)
        crm.reject_item(eid, "invalid_email", retryable=False)
        crm.all_or_none = True                 # an item error rejects the whole request (400)
        crm.put_row("crm_account", {...})      # a row written by another CRM system
        crm.requests["upsert"], crm.unauthorized, crm.batches

Upsert validation follows the schema in `backend_adapter.crm_schema`: an unknown column or a
missing non-null one is a per-item `invalid_field` error.
"""

from __future__ import annotations

import asyncio
import hmac
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backend_adapter import crm_schema
from backend_adapter.connectors.sql import PULLED_KEYS, PUSHED_TABLES

TOKEN = "test-crm-api-token-7f3a9c"
MAX_ITEMS = 1000


@dataclass(frozen=True)
class _Rejection:
    code: str
    message: str
    retryable: bool
    retry_after_s: float | None


def wire_value(value: Any) -> Any:
    """Python value → its JSON form on the wire (UTC timestamps with Z, ISO dates)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


class FakeCrmHttp:
    def __init__(self, *, token: str = TOKEN, prefix: str = "/crm") -> None:
        self.token = token
        self.prefix = prefix
        self.url = ""
        # Knobs.
        self.delay_s = 0.0
        self.all_or_none = False
        self._failures: deque[tuple[int, bool]] = deque()
        self._rate_limits: deque[str] = deque()
        self._rejections: dict[str, _Rejection] = {}
        # The store: table → key → row (JSON values, as received).
        self.tables: dict[str, dict[str, dict[str, Any]]] = {}
        # What the server saw.
        self.requests: Counter[str] = Counter()
        self.unauthorized = 0
        self.batches: list[list[str]] = []  # external ids of each authorised upsert request
        self.authorization_headers: list[str] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/v1/tables/{{table}}/upsert", self._upsert, methods=["POST"]),
                Route(f"{prefix}/v1/tables/{{table}}/changes", self._changes, methods=["GET"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- knobs -----------------------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 503, *, after_write: bool = False) -> None:
        """The next `n` requests answer `status`; with `after_write` an upsert is applied first."""
        with self._lock:
            self._failures.extend([(status, after_write)] * n)

    def rate_limit_next(self, n: int = 1, retry_after: float | str = 1) -> None:
        """The next `n` requests answer 429 with this Retry-After (seconds, or an HTTP-date string)."""
        value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        with self._lock:
            self._rate_limits.extend([value] * n)

    def reject_item(
        self, external_id: str, code: str = "invalid", *, retryable: bool = False, message: str = "", retry_after_s: float | None = None
    ) -> None:
        """Every upsert of `external_id` fails with this per-item error until `clear_rejections()`."""
        with self._lock:
            self._rejections[external_id] = _Rejection(code, message or f"{code} for {external_id}", retryable, retry_after_s)

    def clear_rejections(self) -> None:
        with self._lock:
            self._rejections.clear()

    def put_row(self, table: str, row: dict[str, Any]) -> None:
        """A row written by another CRM-side system (for the change feed)."""
        key = str(row[PULLED_KEYS.get(table, ("external_id",))[0]])
        with self._lock:
            self.tables.setdefault(table, {})[key] = {k: wire_value(v) for k, v in row.items()}

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self.tables.get(table, {}).items()}

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}{self.prefix}"
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="fake-crm-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the fake CRM API did not start")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def __enter__(self) -> FakeCrmHttp:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # -- endpoints -------------------------------------------------------------------------------
    def _gate(self, request: Request, kind: str) -> tuple[Response | None, tuple[int, bool] | None]:
        """Count the request and apply the auth check and the failure knobs, in that order."""
        with self._lock:
            self.requests[kind] += 1
            header = request.headers.get("authorization", "")
            self.authorization_headers.append(header)
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), self.token.encode()):
                self.unauthorized += 1
                return _error(
                    401, "invalid_token", "bearer token missing or wrong", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                ), None
            if self._rate_limits:
                return _error(429, "rate_limited", "too many requests", {"Retry-After": self._rate_limits.popleft()}), None
            failure = self._failures.popleft() if self._failures else None
        if failure is not None and not failure[1]:
            return _error(failure[0], "unavailable", "injected failure"), None
        return None, failure

    async def _upsert(self, request: Request) -> Response:
        refused, late_failure = self._gate(request, "upsert")
        if refused is not None:
            return refused
        table = request.path_params["table"]
        if table not in PUSHED_TABLES:
            return _error(404, "unknown_table", f"no writable table {table}")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_json", "the body is not JSON")
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list) or not all(_well_formed(item) for item in items):
            return _error(400, "invalid_request", "expected {items: [{external_id, version, fields}]}")
        if len(items) > MAX_ITEMS:
            return _error(413, "too_many_items", f"at most {MAX_ITEMS} items")
        with self._lock:
            self.batches.append([item["external_id"] for item in items])
            problems = [self._problem(table, item) for item in items]
            if self.all_or_none and any(problems):
                first = next(p for p in problems if p)
                return _error(400, first.code, f"batch rejected: {first.message}")
            results = [
                self._apply(table, item) if problem is None else _item_error(item, problem)
                for item, problem in zip(items, problems, strict=True)
            ]
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if late_failure is not None:
            return _error(late_failure[0], "unavailable", "injected failure after the write")
        return JSONResponse({"results": results})

    def _problem(self, table: str, item: dict[str, Any]) -> _Rejection | None:
        rejection = self._rejections.get(item["external_id"])
        if rejection is not None:
            return rejection
        columns = crm_schema.metadata.tables[table].columns
        unknown = set(item["fields"]) - {c.name for c in columns}
        if unknown:
            return _Rejection("invalid_field", f"unknown fields: {', '.join(sorted(unknown))}", False, None)
        missing = [
            c.name for c in columns if not c.nullable and c.name not in ("external_id", "version") and item["fields"].get(c.name) is None
        ]
        if missing:
            return _Rejection("invalid_field", f"required: {', '.join(missing)}", False, None)
        return None

    def _apply(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        store = self.tables.setdefault(table, {})
        external_id, version = item["external_id"], item["version"]
        current = store.get(external_id)
        if current is not None and current["version"] >= version:
            return {"external_id": external_id, "status": "unchanged"}
        store[external_id] = {**item["fields"], "external_id": external_id, "version": version}
        return {"external_id": external_id, "status": "created" if current is None else "updated"}

    async def _changes(self, request: Request) -> Response:
        refused, late_failure = self._gate(request, "changes")
        if refused is not None:
            return refused
        table = request.path_params["table"]
        if table not in crm_schema.metadata.tables:
            return _error(404, "unknown_table", f"no table {table}")
        params = request.query_params
        try:
            limit = int(params.get("limit", "500"))
            after = _instant(params["after_updated_at"]) if "after_updated_at" in params else None
        except ValueError:
            return _error(400, "invalid_request", "limit must be an integer, after_updated_at an ISO timestamp")
        if not 1 <= limit <= MAX_ITEMS:
            return _error(400, "invalid_request", f"limit must be 1..{MAX_ITEMS}")
        after_key = params.get("after_key", "")
        key_name = PULLED_KEYS.get(table, ("external_id",))[0]
        with self._lock:
            ordered = sorted(
                (row for row in self.tables.get(table, {}).values() if row.get("updated_at")),
                key=lambda row: (_instant(row["updated_at"]), str(row[key_name])),
            )
        if after is not None:
            ordered = [r for r in ordered if (_instant(r["updated_at"]), str(r[key_name])) > (after, after_key)]
        page = ordered[:limit]
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if late_failure is not None:
            return _error(late_failure[0], "unavailable", "injected failure")
        position = {"updated_at": page[-1]["updated_at"], "key": str(page[-1][key_name])} if page else None
        return JSONResponse({"rows": page, "next": position})


def _well_formed(item: object) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("external_id"), str)
        and isinstance(item.get("version"), int)
        and isinstance(item.get("fields"), dict)
    )


def _item_error(item: dict[str, Any], problem: _Rejection) -> dict[str, Any]:
    error: dict[str, Any] = {"code": problem.code, "message": problem.message, "retryable": problem.retryable}
    if problem.retry_after_s is not None:
        error["retry_after_s"] = problem.retry_after_s
    return {"external_id": item["external_id"], "status": "error", "error": error}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
