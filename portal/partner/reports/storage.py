"""Uploaded report files kept in the portal database as ordered chunks.

A file is written in and read out CHUNK_BYTES at a time, so a 1,000,000-line export never sits
in memory whole; any node (web worker or background worker) can read it, and it lives and dies
with its `report_upload` row in the same transactions.
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from portal.partner.models import ReportUploadChunk

CHUNK_BYTES = 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024  # a file read back stays in memory up to this size, then on disk


def store(db: Session, upload_id: int, stream: IO[bytes]) -> tuple[int, str]:
    """Copy `stream` into chunks of upload `upload_id`; return (size in bytes, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    seq = 0
    while True:
        block = stream.read(CHUNK_BYTES)
        if not block:
            break
        digest.update(block)
        size += len(block)
        db.execute(insert(ReportUploadChunk).values(upload_id=upload_id, seq=seq, data=block))
        seq += 1
    return size, digest.hexdigest()


def open_file(db: Session, upload_id: int) -> IO[bytes]:
    """The stored file as a seekable binary file (the caller closes it)."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned open
    seq = 0
    while True:
        block = db.scalar(select(ReportUploadChunk.data).where(ReportUploadChunk.upload_id == upload_id, ReportUploadChunk.seq == seq))
        if block is None:
            break
        out.write(block)
        seq += 1
    out.seek(0)
    return out


def remove(db: Session, upload_id: int) -> None:
    db.execute(delete(ReportUploadChunk).where(ReportUploadChunk.upload_id == upload_id))


def read_all(db: Session, upload_id: int) -> bytes:
    """The whole file (small files only: tests, web-form drafts)."""
    with open_file(db, upload_id) as source:
        return source.read()
