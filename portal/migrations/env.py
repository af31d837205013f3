"""Alembic environment for the portal database (URL from settings, models from portal)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from portal.models import metadata

config = context.config


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is None:
        from portal.db import make_engine
        from portal.settings import load_settings

        engine = make_engine(config.get_main_option("sqlalchemy.url") or load_settings().database_url)
        with engine.connect() as conn:
            _run(conn)
        engine.dispose()
    else:
        _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
