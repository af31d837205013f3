"""Records of the test world for the knowledge-base routes (called by conftest.build_world)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from tests.portal.security.conftest import World


def add(db: Session, world: World, now: datetime) -> None:
    """Add records and name them in world.ids (e.g. "article:draft")."""
