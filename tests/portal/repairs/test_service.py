"""Customer repairs: request rules, ownership, the timeline, quote answers, cancel, guest lookup."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.customer.models import Order, Product, Serial
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound, RateLimited
from portal.events import OutboxEvent
from portal.repairs import service, workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import EventSource, QuoteDecision, Rma, RmaPhoto, RmaUnit, WarrantyStatus
from portal.uploads import Upload
from tests.conftest import link_in, mail_text

ANN = "ann@alpha.example"  # customer of C-1
ALF = "alf@alpha.example"  # colleague at C-1
BOB = "bob@bravo.example"  # customer of C-2
DEE = "dee@home.example"  # consumer


def seed(uow: Callable[..., Any], make_account: Any, make_user: Any, *, tier: str | None = None) -> dict[str, int]:
    """Two company accounts and a consumer, with orders and units; returns user ids by e-mail."""
    make_account("C-1", tier=tier)
    make_account("C-2")
    users = {
        ANN: make_user(ANN, account_id="C-1", name="Ann"),
        ALF: make_user(ALF, Role.CUSTOMER_ADMIN, account_id="C-1", name="Alf"),
        BOB: make_user(BOB, account_id="C-2", name="Bob"),
        DEE: make_user(DEE, name="Dee", locale="zh"),
    }
    now = utcnow()
    recent, old = now.date() - timedelta(days=100), now.date() - timedelta(days=5 * 365)
    with uow() as db:
        db.add(Product(sku="NW-R1", name="Router R1", category="routers", warranty_months=24, active=True, updated_at=now))
        for number, account, email in (("O-1", "C-1", None), ("O-2", "C-2", None), ("O-3", None, DEE)):
            db.add(
                Order(
                    order_number=number,
                    account_id=account,
                    customer_email=email,
                    status="delivered",
                    ordered_at=now,
                    currency="USD",
                    total_cents=1000,
                    updated_at=now,
                )
            )
        for serial, order, starts in (
            ("SA1", "O-1", recent),
            ("SA2", "O-1", recent),
            ("SAOLD", "O-1", old),
            ("SB1", "O-2", recent),
            ("SD1", "O-3", recent),
            ("SP1", None, None),  # sold through a partner
        ):
            db.add(
                Serial(
                    serial=serial,
                    sku="NW-R1",
                    order_number=order,
                    shipped_at=now,
                    sold_to_account_id=None,
                    warranty_starts_on=starts,
                    updated_at=now,
                )
            )
    return {email: user.id for email, user in users.items()}


@pytest.fixture
def ids(uow: Callable[..., Any], make_account: Any, make_user: Any) -> dict[str, int]:
    return seed(uow, make_account, make_user)


def form(*serials: str, **overrides: Any) -> service.RepairRequest:
    values: dict[str, Any] = {
        "serials": list(serials),
        "fault_category": "no_power",
        "description": "It does not power on any more.",
        "return_address": "Alpha Appliances, 1 Main St, London",
        "preferred_outcome": "repair",
        "photos": [],
    }
    values.update(overrides)
    return service.RepairRequest(**values)


def request(state: Any, uow: Callable[..., Any], user_id: int, *serials: str, **overrides: Any) -> str:
    with uow() as db:
        actor = db.get(User, user_id)
        rma = service.request_repair(db, state.mailing, actor=actor, form=form(*serials, **overrides))
        return rma.number


def problems(state: Any, uow: Callable[..., Any], user_id: int, *serials: str, **overrides: Any) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        request(state, uow, user_id, *serials, **overrides)
    return caught.value.errors


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


# -- requesting --------------------------------------------------------------------------------
def test_a_request_creates_one_unit_per_serial_with_warranty_events_outbox_and_e_mail(
    state: Any, uow: Callable[..., Any], ids: dict[str, int], outbox_mail: Any
) -> None:
    number = request(state, uow, ids[ANN], "sa1", " S A O L D ")
    assert re.fullmatch(r"RMA-[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}", number)
    with uow() as db:
        rma = db.scalar(select(Rma).where(Rma.number == number))
        assert (rma.account_id, rma.contact_email, rma.locale, rma.status) == ("C-1", ANN, "en", RmaStatus.REQUESTED)
        units = rma.units
        assert [(u.unit_number, u.serial, u.sku, u.order_number, u.status) for u in units] == [
            (f"{number}-1", "SA1", "NW-R1", "O-1", RmaStatus.REQUESTED),
            (f"{number}-2", "SAOLD", "NW-R1", "O-1", RmaStatus.REQUESTED),
        ]
        assert units[0].warranty_status is WarrantyStatus.IN_WARRANTY
        assert units[0].warranty_until is not None
        assert units[1].warranty_status is WarrantyStatus.OUT_OF_WARRANTY
        outbox = db.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_type.in_(("rma_unit", "rma_event")))).all()
        for unit in units:
            mine = [e for e in outbox if e.payload["rma_number"] == unit.unit_number]
            assert sorted(e.type for e in mine) == ["rma_event.recorded", "rma_unit.upserted"]
            assert {e.payload["status"] for e in mine} == {"requested"}
    mails = outbox_mail()
    assert [m["To"] for m in mails] == [ANN]
    assert number in str(mails[0]["Subject"])
    text = mail_text(mails[0])
    for expected in (f"{number}-1", "SAOLD", "original box"):
        assert expected in text
    assert link_in(mails[0], f"/repairs/{number}/label") == f"/repairs/{number}/label"
    token = link_in(mails[0], "/repair-status/").rsplit("/", 1)[1]
    assert state.mailing.signer.unsign(workflow.TRACK_PURPOSE, token, max_age_s=workflow.TRACK_MAX_AGE_S) == {"n": number, "e": ANN}


def test_serials_must_be_the_customers_or_sold_through_a_partner(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    not_found = "We could not find serial {} among your units. Check the label, or register the unit first."
    # Another company's unit and an unknown serial get the same answer.
    assert problems(state, uow, ids[ANN], "SB1") == {"serials": not_found.format("SB1")}
    assert problems(state, uow, ids[ANN], "NOPE-1") == {"serials": not_found.format("NOPE-1")}
    assert problems(state, uow, ids[DEE], "SA1") == {"serials": not_found.format("SA1")}
    # A consumer's own web-shop unit, and a unit bought from a reseller, are accepted.
    request(state, uow, ids[DEE], "SD1")
    request(state, uow, ids[BOB], "SP1")
    # A colleague's unit of the same account too.
    request(state, uow, ids[ALF], "SA2")


def test_no_units_duplicates_and_open_rmas_are_refused(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    assert problems(state, uow, ids[ANN]) == {"serials": "Choose at least one unit, or type its serial number."}
    assert problems(state, uow, ids[ANN], "SA1", "sa1") == {"serials": "Serial SA1 is listed twice."}
    first = request(state, uow, ids[ANN], "SA1")
    assert problems(state, uow, ids[ALF], "SA1") == {"serials": f"Serial SA1 already has an open repair: {first}."}
    # Someone else's open RMA of a partner-sold unit is not named.
    request(state, uow, ids[BOB], "SP1")
    assert problems(state, uow, ids[ANN], "SP1") == {"serials": "Serial SP1 already has an open repair."}
    # Once the open one is cancelled, a new request is fine.
    with uow() as db:
        service.cancel(db, state.mailing, actor=db.get(User, ids[ANN]), number=first)
    request(state, uow, ids[ANN], "SA1")


def test_the_other_fields_are_checked_all_at_once(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    errors = problems(state, uow, ids[ANN], "SA1", fault_category="x", description="short", return_address=" ", preferred_outcome="gift")
    assert set(errors) == {"fault_category", "description", "return_address", "preferred_outcome"}
    assert set(problems(state, uow, ids[ANN], "SA1", description="x" * 4001)) == {"description"}


@pytest.mark.parametrize(("tier", "allowed"), [("gold", True), ("silver", True), ("registered", False), (None, False)])
def test_advance_replacement_only_for_gold_and_silver_accounts(
    state: Any, uow: Callable[..., Any], make_account: Any, make_user: Any, tier: str | None, allowed: bool
) -> None:
    ids = seed(uow, make_account, make_user, tier=tier)
    if allowed:
        number = request(state, uow, ids[ANN], "SA1", preferred_outcome="advance_replacement")
        with uow() as db:
            assert db.scalar(select(Rma.preferred_outcome).where(Rma.number == number)) == "advance_replacement"
    else:
        assert problems(state, uow, ids[ANN], "SA1", preferred_outcome="advance_replacement") == {
            "preferred_outcome": "Advance replacement is available to Gold and Silver accounts only."
        }
    # A consumer has no account, so no tier.
    assert set(problems(state, uow, ids[DEE], "SD1", preferred_outcome="advance_replacement")) == {"preferred_outcome"}


def test_photos_are_re_encoded_and_other_files_refused(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    original = png() + b"<script>alert(1)</script>"  # trailing bytes a re-encode drops
    number = request(state, uow, ids[ANN], "SA1", photos=[Upload("board.png", "image/png", original)])
    with uow() as db:
        photo = db.scalar(select(RmaPhoto))
        assert (photo.filename, photo.content_type) == ("board.png", "image/png")
        assert b"<script>" not in photo.data
        assert Image.open(io.BytesIO(photo.data)).size == (40, 30)
        assert service.get_photo(db, actor=db.get(User, ids[ALF]), number=number, photo_id=photo.id).id == photo.id
        with pytest.raises(NotFound):
            service.get_photo(db, actor=db.get(User, ids[BOB]), number=number, photo_id=photo.id)
    errors = problems(state, uow, ids[ANN], "SA2", photos=[Upload("notes.txt", "text/plain", b"just text")])
    assert errors == {"photos": "We cannot use the file notes.txt. Upload a photo in JPEG, PNG or WebP format."}
    six = [Upload(f"p{i}.png", "image/png", png()) for i in range(6)]
    assert problems(state, uow, ids[ANN], "SA2", photos=six) == {"photos": "Attach at most 5 photos."}


def test_error_messages_are_translated_with_their_parameters(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    with pytest.raises(Invalid) as caught:
        request(state, uow, ids[ANN], "SB1", "SB1")
    english = service.error_messages(caught.value, state.catalogues.get("en").gettext)
    assert english["serials"].startswith("We could not find serial SB1 among your units.")
    assert english["serials"].endswith("Serial SB1 is listed twice.")


# -- seeing RMAs -----------------------------------------------------------------------------------
def test_colleagues_share_an_accounts_rmas_and_consumers_see_their_own(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    a = request(state, uow, ids[ANN], "SA1")
    b = request(state, uow, ids[BOB], "SB1")
    d = request(state, uow, ids[DEE], "SD1")
    with uow() as db:
        seen = {email: [r.number for r in service.list_rmas(db, actor=db.get(User, uid)).rows] for email, uid in ids.items()}
        assert seen == {ANN: [a], ALF: [a], BOB: [b], DEE: [d]}
        for email, number in ((BOB, a), (ANN, b), (ANN, d), (DEE, a)):
            with pytest.raises(NotFound):
                service.get_rma(db, actor=db.get(User, ids[email]), number=number)
        assert service.get_rma(db, actor=db.get(User, ids[ALF]), number=a.lower()).number == a
        assert service.last_return_address(db, actor=db.get(User, ids[ALF])) == "Alpha Appliances, 1 Main St, London"


def test_the_list_filters_open_and_closed_and_pages_by_twenty(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    first = request(state, uow, ids[ANN], "SA1")
    request(state, uow, ids[ANN], "SA2")
    with uow() as db:
        actor = db.get(User, ids[ANN])
        service.cancel(db, state.mailing, actor=actor, number=first)
    with uow() as db:
        actor = db.get(User, ids[ANN])
        assert [r.number for r in service.list_rmas(db, actor=actor, state="closed").rows] == [first]
        assert first not in [r.number for r in service.list_rmas(db, actor=actor, state="open").rows]
        assert service.list_rmas(db, actor=actor).total == 2
    for _ in range(20):
        with uow() as db:  # RMAs of a partner-sold unit, cancelled each time, to fill pages
            number = service.request_repair(db, state.mailing, actor=db.get(User, ids[ANN]), form=form("SP1")).number
            service.cancel(db, state.mailing, actor=db.get(User, ids[ANN]), number=number)
    with uow() as db:
        listing = service.list_rmas(db, actor=db.get(User, ids[ANN]), page=2)
        assert (listing.total, listing.pages, listing.page, len(listing.rows)) == (22, 2, 2, 2)


def test_the_timeline_shows_customer_visible_events_of_both_sources_in_order(
    state: Any, uow: Callable[..., Any], ids: dict[str, int]
) -> None:
    number = request(state, uow, ids[ANN], "SA1")
    with uow() as db:
        unit = db.scalar(select(RmaUnit))
        workflow.move(db, None, [unit], RmaStatus.APPROVED)
        workflow.add_note(db, unit, "internal: customer is grumpy", customer_visible=False, actor=None)
        workflow.merge_crm_status(db, None, unit, RmaStatus.RECEIVED, 1)
        workflow.append_event(
            db,
            unit,
            RmaStatus.RECEIVED,
            note="Arrived in good shape",
            source=EventSource.CRM,
        )
    with uow() as db:
        rma = service.get_rma(db, actor=db.get(User, ids[ANN]), number=number)
        tl = service.timeline(db, rma, with_photos=True)
        (uv,) = tl.units
        assert [(e.status.value, e.note) for e in uv.events] == [("requested", ""), ("approved", ""), ("received", "Arrived in good shape")]
        assert {s.value: w for s, w in uv.progress} == {
            "requested": "done", "received": "current", "diagnosing": "todo", "repairing": "todo",
            "shipped": "todo", "delivered": "todo", "closed": "todo",
        }  # fmt: skip
        assert not tl.cancellable


# -- the customer's moves ----------------------------------------------------------------------------
def _quote(uow: Callable[..., Any], valid_until: date) -> None:
    with uow() as db:
        unit = db.scalar(select(RmaUnit))
        for step in (RmaStatus.APPROVED, RmaStatus.RECEIVED, RmaStatus.DIAGNOSING):
            workflow.move(db, None, [unit], step)
        unit.quote_amount_cents, unit.quote_currency, unit.quote_valid_until = 12900, "USD", valid_until
        workflow.move(db, None, [unit], RmaStatus.QUOTE_SENT)


@pytest.mark.parametrize(("accept", "expected"), [(True, RmaStatus.QUOTE_ACCEPTED), (False, RmaStatus.QUOTE_DECLINED)])
def test_a_quote_is_accepted_or_declined_once(
    state: Any, uow: Callable[..., Any], ids: dict[str, int], accept: bool, expected: RmaStatus
) -> None:
    number = request(state, uow, ids[ANN], "SAOLD")
    _quote(uow, utcnow().date())
    with uow() as db:
        with pytest.raises(NotFound):
            service.answer_quote(db, state.mailing, actor=db.get(User, ids[BOB]), number=number, unit_number=f"{number}-1", accept=accept)
        with pytest.raises(NotFound):
            service.answer_quote(db, state.mailing, actor=db.get(User, ids[ANN]), number=number, unit_number=f"{number}-9", accept=accept)
        service.answer_quote(db, state.mailing, actor=db.get(User, ids[ALF]), number=number, unit_number=f"{number}-1", accept=accept)
    with uow() as db:
        unit = db.scalar(select(RmaUnit))
        assert unit.status is expected
        assert unit.quote_decision is (QuoteDecision.ACCEPTED if accept else QuoteDecision.DECLINED)
        assert unit.quote_decided_at is not None
        pushed = db.scalar(select(OutboxEvent).where(OutboxEvent.type == "rma_unit.upserted").order_by(OutboxEvent.id.desc()))
        assert pushed.payload["status"] == expected.value
        with pytest.raises(Conflict):
            service.answer_quote(db, state.mailing, actor=db.get(User, ids[ANN]), number=number, unit_number=f"{number}-1", accept=True)


def test_an_expired_quote_cannot_be_answered(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    number = request(state, uow, ids[ANN], "SAOLD")
    _quote(uow, utcnow().date() - timedelta(days=1))
    with uow() as db, pytest.raises(Conflict) as caught:
        service.answer_quote(db, state.mailing, actor=db.get(User, ids[ANN]), number=number, unit_number=f"{number}-1", accept=True)
    assert "expired" in caught.value.message
    with uow() as db:
        assert db.scalar(select(RmaUnit.status)) is RmaStatus.QUOTE_SENT


def test_cancel_stops_only_units_not_yet_received(state: Any, uow: Callable[..., Any], ids: dict[str, int], outbox_mail: Any) -> None:
    number = request(state, uow, ids[ANN], "SA1", "SA2")
    with uow() as db:
        second = db.scalar(select(RmaUnit).where(RmaUnit.line_no == 2))
        workflow.move(db, None, [second], RmaStatus.APPROVED)
        workflow.move(db, None, [second], RmaStatus.RECEIVED)
    with uow() as db:
        with pytest.raises(NotFound):
            service.cancel(db, state.mailing, actor=db.get(User, ids[BOB]), number=number)
        cancelled = service.cancel(db, state.mailing, actor=db.get(User, ids[ANN]), number=number)
        assert [u.unit_number for u in cancelled] == [f"{number}-1"]
    with uow() as db:
        assert [u.status for u in db.scalars(select(RmaUnit).order_by(RmaUnit.line_no))] == [RmaStatus.CANCELLED, RmaStatus.RECEIVED]
        with pytest.raises(Conflict):
            service.cancel(db, state.mailing, actor=db.get(User, ids[ANN]), number=number)
    assert "Cancelled" in str(outbox_mail()[-1]["Subject"])


# -- guests ------------------------------------------------------------------------------------------
def test_guest_lookup_by_number_or_unit_number_and_e_mail(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    number = request(state, uow, ids[ANN], "SA1")
    with uow() as db:
        assert service.guest_lookup(db, number.lower(), " Ann@Alpha.example ", "10.0.0.1").number == number
        assert service.guest_lookup(db, f"{number}-1", ANN, "10.0.0.1").number == number
        for bad_number, email in ((number, BOB), ("RMA-ZZZZZZ", ANN), ("'; drop table rma", ANN), (number, ""), ("", "")):
            assert service.guest_lookup(db, bad_number, email, "10.0.0.1") is None


def test_guest_lookup_is_rate_limited_per_address_before_anything_else(state: Any, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    number = request(state, uow, ids[ANN], "SA1")
    for _ in range(20):
        with uow() as db:
            service.guest_lookup(db, "x", "y", "10.0.0.2")
    with uow() as db, pytest.raises(RateLimited):
        service.guest_lookup(db, number, ANN, "10.0.0.2")  # even the right answer
    with uow() as db:
        assert service.guest_lookup(db, number, ANN, "10.0.0.3") is not None
