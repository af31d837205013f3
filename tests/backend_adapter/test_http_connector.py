"""The HTTP connector against a real local CRM API: outcomes, the version rule, and every
unhappy path (429, 5xx, slow answers, rejected items, a wrong token) ending with nothing lost."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from backend_adapter import crm_schema as crm
from backend_adapter.connectors import connector_for
from backend_adapter.connectors.base import CrmUnavailable, Cursor, ItemResult, Outcome, UpsertItem
from backend_adapter.connectors.http import HttpConnector, TokenBucket, parse_retry_after
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.puller import Puller
from backend_adapter.relay import Relay, RelayConfig
from backend_adapter.runner import Adapter
from portal.accounts import service as accounts_service
from portal.accounts.models import Account, User
from portal.cli import main
from portal.db import utcnow
from portal.events.models import OutboxEvent, OutboxStatus
from tests.support.fake_crm_http import FakeCrmHttp

TIMEOUT_S = 0.3
ROW = {
    "account_id": None,
    "email": "x@example.com",
    "name": "New",
    "locale": "en",
    "role": "customer",
    "active": True,
    "created_at": datetime(2026, 1, 1, 9, 30),
    "updated_at": datetime(2026, 1, 2, 10, 0, 0, 250000),
}


@pytest.fixture
def crm_api() -> Iterator[FakeCrmHttp]:
    with FakeCrmHttp() as server:
        yield server


@pytest.fixture
def connector(crm_api: FakeCrmHttp) -> Iterator[HttpConnector]:
    # Overrides the SQL `connector` of conftest: the `relay` fixture now pushes over HTTP.
    http = HttpConnector(crm_api.url, crm_api.token, timeout_s=TIMEOUT_S, max_batch=50)
    yield http
    http.close()


def _outbox(uow: Any) -> list[OutboxEvent]:
    with uow() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def _rename(uow: Any, user: User, name: str) -> None:
    with uow() as session:
        accounts_service.update_profile(session, actor=session.get(User, user.id), name=name, locale="en")


# -- upserts and the version rule -------------------------------------------------------------------
def test_upsert_reports_created_updated_unchanged_and_a_lower_version_never_wins(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    assert connector.upsert("crm_contact", [UpsertItem("e1", 5, ROW)]) == [ItemResult(Outcome.CREATED)]
    assert connector.upsert("crm_contact", [UpsertItem("e1", 3, {**ROW, "name": "Old"})]) == [ItemResult(Outcome.UNCHANGED)]
    assert connector.upsert("crm_contact", [UpsertItem("e1", 5, {**ROW, "name": "Same version"})]) == [ItemResult(Outcome.UNCHANGED)]
    assert connector.upsert("crm_contact", [UpsertItem("e1", 6, {**ROW, "name": "Newer"})]) == [ItemResult(Outcome.UPDATED)]
    stored = crm_api.rows("crm_contact")["e1"]
    assert (stored["version"], stored["name"]) == (6, "Newer")
    assert crm_api.requests["upsert"] == 4


def test_rows_travel_as_json_with_utc_timestamps_and_iso_dates_under_a_bearer_token(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    line = {
        "partner_account_id": "P-1",
        "report_external_id": "r-1",
        "as_of": date(2026, 3, 31),
        "location": "Main",
        "sku": "NW-100",
        "quantity_on_hand": 4,
        "withdrawn": False,
        "updated_at": datetime(2026, 4, 1, 8, 0),
    }
    assert connector.upsert("crm_contact", [UpsertItem("c1", 1, ROW)]) == [ItemResult(Outcome.CREATED)]
    assert connector.upsert("crm_inventory_line", [UpsertItem("i1", 1, line)]) == [ItemResult(Outcome.CREATED)]
    contact = crm_api.rows("crm_contact")["c1"]
    assert (contact["created_at"], contact["updated_at"]) == ("2026-01-01T09:30:00Z", "2026-01-02T10:00:00.250000Z")
    assert crm_api.rows("crm_inventory_line")["i1"]["as_of"] == "2026-03-31"
    assert crm_api.authorization_headers == [f"Bearer {crm_api.token}"] * 2


def test_a_batch_gets_one_result_per_item_in_order(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    connector.upsert("crm_contact", [UpsertItem("b", 2, ROW)])
    results = connector.upsert("crm_contact", [UpsertItem("a", 1, ROW), UpsertItem("b", 1, ROW), UpsertItem("c", 1, ROW)])
    assert [r.outcome for r in results] == [Outcome.CREATED, Outcome.UNCHANGED, Outcome.CREATED]
    assert crm_api.batches[-1] == ["a", "b", "c"]


# -- the relay end to end -----------------------------------------------------------------------------
def test_the_relay_delivers_portal_events_through_the_http_api(relay: Relay, make_user: Any, crm_api: FakeCrmHttp, uow: Any) -> None:
    first = make_user("one@example.com", name="One")
    second = make_user("two@example.com", name="Two")
    _rename(uow, first, "One Renamed")
    stats = relay.drain()
    assert (stats.delivered, stats.retried, stats.dead) == (3, 0, 0)
    contacts = crm_api.rows("crm_contact")
    assert {k: (v["version"], v["name"], v["email"], v["role"]) for k, v in contacts.items()} == {
        first.external_id: (2, "One Renamed", "one@example.com", "customer"),
        second.external_id: (1, "Two", "two@example.com", "customer"),
    }
    assert contacts[first.external_id]["created_at"].endswith("Z")
    assert {e.status for e in _outbox(uow)} == {OutboxStatus.DELIVERED}


def test_a_429_keeps_events_pending_at_least_until_retry_after(
    relay: Relay, connector: HttpConnector, make_user: Any, crm_api: FakeCrmHttp, uow: Any
) -> None:
    make_user("limited@example.com")
    crm_api.rate_limit_next(1, retry_after=30)
    before = utcnow()
    stats = relay.drain()
    assert (stats.retried, stats.dead, stats.delivered) == (1, 0, 0)
    [event] = _outbox(uow)
    assert event.status is OutboxStatus.PENDING
    assert event.next_attempt_at >= before + timedelta(seconds=30)
    assert "429" in (event.last_error or "")
    # Until then the connector itself holds back: no request reaches the server.
    with pytest.raises(CrmUnavailable) as raised:
        connector.upsert("crm_contact", [UpsertItem("other", 1, ROW)])
    assert raised.value.retry_after_s is not None
    assert 25 < raised.value.retry_after_s <= 30
    assert crm_api.requests["upsert"] == 1
    assert crm_api.rows("crm_contact") == {}


def test_retry_after_as_an_http_date_is_honoured(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    crm_api.rate_limit_next(1, retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True))
    with pytest.raises(CrmUnavailable) as raised:
        connector.upsert("crm_contact", [UpsertItem("e1", 1, ROW)])
    assert raised.value.retry_after_s is not None
    assert 100 < raised.value.retry_after_s <= 120


def test_retry_after_parsing() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after(" 2.5 ", now=now) == 2.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0  # already past
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after("999999", now=now) == 3600.0  # capped
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_5xx_then_recovery_delivers_exactly_once_in_effect(relay: Relay, make_user: Any, crm_api: FakeCrmHttp, uow: Any) -> None:
    user = make_user("flaky@example.com", name="Flaky")
    _rename(uow, user, "Flaky Two")
    crm_api.fail_next(1, 503)
    crm_api.fail_next(1, 502, after_write=True)  # the write lands, the answer is lost
    outcomes = [dict(relay.drain().outcomes) for _ in range(3)]
    assert outcomes == [
        {"retry": 2},  # v1 failed (503), v2 waited behind it
        {"retry": 2},  # v1 written but answered 502
        {"unchanged": 1, "updated": 1},  # v1 found already there, then v2
    ]
    assert {k: (v["version"], v["name"]) for k, v in crm_api.rows("crm_contact").items()} == {user.external_id: (2, "Flaky Two")}
    events = _outbox(uow)
    assert [e.status for e in events] == [OutboxStatus.DELIVERED] * 2
    assert [e.attempts for e in events] == [3, 3]


def test_a_slow_server_beyond_the_timeout_is_retried_and_nothing_is_lost(
    relay: Relay, make_user: Any, crm_api: FakeCrmHttp, uow: Any
) -> None:
    user = make_user("slow@example.com")
    crm_api.delay_s = TIMEOUT_S * 2
    started = time.monotonic()
    stats = relay.drain()
    assert time.monotonic() - started < TIMEOUT_S * 2  # the relay did not wait for the late answer
    assert (stats.retried, stats.delivered, stats.dead) == (1, 0, 0)
    [event] = _outbox(uow)
    assert (event.status, "did not answer in time" in (event.last_error or "")) == (OutboxStatus.PENDING, True)
    crm_api.delay_s = 0
    assert dict(relay.drain().outcomes) == {"unchanged": 1}  # the late write had landed; re-sending changed nothing
    assert crm_api.rows("crm_contact")[user.external_id]["version"] == 1
    assert _outbox(uow)[0].status is OutboxStatus.DELIVERED


def test_an_unreachable_server_is_crm_unavailable(crm_api: FakeCrmHttp) -> None:
    url = crm_api.url
    crm_api.stop()
    gone = HttpConnector(url, crm_api.token, timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(CrmUnavailable, match="cannot be reached"):
            gone.upsert("crm_contact", [UpsertItem("e1", 1, ROW)])
        with pytest.raises(CrmUnavailable):
            gone.changes_since("crm_account", Cursor(), limit=10)
    finally:
        gone.close()


def test_a_rejected_item_is_parked_dead_and_other_aggregates_are_delivered(
    relay: Relay, make_user: Any, crm_api: FakeCrmHttp, uow: Any
) -> None:
    bad = make_user("bad@example.com")
    good = make_user("good@example.com")
    crm_api.reject_item(bad.external_id, "invalid_email", message="the CRM refuses this address")
    stats = relay.drain()
    assert (stats.delivered, stats.dead, stats.retried) == (1, 1, 0)
    assert set(crm_api.rows("crm_contact")) == {good.external_id}
    dead = next(e for e in _outbox(uow) if e.status is OutboxStatus.DEAD)
    assert dead.payload["external_id"] == bad.external_id
    assert dead.last_error == "invalid_email: the CRM refuses this address"


def test_a_retryable_item_error_waits_and_is_then_delivered(relay: Relay, make_user: Any, crm_api: FakeCrmHttp, uow: Any) -> None:
    user = make_user("locked@example.com")
    crm_api.reject_item(user.external_id, "record_locked", retryable=True, retry_after_s=20)
    before = utcnow()
    stats = relay.drain()
    assert (stats.retried, stats.dead) == (1, 0)
    [event] = _outbox(uow)
    assert event.status is OutboxStatus.PENDING
    assert event.next_attempt_at >= before + timedelta(seconds=20)
    crm_api.clear_rejections()
    with uow() as session:  # time passes
        session.get(OutboxEvent, event.id).next_attempt_at = utcnow()
    assert relay.drain().delivered == 1
    assert user.external_id in crm_api.rows("crm_contact")


def test_a_whole_request_rejection_is_narrowed_down_to_the_bad_item(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    crm_api.all_or_none = True  # one bad item fails the request with 400
    crm_api.reject_item("e3", "invalid_field", message="email is malformed")
    items = [UpsertItem(f"e{n}", 1, ROW) for n in range(5)]
    results = connector.upsert("crm_contact", items)
    assert [r.outcome for r in results] == [Outcome.CREATED] * 3 + [Outcome.PERMANENT, Outcome.CREATED]
    assert "email is malformed" in results[3].error
    assert set(crm_api.rows("crm_contact")) == {"e0", "e1", "e2", "e4"}
    assert crm_api.batches[0] == ["e0", "e1", "e2", "e3", "e4"]
    assert len(crm_api.batches) <= 2 * len(items) - 1


def test_a_row_the_server_finds_invalid_is_permanent(connector: HttpConnector) -> None:
    incomplete = {k: v for k, v in ROW.items() if k != "email"}
    results = connector.upsert("crm_contact", [UpsertItem("ok", 1, ROW), UpsertItem("no-email", 1, incomplete)])
    assert results[0] == ItemResult(Outcome.CREATED)
    assert (results[1].outcome, results[1].error) == (Outcome.PERMANENT, "invalid_field: required: email")


def test_a_row_json_cannot_carry_is_permanent_and_its_neighbours_are_sent(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    results = connector.upsert("crm_contact", [UpsertItem("nan", 1, {**ROW, "name": float("nan")}), UpsertItem("fine", 1, ROW)])
    assert results[0].outcome is Outcome.PERMANENT
    assert "JSON" in results[0].error
    assert results[1] == ItemResult(Outcome.CREATED)
    assert crm_api.batches == [["fine"]]


def test_an_unknown_table_is_permanent_but_a_wrong_base_url_is_not(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    [result] = connector.upsert("crm_nonexistent", [UpsertItem("e1", 1, ROW)])
    assert (result.outcome, result.error) == (
        Outcome.PERMANENT,
        "rejected by the CRM API (404): unknown_table: no writable table crm_nonexistent",
    )
    misconfigured = HttpConnector(crm_api.url + "/wrong", crm_api.token, timeout_s=TIMEOUT_S)
    try:
        with pytest.raises(CrmUnavailable, match="check CRM_DATABASE_URL"):
            misconfigured.upsert("crm_contact", [UpsertItem("e1", 1, ROW)])
    finally:
        misconfigured.close()


def test_a_wrong_token_keeps_events_pending_not_dead(state: Any, make_user: Any, crm_api: FakeCrmHttp, uow: Any) -> None:
    user = make_user("token@example.com")
    config = RelayConfig(base_backoff_s=0.0, max_backoff_s=0.0)
    wrong = HttpConnector(crm_api.url, "not-the-token", timeout_s=TIMEOUT_S)
    try:
        stats = Relay(state.db, wrong, config=config).drain()
    finally:
        wrong.close()
    assert (stats.retried, stats.dead) == (1, 0)
    [event] = _outbox(uow)
    assert event.status is OutboxStatus.PENDING
    assert "401" in (event.last_error or "")
    assert "CRM_API_TOKEN" in (event.last_error or "")
    assert crm_api.unauthorized == 1
    assert crm_api.rows("crm_contact") == {}
    fixed = HttpConnector(crm_api.url, crm_api.token, timeout_s=TIMEOUT_S)
    try:
        assert Relay(state.db, fixed, config=config).drain().delivered == 1
    finally:
        fixed.close()
    assert user.external_id in crm_api.rows("crm_contact")


def test_the_token_is_in_no_log_line_error_or_repr(crm_api: FakeCrmHttp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors = []
    for token in (crm_api.token, "wrong-token-that-must-not-leak"):
        http = HttpConnector(crm_api.url, token, timeout_s=TIMEOUT_S)
        try:
            http.upsert("crm_contact", [UpsertItem("e1", 1, ROW)])
        except CrmUnavailable as exc:
            errors.append(str(exc))
        finally:
            http.close()
        assert token not in repr(http)
        assert token not in caplog.text
    assert len(errors) == 1
    assert "wrong-token" not in errors[0]


# -- pacing -------------------------------------------------------------------------------------------
def test_the_token_bucket_paces_requests_after_a_burst() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    bucket = TokenBucket(2, clock=lambda: now[0], sleep=sleep)
    assert [bucket.acquire() for _ in range(5)] == [0.0, 0.0, 0.5, 0.5, 0.5]
    now[0] += 10  # idle: the bucket refills to its burst size, no more
    assert [bucket.acquire() for _ in range(3)] == [0.0, 0.0, 0.5]


def test_max_requests_per_s_paces_real_requests(crm_api: FakeCrmHttp) -> None:
    paced = HttpConnector(crm_api.url, crm_api.token, timeout_s=TIMEOUT_S, max_requests_per_s=10)
    assert paced.capabilities.max_requests_per_s == 10
    try:
        started = time.monotonic()
        for _ in range(13):  # a burst of 10, then 3 at 0.1 s intervals
            paced.changes_since("crm_account", Cursor(), limit=10)
        assert time.monotonic() - started >= 0.28
    finally:
        paced.close()
    assert crm_api.requests["changes"] == 13


# -- the change feed ----------------------------------------------------------------------------------
def _account(account_id: str, at: datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "kind": "partner",
        "name": f"Partner {account_id}",
        "tier": "silver",
        "country": "SG",
        "updated_at": at,
    }


def test_changes_since_pages_by_the_cursor(connector: HttpConnector, crm_api: FakeCrmHttp) -> None:
    t0, t1, t2 = datetime(2026, 11, 1, 9), datetime(2026, 11, 1, 9, 0, 1, 500), datetime(2026, 11, 1, 10)
    for account_id, at in (("P-5", t2), ("P-2", t1), ("P-1", t0), ("P-4", t1), ("P-3", t1)):
        crm_api.put_row("crm_account", _account(account_id, at))
    cursor, seen, pages = Cursor(), [], 0
    while True:
        page = connector.changes_since("crm_account", cursor, limit=2)
        pages += 1
        seen += [(row["account_id"], row["updated_at"]) for row in page.rows]
        if not page.rows:
            assert page.cursor == cursor  # an empty page keeps the position
            break
        cursor = page.cursor
    assert seen == [("P-1", t0), ("P-2", t1), ("P-3", t1), ("P-4", t1), ("P-5", t2)]
    assert pages == 4
    assert cursor == Cursor(updated_at=t2, key="P-5")
    # A later change to P-2 is seen from the stored cursor; nothing else is re-read.
    crm_api.put_row("crm_account", _account("P-2", datetime(2026, 11, 2)))
    assert [r["account_id"] for r in connector.changes_since("crm_account", cursor, limit=10).rows] == ["P-2"]


def test_changes_over_http_match_the_sql_connectors_rows(connector: HttpConnector, crm_api: FakeCrmHttp, state: Any) -> None:
    serials = [
        {
            "serial": f"SN-{n}",
            "sku": "NW-100",
            "order_number": None if n == 2 else f"O-{n}",
            "shipped_at": datetime(2026, 5, n, 14, 30, 15, 120000),
            "sold_to_account_id": "P-1" if n == 2 else None,
            "warranty_starts_on": date(2026, 5, n + 1) if n != 3 else None,
            "updated_at": datetime(2026, 6, 1, 12, 0, n),
        }
        for n in (1, 2, 3)
    ]
    with state.crm_engine.begin() as conn:
        conn.execute(crm.crm_serial.insert(), serials)
    for row in serials:
        crm_api.put_row("crm_serial", row)
    sql = SqlConnector(state.crm_engine)
    for cursor in (Cursor(), Cursor(updated_at=datetime(2026, 6, 1, 12, 0, 1), key="SN-1")):
        over_http = connector.changes_since("crm_serial", cursor, limit=10)
        assert over_http == sql.changes_since("crm_serial", cursor, limit=10)
        assert isinstance(over_http.rows[0]["warranty_starts_on"], date)


def test_the_puller_keeps_read_copies_current_over_http(state: Any, connector: HttpConnector, crm_api: FakeCrmHttp, uow: Any) -> None:
    for n in range(3):
        crm_api.put_row("crm_account", _account(f"P-{n}", datetime(2026, 11, 1, 9, 0, n)))
    puller = Puller(state.db, connector, page_size=2)
    assert puller.pull_once()["crm_account"] == 3
    crm_api.put_row("crm_account", {**_account("P-1", datetime(2026, 11, 1, 10)), "name": "Renamed", "tier": "gold"})
    puller.pull_once()
    with uow() as session:
        account = session.get(Account, "P-1")
        assert (account.name, account.tier) == ("Renamed", "gold")
        assert len(session.scalars(select(Account)).all()) == 3


# -- choosing the connector -------------------------------------------------------------------------
def test_connector_for_picks_the_connector_from_the_url(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = connector_for(f"sqlite:///{tmp_path / 'crm.db'}")
    assert isinstance(sql, SqlConnector)
    sql.close()
    monkeypatch.delenv("CRM_API_TOKEN", raising=False)
    with pytest.raises(ValueError, match="CRM_API_TOKEN"):
        connector_for("https://crm.example.com/api")
    explicit = connector_for("https://crm.example.com/api/", token="t-1")
    assert isinstance(explicit, HttpConnector)
    assert explicit.base_url == "https://crm.example.com/api"
    explicit.close()
    monkeypatch.setenv("CRM_API_TOKEN", "t-2")
    from_env = connector_for("HTTP://crm.internal:8080")
    assert isinstance(from_env, HttpConnector)
    from_env.close()


def test_the_adapter_command_pushes_to_an_http_crm_url(
    settings: Any, state: Any, make_user: Any, crm_api: FakeCrmHttp, uow: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = make_user("cli-http@example.com")
    crm_api.put_row("crm_account", _account("P-9", datetime(2026, 1, 1)))
    monkeypatch.setenv("CRM_API_TOKEN", crm_api.token)
    adapter = Adapter.for_urls(settings.database_url, crm_api.url)
    assert isinstance(adapter.relay.connector, HttpConnector)
    adapter.close()
    env = {
        "DATABASE_URL": settings.database_url,
        "CRM_DATABASE_URL": crm_api.url,
        "CRM_API_TOKEN": crm_api.token,
        "DATA_DIR": str(settings.data_dir),
    }
    result = CliRunner().invoke(main, ["adapter", "run", "--once"], env=env)
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["pushed"] == {"delivered": 1, "retried": 0, "dead": 0}
    # Every registered source is reported; only the account had changes.
    assert {source: n for source, n in output["pulled"].items() if n} == {"crm_account": 1}
    assert crm_api.rows("crm_contact")[user.external_id]["email"] == "cli-http@example.com"
    with uow() as session:
        assert session.get(Account, "P-9") is not None
