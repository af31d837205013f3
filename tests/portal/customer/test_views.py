"""Orders, my products, unit registration and the warranty check, over HTTP, in English and Chinese."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.customer.models import RegistrationStatus, UnitRegistration
from tests.portal.customer.test_service import NOW, PDF, add_invoice, add_order, add_product, add_serial

ZH = {"Accept-Language": "zh"}


def _shop(uow: Any, make_account: Any, make_user: Any) -> None:
    make_account("C-1", name="Harbour Robotics")
    make_account("C-2", name="Summit Tools")
    make_account("P-1", "partner", name="Reseller One")
    make_user("ann@harbour.example", account_id="C-1")
    make_user("bob@summit.example", account_id="C-2")
    make_user("dee@home.example")
    with uow() as db:
        add_product(db)
        add_order(db, "SO-1", account_id="C-1", status="shipped")
        add_order(db, "SO-2", account_id="C-2")
        add_serial(db, "CAM0001", order_number="SO-1", starts_on=(NOW - timedelta(days=20)).date())
        add_serial(db, "CAM0002", order_number="SO-1", starts_on=(NOW - timedelta(days=900)).date())
        add_serial(db, "CAM0201", order_number="SO-2", starts_on=(NOW - timedelta(days=20)).date())
        add_serial(db, "RS-1", sold_to="P-1", shipped_at=NOW - timedelta(days=100))
        add_invoice(db, "INV-1", "SO-1", account_id="C-1")


def _staff(make_client: Any, make_user: Any, uow: Any) -> Any:
    staff = make_user("sam@northwind.example", Role.STAFF)
    with uow() as db:
        row = db.get(User, staff.id)
        row.totp_secret, row.totp_enabled = pyotp.random_base32(), True
        secret = row.totp_secret
    web = make_client()
    web.login("sam@northwind.example")
    web.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    return web


# -- orders ------------------------------------------------------------------------------------------------


def test_orders_page_lists_the_accounts_orders_in_english_and_chinese(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    client.login("ann@harbour.example")
    page = client.get("/orders")
    assert page.status_code == 200
    assert 'href="/orders/SO-1"' in page.text
    assert "SO-2" not in page.text
    chinese = client.get("/orders", headers=ZH)
    assert chinese.status_code == 200
    assert 'lang="zh-Hans"' in chinese.text
    assert "SO-1" in chinese.text


def test_order_filters_are_kept_in_page_links_and_an_empty_result_says_so(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    with uow() as db:
        for n in range(25):
            add_order(db, f"SO-9{n:02d}", account_id="C-1", status="paid", ordered_at=NOW - timedelta(hours=n))
    client.login("ann@harbour.example")
    first = client.get("/orders?status=paid&q=SO-9")
    assert "Page 1 of 2" in first.text
    assert 'href="/orders?status=paid&amp;q=SO-9&amp;page=2"' in first.text
    second = client.get("/orders?status=paid&q=SO-9&page=2")
    assert len(re.findall(r'href="/orders/SO-9\d\d"', second.text)) == 5
    nothing = client.get("/orders?q=NO-SUCH-ORDER")
    assert "No orders match" in nothing.text


def test_an_order_shows_units_with_warranty_repair_links_and_invoices(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    client.login("ann@harbour.example")
    page = client.get("/orders/SO-1")
    assert page.status_code == 200
    assert "Outdoor camera" in page.text
    assert 'href="/repairs/new?serial=CAM0001"' in page.text
    assert 'href="/repairs/new?serial=CAM0002"' in page.text
    assert "In warranty until" in page.text
    assert "Warranty expired on" in page.text
    assert "INV-1" in page.text
    assert client.get("/orders/SO-1", headers=ZH).status_code == 200


def test_another_accounts_order_and_an_unknown_one_are_not_found(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    client.login("ann@harbour.example")
    foreign, missing = client.get("/orders/SO-2"), client.get("/orders/SO-404")
    assert foreign.status_code == missing.status_code == 404
    assert "CAM0201" not in foreign.text


def test_a_consumer_with_no_orders_sees_the_empty_state(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    client.login("dee@home.example")
    assert "No orders yet" in client.get("/orders").text
    assert "No products yet" in client.get("/products").text


# -- my products and registration ------------------------------------------------------------------------------


def test_register_a_unit_then_staff_confirm_it_and_it_appears_in_my_products(
    client: Any, make_client: Any, uow: Any, make_account: Any, make_user: Any, outbox_mail: Any
) -> None:
    _shop(uow, make_account, make_user)
    client.login("dee@home.example")
    form = client.get("/products/register?serial=rs-1", headers=ZH)
    assert form.status_code == 200
    assert 'value="RS-1"' in form.text
    bought = (NOW - timedelta(days=40)).date().isoformat()
    sent = client.submit(
        "/products/register",
        {"serial": "rs-1", "purchase_date": bought, "reseller": "Corner Shop"},
        files={"proof": ("receipt.pdf", PDF.data, "application/pdf")},
        form_page="/products/register",
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/products"
    products = client.get("/products")
    assert "We check your proof of purchase for RS-1" in products.text
    assert "Being checked" in products.text
    with uow() as db:
        registration_id = db.scalar(select(UnitRegistration.id).where(UnitRegistration.serial == "RS-1"))

    staff = _staff(make_client, make_user, uow)
    listing = staff.get("/staff/registrations")
    assert f'href="/staff/registrations/{registration_id}"' in listing.text
    detail = staff.get(f"/staff/registrations/{registration_id}")
    assert "dee@home.example" in detail.text
    assert "Reseller One" in detail.text
    proof = staff.get(f"/staff/registrations/{registration_id}/proof")
    assert proof.status_code == 200
    assert proof.content == PDF.data
    assert proof.headers["content-type"] == "application/pdf"
    assert proof.headers["content-disposition"].startswith("attachment;")
    assert proof.headers["x-content-type-options"] == "nosniff"
    decided = staff.submit(f"/staff/registrations/{registration_id}", {"decision": "confirm", "note": ""})
    assert decided.headers["location"] == "/staff/registrations"
    again = staff.submit(f"/staff/registrations/{registration_id}", {"decision": "reject", "note": "no"})
    assert again.status_code == 409
    assert "This registration has already been decided." in again.text

    mine = client.get("/products").text
    assert 'href="/repairs/new?serial=RS-1"' in mine
    assert "In warranty until" in mine
    assert "Confirmed" in mine
    assert [m["To"] for m in outbox_mail()] == ["dee@home.example"]
    assert client.get(f"/staff/registrations/{registration_id}/proof").status_code == 404  # customers never reach proofs


def test_register_form_errors_keep_the_input_and_ask_for_the_file_again(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    client.login("ann@harbour.example")
    response = client.submit(
        "/products/register",
        {"serial": "CAM0201", "purchase_date": "2025-01-02", "reseller": "Market Stall"},
        files={"proof": ("receipt.jpg", b"plain text, not a photo", "image/jpeg")},
        form_page="/products/register",
    )
    assert response.status_code == 422
    assert "We do not know this serial number. Check the label on the unit." in response.text  # C-2's unit: never say whose
    assert "Upload the receipt as a PDF or a photo (JPEG, PNG or WebP)." in response.text
    assert 'value="Market Stall"' in response.text
    assert 'value="CAM0201"' in response.text
    assert "Choose the proof of purchase again" in response.text
    with uow() as db:
        assert db.scalar(select(UnitRegistration.id)) is None
    chinese = client.post(
        "/products/register",
        data={"csrf_token": client.csrf("/products/register"), "serial": ""},
        headers=ZH,
    )
    assert chinese.status_code == 422


def test_staff_reject_with_a_note_that_the_customer_reads(
    client: Any, make_client: Any, uow: Any, make_account: Any, make_user: Any
) -> None:
    _shop(uow, make_account, make_user)
    ann = make_user("ann2@harbour.example", account_id="C-1")
    with uow() as db:
        registration = UnitRegistration(
            user_id=ann.id,
            account_id="C-1",
            serial="RS-1",
            purchase_date=(NOW - timedelta(days=30)).date(),
            proof_filename="receipt.pdf",
            proof_content_type="application/pdf",
            proof_data=PDF.data,
            status=RegistrationStatus.PENDING,
            created_at=NOW,
        )
        db.add(registration)
        db.flush()
        registration_id = registration.id
    staff = _staff(make_client, make_user, uow)
    missing_note = staff.submit(f"/staff/registrations/{registration_id}", {"decision": "reject", "note": ""})
    assert missing_note.status_code == 422
    assert staff.submit(f"/staff/registrations/{registration_id}", {"decision": "reject", "note": "Receipt unreadable."}).status_code == 303
    client.login("ann@harbour.example")  # a colleague of the customer who registered it
    page = client.get("/products").text
    assert "Rejected" in page
    assert "Receipt unreadable." in page


# -- the public warranty check ---------------------------------------------------------------------------------


def test_warranty_check_shows_the_state_and_no_personal_data(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    assert client.get("/warranty").status_code == 200
    page = client.get("/warranty?serial=cam0001")
    assert page.status_code == 200
    assert "Outdoor camera" in page.text
    assert "In warranty until" in page.text
    assert 'href="/repairs/new?serial=CAM0001"' in page.text
    for personal in ("SO-1", "INV-1", "C-1", "Harbour Robotics", "ann@harbour.example"):
        assert personal not in page.text, personal
    expired = client.get("/warranty?serial=CAM0002").text
    assert "Warranty expired on" in expired
    assert "quote" in expired
    unknown_start = client.get("/warranty?serial=RS-1").text
    assert "Warranty unknown" in unknown_start
    assert 'href="/products/register?serial=RS-1"' in unknown_start
    assert "Reseller One" not in unknown_start
    unknown = client.get("/warranty?serial=NO-SUCH")
    assert unknown.status_code == 200
    assert "We do not know the serial number NO-SUCH" in unknown.text
    chinese = client.get("/warranty?serial=CAM0001", headers=ZH)
    assert chinese.status_code == 200
    assert 'lang="zh-Hans"' in chinese.text


def test_warranty_lookups_are_limited_per_address(client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    for n in range(20):
        assert client.get(f"/warranty?serial=CAM{n:04d}").status_code == 200, n
    limited = client.get("/warranty?serial=CAM0001")
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) in range(1, 62)
    assert client.get("/warranty").status_code == 200  # the empty form is not a lookup


def test_customer_pages_are_for_customers_only(client: Any, make_client: Any, uow: Any, make_account: Any, make_user: Any) -> None:
    _shop(uow, make_account, make_user)
    assert client.get("/orders", follow_redirects=False).headers["location"].startswith("/login")
    staff = _staff(make_client, make_user, uow)
    assert staff.get("/orders").status_code == 404
    assert staff.get("/products").status_code == 404
