"""`portal partner-report import` (CONTRACTS.md): staff load a partner's e-mailed CSV/XLSX file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


class _RollBack(Exception):
    """Leave the unit of work without keeping anything."""


@click.group("partner-report")
def partner_report() -> None:
    """Partner inventory and sell-through reports."""


@partner_report.command("import")
@click.option("--partner", "partner", required=True, metavar="ACCOUNT_ID", help="The partner's CRM account id.")
@click.option("--kind", type=click.Choice(["sell-through", "inventory"]), required=True)
@click.option("--period", required=True, metavar="YYYY-MM")
@click.option("--commit", is_flag=True, help="Store the accepted lines as the period's next version (default: check only).")
@click.option("--replace", is_flag=True, help="With --commit: the file replaces the period's report instead of adding to it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_report(partner: str, kind: str, period: str, commit: bool, replace: bool, as_json: bool, file: Path) -> None:
    """Check FILE through the same validation as the extranet; with --commit, store it.

    Exits 1 when the file cannot be read as a report or the commit was refused; rejected lines
    alone do not fail the command (they are listed, rows counting data lines from 1)."""
    from portal.db import Database
    from portal.errors import Invalid
    from portal.partner.reports.imports import ImportResult, import_file
    from portal.settings import load_settings

    def progress(lines: int) -> None:
        click.echo(f"  … {lines:,} lines checked", err=True)

    db = Database(load_settings().database_url)
    result: ImportResult | None = None
    try:
        with file.open("rb") as stream, db.unit_of_work() as session:
            result = import_file(
                session,
                partner=partner,
                kind=kind,
                period=period,
                stream=stream,
                filename=file.name,
                commit=commit,
                replace=replace,
                progress=progress,
            )
            if result.file_error is not None or (commit and result.stored_nothing):
                raise _RollBack()
    except _RollBack:
        pass
    except Invalid as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    finally:
        db.dispose()
    assert result is not None
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        _print_table(result)
    if result.file_error is not None:
        click.echo(f"error: {result.file_error['message']}", err=True)
        sys.exit(1)
    if commit and result.submission is None:
        click.echo(f"error: nothing stored: {result.refusal}", err=True)
        sys.exit(1)
    if result.submission is not None:
        click.echo(f"stored as version {result.submission.version} of {period} ({result.accepted} new lines)", err=True)
    elif not commit:
        click.echo("checked only: nothing was stored (add --commit to store the accepted lines)", err=True)


def _print_table(result: object) -> None:
    from portal.partner.reports.imports import ImportResult

    assert isinstance(result, ImportResult)
    click.echo(f"accepted: {result.accepted}")
    click.echo(f"rejected: {result.rejected}")
    for error in result.errors:
        click.echo(f"  row {error['row']:>7}  {error['field'] or '-':<16} {error['code']:<16} {error['message']}")
