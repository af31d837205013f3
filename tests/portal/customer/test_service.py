"""Orders, my products and unit registrations: who sees what, filters and pages, the
registration rules, and staff decisions with the customer's e-mail."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event, insert, select

from portal.accounts.models import Role, User
from portal.customer import service
from portal.customer.models import Invoice, Order, OrderLine, Product, RegistrationStatus, Serial, UnitRegistration
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.mail.models import MailMessage
from portal.uploads import Upload

NOW = utcnow()
PDF = Upload(filename="receipt.pdf", content_type="application/pdf", data=b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n")


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


# -- building CRM read copies ---------------------------------------------------------------------------


def add_product(db: Any, sku: str = "NW-CAM-1", name: str = "Outdoor camera", months: int = 24) -> None:
    db.add(Product(sku=sku, name=name, category="cameras", warranty_months=months, active=True, updated_at=NOW))


def add_order(
    db: Any,
    number: str,
    *,
    account_id: str | None = None,
    email: str | None = None,
    status: str = "delivered",
    ordered_at: datetime | None = None,
    lines: tuple[tuple[str, int], ...] = (("NW-CAM-1", 1),),
) -> None:
    db.add(
        Order(
            order_number=number,
            account_id=account_id,
            customer_email=email,
            status=status,
            ordered_at=ordered_at or NOW - timedelta(days=30),
            currency="EUR",
            total_cents=19900,
            updated_at=NOW,
        )
    )
    for line_no, (sku, quantity) in enumerate(lines, start=1):
        db.add(OrderLine(order_number=number, line_no=line_no, sku=sku, quantity=quantity, unit_price_cents=19900, updated_at=NOW))


def add_serial(
    db: Any,
    serial: str,
    *,
    sku: str = "NW-CAM-1",
    order_number: str | None = None,
    shipped_at: datetime | None = None,
    starts_on: date | None = None,
    sold_to: str | None = None,
) -> None:
    db.add(
        Serial(
            serial=serial,
            sku=sku,
            order_number=order_number,
            shipped_at=shipped_at or NOW - timedelta(days=20),
            sold_to_account_id=sold_to,
            warranty_starts_on=starts_on,
            updated_at=NOW,
        )
    )


def add_invoice(db: Any, number: str, order_number: str, *, status: str = "open", account_id: str | None = None) -> None:
    db.add(
        Invoice(
            invoice_number=number,
            order_number=order_number,
            account_id=account_id,
            customer_email=None,
            amount_due_cents=19900,
            currency="EUR",
            status=status,
            issued_at=NOW - timedelta(days=29),
            due_on=(NOW + timedelta(days=1)).date(),
            updated_at=NOW,
        )
    )


@pytest.fixture
def people(make_account: Any, make_user: Any) -> dict[str, User]:
    """Two company accounts (C-1 with two colleagues, C-2), a verified and an unverified
    consumer, a partner and staff."""
    make_account("C-1", name="Harbour Robotics")
    make_account("C-2", name="Summit Tools")
    make_account("P-1", "partner", name="Reseller One")
    return {
        "ann": make_user("ann@harbour.example", account_id="C-1"),
        "cara": make_user("cara@harbour.example", Role.CUSTOMER_ADMIN, account_id="C-1"),
        "bob": make_user("bob@summit.example", account_id="C-2"),
        "dee": make_user("dee@home.example", locale="zh"),
        "unverified": make_user("una@home.example", verified=False),
        "partner": make_user("pat@reseller.example", Role.PARTNER, account_id="P-1"),
        "staff": make_user("sam@northwind.example", Role.STAFF),
    }


@pytest.fixture
def shop(uow: Callable[..., Any], people: dict[str, User]) -> None:
    """C-1 has SO-1 (two cameras shipped, one invoice); C-2 has SO-2; dee has SO-3 by e-mail;
    una's unverified address has SO-4; RS-1 and RS-2 were sold through partner P-1."""
    with uow() as db:
        add_product(db)
        add_product(db, "NW-HUB-2", "Smart hub", months=12)
        add_order(db, "SO-1", account_id="C-1", lines=(("NW-CAM-1", 2), ("NW-HUB-2", 1)), status="shipped")
        add_order(db, "SO-2", account_id="C-2")
        add_order(db, "SO-3", email="dee@home.example")
        add_order(db, "SO-4", email="una@home.example")
        add_order(db, "SO-5", account_id="C-2", email="dee@home.example")  # the account's, not dee's
        starts = (NOW - timedelta(days=20)).date()
        add_serial(db, "CAM0001", order_number="SO-1", starts_on=starts)
        add_serial(db, "CAM0002", order_number="SO-1", starts_on=starts)
        add_serial(db, "HUB0001", sku="NW-HUB-2", order_number="SO-1", starts_on=(NOW - timedelta(days=400)).date())
        add_serial(db, "CAM0201", order_number="SO-2", starts_on=starts)
        add_serial(db, "CAM0301", order_number="SO-3", starts_on=starts)
        add_serial(db, "RS-1", sold_to="P-1", shipped_at=NOW - timedelta(days=100))
        add_serial(db, "RS-2", sold_to="P-1", shipped_at=NOW - timedelta(days=100))
        add_invoice(db, "INV-1", "SO-1", account_id="C-1")
        add_invoice(db, "INV-2", "SO-2", account_id="C-2", status="paid")


def _numbers(db: Any, actor: User, **kwargs: Any) -> list[str]:
    return [row.order.order_number for row in service.list_orders(db, actor=actor, **kwargs).rows]


# -- who sees which orders ---------------------------------------------------------------------------------


def test_colleagues_see_their_accounts_orders_and_nobody_elses(uow: Any, people: dict[str, User], shop: None) -> None:
    with uow() as db:
        assert _numbers(db, people["ann"]) == _numbers(db, people["cara"]) == ["SO-1"]
        assert sorted(_numbers(db, people["bob"])) == ["SO-2", "SO-5"]
        detail = service.get_order(db, actor=people["cara"], order_number="SO-1")
        assert detail.order.order_number == "SO-1"
        for actor in ("bob", "dee", "partner", "staff"):
            with pytest.raises(NotFound):
                service.get_order(db, actor=people[actor], order_number="SO-1")
        with pytest.raises(NotFound):
            service.get_order(db, actor=people["ann"], order_number="SO-404")


def test_a_consumer_sees_orders_under_their_verified_email_only(uow: Any, people: dict[str, User], shop: None) -> None:
    with uow() as db:
        assert _numbers(db, people["dee"]) == ["SO-3"]  # not SO-5: that one is company C-2's
        assert _numbers(db, people["unverified"]) == []
        with pytest.raises(NotFound):
            service.get_order(db, actor=people["unverified"], order_number="SO-4")
        with pytest.raises(NotFound):
            service.list_orders(db, actor=people["partner"])


def test_order_detail_has_lines_units_by_sku_with_warranty_and_invoices(uow: Any, people: dict[str, User], shop: None) -> None:
    with uow() as db:
        detail = service.get_order(db, actor=people["ann"], order_number="SO-1")
    assert [(v.line.sku, v.product_name, v.line.quantity) for v in detail.lines] == [
        ("NW-CAM-1", "Outdoor camera", 2),
        ("NW-HUB-2", "Smart hub", 1),
    ]
    grouped = {sku: (name, [(u.unit.serial, u.warranty.status) for u in units]) for sku, name, units in detail.units_by_sku}
    assert grouped == {
        "NW-CAM-1": ("Outdoor camera", [("CAM0001", "in_warranty"), ("CAM0002", "in_warranty")]),
        "NW-HUB-2": ("Smart hub", [("HUB0001", "out_of_warranty")]),
    }
    assert [(i.invoice_number, i.status, i.amount_due_cents) for i in detail.invoices] == [("INV-1", "open", 19900)]


# -- filters, search, pages ----------------------------------------------------------------------------------


def test_orders_filter_by_status_and_search_by_number_or_sku(uow: Any, people: dict[str, User], shop: None) -> None:
    with uow() as db:
        add_order(db, "SO-77", account_id="C-1", status="cancelled", lines=(("NW-HUB-2", 1),))
        add_order(db, "SO-78", account_id="C-1", status="paid", lines=(("NW-CAM-1", 1),))
    with uow() as db:
        ann = people["ann"]
        assert _numbers(db, ann, status="cancelled") == ["SO-77"]
        assert _numbers(db, ann, search="so-78") == ["SO-78"]
        assert sorted(_numbers(db, ann, search="hub")) == ["SO-1", "SO-77"]
        assert _numbers(db, ann, search="hub", status="shipped") == ["SO-1"]
        assert _numbers(db, ann, search="%") == []  # a wildcard is a character, not a pattern
        assert len(_numbers(db, ann, status="bogus")) == 3  # an unknown status filters nothing


def test_orders_come_newest_first_twenty_a_page(uow: Any, people: dict[str, User]) -> None:
    with uow() as db:
        add_product(db)
        for n in range(45):
            add_order(db, f"SO-{n:03d}", account_id="C-1", ordered_at=NOW - timedelta(hours=n))
    with uow() as db:
        first = service.list_orders(db, actor=people["ann"])
        third = service.list_orders(db, actor=people["ann"], page=3)
        beyond = service.list_orders(db, actor=people["ann"], page=99)
    assert (first.total, first.pages) == (45, 3)
    assert [r.order.order_number for r in first.rows][:3] == ["SO-000", "SO-001", "SO-002"]
    assert len(first.rows) == 20
    assert [r.order.order_number for r in third.rows] == [f"SO-{n:03d}" for n in range(40, 45)]
    assert beyond.page == 3
    assert (first.rows[0].item_count, first.rows[0].unit_count, first.rows[0].first_item) == (1, 1, "Outdoor camera")


def test_orders_of_a_large_account_take_three_queries_and_stay_fast(state: Any, uow: Any, people: dict[str, User]) -> None:
    with uow() as db:
        add_product(db)
        db.execute(
            insert(Order),
            [
                {
                    "order_number": f"BIG-{n:05d}",
                    "account_id": "C-1",
                    "customer_email": None,
                    "status": ("placed", "paid", "shipped", "delivered")[n % 4],
                    "ordered_at": NOW - timedelta(minutes=n),
                    "currency": "EUR",
                    "total_cents": 1000,
                    "updated_at": NOW,
                }
                for n in range(5000)
            ],
        )
        db.execute(
            insert(OrderLine),
            [
                {
                    "order_number": f"BIG-{n:05d}",
                    "line_no": k,
                    "sku": "NW-CAM-1",
                    "quantity": 1,
                    "unit_price_cents": 1000,
                    "updated_at": NOW,
                }
                for n in range(5000)
                for k in (1, 2)
            ],
        )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(state.db.engine, "before_cursor_execute", count)
    try:
        with uow() as db:
            started = time.perf_counter()
            page = service.list_orders(db, actor=people["cara"], page=40, status="paid", search="BIG-0")
            elapsed = time.perf_counter() - started
    finally:
        event.remove(state.db.engine, "before_cursor_execute", count)
    assert page.total == 1250
    assert len(page.rows) == 20
    assert all(r.item_count == 2 for r in page.rows)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3
    assert elapsed < 2.0


# -- my products -------------------------------------------------------------------------------------------


def test_my_products_lists_units_of_the_account_with_warranty(uow: Any, people: dict[str, User], shop: None) -> None:
    with uow() as db:
        mine = service.list_products(db, actor=people["cara"])
        theirs = service.list_products(db, actor=people["bob"])
        unverified = service.list_products(db, actor=people["unverified"])
    assert sorted(r.unit.serial for r in mine.units.rows) == ["CAM0001", "CAM0002", "HUB0001"]
    assert {r.order_number for r in mine.units.rows} == {"SO-1"}
    assert [r.unit.serial for r in theirs.units.rows] == ["CAM0201"]
    assert unverified.units.rows == []


# -- registering a unit bought from a reseller ---------------------------------------------------------------


def _register(uow: Any, actor: User, serial: str = "RS-1", **overrides: Any) -> UnitRegistration:
    values: dict[str, Any] = {
        "serial": serial,
        "purchase_date": (NOW - timedelta(days=50)).date().isoformat(),
        "reseller": "Corner Shop",
        "proof": PDF,
        **overrides,
    }
    with uow() as db:
        return service.register_unit(db, actor=actor, **values)


def _error(uow: Any, actor: User, serial: str = "RS-1", **overrides: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        _register(uow, actor, serial, **overrides)
    return caught.value.errors


def test_a_registration_is_stored_pending_with_its_cleaned_proof(uow: Any, people: dict[str, User], shop: None) -> None:
    registration = _register(uow, people["dee"], serial=" rs-1 ", proof=Upload("till slip.png", "image/png", png_bytes()))
    with uow() as db:
        row = db.get(UnitRegistration, registration.id)
        assert (row.serial, row.status, row.user_id, row.account_id) == ("RS-1", RegistrationStatus.PENDING, people["dee"].id, None)
        assert (row.proof_filename, row.proof_content_type) == ("till slip.png", "image/png")
        assert Image.open(io.BytesIO(row.proof_data)).format == "PNG"
        mine = service.list_products(db, actor=people["dee"])
    assert [r.serial for r in mine.registrations] == ["RS-1"]
    assert [r.unit.serial for r in mine.units.rows] == ["CAM0301"]  # RS-1 is not theirs before staff confirm it


def test_registration_rules_never_reveal_who_owns_a_unit(uow: Any, people: dict[str, User], shop: None) -> None:
    unknown = "We do not know this serial number. Check the label on the unit."
    assert _error(uow, people["ann"], "NOPE-1") == {"serial": unknown}
    assert _error(uow, people["ann"], "CAM0201") == {"serial": unknown}  # on C-2's order
    assert _error(uow, people["dee"], "CAM0001") == {"serial": unknown}
    assert _error(uow, people["ann"], "CAM0001") == {"serial": "This unit is already in your products."}
    assert _error(uow, people["ann"], "") == {"serial": "Enter the serial number from the label on the unit."}
    _register(uow, people["ann"])
    assert "already registered" in _error(uow, people["cara"], "RS-1")["serial"]  # the colleague's pending one counts
    _register(uow, people["bob"])  # another account may claim it too: staff decide on the proofs


def test_registration_dates_and_files_are_checked(uow: Any, people: dict[str, User], shop: None) -> None:
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    assert _error(uow, people["dee"], purchase_date=tomorrow) == {"purchase_date": "The purchase date cannot be in the future."}
    before_shipping = (NOW - timedelta(days=150)).date().isoformat()
    assert "before this unit left our warehouse" in _error(uow, people["dee"], purchase_date=before_shipping)["purchase_date"]
    assert set(_error(uow, people["dee"], purchase_date="31/12/2025")) == {"purchase_date"}
    assert set(_error(uow, people["dee"], purchase_date="")) == {"purchase_date"}
    fake_jpeg = Upload("receipt.jpg", "image/jpeg", b"this is just text pretending to be a photo")
    assert _error(uow, people["dee"], proof=fake_jpeg) == {"proof": "Upload the receipt as a PDF or a photo (JPEG, PNG or WebP)."}
    assert _error(uow, people["dee"], proof=Upload("empty.pdf", "application/pdf", b"")) == {"proof": "The file is empty."}
    assert set(_error(uow, people["dee"], proof=None)) == {"proof"}
    assert set(_error(uow, people["dee"], "NOPE", purchase_date="", proof=None)) == {"serial", "purchase_date", "proof"}
    with uow() as db:
        assert db.scalar(select(UnitRegistration.id)) is None


def test_only_customers_register_units(uow: Any, people: dict[str, User], shop: None) -> None:
    for actor in ("partner", "staff"):
        with pytest.raises(NotFound):
            _register(uow, people[actor])


# -- staff decisions -------------------------------------------------------------------------------------------


def _decide(state: Any, uow: Any, actor: User, registration_id: int, *, confirm: bool, note: str = "") -> UnitRegistration:
    with uow() as db:
        return service.decide_registration(db, state.mailing, actor=actor, registration_id=registration_id, confirm=confirm, note=note)


def test_confirming_makes_the_unit_the_customers_with_warranty_from_the_purchase_date(
    state: Any, uow: Any, people: dict[str, User], shop: None, outbox_mail: Any
) -> None:
    bought = (NOW - timedelta(days=50)).date()
    registration = _register(uow, people["dee"], purchase_date=bought.isoformat())
    _decide(state, uow, people["staff"], registration.id, confirm=True)
    with uow() as db:
        mine = service.list_products(db, actor=people["dee"])
        message = db.scalar(select(MailMessage).where(MailMessage.template == "registration_decided"))
        assert message is not None
        assert message.locale == "zh"  # dee reads the portal in Chinese
    row = next(r for r in mine.units.rows if r.unit.serial == "RS-1")
    assert (row.warranty.status, row.warranty.starts_on, row.order_number) == ("in_warranty", bought, None)
    assert [r.status for r in mine.registrations] == [RegistrationStatus.CONFIRMED]
    (mail,) = outbox_mail()
    assert mail["To"] == "dee@home.example"
    assert "RS-1" in mail["Subject"]
    assert "http://testserver/products" in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        _decide(state, uow, people["staff"], registration.id, confirm=False, note="changed my mind")


def test_rejecting_needs_a_note_which_the_customer_sees(
    state: Any, uow: Any, people: dict[str, User], shop: None, outbox_mail: Any
) -> None:
    registration = _register(uow, people["ann"])
    with pytest.raises(Invalid) as caught:
        _decide(state, uow, people["staff"], registration.id, confirm=False)
    assert set(caught.value.errors) == {"note"}
    _decide(state, uow, people["staff"], registration.id, confirm=False, note="The receipt is for a different model.")
    with uow() as db:
        mine = service.list_products(db, actor=people["cara"])  # the colleague sees it too
        decided = db.get(UnitRegistration, registration.id)
        assert decided.decided_by_id == people["staff"].id
    assert [(r.status, r.decision_note) for r in mine.registrations] == [
        (RegistrationStatus.REJECTED, "The receipt is for a different model.")
    ]
    assert all(r.unit.serial != "RS-1" for r in mine.units.rows)
    (mail,) = outbox_mail()
    assert mail["To"] == "ann@harbour.example"
    assert "The receipt is for a different model." in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_a_unit_confirmed_for_one_customer_cannot_be_confirmed_for_another(
    state: Any, uow: Any, people: dict[str, User], shop: None
) -> None:
    first = _register(uow, people["ann"])
    second = _register(uow, people["bob"])
    _decide(state, uow, people["staff"], first.id, confirm=True)
    with pytest.raises(Conflict):
        _decide(state, uow, people["staff"], second.id, confirm=True)
    _decide(state, uow, people["staff"], second.id, confirm=False, note="Already registered by its owner.")


def test_only_staff_see_and_decide_registrations(state: Any, uow: Any, people: dict[str, User], shop: None) -> None:
    registration = _register(uow, people["ann"])
    for actor in ("ann", "cara", "partner"):
        with uow() as db:
            with pytest.raises(Forbidden):
                service.list_registrations(db, actor=people[actor])
            with pytest.raises(Forbidden):
                service.registration_proof(db, actor=people[actor], registration_id=registration.id)
        with pytest.raises(Forbidden):
            _decide(state, uow, people[actor], registration.id, confirm=True)
    with uow() as db:
        with pytest.raises(NotFound):
            service.get_registration(db, actor=people["staff"], registration_id=registration.id + 100)
        detail = service.get_registration(db, actor=people["staff"], registration_id=registration.id)
        proof = service.registration_proof(db, actor=people["staff"], registration_id=registration.id)
    assert (detail.customer.email, detail.unit.sku if detail.unit else None, detail.sold_to.name if detail.sold_to else None) == (
        "ann@harbour.example",
        "NW-CAM-1",
        "Reseller One",
    )
    assert (proof.content_type, proof.data) == ("application/pdf", PDF.data)


def test_staff_see_waiting_registrations_first(state: Any, uow: Any, people: dict[str, User], shop: None) -> None:
    decided = _register(uow, people["ann"])
    _decide(state, uow, people["staff"], decided.id, confirm=False, note="Unreadable receipt.")
    waiting = _register(uow, people["dee"], serial="RS-2")
    with uow() as db:
        everything = service.list_registrations(db, actor=people["staff"])
        pending = service.list_registrations(db, actor=people["staff"], status=RegistrationStatus.PENDING)
    assert [r.registration.id for r in everything.rows] == [waiting.id, decided.id]
    assert [r.registration.id for r in pending.rows] == [waiting.id]
    assert everything.rows[0].customer.email == "dee@home.example"
