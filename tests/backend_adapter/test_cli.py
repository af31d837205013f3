from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from backend_adapter import crm_schema as crm
from portal import events
from portal.cli import main


@pytest.fixture
def env(settings: Any, state: Any) -> dict[str, str]:
    return {"DATABASE_URL": settings.database_url, "CRM_DATABASE_URL": settings.crm_database_url, "DATA_DIR": str(settings.data_dir)}


def test_run_once_pushes_and_pulls_then_status_reports(env: dict[str, str], make_user: Any, state: Any) -> None:
    user = make_user("cli@example.com")
    with state.crm_engine.begin() as conn:
        from datetime import datetime

        conn.execute(
            crm.crm_account.insert().values(
                account_id="C-9", kind="customer", name="Nine", tier=None, country="GB", updated_at=datetime(2026, 1, 1)
            )
        )
    result = CliRunner().invoke(main, ["adapter", "run", "--once"], env=env)
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["pushed"] == {"delivered": 1, "retried": 0, "dead": 0}
    # Every registered source is reported; only the account had changes.
    assert {source: n for source, n in output["pulled"].items() if n} == {"crm_account": 1}
    with state.crm_engine.connect() as conn:
        assert conn.scalar(select(crm.crm_contact.c.email).where(crm.crm_contact.c.external_id == user.external_id)) == "cli@example.com"
    status = json.loads(CliRunner().invoke(main, ["adapter", "status", "--json"], env=env).output)
    assert set(status) == {"pending", "delivered", "dead", "oldest_pending_age_s", "last_pull_at"}
    assert (status["pending"], status["delivered"], status["dead"]) == (0, 1, 0)
    assert status["last_pull_at"] is not None


def test_replay_dead_requeues(env: dict[str, str], uow: Any) -> None:
    with uow() as session:
        events.record(session, events.Event("contact", "x", 1, "no.such.type"))
    CliRunner().invoke(main, ["adapter", "run", "--once"], env=env)
    assert json.loads(CliRunner().invoke(main, ["adapter", "status", "--json"], env=env).output)["dead"] == 1
    result = CliRunner().invoke(main, ["adapter", "replay", "--dead"], env=env)
    assert result.output.strip() == "1 dead event(s) re-queued"
    assert json.loads(CliRunner().invoke(main, ["adapter", "status", "--json"], env=env).output)["pending"] == 1
