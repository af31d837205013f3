"""Large report files: validated and committed by the background worker, with progress; a
refused file, a takeover of an abandoned claim and the rejected lines after the commit."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from portal.accounts.models import User
from portal.db import utcnow
from portal.errors import Conflict
from portal.events.models import OutboxEvent
from portal.partner.models import ReportSubmission, ReportUpload, SellThroughReportLine, SubmissionStatus, UploadStatus
from portal.partner.reports import service, storage, worker

from .test_service import BAD, GOOD, _actor, commit, csv_bytes, current_customers, partner, sale, upload

__all__ = ["partner"]


@pytest.fixture
def background(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file counts as large: the worker handles it, as it would a 100,000-line file."""
    monkeypatch.setattr(service, "INLINE_BYTES", 10)
    monkeypatch.setattr(service, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(worker, "PROGRESS_INTERVAL_S", 0.0)


def status_of(uow: Any, upload_id: int) -> ReportUpload:
    with uow() as db:
        row = db.get(ReportUpload, upload_id)
        assert row is not None
        db.expunge(row)
        return row


def test_a_large_file_is_queued_checked_in_the_background_and_committed_there(
    uow: Any, state: Any, partner: User, background: None
) -> None:
    many = [sale(f"Customer {n:03d}") for n in range(60)]
    upload_id = upload(uow, partner, csv_bytes(many + BAD))
    queued = status_of(uow, upload_id)
    assert (queued.status, queued.accepted_count) == (UploadStatus.QUEUED, 0)
    with uow() as db:
        waiting = service.progress(db, _actor(db, partner), upload_id)
        assert (waiting["status"], waiting["done"], waiting["size"]) == ("queued", False, queued.size_bytes)
        # The file is kept in chunks, byte for byte.
        assert storage.read_all(db, upload_id) == csv_bytes(many + BAD)

    assert worker.run_pending(state.db) == 1
    checked = status_of(uow, upload_id)
    assert (checked.status, checked.accepted_count, checked.rejected_count) == (UploadStatus.PREVIEWED, 60, 2)
    assert (checked.progress_lines, checked.progress_bytes) == (62, checked.size_bytes)
    with uow() as db:
        done = service.progress(db, _actor(db, partner), upload_id)
        assert (done["done"], done["percent"]) == (True, 100)
        shown = service.preview(db, _actor(db, partner), upload_id)
        assert [entry["row"] for entry in shown.rejected] == [62, 63]

    with uow() as db:
        assert service.commit_upload(db, _actor(db, partner), upload_id) is None  # queued, not stored yet
    assert status_of(uow, upload_id).status is UploadStatus.COMMIT_QUEUED
    with uow() as db, pytest.raises(Conflict):
        service.commit_upload(db, _actor(db, partner), upload_id)  # a second click changes nothing
    assert current_customers(uow) == {}

    assert worker.run_pending(state.db) == 1
    stored = status_of(uow, upload_id)
    assert stored.status is UploadStatus.COMMITTED
    assert len(current_customers(uow)) == 60
    with uow() as db:
        submission = db.get(ReportSubmission, stored.submission_id)
        assert submission is not None
        assert (submission.version, submission.accepted_count, submission.rejected_count, submission.submitted_by_id) == (
            1,
            60,
            2,
            partner.id,
        )
        assert db.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "sell_through_line.upserted")) == 60
    assert worker.run_pending(state.db) == 0  # nothing left


def test_a_file_that_is_no_report_fails_in_the_background_with_its_reason(uow: Any, state: Any, partner: User, background: None) -> None:
    upload_id = upload(uow, partner, b"Date,Thing\n2026-03-01,1\n" * 3)
    worker.run_pending(state.db)
    failed = status_of(uow, upload_id)
    assert failed.status is UploadStatus.FAILED
    assert failed.error_code == "missing_columns"
    with uow() as db:
        shown = service.preview(db, _actor(db, partner), upload_id)
        assert "Required columns not found" in shown.failure_text(service._english)
        with pytest.raises(Conflict):
            service.commit_upload(db, _actor(db, partner), upload_id)


def test_the_same_data_already_submitted_fails_in_the_background(uow: Any, state: Any, partner: User, background: None) -> None:
    first = upload(uow, partner, csv_bytes(GOOD))
    worker.run_pending(state.db)
    with uow() as db:
        service.commit_upload(db, _actor(db, partner), first)
    worker.run_pending(state.db)
    again = upload(uow, partner, csv_bytes(GOOD[::-1]), name="again.csv")  # other bytes, the same lines
    worker.run_pending(state.db)
    with uow() as db:
        shown = service.preview(db, _actor(db, partner), again)
        assert shown.upload.status is UploadStatus.FAILED
        assert "Already submitted: this is the same data as version 1" in shown.failure_text(service._english)


def test_a_commit_that_no_longer_holds_goes_back_to_the_preview_with_the_reason(
    uow: Any, state: Any, partner: User, background: None
) -> None:
    first = upload(uow, partner, csv_bytes(GOOD))
    second = upload(uow, partner, csv_bytes(GOOD[:2]), name="b.csv")  # checked before `first` is stored
    worker.run_pending(state.db)
    assert status_of(uow, second).accepted_count == 2
    with uow() as db:
        service.commit_upload(db, _actor(db, partner), first)
        service.commit_upload(db, _actor(db, partner), second)
    worker.run_pending(state.db)
    assert status_of(uow, first).status is UploadStatus.COMMITTED
    # Both lines of the second file are now in the period's report: nothing to store.
    back = status_of(uow, second)
    assert back.status is UploadStatus.PREVIEWED
    with uow() as db:
        shown = service.preview(db, _actor(db, partner), second)
        assert shown.commit_failure_text(service._english) == "No line of this file was accepted: there is nothing to submit."
        assert db.scalar(select(func.count()).select_from(ReportSubmission)) == 1
    assert set(current_customers(uow)) == {"Alpha Co", "Beta Co", "Gamma Co"}


def test_an_abandoned_claim_is_taken_over_after_the_lease(uow: Any, state: Any, partner: User, background: None) -> None:
    upload_id = upload(uow, partner, csv_bytes(GOOD))
    with uow() as db:  # a worker claimed it and died
        db.execute(update(ReportUpload).values(status=UploadStatus.VALIDATING, worker_seen_at=utcnow() - timedelta(seconds=30)))
    assert worker.run_pending(state.db) == 0  # still within its lease
    with uow() as db:
        db.execute(update(ReportUpload).values(worker_seen_at=utcnow() - worker.LEASE - timedelta(seconds=1)))
    assert worker.run_pending(state.db) == 1
    assert status_of(uow, upload_id).status is UploadStatus.PREVIEWED


def test_the_worker_thread_picks_up_queued_work_when_woken(uow: Any, state: Any, partner: User, background: None) -> None:
    upload_id = upload(uow, partner, csv_bytes(GOOD))
    thread = worker.ReportWorker(state.db, every_s=30.0, wakeup=state.report_wakeup)
    thread.start()
    try:
        state.report_wakeup.set()
        for _ in range(200):
            if status_of(uow, upload_id).status is UploadStatus.PREVIEWED:
                break
            thread.stop.wait(0.05)
        assert status_of(uow, upload_id).status is UploadStatus.PREVIEWED
    finally:
        thread.close()
    assert not thread.thread.is_alive()


def test_rejected_lines_after_the_commit_are_those_of_the_preview(uow: Any, partner: User) -> None:
    commit(uow, partner, upload(uow, partner, csv_bytes([sale("Alpha Co")])))
    upload_id = upload(uow, partner, csv_bytes([sale("Alpha Co"), sale("Omega Co"), *BAD]), name="second.csv")
    with uow() as db:
        before = service.rejected_export(db, _actor(db, partner), upload_id)[2]
    commit(uow, partner, upload_id)
    with uow() as db:
        after = service.rejected_export(db, _actor(db, partner), upload_id)[2]
        assert (
            db.scalar(
                select(func.count())
                .select_from(SellThroughReportLine)
                .join(ReportSubmission)
                .where(ReportSubmission.status == SubmissionStatus.SUBMITTED)
            )
            == 2
        )
    assert after == before
    text = after.decode("utf-8-sig")
    assert "Alpha Co" in text  # the duplicate of the line already submitted
    assert "Delta Co" in text
    assert "Echo Co" in text
    assert "Omega Co" not in text


def test_two_commits_of_the_same_period_at_once_never_fail_with_a_server_error(uow: Any, state: Any, partner: User) -> None:
    """PostgreSQL lets two transactions number the same next version: the second one's INSERT
    waits for the first and then fails on the version's unique key — a Conflict ("try again"),
    not a 500. SQLite writers queue for the write lock instead: the second becomes version 2."""
    import threading

    from portal.partner.models import ReportKind, ReportSource
    from portal.partner.reports.versions import RACED, NewVersion

    def start(db: Any) -> NewVersion:
        return NewVersion(
            db,
            partner="P-100",
            kind=ReportKind.SELL_THROUGH,
            period="2026-01",
            replace=False,
            source=ReportSource.API,
            submitted_by_id=None,
        )

    first_has_flushed = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        with uow() as db:
            outcome["first"] = start(db).submission.version
            first_has_flushed.set()
            time.sleep(0.5)  # the second transaction now waits (unique key, or SQLite's write lock)

    thread = threading.Thread(target=first)
    thread.start()
    first_has_flushed.wait(5)
    try:
        with uow() as db:
            outcome["second"] = start(db).submission.version
    except Conflict as exc:
        outcome["second"] = exc.message
    thread.join(5)
    expected_second = 2 if state.db.url.startswith("sqlite") else RACED
    assert outcome == {"first": 1, "second": expected_second}
