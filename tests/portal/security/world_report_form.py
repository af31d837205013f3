"""Records of the test world for the partner web-form report routes (called by conftest.build_world).

One open web-form draft per partner account (P-X by partner_x, P-Y by partner_y), with one typed
line: world.ids["report_draft:P-X"] and world.ids["report_draft:P-Y"].
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.partner.models import ReportKind, ReportSource, ReportUpload, UploadStatus
from tests.portal.security import matrix

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

AUTHORS = {"P-X": matrix.PARTNER_X, "P-Y": matrix.PARTNER_Y}


def add(db: Session, world: World, now: datetime) -> None:
    for account_id, role in AUTHORS.items():
        draft = ReportUpload(
            partner_account_id=account_id,
            kind=ReportKind.INVENTORY,
            period="2026-01",
            filename="web-form.csv",
            sha256="",
            source=ReportSource.FORM,
            status=UploadStatus.DRAFT,
            summary={"mode": "add", "form_rows": [{"as_of": "2026-01-10", "location": "Depot", "sku": "NO-SUCH-SKU", "quantity": "4"}]},
            created_by_id=world.user_id(role),
            created_at=now,
        )
        db.add(draft)
        db.flush()
        world.ids[f"report_draft:{account_id}"] = draft.id
