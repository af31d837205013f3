"""`reconcile` compares the CRM store with the portal's latest outbox state per record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import delete, update

from backend_adapter import crm_schema as crm
from backend_adapter.cli import relay_config_from_env
from backend_adapter.reconcile import content_hash, normalise, reconcile
from backend_adapter.relay import Relay
from portal import events
from portal.accounts import service as accounts_service
from portal.accounts.models import User
from portal.cli import main


def _apply(state: Any) -> None:
    from portal.partner import service as partner_service

    with state.db.unit_of_work() as session:
        partner_service.submit_application(
            session, state.mailing, company="Acme", country="DE", contact_name="A", contact_email="a@acme.example",
            website="", message="", locale="en", ip="1.1.1.1",
        )  # fmt: skip


def _rename(uow: Any, user: User, name: str) -> None:
    with uow() as session:
        accounts_service.update_profile(session, actor=session.get(User, user.id), name=name, locale="en")


def test_in_sync_after_the_relay_drained(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    users = [make_user(f"r{n}@example.com") for n in range(3)]
    _rename(uow, users[0], "Renamed")
    _apply(state)
    relay.drain()
    report = reconcile(state.db, state.crm_engine)
    assert report.in_sync
    contacts, applications = report.entities["crm_contact"], report.entities["crm_partner_application"]
    assert (contacts.portal, contacts.crm, applications.portal, applications.crm) == (3, 3, 1, 1)
    assert contacts.portal_hash == contacts.crm_hash
    assert (contacts.missing, contacts.extra, contacts.mismatched) == ([], [], [])


def test_empty_stores_are_in_sync(state: Any) -> None:
    report = reconcile(state.db, state.crm_engine)
    assert report.in_sync
    assert set(report.entities) == {
        "crm_contact",
        "crm_partner_application",
        "crm_rma",
        "crm_rma_event",
        "crm_inventory_line",
        "crm_sell_through_line",
    }
    assert report.entities["crm_contact"].portal_hash == content_hash({})


def test_detects_missing_extra_and_mismatched(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    kept, changed, stale, deleted = (make_user(f"{n}@example.com") for n in ("kept", "changed", "stale", "deleted"))
    relay.drain()
    unsent = make_user("unsent@example.com")  # pending: the CRM should get it, has not yet
    _rename(uow, stale, "Newer")  # pending v2 while the CRM holds v1
    with state.crm_engine.begin() as conn:
        conn.execute(update(crm.crm_contact).where(crm.crm_contact.c.external_id == changed.external_id).values(name="Edited in CRM"))
        conn.execute(delete(crm.crm_contact).where(crm.crm_contact.c.external_id == deleted.external_id))
        row = dict(conn.execute(crm.crm_contact.select().where(crm.crm_contact.c.external_id == kept.external_id)).one()._mapping)
        conn.execute(crm.crm_contact.insert().values({**row, "external_id": "not-from-the-portal"}))
    report = reconcile(state.db, state.crm_engine)
    contacts = report.entities["crm_contact"]
    assert not report.in_sync
    assert sorted(contacts.missing) == sorted([unsent.external_id, deleted.external_id])
    assert contacts.extra == ["not-from-the-portal"]
    assert sorted(contacts.mismatched) == sorted([changed.external_id, stale.external_id])
    assert (contacts.portal, contacts.crm, contacts.drift) == (5, 4, 5)
    assert contacts.portal_hash != contacts.crm_hash
    assert report.entities["crm_partner_application"].in_sync


def test_the_repair_centres_own_timeline_entries_are_not_drift(relay: Relay, state: Any, uow: Any) -> None:
    from tests.backend_adapter.rma_data import make_rma, repair_centre_adds_event

    make_rma(uow)
    relay.drain()
    repair_centre_adds_event(state.crm_engine, "RMA-7K3Q9P-1", "received", "Arrived at the bench.")
    report = reconcile(state.db, state.crm_engine)
    assert report.in_sync
    assert (report.entities["crm_rma"].crm, report.entities["crm_rma_event"].crm) == (2, 2)
    # A portal-sourced entry the portal never sent is drift, as in any pushed table.
    with state.crm_engine.begin() as conn:
        row = dict(conn.execute(crm.crm_rma_event.select().where(crm.crm_rma_event.c.source == "portal").limit(1)).one()._mapping)
        conn.execute(crm.crm_rma_event.insert().values({**row, "external_id": "not-from-the-portal"}))
    assert reconcile(state.db, state.crm_engine).entities["crm_rma_event"].extra == ["not-from-the-portal"]


def test_a_version_mismatch_with_equal_content_is_drift(relay: Relay, make_user: Any, state: Any) -> None:
    user = make_user("v@example.com")
    relay.drain()
    with state.crm_engine.begin() as conn:
        conn.execute(update(crm.crm_contact).values(version=7))
    assert reconcile(state.db, state.crm_engine).entities["crm_contact"].mismatched == [user.external_id]


def test_the_lists_are_cut_at_the_limit(make_user: Any, state: Any) -> None:
    for n in range(5):
        make_user(f"m{n}@example.com")
    contacts = reconcile(state.db, state.crm_engine, limit=2).entities["crm_contact"]
    assert (len(contacts.missing), contacts.drift) == (2, 5)


def test_dead_events_do_not_count_but_later_pending_ones_do(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    user = make_user("d@example.com")
    relay.drain()
    with uow() as session:
        events.record(session, events.Event("contact", user.external_id, 2, "contact.upserted", payload={"email": "broken"}))
        session.get(User, user.id).version = 2
    relay.drain()  # v2 is parked dead: the CRM keeps v1, as the portal now expects
    assert reconcile(state.db, state.crm_engine).in_sync
    _rename(uow, user, "Waits")  # v3 waits behind the dead v2: drift until the fix
    assert reconcile(state.db, state.crm_engine).entities["crm_contact"].mismatched == [user.external_id]


def test_an_unmappable_latest_event_falls_back_to_the_previous_state(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    user = make_user("u@example.com")
    relay.drain()
    with uow() as session:  # pending, not yet parked: the CRM should still hold v1
        events.record(session, events.Event("contact", user.external_id, 2, "contact.upserted", version=99, payload={}))
    assert reconcile(state.db, state.crm_engine).in_sync


def test_datetimes_compare_as_naive_utc() -> None:
    aware = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert normalise(aware) == normalise(datetime(2026, 3, 1, 12, 0)) == "2026-03-01 12:00:00.000000"
    assert normalise(datetime(2026, 3, 1, 12, 0, 0, 5)).endswith(".000005")
    taipei = timezone(timedelta(hours=8))
    assert normalise(datetime(2026, 3, 2, 4, 0, tzinfo=taipei)) == "2026-03-01 20:00:00.000000"


def _env(settings: Any) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url, "CRM_DATABASE_URL": settings.crm_database_url, "DATA_DIR": str(settings.data_dir)}


def test_cli_exit_codes_and_json(settings: Any, relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    user = make_user("cli@example.com")
    relay.drain()
    env = _env(settings)
    result = CliRunner().invoke(main, ["adapter", "reconcile", "--json"], env=env)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["in_sync"] is True
    assert set(body["entities"]) == {
        "crm_contact",
        "crm_partner_application",
        "crm_rma",
        "crm_rma_event",
        "crm_inventory_line",
        "crm_sell_through_line",
    }
    assert set(body["entities"]["crm_contact"]) == {"portal", "crm", "portal_hash", "crm_hash", "missing", "extra", "mismatched"}
    assert (body["entities"]["crm_contact"]["portal"], body["entities"]["crm_contact"]["crm"]) == (1, 1)

    _rename(uow, user, "Drifted")
    result = CliRunner().invoke(main, ["adapter", "reconcile", "--json"], env=env)
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert (body["in_sync"], body["entities"]["crm_contact"]["mismatched"]) == (False, [user.external_id])

    text = CliRunner().invoke(main, ["adapter", "reconcile"], env=env)
    assert text.exit_code == 1
    assert f"mismatched: {user.external_id}" in text.output
    assert "drift found" in text.output


def test_cli_refuses_an_http_crm(settings: Any) -> None:
    env = {**_env(settings), "CRM_DATABASE_URL": "https://crm.example/api", "CRM_API_TOKEN": "t"}
    result = CliRunner().invoke(main, ["adapter", "reconcile", "--json"], env=env)
    assert result.exit_code == 2
    assert "HTTP API" in result.output


def test_run_reads_relay_tuning_from_the_environment() -> None:
    config = relay_config_from_env({"ADAPTER_LEASE_S": "1.5", "ADAPTER_BATCH_SIZE": "7", "ADAPTER_MAX_BACKOFF_S": "0"})
    assert (config.lease_s, config.batch_size, config.max_backoff_s, config.base_backoff_s) == (1.5, 7, 0.0, 1.0)
    with pytest.raises(click.UsageError, match="ADAPTER_LEASE_S"):
        relay_config_from_env({"ADAPTER_LEASE_S": "0"})
    with pytest.raises(click.UsageError, match="ADAPTER_BATCH_SIZE"):
        relay_config_from_env({"ADAPTER_BATCH_SIZE": "many"})
