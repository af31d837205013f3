"""Partner report uploads through the service: preview, commit as versions, nothing counts twice."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.customer.models import Product
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.events.models import OutboxEvent
from portal.partner.models import ReportSubmission, ReportUpload, SellThroughReportLine, SubmissionStatus, UploadStatus
from portal.partner.reports import service

SKUS = {"NW-MB-B650": True, "NW-SW-24G": True, "NW-MB-Z390": False}
HEADER = [
    "Sale date",
    "SKU",
    "Quantity",
    "Unit price",
    "Currency",
    "End customer name",
    "Country",
    "Postcode",
    "Serial number",
    "Invoice reference",
]
INV_HEADER = ["As-of date", "Location", "SKU", "Quantity on hand"]


def last_month() -> tuple[str, date]:
    """The previous month as YYYY-MM and its 10th day (always in the past, inside the period)."""
    first = utcnow().date().replace(day=1)
    day = (first - timedelta(days=1)).replace(day=10)
    return f"{day.year:04d}-{day.month:02d}", day


PERIOD, DAY = last_month()


def sale(customer: str, *, sku: str = "NW-MB-B650", quantity: str = "2", invoice: str | None = None, day: date | None = None) -> list[str]:
    return [(day or DAY).isoformat(), sku, quantity, "1299.00", "CNY", customer, "CN", "518000", "", invoice or f"INV-{customer}"]


def csv_bytes(rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


GOOD = [sale("Alpha Co"), sale("Beta Co"), sale("Gamma Co")]
BAD = [sale("Delta Co", sku="NW-XX-404"), sale("Echo Co", quantity="lots")]


def seed_products(uow: Callable[..., Any]) -> None:
    with uow() as db:
        for sku, active in SKUS.items():
            if db.get(Product, sku) is None:
                db.add(Product(sku=sku, name=sku, category="boards", warranty_months=24, active=active, updated_at=utcnow()))


@pytest.fixture
def partner(uow: Any, make_account: Any, make_user: Any) -> User:
    make_account("P-100", "partner")
    seed_products(uow)
    return make_user("pia@partner.example", Role.PARTNER, account_id="P-100")  # type: ignore[no-any-return]


def _actor(db: Any, user: User) -> User:
    found = db.get(User, user.id)
    assert found is not None
    return found  # type: ignore[no-any-return]


def upload(uow: Any, user: User, data: bytes, *, mode: str = "add", kind: str = "sell_through", name: str = "march.csv") -> int:
    with uow() as db:
        row = service.start_upload(db, _actor(db, user), kind=kind, period=PERIOD, mode=mode, filename=name, stream=io.BytesIO(data))
        return row.id


def commit(uow: Any, user: User, upload_id: int) -> ReportSubmission:
    with uow() as db:
        submission = service.commit_upload(db, _actor(db, user), upload_id)
        db.expunge(submission)
        return submission


def current_customers(uow: Any) -> dict[str, int]:
    with uow() as db:
        stmt = (
            select(SellThroughReportLine.end_customer_name, SellThroughReportLine.quantity)
            .join(ReportSubmission, ReportSubmission.id == SellThroughReportLine.submission_id)
            .where(ReportSubmission.status == SubmissionStatus.SUBMITTED)
        )
        return {str(k): int(v) for k, v in db.execute(stmt)}


def outbox(uow: Any) -> list[tuple[str, int, bool, int]]:
    """(customer, seq, withdrawn, quantity) of every line event, in order."""
    with uow() as db:
        rows = db.scalars(select(OutboxEvent).where(OutboxEvent.type == "sell_through_line.upserted").order_by(OutboxEvent.id))
        return [(r.payload["end_customer_name"], r.seq, r.payload["withdrawn"], r.payload["quantity"]) for r in rows]


def test_preview_lists_each_rejection_with_its_reason(uow: Any, partner: User) -> None:
    upload_id = upload(uow, partner, csv_bytes(GOOD + BAD))
    with uow() as db:
        shown = service.preview(db, _actor(db, partner), upload_id)
        reasons = {entry["row"]: shown.reasons(entry, service._english) for entry in shown.rejected}
    assert (shown.upload.accepted_count, shown.upload.rejected_count) == (3, 2)
    assert [a["values"]["customer_name"] for a in shown.accepted] == ["Alpha Co", "Beta Co", "Gamma Co"]
    assert reasons == {5: ["SKU: Unknown SKU “NW-XX-404”."], 6: ["Quantity: “lots” is not a number."]}
    with uow() as db:
        assert db.scalar(select(func.count()).select_from(ReportSubmission)) == 0


def test_commit_creates_version_one_with_its_lines_and_events(uow: Any, partner: User) -> None:
    submission = commit(uow, partner, upload(uow, partner, csv_bytes(GOOD + BAD)))
    assert (submission.version, submission.status, submission.accepted_count, submission.rejected_count) == (
        1,
        SubmissionStatus.SUBMITTED,
        3,
        2,
    )
    assert submission.quality_score == 60
    assert current_customers(uow) == {"Alpha Co": 2, "Beta Co": 2, "Gamma Co": 2}
    assert sorted(outbox(uow)) == [("Alpha Co", 1, False, 2), ("Beta Co", 1, False, 2), ("Gamma Co", 1, False, 2)]
    with uow() as db:
        event = db.scalars(select(OutboxEvent).where(OutboxEvent.type == "sell_through_line.upserted")).first()
        assert event is not None
        assert event.type == "sell_through_line.upserted"
        assert event.aggregate_id == service.line_external_id("P-100", "sell_through", event.payload["line_key"])
        assert db.scalar(select(ReportUpload.status)) is UploadStatus.COMMITTED


def test_the_same_file_or_the_same_data_again_is_already_submitted(uow: Any, partner: User) -> None:
    data = csv_bytes(GOOD + BAD)
    commit(uow, partner, upload(uow, partner, data))
    with pytest.raises(Invalid) as same_file:
        upload(uow, partner, data)
    assert "Already submitted: you sent this file" in same_file.value.errors["file"]
    reordered = csv_bytes(list(reversed(GOOD)), header=HEADER).replace(b"\r\n", b"\n")
    with pytest.raises(Invalid) as same_data:
        upload(uow, partner, reordered)
    assert "same data as version 1" in same_data.value.errors["file"]
    assert len(outbox(uow)) == 3
    with uow() as db:
        assert db.scalar(select(func.count()).select_from(ReportSubmission)) == 1


def test_committing_twice_or_nothing_accepted_is_refused(uow: Any, partner: User) -> None:
    upload_id = upload(uow, partner, csv_bytes(GOOD))
    commit(uow, partner, upload_id)
    with pytest.raises(Conflict):
        commit(uow, partner, upload_id)
    only_bad = upload(uow, partner, csv_bytes(BAD))
    with pytest.raises(Conflict, match="nothing to submit"):
        commit(uow, partner, only_bad)
    assert len(outbox(uow)) == 3


def test_fixed_rejected_lines_are_added_to_the_period_as_version_two(uow: Any, partner: User) -> None:
    commit(uow, partner, upload(uow, partner, csv_bytes(GOOD + BAD)))
    fixed = [sale("Delta Co"), sale("Echo Co", quantity="1"), sale("Alpha Co")]  # Alpha Co: already in the report
    upload_id = upload(uow, partner, csv_bytes(fixed), mode="add", name="fixed.csv")
    with uow() as db:
        shown = service.preview(db, _actor(db, partner), upload_id)
        assert [shown.reasons(e, service._english) for e in shown.rejected] == [
            ["This line has already been accepted in an earlier report."]
        ]
    v2 = commit(uow, partner, upload_id)
    assert (v2.version, v2.accepted_count) == (2, 5)
    assert current_customers(uow) == {"Alpha Co": 2, "Beta Co": 2, "Gamma Co": 2, "Delta Co": 2, "Echo Co": 1}
    assert sorted(e for e in outbox(uow) if e[1] == 2) == [("Delta Co", 2, False, 2), ("Echo Co", 2, False, 1)]
    with uow() as db:
        statuses = {int(k): v for k, v in db.execute(select(ReportSubmission.version, ReportSubmission.status))}
    assert statuses == {1: SubmissionStatus.SUPERSEDED, 2: SubmissionStatus.SUBMITTED}


def test_replacing_the_period_withdraws_missing_lines(uow: Any, partner: User) -> None:
    commit(uow, partner, upload(uow, partner, csv_bytes(GOOD)))
    corrected = [sale("Alpha Co", quantity="5"), sale("Beta Co")]  # Gamma Co is gone
    upload_id = upload(uow, partner, csv_bytes(corrected), mode="replace", name="corrected.csv")
    with uow() as db:
        assert service.preview(db, _actor(db, partner), upload_id).upload.accepted_count == 2  # no "duplicate" of v1
    v2 = commit(uow, partner, upload_id)
    assert (v2.version, v2.accepted_count) == (2, 2)
    assert current_customers(uow) == {"Alpha Co": 5, "Beta Co": 2}
    assert sorted(e for e in outbox(uow) if e[1] == 2) == [("Alpha Co", 2, False, 5), ("Beta Co", 2, False, 2), ("Gamma Co", 2, True, 0)]


def test_a_line_accepted_in_another_period_is_a_duplicate(uow: Any, partner: User) -> None:
    commit(uow, partner, upload(uow, partner, csv_bytes(GOOD)))
    earlier = (DAY.replace(day=1) - timedelta(days=1)).replace(day=10)
    with uow() as db:
        other = service.start_upload(
            db,
            _actor(db, partner),
            kind="sell_through",
            period=f"{earlier.year:04d}-{earlier.month:02d}",
            mode="replace",
            filename="feb.csv",
            stream=io.BytesIO(csv_bytes([sale("Alpha Co", day=earlier), sale("Zulu Co", day=earlier)])),
        )
        assert (other.accepted_count, other.rejected_count) == (2, 0)  # other dates: other lines


def test_file_and_form_errors(uow: Any, partner: User) -> None:
    with uow() as db, pytest.raises(Invalid) as form:
        service.start_upload(db, _actor(db, partner), kind="orders", period="March", mode="merge", filename="", stream=None)
    assert set(form.value.errors) == {"kind", "period", "mode", "file"}
    with pytest.raises(Invalid) as columns:
        upload(uow, partner, b"Date,Thing\n2026-03-01,1\n")
    assert "Required columns not found" in columns.value.errors["file"]


def test_rejected_export_holds_the_rejected_rows_with_reasons(uow: Any, partner: User) -> None:
    upload_id = upload(uow, partner, csv_bytes(GOOD + BAD))
    with uow() as db:
        filename, content_type, data = service.rejected_export(db, _actor(db, partner), upload_id)
    assert filename == "march-rejected.csv"
    assert content_type.startswith("text/csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [*HEADER, "Error"]
    assert [(r[5], r[-1]) for r in rows[1:]] == [
        ("Delta Co", "SKU: Unknown SKU “NW-XX-404”."),
        ("Echo Co", "Quantity: “lots” is not a number."),
    ]


def test_inventory_upload_and_templates(uow: Any, partner: User) -> None:
    data = csv_bytes([[DAY.isoformat(), "Shenzhen", "NW-SW-24G", "12"]], header=INV_HEADER)
    submission = commit(uow, partner, upload(uow, partner, data, kind="inventory"))
    assert submission.accepted_count == 1
    with uow() as db:
        event = db.scalars(select(OutboxEvent).where(OutboxEvent.type == "inventory_line.upserted")).one()
    assert (event.type, event.payload["quantity_on_hand"], event.payload["location"]) == ("inventory_line.upserted", 12, "Shenzhen")
    name, _, body = service.template_file("inventory", "csv", "zh")
    assert name.endswith("-zh.csv")
    assert "截至日期" in body.decode("utf-8-sig")
    with pytest.raises(NotFound):
        service.template_file("inventory", "pdf", "en")


def test_another_partner_or_a_customer_finds_nothing(uow: Any, partner: User, make_account: Any, make_user: Any) -> None:
    upload_id = upload(uow, partner, csv_bytes(GOOD))
    make_account("P-200", "partner")
    make_account("C-300", "customer")
    other = make_user("otto@other.example", Role.PARTNER_ADMIN, account_id="P-200")
    customer = make_user("cleo@customer.example", Role.CUSTOMER, account_id="C-300")
    for user in (other, customer):
        with uow() as db:
            for call in (service.preview, service.commit_upload, service.rejected_export):
                with pytest.raises(NotFound):
                    call(db, _actor(db, user), upload_id)
            assert service.submissions(db, _actor(db, other)) == []
            break
    with uow() as db, pytest.raises(NotFound):
        service.submissions(db, _actor(db, customer))


def test_nul_characters_in_a_csv_are_dropped_not_stored(uow: Any, partner: User) -> None:
    # A NUL at the head of a file makes it "not a CSV"; further down it is a stray byte.
    others = [sale(f"Customer {n}") for n in range(1500)]
    data = csv_bytes([*others, sale("Alpha\x00 Co")])
    submission = commit(uow, partner, upload(uow, partner, data))
    assert submission.accepted_count == 1501
    assert "Alpha Co" in current_customers(uow)
