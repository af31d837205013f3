"""Staff watch the CRM sync: figures, failed events with their error, and a replay button."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlalchemy import select

from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.relay import Relay, RelayConfig
from portal import events
from portal.accounts.models import Role, User
from portal.events.models import OutboxEvent, OutboxStatus
from portal.partner.models import PartnerApplication


def _staff(make_client: Any, make_user: Any, uow: Any) -> Any:
    staff = make_user("staff@northwind.example", Role.STAFF)
    secret = pyotp.random_base32()
    with uow() as session:
        row = session.get(User, staff.id)
        row.totp_secret, row.totp_enabled = secret, True
    web = make_client()
    web.login("staff@northwind.example")
    web.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    return web


def _relay(state: Any) -> Relay:
    return Relay(state.db, SqlConnector(state.crm_engine), config=RelayConfig(base_backoff_s=0, max_backoff_s=0))


def test_sync_page_shows_failed_events_and_replays_them(make_client: Any, make_user: Any, uow: Any, state: Any) -> None:
    web = _staff(make_client, make_user, uow)
    with uow() as session:
        events.record(session, events.Event("contact", "broken-1", 1, "contact.upserted", payload={"email": "x"}))
    _relay(state).drain()
    page = web.get("/staff/sync").text
    assert 'data-testid="sync-dead">1<' in page
    assert "payload lacks" in page
    with uow() as session:
        event_id = session.scalar(select(OutboxEvent.id).where(OutboxEvent.aggregate_id == "broken-1"))
    response = web.submit("/staff/sync/replay", {"event_id": str(event_id)}, form_page="/staff/sync")
    assert response.headers["location"] == "/staff/sync"
    with uow() as session:
        assert session.get(OutboxEvent, event_id).status is OutboxStatus.PENDING
    assert "1 event was put back in the queue." in web.get("/staff/sync").text


def test_sync_page_has_an_empty_state(make_client: Any, make_user: Any, uow: Any) -> None:
    web = _staff(make_client, make_user, uow)
    assert "No failed events. Everything is flowing." in web.get("/staff/sync").text


def test_an_application_shows_whether_it_reached_the_crm(client: Any, make_client: Any, make_user: Any, uow: Any, state: Any) -> None:
    client.submit(
        "/partner/apply",
        {"company": "Sync Co", "country": "DE", "contact_name": "S", "contact_email": "s@sync.example", "website": "", "message": ""},
        form_page="/partner/apply",
    )
    web = _staff(make_client, make_user, uow)
    with uow() as session:
        application_id = session.scalar(select(PartnerApplication.id))
    assert "Waiting to reach the CRM" in web.get(f"/staff/applications/{application_id}").text
    _relay(state).drain()
    assert "In the CRM" in web.get(f"/staff/applications/{application_id}").text


def test_metrics_report_the_outbox(client: Any, make_user: Any) -> None:
    make_user("metric@example.com")
    text = client.get("/metrics").text
    assert "portal_outbox_pending 1.0" in text
    assert "portal_crm_pull_lag_seconds -1.0" in text
