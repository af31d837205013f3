"""Request bodies are bounded: an oversized one is answered 413 before it is read, whether its
length is declared or it arrives chunked; partner report uploads have a larger bound."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from portal import web
from portal.partner import report_views
from portal.partner.models import ReportUpload


def _chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size


def test_an_oversized_declared_body_is_refused_with_413(client: Any) -> None:
    response = client.post(
        "/login",
        content=b"",
        headers={"Content-Length": str(web.MAX_BODY_BYTES + 1), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert "too large" in response.text


def test_an_oversized_chunked_body_is_cut_off_with_413(client: Any) -> None:
    response = client.post(
        "/login",
        content=_chunks(web.MAX_BODY_BYTES + 1024 * 1024),
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 413


def test_report_uploads_take_more_than_other_forms_but_not_without_end(client: Any, uow: Any) -> None:
    assert report_views.MAX_REPORT_BYTES > web.MAX_BODY_BYTES
    response = client.post(
        "/partner/reports/upload",
        content=b"",
        headers={"Content-Length": str(report_views.MAX_REPORT_BYTES + 1), "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert response.status_code == 413
    with uow() as db:
        assert db.scalar(select(func.count()).select_from(ReportUpload)) == 0
