"""`portal partner-report import` (CONTRACTS.md): the extranet's validation and error codes for a
file a partner e-mailed; nothing stored without --commit; the same file never counts twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.cli import main
from portal.events.models import OutboxEvent
from portal.partner.models import ReportSource, ReportSubmission
from tests.portal.partner.reports.test_service import BAD, GOOD, PERIOD, csv_bytes, partner, sale

__all__ = ["partner"]


@pytest.fixture
def env(settings: Any, state: Any) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "CRM_DATABASE_URL": settings.crm_database_url,
        "DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.secret_key,
    }


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, ["partner-report", "import", *args], env=env)


def submissions(uow: Any) -> list[tuple[int, int, ReportSource]]:
    with uow() as db:
        return [(s.version, s.accepted_count, s.source) for s in db.scalars(select(ReportSubmission).order_by(ReportSubmission.id))]


def test_check_only_prints_the_contract_json_and_stores_nothing(env: dict[str, str], uow: Any, partner: User, tmp_path: Path) -> None:
    path = tmp_path / "march.csv"
    path.write_bytes(csv_bytes(GOOD + BAD))
    result = run(env, "--partner", "P-100", "--kind", "sell-through", "--period", PERIOD, "--json", str(path))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["accepted"], answer["rejected"]) == (3, 2)
    # Rows count data lines from 1: the two bad lines are the 4th and 5th.
    assert answer["errors"] == [
        {"row": 4, "field": "sku", "code": "unknown_sku", "detail": "sku_unknown", "message": "Unknown SKU “NW-XX-404”."},
        {"row": 5, "field": "quantity", "code": "bad_quantity", "detail": "quantity_invalid", "message": "“lots” is not a number."},
    ]
    assert "nothing was stored" in result.stderr
    assert submissions(uow) == []


def test_commit_stores_a_version_once_and_the_same_file_again_is_refused(
    env: dict[str, str], uow: Any, partner: User, tmp_path: Path
) -> None:
    path = tmp_path / "march.csv"
    path.write_bytes(csv_bytes(GOOD + BAD))
    first = run(env, "--partner", "P-100", "--kind", "sell-through", "--period", PERIOD, "--commit", str(path))
    assert first.exit_code == 0, first.output
    assert "accepted: 3" in first.stdout
    assert "stored as version 1" in first.stderr
    assert submissions(uow) == [(1, 3, ReportSource.CLI)]
    with uow() as db:
        assert db.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "sell_through_line.upserted")) == 3

    again = run(env, "--partner", "P-100", "--kind", "sell-through", "--period", PERIOD, "--commit", "--json", str(path))
    assert again.exit_code == 1
    assert "Already submitted" in again.stderr
    assert submissions(uow) == [(1, 3, ReportSource.CLI)]

    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes(csv_bytes([sale("Delta Co"), sale("Echo Co", quantity="1")]))
    second = run(env, "--partner", "P-100", "--kind", "sell-through", "--period", PERIOD, "--commit", str(fixed))
    assert second.exit_code == 0, second.output
    assert submissions(uow)[-1] == (2, 5, ReportSource.CLI)


def test_a_file_that_is_no_report_fails_with_the_contract_code(env: dict[str, str], uow: Any, partner: User, tmp_path: Path) -> None:
    columns = tmp_path / "columns.csv"
    columns.write_bytes(b"Date,Thing\n2026-03-01,1\n")
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(bytes(range(256)) * 64)
    wrong = run(env, "--partner", "P-100", "--kind", "sell-through", "--period", PERIOD, "--json", "--commit", str(columns))
    assert wrong.exit_code == 1
    [error] = json.loads(wrong.stdout)["errors"]
    assert error["code"] == "missing_columns"
    assert "Required columns not found" in error["message"]
    unreadable = run(env, "--partner", "P-100", "--kind", "inventory", "--period", PERIOD, "--json", str(junk))
    assert unreadable.exit_code == 1
    assert json.loads(unreadable.stdout)["errors"][0]["code"] == "file_unreadable"
    assert submissions(uow) == []


def test_nothing_accepted_stores_nothing_and_bad_arguments_are_named(env: dict[str, str], uow: Any, partner: User, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(BAD))
    refused = run(env, "--partner", "P-100", "--kind", "sell-through", "--period", PERIOD, "--commit", str(path))
    assert refused.exit_code == 1
    assert "nothing to submit" in refused.stderr
    assert submissions(uow) == []
    unknown = run(env, "--partner", "P-404", "--kind", "sell-through", "--period", "March", str(path))
    assert unknown.exit_code == 1
    assert "partner: Unknown partner account." in unknown.output
    assert "period: Enter the period as YYYY-MM" in unknown.output
