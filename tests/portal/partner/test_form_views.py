"""Partner reports filled in online, over HTTP: start a draft, edit its lines, save, check (the
reason beside the wrong value, nothing stored), fix, submit; another partner finds nothing."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.events.models import OutboxEvent
from portal.partner import form_views
from portal.partner.models import ReportKind, ReportSource, ReportSubmission, ReportUpload, SellThroughReportLine, UploadStatus
from portal.partner.reports import drafts
from tests.portal.partner.reports.test_service import PERIOD, sale, seed_products

NAMES = [c.name for c in drafts.columns(drafts.ReportKind.SELL_THROUGH)]


def _partner(
    make_client: Any, uow: Any, make_account: Any, make_user: Any, email: str = "pia@partner.example", account: str = "P-100"
) -> Any:
    make_account(account, "partner")
    seed_products(uow)
    make_user(email, Role.PARTNER, account_id=account)
    web = make_client()
    web.login(email)
    return web


def _start(web: Any, kind: str = "sell_through", period: str = PERIOD) -> str:
    created = web.submit("/partner/reports/new", {"kind": kind, "period": period}, form_page="/partner/reports/new")
    assert created.status_code == 303, created.text[:300]
    assert re.fullmatch(r"/partner/reports/drafts/\d+", created.headers["location"])
    return str(created.headers["location"])


def _fields(page: str) -> dict[str, str]:
    """What the browser would send back: the hidden fields and every line's inputs, as shown."""
    fields = dict(re.findall(r'<input type="hidden" name="(first|count|csrf_token)" value="([^"]*)"', page))
    for name, value in re.findall(r'<input id="c-[^"]+" name="(l\d+-[a-z_]+)" value="([^"]*)"', page):
        fields[name] = value.replace("&#34;", '"').replace("&amp;", "&").replace("&#39;", "'")
    return fields


def _lines(*rows: list[str], first: int = 0) -> dict[str, str]:
    return {f"l{first + i}-{name}": value for i, row in enumerate(rows) for name, value in zip(NAMES, row, strict=True)}


def _post(web: Any, draft: str, changes: dict[str, str], action: str) -> Any:
    page = web.get(draft.split("#")[0]).text
    return web.post(draft.split("?")[0], data={**_fields(page), **changes, "action": action}, follow_redirects=False)


def _stored(uow: Any) -> tuple[int, int]:
    with uow() as db:
        return (
            db.scalar(select(func.count()).select_from(ReportSubmission)) or 0,
            db.scalar(select(func.count()).select_from(SellThroughReportLine)) or 0,
        )


def test_fill_in_check_fix_and_submit(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner(make_client, uow, make_account, make_user)
    assert "/partner/reports/new" in web.get("/partner/reports").text
    new_page = web.get("/partner/reports/new")
    assert new_page.status_code == 200
    draft = _start(web)

    page = web.get(draft).text
    assert '<th scope="col">End customer name</th>' in page
    assert '<label class="visually-hidden" for="c-0-sku">SKU, line 1</label>' in page
    assert 'inputmode="numeric"' in page
    assert 'type="date"' in page
    for button in ("Add a line", "Save draft", "Check and submit"):
        assert button in page

    # Type two lines and save the draft: it comes back as typed.
    saved = _post(web, draft, _lines(sale("Alpha Co"), sale("Bad Sku Co", sku="NW-XX-404")), "save")
    assert saved.status_code == 303
    page = web.get(saved.headers["location"]).text
    assert "Draft saved." in page
    assert 'value="Bad Sku Co"' in page
    assert 'value="NW-XX-404"' in page

    # Add a line (it goes to the end), fill it with a bad quantity and a duplicate below it.
    added = _post(web, draft, {}, "add")
    assert added.status_code == 303
    assert added.headers["location"].endswith("#c-3-sold_on")
    four = _post(
        web,
        draft,
        _lines(sale("Bad Qty Co", quantity="2.5"), first=2) | _lines(sale("Alpha Co"), first=3),
        "submit",
    )
    assert four.status_code == 422
    body = four.text
    assert "Please correct the following" in body
    assert "Nothing has been submitted." in body
    # The reason is beside the value, tied to its input, and the summary links to it.
    assert re.search(r'id="c-1-sku"[^>]*aria-invalid="true"[^>]*aria-describedby="e-c-1-sku"', body)
    assert '<p class="field-error" id="e-c-1-sku">Unknown SKU “NW-XX-404”.</p>' in body
    assert '<a href="#c-1-sku">Line 2, SKU: Unknown SKU “NW-XX-404”.</a>' in body
    assert "“2.5” is not a whole number." in body
    assert "The same line as line 1 of this report." in body
    assert 'value="Bad Qty Co"' in body  # everything typed is still there
    assert _stored(uow) == (0, 0)

    # Remove the duplicate, fix the other two, submit.
    removed = _post(web, draft, {}, "remove-3")
    assert removed.status_code == 303
    assert "Line 4 removed." in web.get(removed.headers["location"]).text
    fixed = _post(web, draft, {"l1-sku": "NW-SW-24G", "l2-quantity": "3"}, "submit")
    assert fixed.status_code == 303, fixed.text[:2000]
    assert fixed.headers["location"] == "/partner/reports"
    listing = web.get("/partner/reports").text
    assert "submitted as version 1: 3 lines." in listing
    assert "web-form.csv" in listing
    with uow() as db:
        submission = db.scalars(select(ReportSubmission)).one()
        assert (submission.source, submission.accepted_count, submission.period) == (ReportSource.FORM, 3, PERIOD)
        lines = {(line.end_customer_name, line.sku, line.quantity) for line in db.scalars(select(SellThroughReportLine))}
        assert lines == {("Alpha Co", "NW-MB-B650", 2), ("Bad Sku Co", "NW-SW-24G", 2), ("Bad Qty Co", "NW-MB-B650", 3)}
        assert db.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "sell_through_line.upserted")) == 3
        assert db.scalar(select(ReportUpload.status).where(ReportUpload.id == int(draft.rsplit("/", 1)[1]))) is UploadStatus.COMMITTED
    assert "Drafts not yet submitted" not in web.get("/partner/reports/new").text
    assert web.get(draft).status_code == 404  # a submitted draft is no longer editable


def test_bad_kind_or_period_keeps_the_input(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner(make_client, uow, make_account, make_user)
    bad = web.submit("/partner/reports/new", {"kind": "sell_through", "period": "soon"}, form_page="/partner/reports/new")
    assert bad.status_code == 422
    assert "Enter the period as YYYY-MM" in bad.text
    assert 'value="soon"' in bad.text
    with uow() as db:
        assert db.scalars(select(ReportUpload)).first() is None


def test_drafts_are_listed_and_can_be_discarded(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner(make_client, uow, make_account, make_user)
    draft = _start(web, kind="inventory")
    listed = web.get("/partner/reports/new").text
    assert "Drafts not yet submitted" in listed
    assert f'href="{draft}"' in listed
    assert '<th scope="col">Quantity on hand</th>' in web.get(draft).text
    gone = web.submit(draft + "/discard", {}, form_page=draft)
    assert (gone.status_code, gone.headers["location"]) == (303, "/partner/reports")
    assert web.get(draft).status_code == 404
    assert "Drafts not yet submitted" not in web.get("/partner/reports/new").text


def test_another_partner_cannot_see_or_change_a_draft(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    owner = _partner(make_client, uow, make_account, make_user)
    draft = _start(owner)
    _post(owner, draft, _lines(sale("Alpha Co")), "save")
    other = _partner(make_client, uow, make_account, make_user, email="omar@other.example", account="P-200")
    assert other.get(draft).status_code == 404
    token = other.csrf("/partner/reports/new")
    for path, data in ((draft, {**_lines(sale("Intruder Co")), "action": "submit", "first": "0", "count": "1"}), (draft + "/discard", {})):
        refused = other.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
        assert refused.status_code == 404
    assert f'href="{draft}"' not in other.get("/partner/reports/new").text
    assert 'value="Alpha Co"' in owner.get(draft).text
    assert _stored(uow) == (0, 0)


def test_the_200_line_cap(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner(make_client, uow, make_account, make_user)
    draft = _start(web)
    draft_id = int(draft.rsplit("/", 1)[1])
    with uow() as db:
        row = db.get(ReportUpload, draft_id)
        row.summary = {**row.summary, "form_rows": [dict(zip(NAMES, sale(f"Customer {i}"), strict=True)) for i in range(drafts.MAX_LINES)]}
    size = form_views.lines_per_page(ReportKind.SELL_THROUGH)
    assert size == 59  # FORM_FIELDS 600 over 10 columns, less the buttons
    page = web.get(draft).text
    assert "Add a line" not in page
    assert f"Lines 1 to {size} of 200" in page
    refused = _post(web, draft, {}, "add")
    assert refused.status_code == 422
    assert "A report filled in online has at most 200 lines: for more, upload a file." in refused.text
    # Pages of lines: the last page holds line 200; moving there saves the page shown.
    moved = _post(web, draft, {"l0-customer_name": "Changed Co"}, "page-4")
    assert moved.status_code == 303
    last = web.get(moved.headers["location"]).text
    assert f"Lines {3 * size + 1} to 200 of 200" in last
    assert 'value="Customer 199"' in last
    assert 'value="Changed Co"' in web.get(draft).text


def test_errors_on_another_page_link_to_it(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner(make_client, uow, make_account, make_user)
    draft = _start(web)
    draft_id = int(draft.rsplit("/", 1)[1])
    rows = [dict(zip(NAMES, sale(f"Customer {i}"), strict=True)) for i in range(80)]
    rows[65]["sku"] = "NW-XX-404"
    with uow() as db:
        row = db.get(ReportUpload, draft_id)
        row.summary = {**row.summary, "form_rows": rows}
    checked = _post(web, draft, {"l0-currency": "XYZ"}, "submit")
    assert checked.status_code == 422
    # The first page shows its own bad cell; the summary links to the other page's one.
    assert '<a href="#c-0-currency">' in checked.text
    assert f'href="{draft}?page=2&amp;check=1#c-65-sku"' in checked.text
    page_two = web.get(f"{draft}?page=2&check=1").text
    assert '<p class="field-error" id="e-c-65-sku">Unknown SKU “NW-XX-404”.</p>' in page_two
    assert _stored(uow) == (0, 0)


def test_the_form_in_chinese(make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    web = _partner(make_client, uow, make_account, make_user)
    web.submit("/language", {"locale": "zh", "next": "/partner/reports/new"})
    page = web.get("/partner/reports/new")
    assert page.status_code == 200
    assert '<html lang="zh-Hans">' in page.text
    draft = _start(web)
    form = web.get(draft)
    assert form.status_code == 200
    assert '<html lang="zh-Hans">' in form.text
    checked = _post(web, draft, _lines(sale("Bad Sku Co", sku="NW-XX-404")), "submit")
    assert checked.status_code == 422
    assert "NW-XX-404" in checked.text
