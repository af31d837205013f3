"""Become-a-partner and the staff decision, over HTTP."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.partner.models import PartnerApplication

FORM = {
    "company": "Andes Tech SA",
    "country": "US",
    "contact_name": "Maria Lopez",
    "contact_email": "maria@andes.example",
    "website": "",
    "message": "Resellers in the Americas.",
}


def _staff_client(make_client: Any, make_user: Any, uow: Any) -> Any:
    staff = make_user("staff@northwind.example", Role.STAFF)
    with uow() as session:
        row = session.get(User, staff.id)
        row.totp_secret, row.totp_enabled = pyotp.random_base32(), True
        secret = row.totp_secret
    web = make_client()
    web.login("staff@northwind.example")
    web.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    return web


def test_apply_then_staff_approve(client: Any, make_client: Any, make_user: Any, uow: Any, outbox_mail: Any) -> None:
    response = client.submit("/partner/apply", FORM, form_page="/partner/apply")
    assert response.status_code == 200
    assert "maria@andes.example" in response.text
    staff = _staff_client(make_client, make_user, uow)
    listing = staff.get("/staff/applications").text
    assert "Andes Tech SA" in listing
    with uow() as session:
        application_id = session.scalar(select(PartnerApplication.id))
    assert "Approve and invite" in staff.get(f"/staff/applications/{application_id}").text
    decided = staff.submit(f"/staff/applications/{application_id}", {"decision": "approve", "note": ""})
    assert decided.headers["location"] == "/staff/applications"
    assert outbox_mail()[-1]["To"] == "maria@andes.example"
    again = staff.submit(f"/staff/applications/{application_id}", {"decision": "approve", "note": ""})
    assert again.status_code == 409
    assert "This application has already been decided." in again.text


def test_apply_form_shows_errors_and_keeps_input(client: Any) -> None:
    response = client.submit("/partner/apply", {**FORM, "country": "", "contact_email": "x"}, form_page="/partner/apply")
    assert response.status_code == 422
    assert 'value="Andes Tech SA"' in response.text
    assert "Choose a country from the list." in response.text


def test_staff_home_counts_waiting_applications(client: Any, make_client: Any, make_user: Any, uow: Any) -> None:
    client.submit("/partner/apply", FORM, form_page="/partner/apply")
    staff = _staff_client(make_client, make_user, uow)
    assert "1 application waits for a decision." in staff.get("/staff").text


def test_partner_home_shows_the_organisation(client: Any, make_user: Any, make_account: Any) -> None:
    make_account("P-9", "partner", name="Pacific Distribution", tier="gold")
    make_user("peter@pacific.example", Role.PARTNER, account_id="P-9")
    client.login("peter@pacific.example")
    page = client.get("/partner").text
    assert "Pacific Distribution" in page
    assert "Gold" in page
