"""`portal adapter …` commands."""

from __future__ import annotations

import json
import os
import signal
import threading
from types import FrameType

import click

from backend_adapter.reconcile import reconcile as reconcile_stores
from backend_adapter.relay import RelayConfig
from backend_adapter.runner import Adapter
from portal.db import Database, make_engine
from portal.events.status import replay_dead, sync_status
from portal.mail.service import build_mailing
from portal.settings import load_settings


@click.group()
def adapter() -> None:
    """Move data between the portal and the core CRM store."""


# Relay tuning from the environment (names → RelayConfig fields); unset means the default.
RELAY_ENV = {
    "ADAPTER_BATCH_SIZE": "batch_size",
    "ADAPTER_LEASE_S": "lease_s",
    "ADAPTER_BACKOFF_S": "base_backoff_s",
    "ADAPTER_MAX_BACKOFF_S": "max_backoff_s",
    "ADAPTER_IDLE_SLEEP_S": "idle_sleep_s",
}


def relay_config_from_env(environ: dict[str, str] | None = None) -> RelayConfig:
    environ = dict(os.environ) if environ is None else environ
    values: dict[str, float | int] = {}
    for name, attr in RELAY_ENV.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            value = int(raw) if attr == "batch_size" else float(raw)
        except ValueError:
            raise click.UsageError(f"{name} must be a number, not {raw!r}") from None
        if value < 0 or (attr in ("batch_size", "lease_s") and value <= 0):
            raise click.UsageError(f"{name} must be positive, not {raw!r}")
        values[attr] = value
    return RelayConfig(**values)  # type: ignore[arg-type]


@adapter.command("run")
@click.option("--once", is_flag=True, help="Drain the outbox and pull every change, then exit.")
def run(once: bool) -> None:
    """Push pending outbox events to the CRM store and pull CRM changes.

    \b
    Relay tuning (environment, optional):
      ADAPTER_BATCH_SIZE     events claimed per cycle (default 500)
      ADAPTER_LEASE_S        claim lease in seconds (default 30); a killed relay's
                             claimed events become claimable again after it
      ADAPTER_BACKOFF_S      first retry delay, doubled per attempt, with full jitter (default 1)
      ADAPTER_MAX_BACKOFF_S  retry delay ceiling (default 60)
      ADAPTER_IDLE_SLEEP_S   pause when nothing is due (default 0.5)
    """
    settings = load_settings()
    worker = Adapter.for_urls(
        settings.database_url, settings.crm_database_url, config=relay_config_from_env(), mailing=build_mailing(settings)
    )
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


@adapter.command("reconcile")
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the summary table.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=0), help="External ids listed per kind of drift.")
@click.pass_context
def reconcile(ctx: click.Context, as_json: bool, limit: int) -> None:
    """Compare the CRM store with what the portal says it should hold.

    Per CRM table: counts, content hashes, and the external ids missing in the CRM, extra
    in the CRM, or with another version or content. Exit code 0 when in sync, 1 on drift,
    2 when it cannot compare (an HTTP CRM: its tables are not readable from here).
    """
    settings = load_settings()
    if settings.crm_database_url.lower().startswith(("http://", "https://")):
        click.echo("reconcile reads the CRM store's tables over SQL; CRM_DATABASE_URL is an HTTP API", err=True)
        ctx.exit(2)
    db = Database(settings.database_url)
    crm_engine = make_engine(settings.crm_database_url)
    try:
        report = reconcile_stores(db, crm_engine, limit=limit)
    finally:
        db.dispose()
        crm_engine.dispose()
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        for name, entity in report.entities.items():
            state = "in sync" if entity.in_sync else f"DRIFT ({entity.drift})"
            click.echo(f"{name}: portal {entity.portal}, crm {entity.crm}, {state}")
            for kind in ("missing", "extra", "mismatched"):
                ids = getattr(entity, kind)
                if ids:
                    click.echo(f"  {kind}: {', '.join(ids)}")
        click.echo("in sync" if report.in_sync else "drift found")
    ctx.exit(0 if report.in_sync else 1)
