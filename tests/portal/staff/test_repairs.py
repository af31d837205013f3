"""The staff repair desk over HTTP: queues, receiving by scan, one RMA with moves, notes, quotes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import EventSource, RmaEvent, RmaUnit
from tests.portal.repairs.test_desk import make_rma

S = RmaStatus


def _staff(make_client: Any, make_user: Any, uow: Any, *, locale: str = "en") -> Any:
    staff = make_user("sam@northwind.example", Role.STAFF, name="Sam Desk", locale=locale)
    secret = pyotp.random_base32()
    with uow() as session:
        row = session.get(User, staff.id)
        row.totp_secret, row.totp_enabled = secret, True
    web = make_client()
    web.login("sam@northwind.example")
    web.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    return web


@pytest.fixture
def desk_client(make_client: Any, make_user: Any, uow: Any) -> Any:
    return _staff(make_client, make_user, uow)


def status_of(uow: Any, unit_number: str) -> RmaStatus:
    with uow() as db:
        return db.scalar(select(RmaUnit.status).where(RmaUnit.unit_number == unit_number))  # type: ignore[no-any-return]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_the_queue_page_lists_units_with_their_age_and_flags(make_client: Any, make_user: Any, uow: Any, locale: str) -> None:
    with uow() as db:
        make_rma(db, "RMA-LATE01", ago=timedelta(days=3, hours=1))
        make_rma(db, "RMA-OK0001", [S.AWAITING_UNIT], ago=timedelta(days=2))
    web = _staff(make_client, make_user, uow, locale=locale)
    page = web.get("/staff/repairs")
    assert page.status_code == 200
    assert f'lang="{"zh-Hans" if locale == "zh" else "en"}"' in page.text
    assert "RMA-LATE01-1" in page.text
    assert "RMA-OK0001-1" in page.text
    assert page.text.index("RMA-LATE01-1") < page.text.index("RMA-OK0001-1")  # oldest first
    assert "SN-LATE01-1" in page.text
    assert "ann@alpha.example" in page.text
    if locale == "en":
        text = text_of(page.text)
        assert "Escalated to supervisor" in text
        assert "3 days" in text
        assert "2 days" in text
        assert "Overdue (1)" in text
        escalated = text_of(web.get("/staff/repairs?queue=escalated").text)
        assert "RMA-LATE01-1" in escalated
        assert "RMA-OK0001-1" not in escalated
    found = web.get("/staff/repairs?q=sn-ok0001-1").text
    assert "RMA-OK0001-1" in found
    assert "RMA-LATE01-1" not in found


def test_the_queue_has_an_empty_state_and_pages(desk_client: Any, uow: Any) -> None:
    assert "No units in this queue." in desk_client.get("/staff/repairs?queue=repairing").text
    with uow() as db:
        for n in range(26):
            make_rma(db, f"RMA-PAGE{n:02d}", ago=timedelta(minutes=100 - n))
    first = desk_client.get("/staff/repairs").text
    assert "RMA-PAGE24" in first
    assert "RMA-PAGE25" not in first
    assert "RMA-PAGE25" in desk_client.get("/staff/repairs?queue=open&page=2").text


def test_scanning_an_rma_number_receives_it_and_opens_the_rma(desk_client: Any, uow: Any, outbox_mail: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-SCAN01", [S.AWAITING_UNIT, S.AWAITING_UNIT])
    form = desk_client.get("/staff/repairs/receive").text
    assert re.search(r'<input id="f-code" name="code"[^>]* autofocus', form)
    response = desk_client.submit("/staff/repairs/receive", {"code": "rma-scan01"}, form_page="/staff/repairs/receive")
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/repairs/RMA-SCAN01"
    page = desk_client.get("/staff/repairs/RMA-SCAN01").text
    assert "Received 2 units of RMA-SCAN01." in page
    assert "Received at the repair centre" in page
    assert status_of(uow, "RMA-SCAN01-2") is S.RECEIVED
    assert [m["To"] for m in outbox_mail()] == ["ann@alpha.example"]


def test_bulk_receiving_shows_a_line_per_code(desk_client: Any, uow: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-BULK01", [S.APPROVED])
        make_rma(db, "RMA-BULK02", [S.REPAIRING])
        make_rma(db, "RMA-BULK03", [S.CANCELLED])
    codes = "RMA-BULK01\nRMA-BULK02\nnot-a-code\nRMA-BULK03\n"
    response = desk_client.submit("/staff/repairs/receive", {"code": "", "codes": codes}, form_page="/staff/repairs/receive")
    assert response.status_code == 200
    text = text_of(response.text)
    assert "RMA-BULK01: received 1 unit." in text
    assert "RMA-BULK02: already received." in text
    assert "NOT-A-CODE: unknown code." in text
    assert "RMA-BULK03: not receivable in state “Cancelled”." in text
    assert status_of(uow, "RMA-BULK01-1") is S.RECEIVED
    empty = desk_client.submit("/staff/repairs/receive", {"code": " ", "codes": ""}, form_page="/staff/repairs/receive")
    assert empty.status_code == 422
    assert "Type or scan an RMA number or a unit number." in empty.text


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_the_rma_page_shows_units_sync_state_and_the_whole_timeline(make_client: Any, make_user: Any, uow: Any, locale: str) -> None:
    with uow() as db:
        rma = make_rma(db, "RMA-VIEW01", [S.DIAGNOSING, S.CLOSED], ago=timedelta(days=1))
        db.add(
            RmaEvent(
                unit_id=rma.units[0].id,
                status=S.DIAGNOSING,
                note="Burnt capacitor.",
                customer_visible=False,
                source=EventSource.CRM,
                occurred_at=utcnow(),
            )
        )
    web = _staff(make_client, make_user, uow, locale=locale)
    page = web.get("/staff/repairs/rma-view01")
    assert page.status_code == 200
    assert f'lang="{"zh-Hans" if locale == "zh" else "en"}"' in page.text
    assert "Burnt capacitor." in page.text
    assert "1 Alpha Road" in page.text
    assert 'action="/staff/repairs/RMA-VIEW01/quote"' in page.text
    if locale == "en":
        text = text_of(page.text)
        assert "Internal" in text
        assert "Waiting to reach the CRM" in text
        assert "Units at “Diagnosing”" in text
        # Only the moves the lifecycle allows from diagnosing; the closed unit offers none.
        options = re.findall(r'<option value="([a-z_]+)">', page.text.split("Units at")[1].split("</form>")[0])
        assert options == ["repairing", "quote_sent", "replaced"]
    assert web.get("/staff/repairs/RMA-NOPE00").status_code == 404


def test_moving_units_from_the_rma_page(desk_client: Any, uow: Any, outbox_mail: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-MOVE01", [S.REQUESTED, S.REQUESTED])
    page = "/staff/repairs/RMA-MOVE01"
    response = desk_client.submit(
        f"{page}/move",
        {"group": "requested", "unit": "RMA-MOVE01-1", "to": "approved", "note": "Pack it well.", "visible": "1"},
        form_page=page,
    )
    assert response.status_code == 303
    assert response.headers["location"] == page
    assert "1 unit moved to “Approved”." in desk_client.get(page).text
    assert (status_of(uow, "RMA-MOVE01-1"), status_of(uow, "RMA-MOVE01-2")) == (S.APPROVED, S.REQUESTED)
    assert "Pack it well." in outbox_mail()[0].get_body(preferencelist=("plain",)).get_content()
    refused = desk_client.submit(
        f"{page}/move", {"group": "approved", "unit": "RMA-MOVE01-1", "to": "closed", "note": "Too far"}, form_page=page
    )
    assert refused.status_code == 422
    assert "RMA-MOVE01-1 cannot move from “Approved” to “Closed”." in refused.text
    assert "Too far" in refused.text
    assert status_of(uow, "RMA-MOVE01-1") is S.APPROVED


def test_notes_from_the_rma_page_are_internal_unless_ticked(desk_client: Any, uow: Any, outbox_mail: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-NOTE01", [S.RECEIVED])
    page = "/staff/repairs/RMA-NOTE01"
    assert desk_client.submit(f"{page}/note", {"note": "Customer called."}, form_page=page).status_code == 303
    assert desk_client.submit(f"{page}/note", {"note": "Parts ordered.", "visible": "1"}, form_page=page).status_code == 303
    with uow() as db:
        notes = db.scalars(select(RmaEvent).where(RmaEvent.note != "").order_by(RmaEvent.id)).all()
        assert [(n.note, n.customer_visible) for n in notes] == [("Customer called.", False), ("Parts ordered.", True)]
    assert outbox_mail() == []
    empty = desk_client.submit(f"{page}/note", {"note": ""}, form_page=page)
    assert empty.status_code == 422
    assert "Write the note." in empty.text


def test_sending_a_quote_from_the_rma_page(desk_client: Any, uow: Any, outbox_mail: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-QUOT01", [S.DIAGNOSING])
    page = "/staff/repairs/RMA-QUOT01"
    until = (utcnow().date() + timedelta(days=14)).isoformat()
    bad = desk_client.submit(
        f"{page}/quote", {"quote_unit": "RMA-QUOT01-1", "amount": "0", "currency": "USD", "valid_until": until}, form_page=page
    )
    assert bad.status_code == 422
    assert "Enter an amount greater than zero." in bad.text
    assert f'value="{until}"' in bad.text
    ok = desk_client.submit(
        f"{page}/quote", {"quote_unit": "RMA-QUOT01-1", "amount": "89.90", "currency": "GBP", "valid_until": until}, form_page=page
    )
    assert ok.status_code == 303
    after = desk_client.get(page).text
    assert "Quote sent for RMA-QUOT01-1." in after
    assert "£89.90" in after
    assert status_of(uow, "RMA-QUOT01-1") is S.QUOTE_SENT
    assert "89.90 GBP" in outbox_mail()[0].get_body(preferencelist=("plain",)).get_content()


def test_only_staff_reach_the_desk(client: Any, make_client: Any, make_user: Any, uow: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-PRIV01")
    assert client.get("/staff/repairs", follow_redirects=False).headers["location"].startswith("/login")
    make_user("ann@alpha.example", Role.CUSTOMER)
    customer = make_client()
    customer.login("ann@alpha.example")
    for path in ("/staff/repairs", "/staff/repairs/receive", "/staff/repairs/RMA-PRIV01"):
        assert customer.get(path).status_code == 404
    refused = customer.submit("/staff/repairs/receive", {"code": "RMA-PRIV01"})
    assert refused.status_code == 404
    assert status_of(uow, "RMA-PRIV01-1") is S.REQUESTED
