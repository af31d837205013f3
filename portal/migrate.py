"""Bring both databases to the latest schema: Alembic for the portal, create-if-missing for
the CRM store (its schema is the CRM team's; in production it already exists)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from backend_adapter.crm_schema import create_crm_schema

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_portal(engine: Engine) -> None:
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def check_portal(engine: Engine) -> None:
    """Raise if the models differ from the migrations (`alembic check`)."""
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.check(cfg)


def migrate_all(portal_engine: Engine, crm_engine: Engine) -> None:
    upgrade_portal(portal_engine)
    create_crm_schema(crm_engine)
