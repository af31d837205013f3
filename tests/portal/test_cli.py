"""The `portal` command line, run in-process with click's runner against the test databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from backend_adapter import crm_schema as crm
from portal.accounts.models import Role, User
from portal.cli import main


@pytest.fixture
def env(settings: Any, state: Any) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "CRM_DATABASE_URL": settings.crm_database_url,
        "DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.secret_key,
    }


def test_migrate_reports_both_databases(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert "Both databases are up to date." in result.output


def test_seed_demo_is_idempotent(env: dict[str, str], state: Any, uow: Any) -> None:
    first = CliRunner().invoke(main, ["seed-demo"], env=env)
    assert first.exit_code == 0, first.output
    with uow() as session:
        users = session.scalar(select(func.count()).select_from(User))
    with state.crm_engine.connect() as conn:
        counts = {t.name: conn.scalar(select(func.count()).select_from(t)) for t in crm.metadata.sorted_tables}
    second = CliRunner().invoke(main, ["seed-demo"], env=env)
    assert second.exit_code == 0
    assert set(json.loads(second.output.strip().splitlines()[-1]).values()) == {0}
    with state.crm_engine.connect() as conn:
        assert counts == {t.name: conn.scalar(select(func.count()).select_from(t)) for t in crm.metadata.sorted_tables}
    assert users == 8
    assert counts["crm_order"] > 20
    assert counts["crm_serial"] > 100
    assert counts["crm_sales_target"] > 50


def test_users_create_prints_the_id_of_a_verified_user(env: dict[str, str], uow: Any) -> None:
    result = CliRunner().invoke(
        main, ["users", "create", "--email", "ops@northwind.example", "--password", "long enough pw", "--role", "staff"], env=env
    )
    assert result.exit_code == 0, result.output
    with uow() as session:
        user = session.get(User, int(result.output.strip()))
        assert (user.email, user.role, user.email_verified_at is not None) == ("ops@northwind.example", Role.STAFF, True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "a@example.com", "--password", "password", "--role", "customer"], "too common"),
        (["--email", "a@example.com", "--password", "long enough pw", "--role", "partner_admin"], "--account is required"),
        (
            ["--email", "a@example.com", "--password", "long enough pw", "--role", "customer_admin", "--account", "NOPE"],
            "unknown account NOPE",
        ),
        (["--email", "not-an-email", "--password", "long enough pw", "--role", "customer"], "valid e-mail"),
    ],
)
def test_users_create_explains_what_is_wrong(env: dict[str, str], args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["users", "create", *args], env=env)
    assert result.exit_code != 0
    assert message in result.output


def test_users_create_refuses_a_duplicate(env: dict[str, str]) -> None:
    args = ["users", "create", "--email", "dup@example.com", "--password", "long enough pw", "--role", "customer"]
    assert CliRunner().invoke(main, args, env=env).exit_code == 0
    again = CliRunner().invoke(main, args, env=env)
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_mail_send_delivers_queued_mail(env: dict[str, str], state: Any, uow: Any, settings: Any) -> None:
    from portal.mail.service import queue_email

    with uow() as session:
        queue_email(
            session,
            state.mailing.composer,
            to="x@example.com",
            template="verify_email",
            locale="en",
            context={"name": "X", "verify_url": "u"},
        )
    result = CliRunner().invoke(main, ["mail", "send"], env=env)
    assert result.output.strip() == "sent 1 message(s)"
    assert len(list(Path(settings.maildir, "new").iterdir())) == 1


def test_purge_api_deletes_expired_tokens(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["purge-api"], env=env)
    assert result.exit_code == 0, result.output
    assert "deleted 0 expired token(s) and 0 idempotency record(s)" in result.output
