"""The `portal` command line (click). Each command is one unit of work around services."""

from __future__ import annotations

import json
import sys

import click

from portal.settings import load_settings


@click.group()
def main() -> None:
    """Customer self-service portal and partner extranet."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int, envvar="PORT")
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app with uvicorn."""
    import uvicorn

    click.echo(f"Serving the portal on http://{host}:{port} with {workers} worker(s)")
    uvicorn.run(
        "portal.asgi:app",
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=False,
        log_level="info",
    )


@main.command()
def migrate() -> None:
    """Bring both databases to the latest schema."""
    from portal.db import make_engine
    from portal.migrate import migrate_all, upgrade_portal

    settings = load_settings()
    portal_engine = make_engine(settings.database_url)
    click.echo("Migrating the portal database …")
    if settings.crm_is_http:
        upgrade_portal(portal_engine)
        click.echo("The CRM is reached over HTTP: its schema is the CRM team's, nothing to create.")
    else:
        crm_engine = make_engine(settings.crm_database_url)
        click.echo("Creating the CRM store schema where missing …")
        migrate_all(portal_engine, crm_engine)
        crm_engine.dispose()
    portal_engine.dispose()
    click.echo("Both databases are up to date.")


@main.command("seed-demo")
def seed_demo() -> None:
    """Load demo data into the CRM store and demo users into the portal (idempotent)."""
    from portal.demo import seed

    settings = load_settings()
    if settings.crm_is_http:
        raise click.ClickException("seed-demo writes demo data straight into a SQL CRM store; CRM_DATABASE_URL is an HTTP API")
    report = seed(settings, echo=click.echo)
    click.echo(json.dumps(report))


@main.group()
def users() -> None:
    """Manage users."""


@users.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(["customer", "customer_admin", "partner", "partner_admin", "staff", "admin"]))
@click.option("--account", "account_id", default=None, help="CRM account id (company or partner)")
@click.option("--name", default="")
def users_create(email: str, password: str, role: str, account_id: str | None, name: str) -> None:
    """Create a verified user and print its id."""
    from portal.accounts import service
    from portal.accounts.models import Role
    from portal.db import Database
    from portal.errors import Conflict, Invalid, NotFound
    from portal.security.passwords import password_problem

    problem = password_problem(password, email=email)
    if problem:
        raise click.ClickException(problem)
    role_value = Role(role)
    if role_value in (Role.CUSTOMER_ADMIN, Role.PARTNER, Role.PARTNER_ADMIN) and not account_id:
        raise click.ClickException(f"--account is required for role {role}")
    db = Database(load_settings().database_url)
    try:
        with db.unit_of_work() as session:
            user = service.create_user(
                session, email=email, password=password, role=role_value, name=name, account_id=account_id, verified=True
            )
            session.flush()
            user_id = user.id
    except Conflict as exc:
        raise click.ClickException(exc.message) from None
    except NotFound:
        raise click.ClickException(f"unknown account {account_id}: run the adapter (or seed-demo) so the portal knows it") from None
    except Invalid as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        db.dispose()
    click.echo(user_id)


@main.group()
def mail() -> None:
    """Outgoing e-mail."""


@mail.command("send")
def mail_send() -> None:
    """Deliver every due queued message now (for operators; the web process does this too)."""
    from portal.state import build_state

    state = build_state(load_settings())
    sent = state.deliver_mail()
    state.db.dispose()
    click.echo(f"sent {sent} message(s)")


@main.command("purge-api")
def purge_api() -> None:
    """Delete expired partner-API tokens and idempotency records older than 24 h."""
    from portal.db import Database, utcnow
    from portal.partner import api_service

    db = Database(load_settings().database_url)
    try:
        with db.unit_of_work() as session:
            tokens, records = api_service.purge_expired(session, utcnow())
    finally:
        db.dispose()
    click.echo(f"deleted {tokens} expired token(s) and {records} idempotency record(s)")


def _register_adapter_commands() -> None:
    # The CLI is a composition root: it may wire in the adapter's commands.
    from backend_adapter.cli import adapter

    main.add_command(adapter)


def _register_kb_commands() -> None:
    from portal.kb.cli import kb
    from portal.kb.search_cli import search

    main.add_command(kb)
    main.add_command(search)


def _register_partner_commands() -> None:
    from portal.partner.cli import partner_report

    main.add_command(partner_report)


_register_adapter_commands()
_register_kb_commands()
_register_partner_commands()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
