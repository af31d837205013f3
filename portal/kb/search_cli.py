"""`portal search reindex` (CONTRACTS.md)."""

from __future__ import annotations

import time

import click


@click.group()
def search() -> None:
    """The knowledge-base search index."""


@search.command()
def reindex() -> None:
    """Rebuild the search index from the database, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from portal.db import Database
    from portal.kb.index import get_index, init_jieba
    from portal.settings import load_settings

    settings = load_settings()
    db = Database(settings.database_url)
    index = get_index(settings.data_dir)
    click.echo(f"Rebuilding the search index in {index.directory} …")
    init_jieba()
    started = time.perf_counter()
    with (
        Progress(
            TextColumn("Indexing articles"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ) as progress,
        db.unit_of_work(write=False) as session,
    ):
        task = progress.add_task("index", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        count = index.rebuild(session, advance)
    elapsed = time.perf_counter() - started
    rate = count / elapsed if elapsed > 0 else 0.0
    click.echo(f"Indexed {count} published article(s) in {elapsed:.1f} s ({rate:.0f} articles/s).")
    db.engine.dispose()
