"""The CRM reached through a JSON-over-HTTPS API: bearer token, batch upsert by external id.

Wire protocol (v1), shaped like the bulk APIs of hosted CRMs (Salesforce composite upsert,
HubSpot batch upsert). `base` is the configured URL, path prefix included. Every request
carries `Authorization: Bearer <token>`; bodies are JSON (UTF-8). Timestamps travel as ISO
8601 in UTC with a `Z` (`2026-01-01T09:30:00Z`), dates as `YYYY-MM-DD`.

Upsert (tables the portal writes)::

    POST {base}/v1/tables/{table}/upsert
    {"items": [{"external_id": "…", "version": 3, "fields": {"email": "…", "created_at": "…Z"}}]}

    200 {"results": [{"external_id": "…", "status": "created" | "updated" | "unchanged"},
                     {"external_id": "…", "status": "error",
                      "error": {"code": "invalid_field", "message": "…", "retryable": false,
                                "retry_after_s": 5}}]}

  One result per item, in request order. The server never lets a lower `version` overwrite
  a higher one (`unchanged`), so a repeated or out-of-order delivery changes nothing.

Changes (tables the CRM owns)::

    GET {base}/v1/tables/{table}/changes?after_updated_at=…Z&after_key=…&limit=500

    200 {"rows": [{…columns…}], "next": {"updated_at": "…Z", "key": "…"} | null}

  Rows with (updated_at, key) after the cursor, oldest first; without `after_updated_at`
  from the beginning. `next` is the position of the last row (null when there are none).

Errors: a whole-request error body is `{"error": {"code": "…", "message": "…"}}`.

How answers map onto the connector interface:

- 429 → `CrmUnavailable(retry_after_s=…)` from `Retry-After` (seconds or an HTTP-date);
  until that moment this connector sends nothing more and answers the same at once.
- 5xx, 408, timeouts, connection and protocol errors, redirects and malformed answers →
  `CrmUnavailable` (every item retried; 503's `Retry-After` is honoured too).
- 401 / 403 → `CrmUnavailable`: a wrong or expired token is a configuration problem to fix,
  not a reason to park every event as dead.
- 404 without the protocol's error body (a wrong base URL, not our API answering) →
  `CrmUnavailable`, for the same reason.
- 400 / 413 / 422 for a batch of several items → the batch is split in halves and resent,
  so one bad row is isolated (as the SQL connector does) instead of sinking its neighbours.
- Any other 4xx (and those for a single item) → every item PERMANENT with the server's
  message.
- Per item: `error` with `retryable: true` → RETRY (with its `retry_after_s`), else PERMANENT.

The token is sent in the header only: it is in no log line, error message or `repr`.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import Date, DateTime

from backend_adapter import crm_schema
from backend_adapter.connectors.base import (
    Capabilities,
    ChangePage,
    CrmUnavailable,
    Cursor,
    ItemResult,
    Outcome,
    UpsertItem,
)
from backend_adapter.connectors.sql import PUSHED_TABLES

API_PREFIX = "/v1/tables"
# A Retry-After beyond this is treated as this: a misbehaving header must not park events for days.
MAX_RETRY_AFTER_S = 3600.0
_SPLIT_ON = frozenset({400, 413, 422})
_DELIVERED = {"created": Outcome.CREATED, "updated": Outcome.UPDATED, "unchanged": Outcome.UNCHANGED}


class HttpConnector:
    """`CrmConnector` over the v1 HTTP API. Thread-safe: the relay and the puller may share it."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 10.0,
        max_batch: int = 200,
        max_requests_per_s: float | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        if not token:
            raise ValueError("the CRM API needs a bearer token (CRM_API_TOKEN)")
        if max_requests_per_s is not None and max_requests_per_s <= 0:
            raise ValueError("max_requests_per_s must be positive")
        self.base_url = base_url.rstrip("/")
        self.capabilities = Capabilities(max_batch=max_batch, max_requests_per_s=max_requests_per_s, tables=PUSHED_TABLES)
        self._token = token
        self._timeout = httpx.Timeout(timeout_s)
        self._owns_client = client is None
        # Redirects are not followed: an API that moved is a configuration problem, and a
        # redirect must never carry the token elsewhere.
        self._client = client if client is not None else httpx.Client(timeout=self._timeout, follow_redirects=False)
        self._pacer = TokenBucket(max_requests_per_s) if max_requests_per_s else None
        self._lock = threading.Lock()
        self._blocked_until = 0.0  # time.monotonic() before which the server asked us to wait

    def __repr__(self) -> str:
        return f"HttpConnector({self.base_url!r})"

    # -- the connector interface -----------------------------------------------------------------
    def upsert(self, table: str, items: list[UpsertItem]) -> list[ItemResult]:
        results: list[ItemResult | None] = [None] * len(items)
        bodies: list[str] = []
        sent: list[int] = []
        for index, item in enumerate(items):
            try:
                bodies.append(_encode_item(item))
            except (TypeError, ValueError) as exc:  # a value JSON cannot carry: never sendable as it is
                results[index] = ItemResult(Outcome.PERMANENT, f"cannot encode the row as JSON: {exc}")
                continue
            sent.append(index)
        if sent:
            for index, result in zip(sent, self._upsert_encoded(table, [items[i] for i in sent], bodies), strict=True):
                results[index] = result
        return [r if r is not None else ItemResult(Outcome.RETRY, "no result") for r in results]

    def changes_since(self, table: str, cursor: Cursor, *, limit: int) -> ChangePage:
        params: dict[str, str | int] = {"limit": limit}
        if cursor.updated_at is not None:
            params["after_updated_at"] = _iso_datetime(cursor.updated_at)
            params["after_key"] = cursor.key
        response = self._send("GET", f"{API_PREFIX}/{quote(table, safe='')}/changes", params=params)
        if not response.is_success:
            # Nothing to park on the pull side: the puller tries again next cycle, the log says why.
            raise CrmUnavailable(f"the CRM API rejected the change query for {table} ({response.status_code}): {_error_text(response)}")
        body = _json_object(response)
        rows = body.get("rows")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise CrmUnavailable("malformed answer from the CRM API: `rows` is not a list of objects")
        if not rows:
            return ChangePage(rows=[], cursor=cursor)
        position = body.get("next")
        if not isinstance(position, dict) or not isinstance(position.get("updated_at"), str) or position.get("key") is None:
            raise CrmUnavailable("malformed answer from the CRM API: rows without a `next` position")
        decode = _row_decoder(table)
        try:
            decoded = [decode(row) for row in rows]
            next_cursor = Cursor(updated_at=_parse_datetime(position["updated_at"]), key=str(position["key"]))
        except (TypeError, ValueError) as exc:
            raise CrmUnavailable(f"malformed answer from the CRM API: {exc}") from exc
        return ChangePage(rows=decoded, cursor=next_cursor)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- requests ------------------------------------------------------------------------------------
    def _upsert_encoded(self, table: str, items: list[UpsertItem], bodies: list[str]) -> list[ItemResult]:
        content = '{"items":[' + ",".join(bodies) + "]}"
        response = self._send("POST", f"{API_PREFIX}/{quote(table, safe='')}/upsert", content=content)
        if response.is_success:
            return _item_results(response, items)
        status = response.status_code
        if status == 404 and _protocol_error(response) is None:
            raise CrmUnavailable(f"no CRM API at {self.base_url} (404 for {table}): check CRM_DATABASE_URL")
        if status in _SPLIT_ON and len(items) > 1:
            half = len(items) // 2
            return self._upsert_encoded(table, items[:half], bodies[:half]) + self._upsert_encoded(table, items[half:], bodies[half:])
        message = f"rejected by the CRM API ({status}): {_error_text(response)}"
        return [ItemResult(Outcome.PERMANENT, message) for _ in items]

    def _send(self, method: str, path: str, *, content: str | None = None, params: dict[str, str | int] | None = None) -> httpx.Response:
        """One request; raises CrmUnavailable for everything that says "not now" rather than "never"."""
        self._wait_for_turn()
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._client.request(
                method, self.base_url + path, content=content, params=params, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            raise CrmUnavailable(f"the CRM API did not answer in time ({type(exc).__name__}, {method} {path})") from exc
        except httpx.TransportError as exc:
            raise CrmUnavailable(f"the CRM API cannot be reached ({type(exc).__name__}: {exc})") from exc
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                with self._lock:
                    self._blocked_until = max(self._blocked_until, time.monotonic() + retry_after)
            raise CrmUnavailable(f"rate limited by the CRM API (429){_after(retry_after)}", retry_after_s=retry_after)
        if status >= 500 or status == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise CrmUnavailable(f"the CRM API failed ({status}): {_error_text(response)}", retry_after_s=retry_after)
        if status in (401, 403):
            raise CrmUnavailable(f"the CRM API refused the credentials ({status}): check CRM_API_TOKEN")
        if 300 <= status < 400:
            raise CrmUnavailable(f"the CRM API redirected ({status}) to {response.headers.get('Location', '?')}: check CRM_DATABASE_URL")
        return response

    def _wait_for_turn(self) -> None:
        with self._lock:
            remaining = self._blocked_until - time.monotonic()
        if remaining > 0:
            raise CrmUnavailable(f"rate limited by the CRM API for another {remaining:.1f} s", retry_after_s=remaining)
        if self._pacer is not None:
            self._pacer.acquire()


class TokenBucket:
    """Client-side pacing: at most `rate` requests a second on average, bursts up to max(1, rate).

    Each caller reserves a token (the count may go negative) and sleeps until it is due, so
    concurrent callers are served in arrival order without holding the lock while waiting.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, sleeping if none is left; returns the time waited."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3) → seconds from now, capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds):
        return None
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))


# -- encoding and decoding ---------------------------------------------------------------------------
def _iso_datetime(value: datetime) -> str:
    """Naive datetimes are UTC by the CRM contract; the wire says so explicitly."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return _iso_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _encode_item(item: UpsertItem) -> str:
    fields = {k: v for k, v in item.row.items() if k not in ("external_id", "version")}
    payload = {"external_id": item.external_id, "version": item.version, "fields": fields}
    return json.dumps(payload, default=_json_default, allow_nan=False, separators=(",", ":"))


def _parse_datetime(value: str) -> datetime:
    """ISO 8601 → naive UTC, as the SQL connector returns timestamps."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _row_decoder(table: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Rows as the SQL connector gives them: the schema's DateTime and Date columns parsed."""
    known = crm_schema.metadata.tables.get(table)
    datetimes = {c.name for c in known.columns if isinstance(c.type, DateTime)} if known is not None else set()
    dates = {c.name for c in known.columns if isinstance(c.type, Date) and not isinstance(c.type, DateTime)} if known is not None else set()
    datetimes.add("updated_at")

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        for name in datetimes.intersection(out):
            if isinstance(out[name], str):
                out[name] = _parse_datetime(out[name])
        for name in dates.intersection(out):
            if isinstance(out[name], str):
                out[name] = date.fromisoformat(out[name])
        return out

    return decode


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise CrmUnavailable(f"malformed answer from the CRM API ({response.status_code}): not JSON") from exc
    if not isinstance(body, dict):
        raise CrmUnavailable(f"malformed answer from the CRM API ({response.status_code}): not a JSON object")
    return body


def _item_results(response: httpx.Response, items: list[UpsertItem]) -> list[ItemResult]:
    # A malformed answer retries the whole batch: the writes it may have made are absorbed by the version rule.
    results = _json_object(response).get("results")
    if not isinstance(results, list) or len(results) != len(items):
        raise CrmUnavailable(f"malformed answer from the CRM API: expected {len(items)} results")
    out = []
    for item, result in zip(items, results, strict=True):
        if not isinstance(result, dict) or result.get("external_id") != item.external_id:
            raise CrmUnavailable("malformed answer from the CRM API: results out of order")
        status = result.get("status")
        if status in _DELIVERED:
            out.append(ItemResult(_DELIVERED[status]))
        elif status == "error":
            error = result.get("error")
            error = error if isinstance(error, dict) else {}
            message = f"{error.get('code', 'error')}: {error.get('message', '')}".strip()
            if error.get("retryable") is True:
                out.append(ItemResult(Outcome.RETRY, message, _retry_after_field(error.get("retry_after_s"))))
            else:
                out.append(ItemResult(Outcome.PERMANENT, message))
        else:
            raise CrmUnavailable(f"malformed answer from the CRM API: unknown status {status!r}")
    return out


def _retry_after_field(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value)))
    return None


def _protocol_error(response: httpx.Response) -> dict[str, Any] | None:
    """The protocol's `{"error": {...}}` body, or None when something else answered."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _error_text(response: httpx.Response) -> str:
    error = _protocol_error(response)
    if error is not None:
        return f"{error.get('code', 'error')}: {error.get('message', '')}".strip()
    return response.text[:200].strip() or response.reason_phrase


def _after(retry_after: float | None) -> str:
    return "" if retry_after is None else f", retry after {retry_after:g} s"


__all__ = ["HttpConnector", "TokenBucket", "parse_retry_after"]
