"""Records of the test world for the API client pages (called by conftest.build_world).

One API client per partner account: world.ids["api_client:P-X"] (managed by partner_x, the
account's admin) and world.ids["api_client:P-Y"] (P-Y has no admin in the world: nobody may
manage it).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.partner.models import ApiClient
from portal.security.tokens import random_token, sha256_hex
from tests.portal.security import matrix

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

CREATORS = {"P-X": matrix.PARTNER_X, "P-Y": matrix.PARTNER_Y}


def add(db: Session, world: World, now: datetime) -> None:
    for account_id, role in CREATORS.items():
        client = ApiClient(
            client_id=f"pc_world_{account_id.lower()}",
            secret_hash=sha256_hex(random_token()),
            partner_account_id=account_id,
            name=f"ERP link {account_id}",
            scopes=["reports:write", "reports:read"],
            created_by_id=world.user_id(role),
            created_at=now,
        )
        db.add(client)
        db.flush()
        world.ids[f"api_client:{account_id}"] = client.id
