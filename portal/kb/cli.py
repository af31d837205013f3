"""`portal kb import PATH` (CONTRACTS.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def kb() -> None:
    """Knowledge-base articles."""


@kb.command("import")
@click.argument("path", type=click.Path(exists=True, file_okay=False, dir_okay=True, path_type=Path))
def import_articles(path: Path) -> None:
    """Import Markdown articles (one file each, YAML front matter) from PATH, upserting by slug and language.

    Each file is imported whole or not at all; invalid files are reported and skipped, the
    others are saved. Exits with status 1 when a file was refused."""
    from portal.db import Database
    from portal.kb.service import FileResult, import_folder
    from portal.settings import load_settings

    def progress(result: FileResult) -> None:
        if result.outcome == "error":
            click.echo(f"  error      {result.path}: {result.reason}", err=True)
        else:
            click.echo(f"  {result.outcome:<10} {result.path} ({result.slug}, {result.locale})")

    click.echo(f"Importing articles from {path} …")
    db = Database(load_settings().database_url)
    try:
        with db.unit_of_work() as session:
            report = import_folder(session, path, progress=progress)
    finally:
        db.dispose()
    click.echo(
        f"{len(report.results)} file(s): {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.errors)} refused"
    )
    if report.errors:
        raise click.ClickException(f"{len(report.errors)} file(s) were not imported (see above); the others were saved")
