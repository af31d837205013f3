"""The background worker for large report files: validation (with progress) and commit.

`start_upload` leaves a file larger than `service.INLINE_BYTES` QUEUED; `commit_upload` leaves
its commit COMMIT_QUEUED. Every web process runs one `ReportWorker` thread; an upload is claimed
with a conditional UPDATE (one worker wins), and a claim whose worker went silent for LEASE is
taken over (the process died mid-file).

Transactions: validation only reads (a read session; the upload's progress is written every
PROGRESS_EVERY lines in short write transactions of its own, and the outcome in a last one), so
it never holds SQLite's write lock while it reads a 100 MB file. The commit is one write
transaction (the whole version or nothing); its progress cannot be written meanwhile, the page
shows "storing N lines" until it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from portal.db import Database, utcnow
from portal.errors import Conflict
from portal.partner.models import ReportUpload, UploadStatus
from portal.partner.reports import service
from portal.partner.reports.readers import ReportFileError

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
PROGRESS_INTERVAL_S = 0.5  # at most this often a progress write

# What a claim turns each waiting status into.
CLAIMS = {UploadStatus.QUEUED: UploadStatus.VALIDATING, UploadStatus.COMMIT_QUEUED: UploadStatus.COMMITTING}


def _claim(database: Database, now: datetime) -> tuple[int, UploadStatus] | None:
    """Take the oldest waiting (or abandoned) upload; None when there is nothing to do."""
    stale = now - LEASE
    with database.unit_of_work(write=False) as db:
        candidates = db.execute(
            select(ReportUpload.id, ReportUpload.status)
            .where(
                or_(
                    ReportUpload.status.in_(tuple(CLAIMS)),
                    ReportUpload.status.in_(tuple(CLAIMS.values())) & (ReportUpload.worker_seen_at < stale),
                )
            )
            .order_by(ReportUpload.id)
            .limit(5)
        ).all()
    for upload_id, status in candidates:
        target = CLAIMS.get(status, status)
        condition = ReportUpload.status == status
        if status in CLAIMS.values():  # taking over from a silent worker: it must still be silent
            condition = condition & (ReportUpload.worker_seen_at < stale)
        with database.unit_of_work() as db:
            taken = db.execute(
                update(ReportUpload)
                .where(ReportUpload.id == upload_id, condition)
                .values(status=target, worker_seen_at=now, progress_lines=0, progress_bytes=0)
                .execution_options(synchronize_session=False)
            )
        if getattr(taken, "rowcount", 0) == 1:
            return upload_id, target
    return None


def _validate(database: Database, upload_id: int) -> None:
    last_write = 0.0

    def progress(lines: int, read: int) -> None:
        nonlocal last_write
        if time.monotonic() - last_write < PROGRESS_INTERVAL_S:
            return
        last_write = time.monotonic()
        with database.unit_of_work() as db:
            db.execute(
                update(ReportUpload)
                .where(ReportUpload.id == upload_id, ReportUpload.status == UploadStatus.VALIDATING)
                .values(progress_lines=lines, progress_bytes=read, worker_seen_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    outcome: service.Checked | dict[str, Any]
    with database.unit_of_work(write=False) as db:
        upload = db.get(ReportUpload, upload_id)
        if upload is None:
            return
        try:
            outcome = service.check_file(db, upload, progress=progress)
        except ReportFileError as exc:
            outcome = service.file_failure(exc)
    with database.unit_of_work() as db:
        upload = db.get(ReportUpload, upload_id)
        if upload is None or upload.status is not UploadStatus.VALIDATING:
            return  # taken over meanwhile: the other worker records its own outcome
        if isinstance(outcome, service.Checked):
            service.record_check(upload, outcome)
        else:
            service.record_failure(upload, outcome)
        upload.worker_seen_at = utcnow()


def _commit(database: Database, upload_id: int) -> None:
    failure: dict[str, Any] | None = None
    try:
        with database.unit_of_work() as db:
            upload = db.get(ReportUpload, upload_id)
            if upload is None or upload.status is not UploadStatus.COMMITTING:
                return
            committer = (upload.summary or {}).get("committer_id")
            service.store_upload(db, upload, committer if isinstance(committer, int) else None)
            upload.worker_seen_at = utcnow()
    except Conflict as exc:
        failure = {"message": exc.message, "params": dict(exc.params), "code": "conflict"}
    except ReportFileError as exc:
        failure = service.file_failure(exc)
    if failure is not None:
        # Nothing was stored; the upload goes back to its preview, which says why.
        with database.unit_of_work() as db:
            upload = db.get(ReportUpload, upload_id)
            if upload is not None and upload.status is UploadStatus.COMMITTING:
                upload.status = UploadStatus.PREVIEWED
                upload.summary = {**(upload.summary or {}), "commit_failure": failure}


def run_pending(database: Database, *, now: Callable[[], datetime] = utcnow, limit: int = 100) -> int:
    """Process waiting uploads until none is left (or `limit`); returns how many were handled."""
    handled = 0
    while handled < limit:
        claimed = _claim(database, now())
        if claimed is None:
            break
        upload_id, status = claimed
        try:
            if status is UploadStatus.VALIDATING:
                _validate(database, upload_id)
            else:
                _commit(database, upload_id)
        except Exception:
            log.exception("report_worker.failed", extra={"upload_id": upload_id})
            with database.unit_of_work() as db:
                upload = db.get(ReportUpload, upload_id)
                if upload is not None and upload.status in CLAIMS.values():
                    service.record_failure(upload, {"message": service.INTERNAL_FAILURE, "params": {}, "code": "internal"})
        handled += 1
    return handled


class ReportWorker:
    """A thread of a web process that runs `run_pending` every `every_s` seconds (and at once
    after `wake()`, which the upload views call when they queue work)."""

    def __init__(self, database: Database, every_s: float, wakeup: threading.Event | None = None) -> None:
        self.database = database
        self.every_s = every_s
        self.stop = threading.Event()
        self._wake = wakeup or threading.Event()
        self.thread = threading.Thread(target=self._run, name="partner-report-worker", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                run_pending(self.database)
            except Exception:  # the next round retries
                log.exception("report_worker.error")
            self._wake.wait(self.every_s)
            self._wake.clear()

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        self._wake.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
