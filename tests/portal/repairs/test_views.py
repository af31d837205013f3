"""Customer repair pages and the public repair-status lookup, over HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.repairs import workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import Rma, RmaUnit
from tests.conftest import link_in
from tests.portal.repairs.test_service import ANN, BOB, DEE, png, request, seed

FORM = {
    "fault_category": "no_power",
    "description": "Both boards went dark after a power cut.",
    "return_address": "Alpha Appliances\n1 Main St\nLondon",
    "preferred_outcome": "repair",
    "more_serials": "",
}
NOT_FOUND = "We could not find a repair with that number and e-mail address."


@pytest.fixture
def ids(uow: Callable[..., Any], make_account: Any, make_user: Any) -> dict[str, int]:
    return seed(uow, make_account, make_user)


def _number(location: str) -> str:
    match = re.fullmatch(r"/repairs/(RMA-[A-Z0-9]{6})", location)
    assert match, location
    return match.group(1)


def test_request_two_units_end_to_end(client: Any, ids: dict[str, int], outbox_mail: Any) -> None:
    client.login(ANN)
    page = client.get("/repairs/new?serial=SA1&order=O-1").text
    assert 'value="SA1" id="unit-' in page
    assert page.count(" checked") >= 3  # SA1 and the units of order O-1 are ticked
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/repairs/new",
        data={**FORM, "csrf_token": token, "serial": ["SA1"], "more_serials": "sa2\n"},
        files=[("photos", ("board.png", png(), "image/png"))],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text[:2000]
    number = _number(response.headers["location"])
    detail = client.get(f"/repairs/{number}").text
    for expected in (f"{number}-1", f"{number}-2", "SA1", "SA2", "Router R1", "We have your request and are checking it.", "has been sent"):
        assert expected in detail
    photo_url = re.search(rf'src="(/repairs/{number}/photos/\d+)"', detail).group(1)  # type: ignore[union-attr]
    photo = client.get(photo_url)
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert photo.content.startswith(b"\x89PNG")
    label = client.get(f"/repairs/{number}/label").text
    assert "<svg" in label
    assert "Northwind Devices Repair Centre" in label
    assert f"{number}-2" in label
    assert "London" in label
    listing = client.get("/repairs").text
    assert number in listing
    assert "Requested" in listing
    (mail,) = outbox_mail()
    assert link_in(mail, f"/repairs/{number}/label")
    # The prefilled return address of the next request is this one's.
    assert "Alpha Appliances\n1 Main St\nLondon" in client.get("/repairs/new").text


def test_form_errors_keep_input_and_ask_for_photos_again(client: Any, ids: dict[str, int]) -> None:
    client.login(ANN)
    response = client.submit(
        "/repairs/new",
        {**FORM, "more_serials": "SB1", "description": "Both boards went dark."},
        form_page="/repairs/new",
        files=[("photos", ("board.png", png(), "image/png"))],
    )
    assert response.status_code == 422
    assert "We could not find serial SB1 among your units. Check the label, or register the unit first." in response.text
    assert 'href="/products/register"' in response.text
    assert "Both boards went dark." in response.text
    assert "choose them again" in response.text
    with_text = client.submit(
        "/repairs/new", {**FORM, "more_serials": "SA1"}, form_page="/repairs/new", files=[("photos", ("n.txt", b"hello", "text/plain"))]
    )
    assert with_text.status_code == 422
    assert "Upload a photo in JPEG, PNG or WebP format." in with_text.text


def test_advance_replacement_is_not_offered_without_a_gold_or_silver_tier(client: Any, ids: dict[str, int]) -> None:
    client.login(ANN)
    assert 'value="advance_replacement"' not in client.get("/repairs/new").text
    refused = client.submit(
        "/repairs/new", {**FORM, "more_serials": "SA1", "preferred_outcome": "advance_replacement"}, form_page="/repairs/new"
    )
    assert refused.status_code == 422
    assert "Gold and Silver accounts only" in refused.text


def test_the_list_shows_an_empty_state_and_another_customers_rma_is_404(
    client: Any, make_client: Any, state: Any, uow: Any, ids: dict[str, int]
) -> None:
    client.login(BOB)
    empty = client.get("/repairs").text
    assert "You have not requested a repair yet." in empty
    assert 'href="/repairs/new"' in empty
    number = request(state, uow, ids[ANN], "SA1")
    for path in (f"/repairs/{number}", f"/repairs/{number}/label"):
        assert client.get(path).status_code == 404
    assert client.submit(f"/repairs/{number}/cancel", {}).status_code == 404
    assert number not in client.get("/repairs").text


def test_the_timeline_shows_events_quote_accept_and_decline(client: Any, state: Any, uow: Any, ids: dict[str, int]) -> None:
    number = request(state, uow, ids[ANN], "SA1", "SAOLD")
    with uow() as db:
        units = list(db.scalars(select(RmaUnit).order_by(RmaUnit.line_no)))
        for step in (RmaStatus.APPROVED, RmaStatus.RECEIVED, RmaStatus.DIAGNOSING):
            workflow.move(db, None, units, step)
        workflow.add_note(db, units[0], "Secret bench note", customer_visible=False, actor=None)
        for unit in units:
            unit.quote_amount_cents, unit.quote_currency, unit.quote_valid_until = 12900, "USD", utcnow().date() + timedelta(days=14)
        workflow.move(db, None, units, RmaStatus.QUOTE_SENT, note="Power supply replacement")
    client.login(ANN)
    page = client.get(f"/repairs/{number}").text
    assert "Power supply replacement" in page
    assert "Secret bench note" not in page
    assert page.count("Accept the quote") == 2
    assert "$129.00" in page
    assert 'aria-current="step"' in page
    accepted = client.submit(f"/repairs/{number}/units/{number}-1/quote", {"decision": "accept"}, form_page=f"/repairs/{number}")
    assert accepted.headers["location"] == f"/repairs/{number}"
    declined = client.submit(f"/repairs/{number}/units/{number}-2/quote", {"decision": "decline"}, form_page=f"/repairs/{number}")
    assert declined.status_code == 303
    page = client.get(f"/repairs/{number}").text
    assert "You declined the quote" in page
    assert "Quote accepted" in page
    assert "Accept the quote" not in page
    with uow() as db:
        assert [u.status for u in db.scalars(select(RmaUnit).order_by(RmaUnit.line_no))] == [
            RmaStatus.QUOTE_ACCEPTED,
            RmaStatus.QUOTE_DECLINED,
        ]
    again = client.submit(f"/repairs/{number}/units/{number}-1/quote", {"decision": "decline"}, form_page=f"/repairs/{number}")
    assert again.status_code == 303
    assert "This quote has already been answered." in client.get(f"/repairs/{number}").text


def test_the_timeline_shows_a_change_made_elsewhere_on_the_next_request(client: Any, state: Any, uow: Any, ids: dict[str, int]) -> None:
    """Quick reads keep an RMA's rows while the database is unchanged (portal.db.UnchangedReads):
    a change committed by anyone else (the desk, the CRM pull, another worker) is seen at once."""
    number = request(state, uow, ids[ANN], "SA1")
    client.login(ANN)
    for _ in range(2):
        assert "Your board is on the bench" not in client.get(f"/repairs/{number}").text
    with uow() as db:
        unit = db.scalars(select(RmaUnit)).one()
        workflow.add_note(db, unit, "Your board is on the bench", customer_visible=True, actor=None)
    assert "Your board is on the bench" in client.get(f"/repairs/{number}").text


def test_cancel_from_the_timeline(client: Any, state: Any, uow: Any, ids: dict[str, int]) -> None:
    number = request(state, uow, ids[ANN], "SA1")
    client.login(ANN)
    assert "Cancel the units not yet received" in client.get(f"/repairs/{number}").text
    assert client.submit(f"/repairs/{number}/cancel", {}).status_code == 303
    page = client.get(f"/repairs/{number}").text
    assert "1 unit was cancelled." in page
    assert "This repair was cancelled." in page
    assert "Cancel the units not yet received" not in page
    assert client.submit(f"/repairs/{number}/cancel", {}).status_code == 303
    assert "Nothing left to cancel" in client.get(f"/repairs/{number}").text
    assert number in client.get("/repairs?state=closed").text
    assert number not in client.get("/repairs?state=open").text


# -- guests --------------------------------------------------------------------------------------------
def test_guest_lookup_success_and_identical_failures(client: Any, state: Any, uow: Any, ids: dict[str, int]) -> None:
    number = request(state, uow, ids[ANN], "SA1")
    found = client.submit("/repair-status", {"number": f" {number.lower()}-1 ", "email": "ANN@alpha.example"}, form_page="/repair-status")
    assert found.status_code == 200
    for expected in (f"{number}-1", "SA1", "We have your request and are checking it."):
        assert expected in found.text
    for private in ("Alpha Appliances", "photos/", "Accept the quote", "Return address"):
        assert private not in found.text
    pages = []
    for guess_number, email in ((number, BOB), ("RMA-ZZZZZZ", ANN), ("not a number", "not an e-mail")):
        response = client.submit(
            "/repair-status",
            {"number": "RMA-AAAAAA", "email": email} if guess_number != number else {"number": number, "email": email},
            form_page="/repair-status",
        )
        assert response.status_code == 200
        assert NOT_FOUND in response.text
        assert email not in response.text
        pages.append(re.sub(r'name="csrf_token" value="[^"]*"|nonce="[^"]*"|value="RMA-[^"]*"', "", response.text))
    assert pages[0] == pages[1] == pages[2]


def test_guest_lookup_is_rate_limited(client: Any, ids: dict[str, int]) -> None:
    token = client.csrf("/repair-status")
    for _ in range(20):
        assert client.post("/repair-status", data={"csrf_token": token, "number": "RMA-AAAAAA", "email": "x@y.example"}).status_code == 200
    limited = client.post("/repair-status", data={"csrf_token": token, "number": "RMA-AAAAAA", "email": "x@y.example"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) in range(1, 62)


def test_the_signed_link_works_and_a_tampered_one_does_not(
    client: Any, state: Any, uow: Any, ids: dict[str, int], outbox_mail: Any
) -> None:
    number = request(state, uow, ids[ANN], "SA1")
    link = link_in(outbox_mail()[-1], "/repair-status/")
    page = client.get(link)
    assert page.status_code == 200
    assert f"{number}-1" in page.text
    assert "Accept the quote" not in page.text
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    bad = client.get(tampered)
    assert bad.status_code == 400  # a friendly page with the lookup form
    assert "This link has expired or is not valid." in bad.text
    assert 'action="/repair-status"' in bad.text
    assert number not in bad.text


def test_pages_render_in_chinese(client: Any, state: Any, uow: Any, ids: dict[str, int]) -> None:
    number = request(state, uow, ids[DEE], "SD1")
    client.login(DEE)  # Dee's locale is zh
    for path in ("/repairs", "/repairs/new", f"/repairs/{number}", f"/repairs/{number}/label"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert 'lang="zh-Hans"' in response.text
    with uow() as db:
        assert db.scalar(select(Rma.locale).where(Rma.number == number)) == "zh"
