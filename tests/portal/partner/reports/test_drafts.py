"""Web-form report drafts through the service: lines kept as typed, checked by the one
validation, submitted through the upload commit path, nothing stored while a line is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.errors import Invalid, NotFound
from portal.events.models import OutboxEvent
from portal.partner.models import (
    InventoryReportLine,
    ReportSource,
    ReportSubmission,
    ReportUpload,
    SellThroughReportLine,
    SubmissionStatus,
    UploadStatus,
)
from portal.partner.reports import drafts, service
from tests.portal.partner.reports.test_service import DAY, HEADER, PERIOD, _actor, csv_bytes, partner, sale, upload

__all__ = ["partner"]  # the fixture

NAMES = [c.name for c in drafts.columns(service.ReportKind.SELL_THROUGH)]


def line(customer: str, **changes: Any) -> dict[str, str]:
    return {**dict(zip(NAMES, sale(customer), strict=True)), **changes}


def new_draft(uow: Any, user: User, kind: str = "sell_through", period: str = PERIOD) -> int:
    with uow() as db:
        return drafts.create_draft(db, _actor(db, user), kind=kind, period=period).id


def save(uow: Any, user: User, draft_id: int, lines: list[dict[str, str]], first: int = 0) -> None:
    with uow() as db:
        drafts.save_lines(db, _actor(db, user), draft_id, first, lines)


def stored(uow: Any, user: User, draft_id: int) -> list[dict[str, str]]:
    with uow() as db:
        return drafts.lines_of(drafts.get_draft(db, _actor(db, user), draft_id))


def counts(uow: Any) -> tuple[int, int, int]:
    """(submissions, sell-through lines, uploads other than drafts)."""
    with uow() as db:
        return (
            db.scalar(select(func.count()).select_from(ReportSubmission)) or 0,
            db.scalar(select(func.count()).select_from(SellThroughReportLine)) or 0,
            db.scalar(select(func.count()).select_from(ReportUpload).where(ReportUpload.status != UploadStatus.DRAFT)) or 0,
        )


def test_a_new_draft_keeps_its_kind_period_and_blank_lines(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    with uow() as db:
        draft = drafts.get_draft(db, _actor(db, partner), draft_id)
        assert (draft.kind, draft.period, draft.status, draft.source, draft.filename, draft.sha256) == (
            service.ReportKind.SELL_THROUGH,
            PERIOD,
            UploadStatus.DRAFT,
            ReportSource.FORM,
            "web-form.csv",
            "",
        )
        assert [d.id for d in drafts.open_drafts(db, _actor(db, partner))] == [draft_id]
    assert stored(uow, partner, draft_id) == [dict.fromkeys(NAMES, "")] * drafts.NEW_DRAFT_LINES


def test_kind_and_period_are_checked(uow: Any, partner: User) -> None:
    with uow() as db, pytest.raises(Invalid) as caught:
        drafts.create_draft(db, _actor(db, partner), kind="orders", period="soon")
    assert set(caught.value.errors) == {"kind", "period"}


def test_lines_are_saved_edited_added_and_removed(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    save(uow, partner, draft_id, [line("Alpha Co"), line("Beta Co\twith a tab")])
    assert [row["customer_name"] for row in stored(uow, partner, draft_id)] == ["Alpha Co", "Beta Co with a tab", ""]
    save(uow, partner, draft_id, [line("Bravo Co")], first=1)  # edit the second line only
    with uow() as db:
        index = drafts.add_line(db, _actor(db, partner), draft_id)
    assert index == 3
    with uow() as db:
        drafts.remove_line(db, _actor(db, partner), draft_id, 0)
    assert [row["customer_name"] for row in stored(uow, partner, draft_id)] == ["Bravo Co", "", ""]
    with uow() as db, pytest.raises(NotFound):
        drafts.remove_line(db, _actor(db, partner), draft_id, 7)


def test_a_draft_holds_at_most_200_lines(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    save(uow, partner, draft_id, [line(f"Customer {i}") for i in range(drafts.MAX_LINES)])
    with uow() as db, pytest.raises(Invalid) as caught:
        drafts.add_line(db, _actor(db, partner), draft_id)
    assert caught.value.errors == {"lines": drafts.TOO_MANY_LINES}
    assert "for more, upload a file" in drafts.TOO_MANY_LINES % {"max": 200}
    with uow() as db, pytest.raises(Invalid):
        drafts.save_lines(db, _actor(db, partner), draft_id, 200, [line("One too many")])
    assert len(stored(uow, partner, draft_id)) == 200


def test_check_maps_every_problem_to_its_line_and_column(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    rows = [
        line("Alpha Co"),
        dict.fromkeys(NAMES, ""),  # blank: left out, not an error
        line("Bad Sku Co", sku="NW-XX-404"),
        line("Bad Date Co", sold_on="2026-02-30"),
        line("Bad Qty Co", quantity="-3"),
        line("Alpha Co"),  # the same as line 1
    ]
    save(uow, partner, draft_id, rows)
    with uow() as db:
        checked = drafts.check(db, _actor(db, partner), draft_id)
    found = {(p.line, p.field, p.code) for p in checked.problems}
    assert found == {
        (2, "sku", "sku_unknown"),
        (3, "sold_on", "date_invalid"),
        (4, "quantity", "quantity_negative"),
        (5, None, "duplicate_in_file"),
    }
    texts = {p.line: p.text(service._english) for p in checked.problems}
    assert texts[2] == "Unknown SKU “NW-XX-404”."
    assert texts[5] == "The same line as line 1 of this report."
    assert (checked.lines, checked.accepted, checked.ok) == (5, 1, False)


def test_submitting_with_a_wrong_line_stores_nothing(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    save(uow, partner, draft_id, [line("Alpha Co"), line("Bad Co", sku="NW-XX-404")])
    with uow() as db, pytest.raises(drafts.LinesRejected) as caught:
        drafts.submit(db, _actor(db, partner), draft_id)
    assert [(p.line, p.code) for p in caught.value.check.problems] == [(1, "sku_unknown")]
    assert counts(uow) == (0, 0, 0)
    with uow() as db:
        assert drafts.get_draft(db, _actor(db, partner), draft_id).status is UploadStatus.DRAFT


def test_an_empty_draft_has_nothing_to_submit(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    with uow() as db, pytest.raises(drafts.LinesRejected) as caught:
        drafts.submit(db, _actor(db, partner), draft_id)
    assert caught.value.errors == {"lines": drafts.NOTHING_TO_SUBMIT}
    assert counts(uow) == (0, 0, 0)


def test_submit_stores_a_form_version_with_its_lines_and_events(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    save(
        uow, partner, draft_id, [line("Alpha Co"), dict.fromkeys(NAMES, ""), line("Beta Co", quantity="5", currency="cny", country="China")]
    )
    with uow() as db:
        submission = drafts.submit(db, _actor(db, partner), draft_id)
        assert (submission.source, submission.version, submission.status, submission.accepted_count, submission.rejected_count) == (
            ReportSource.FORM,
            1,
            SubmissionStatus.SUBMITTED,
            2,
            0,
        )
        assert submission.filename == "web-form.csv"
        lines = {
            line.end_customer_name: (line.quantity, line.currency, line.end_customer_country, line.sold_on)
            for line in db.scalars(select(SellThroughReportLine))
        }
        assert lines == {"Alpha Co": (2, "CNY", "CN", DAY), "Beta Co": (5, "CNY", "CN", DAY)}
        events = db.scalars(select(OutboxEvent.type).where(OutboxEvent.type == "sell_through_line.upserted")).all()
        assert len(events) == 2
        draft = db.get(ReportUpload, draft_id)
        assert draft is not None
        assert (draft.status, draft.submission_id) == (UploadStatus.COMMITTED, submission.id)
        assert drafts.open_drafts(db, _actor(db, partner)) == []
    with uow() as db, pytest.raises(NotFound):
        drafts.get_draft(db, _actor(db, partner), draft_id)  # submitted: no longer a draft


def test_lines_already_accepted_are_duplicates(uow: Any, partner: User) -> None:
    upload_id = upload(uow, partner, csv_bytes([sale("Alpha Co")], HEADER))
    with uow() as db:
        service.commit_upload(db, _actor(db, partner), upload_id)
    draft_id = new_draft(uow, partner)
    save(uow, partner, draft_id, [line("Alpha Co")])
    with uow() as db, pytest.raises(drafts.LinesRejected) as caught:
        drafts.submit(db, _actor(db, partner), draft_id)
    assert [p.code for p in caught.value.check.problems] == ["duplicate_accepted"]
    assert counts(uow)[0] == 1


def test_values_full_of_separators_stay_in_their_column(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    tricky = "Comma, Semi; Co, a, b, c, d, e, f, g, h, i, j; k; l; m; n; o; p; q; r; s"
    save(uow, partner, draft_id, [line(tricky, invoice_ref='INV "7"', postcode="518000")])
    with uow() as db:
        submission = drafts.submit(db, _actor(db, partner), draft_id)
        assert submission.accepted_count == 1
        stored_line = db.scalars(select(SellThroughReportLine)).one()
        assert (stored_line.end_customer_name, stored_line.invoice_ref) == (tricky, 'INV "7"')


def test_inventory_drafts(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner, kind="inventory")
    save(uow, partner, draft_id, [{"as_of": DAY.isoformat(), "location": "Shenzhen 仓库", "sku": "nw-sw-24g", "quantity": "1,200"}])
    with uow() as db:
        submission = drafts.submit(db, _actor(db, partner), draft_id)
        assert (submission.kind, submission.source) == (service.ReportKind.INVENTORY, ReportSource.FORM)
        stored_line = db.scalars(select(InventoryReportLine)).one()
        assert (stored_line.location, stored_line.sku, stored_line.quantity_on_hand) == ("Shenzhen 仓库", "NW-SW-24G", 1200)


def test_another_partner_or_a_customer_finds_nothing(uow: Any, partner: User, make_account: Any, make_user: Any) -> None:
    draft_id = new_draft(uow, partner)
    make_account("P-200", "partner")
    other = make_user("omar@other.example", Role.PARTNER, account_id="P-200")
    customer = make_user("cara@customer.example")
    for user in (other, customer):
        with uow() as db:
            actor = _actor(db, user)
            with pytest.raises(NotFound):
                drafts.get_draft(db, actor, draft_id)
            with pytest.raises(NotFound):
                drafts.save_lines(db, actor, draft_id, 0, [line("Intruder")])
            with pytest.raises(NotFound):
                drafts.submit(db, actor, draft_id)
            with pytest.raises(NotFound):
                drafts.discard(db, actor, draft_id)
    with uow() as db:
        assert drafts.open_drafts(db, _actor(db, other)) == []
    assert stored(uow, partner, draft_id)[0]["customer_name"] == ""


def test_a_discarded_draft_is_gone(uow: Any, partner: User) -> None:
    draft_id = new_draft(uow, partner)
    with uow() as db:
        drafts.discard(db, _actor(db, partner), draft_id)
    with uow() as db:
        assert drafts.open_drafts(db, _actor(db, partner)) == []
        with pytest.raises(NotFound):
            drafts.get_draft(db, _actor(db, partner), draft_id)
        assert db.get(ReportUpload, draft_id).status is UploadStatus.DISCARDED  # type: ignore[union-attr]
