"""Records of the test world for the partner report routes (called by conftest.build_world).

One previewed upload per partner account (P-X by partner_x, P-Y by partner_y) whose only line
is rejected (unknown SKU): the owner can preview it and download the rejected line, and a commit
is refused (nothing accepted) without changing anything. Named world.ids["report_upload:P-X"]
and world.ids["report_upload:P-Y"].
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.partner.models import ReportKind, ReportUpload, UploadStatus
from portal.partner.reports import storage
from tests.portal.security import matrix

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

UPLOADERS = {"P-X": matrix.PARTNER_X, "P-Y": matrix.PARTNER_Y}
DATA = b"As-of date,Location,SKU,Quantity on hand\r\n2026-01-10,Depot,NO-SUCH-SKU,4\r\n"


def add(db: Session, world: World, now: datetime) -> None:
    for account_id, role in UPLOADERS.items():
        upload = ReportUpload(
            partner_account_id=account_id,
            kind=ReportKind.INVENTORY,
            period="2026-01",
            filename=f"stock-{account_id.lower()}.csv",
            sha256=hashlib.sha256(DATA).hexdigest(),
            size_bytes=len(DATA),
            status=UploadStatus.PREVIEWED,
            accepted_count=0,
            rejected_count=1,
            summary={"mode": "add", "columns": ["As-of date", "Location", "SKU", "Quantity on hand"], "accepted": [], "rejected": []},
            created_by_id=world.user_id(role),
            created_at=now,
        )
        db.add(upload)
        db.flush()
        storage.store(db, upload.id, io.BytesIO(DATA))
        world.ids[f"report_upload:{account_id}"] = upload.id
