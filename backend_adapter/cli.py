"""`portal adapter …` commands."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType

import click

from backend_adapter.runner import Adapter
from portal.db import Database
from portal.events.status import replay_dead, sync_status
from portal.settings import load_settings


@click.group()
def adapter() -> None:
    """Move data between the portal and the core CRM store."""


@adapter.command("run")
@click.option("--once", is_flag=True, help="Drain the outbox and pull every change, then exit.")
def run(once: bool) -> None:
    """Push pending outbox events to the CRM store and pull CRM changes."""
    settings = load_settings()
    worker = Adapter.for_urls(settings.database_url, settings.crm_database_url)
    try:
        if once:
            pushed, pulled = worker.run_once()
            click.echo(
                json.dumps(
                    {
                        "pushed": {"delivered": pushed.delivered, "retried": pushed.retried, "dead": pushed.dead},
                        "pulled": pulled,
                    }
                )
            )
            return
        stop = threading.Event()

        def request_stop(signum: int, _frame: FrameType | None) -> None:
            click.echo(f"Stopping after the current batch (signal {signum}) …", err=True)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        click.echo("Adapter running: pushing the outbox continuously, pulling CRM changes every 5 s. Ctrl-C stops.", err=True)
        worker.run_forever(stop)
    finally:
        worker.close()


@adapter.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (the default output too).")
def status(as_json: bool) -> None:
    """pending, delivered, dead, oldest_pending_age_s, last_pull_at."""
    db = Database(load_settings().database_url)
    try:
        with db.unit_of_work(write=False) as session:
            figures = sync_status(session).as_dict()
    finally:
        db.dispose()
    click.echo(json.dumps(figures))


@adapter.command("replay")
@click.option("--dead", is_flag=True, required=True, help="Put every dead event back in the queue.")
def replay(dead: bool) -> None:
    """Re-queue dead events (after the cause is fixed)."""
    db = Database(load_settings().database_url)
    try:
        with db.unit_of_work() as session:
            count = replay_dead(session)
    finally:
        db.dispose()
    click.echo(f"{count} dead event(s) re-queued")
