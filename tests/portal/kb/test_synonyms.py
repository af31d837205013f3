"""The staff's synonyms list (/staff/kb/synonyms): add, edit, delete groups, audited, and the
search finds an article by a synonym added on the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.errors import Invalid
from portal.kb import search as kb_search
from portal.kb.index import SearchIndex, get_index
from portal.kb.models import SearchSynonym
from portal.security.models import AuditEvent
from portal.settings import Settings
from tests.conftest import WebClient
from tests.portal.kb.kbdata import standard_articles

PAGE = "/staff/kb/synonyms"


@pytest.fixture
def index(settings: Settings) -> SearchIndex:
    return get_index(settings.data_dir)


@pytest.fixture
def staff(make_client: Callable[[], WebClient], make_user: Callable[..., Any], uow: Callable[..., Any]) -> WebClient:
    user = make_user("sam@northwind.example", Role.STAFF, name="Sam Staff")
    with uow() as db:
        row = db.get(User, user.id)
        assert row is not None
        row.totp_secret, row.totp_enabled = pyotp.random_base32(), True
        secret = row.totp_secret
    web = make_client()
    web.login("sam@northwind.example")
    web.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    return web


def _groups(uow: Callable[..., Any]) -> list[list[str]]:
    with uow() as db:
        return [list(g.words) for g in db.scalars(select(SearchSynonym).order_by(SearchSynonym.id))]


def _audit(uow: Callable[..., Any]) -> list[tuple[str, str | None]]:
    with uow() as db:
        return [
            (e.action, e.actor_email)
            for e in db.scalars(select(AuditEvent).where(AuditEvent.action.like("kb_synonym.%")).order_by(AuditEvent.id))
        ]


def test_staff_add_edit_and_delete_groups(staff: WebClient, uow: Callable[..., Any]) -> None:
    empty = staff.get(PAGE)
    assert empty.status_code == 200
    assert "No synonym groups yet" in empty.text
    assert "within 5 seconds" in empty.text

    added = staff.submit(PAGE, {"words": "Router,  Gateway\n路由器, router"}, form_page=PAGE)
    assert added.status_code == 303
    assert _groups(uow) == [["router", "gateway", "路由器"]]
    page = staff.get(PAGE)
    assert "Synonyms added: router, gateway, 路由器." in page.text
    assert "router, gateway, 路由器</textarea>" in page.text
    with uow() as db:
        group_id = db.scalar(select(SearchSynonym.id))

    saved = staff.submit(f"{PAGE}/{group_id}", {"action": "save", f"words-{group_id}": "router, gateway, modem"}, form_page=PAGE)
    assert saved.status_code == 303
    assert _groups(uow) == [["router", "gateway", "modem"]]

    deleted = staff.submit(f"{PAGE}/{group_id}", {"action": "delete"}, form_page=PAGE)
    assert deleted.status_code == 303
    assert _groups(uow) == []
    assert "The synonym group is deleted." in staff.get(PAGE).text
    who = "sam@northwind.example"
    assert _audit(uow) == [("kb_synonym.added", who), ("kb_synonym.changed", who), ("kb_synonym.deleted", who)]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("router", "Enter at least two words"),
        ("router, ROUTER", "Enter at least two words"),
        (" , \n ", "Enter at least two words"),
        ("router, " + "x" * 61, "at most 60 characters"),
    ],
)
def test_invalid_groups_come_back_with_the_error_and_the_input(staff: WebClient, uow: Callable[..., Any], words: str, message: str) -> None:
    page = staff.submit(PAGE, {"words": words}, form_page=PAGE)
    assert page.status_code == 422
    assert message in page.text
    assert 'aria-invalid="true"' in page.text
    if words.strip(" ,\n"):
        assert words.split(",")[0] in page.text  # the input is kept
    assert _groups(uow) == []


def test_an_invalid_edit_keeps_the_group(staff: WebClient, uow: Callable[..., Any]) -> None:
    staff.submit(PAGE, {"words": "printer, 打印机"}, form_page=PAGE)
    with uow() as db:
        group_id = db.scalar(select(SearchSynonym.id))
    page = staff.submit(f"{PAGE}/{group_id}", {"action": "save", f"words-{group_id}": "printer"}, form_page=PAGE)
    assert page.status_code == 422
    assert "Enter at least two words" in page.text
    assert f'href="#f-words-{group_id}"' in page.text
    assert _groups(uow) == [["printer", "打印机"]]
    assert staff.submit(f"{PAGE}/{group_id}", {"action": "rename"}, form_page=PAGE).status_code == 422
    assert staff.submit(f"{PAGE}/999999", {"action": "delete"}, form_page=PAGE).status_code == 404


def test_only_staff_see_the_page(
    client: WebClient, make_client: Callable[[], WebClient], make_user: Callable[..., Any], uow: Callable[..., Any]
) -> None:
    with uow() as db:
        db.add(SearchSynonym(words=["router", "gateway"], updated_at=kb_search.utcnow()))
    make_user("cust@example.com", Role.CUSTOMER)
    customer = make_client()
    customer.login("cust@example.com")
    assert customer.get(PAGE).status_code == 404
    assert customer.submit(PAGE, {"words": "a, b"}).status_code == 404
    with uow() as db:
        group_id = db.scalar(select(SearchSynonym.id))
    assert customer.submit(f"{PAGE}/{group_id}", {"action": "delete"}).status_code == 404
    assert client.get(PAGE, follow_redirects=False).status_code in (302, 303)  # a guest is asked to sign in
    assert _groups(uow) == [["router", "gateway"]]


def test_a_synonym_added_on_the_page_reaches_the_search(staff: WebClient, uow: Callable[..., Any], index: SearchIndex) -> None:
    standard_articles(uow)
    with uow() as db:
        index.apply_changes(db, wait=True)
    before = staff.get("/kb/search", params={"q": "gateway"})
    assert 'href="/kb/reset-router"' not in before.text
    assert staff.submit(PAGE, {"words": "router, gateway"}, form_page=PAGE).status_code == 303
    index.synonyms._checked = 0.0  # the cache re-reads the table at most every SYNONYM_TTL_S seconds
    after = staff.get("/kb/search", params={"q": "gateway"})
    assert 'href="/kb/reset-router"' in after.text
    assert re.search(r"<mark>[Rr]outer</mark>", after.text)


def test_the_demo_synonyms_are_seeded_once_and_staff_edits_survive(uow: Callable[..., Any]) -> None:
    with uow() as db:
        assert kb_search.seed_demo_synonyms(db) == len(kb_search.DEMO_SYNONYMS)
    with uow() as db:
        first = db.scalars(select(SearchSynonym).order_by(SearchSynonym.id)).first()
        assert first is not None
        first.words = ["router", "gateway", "modem"]
    with uow() as db:
        assert kb_search.seed_demo_synonyms(db) == 0
    groups = _groups(uow)
    assert len(groups) == len(kb_search.DEMO_SYNONYMS)
    assert groups[0] == ["router", "gateway", "modem"]
    for words in groups:
        assert kb_search.synonym_words(", ".join(words)) == words  # each is a valid group


def test_words_are_split_on_commas_semicolons_and_new_lines() -> None:
    assert kb_search.synonym_words("NAS;network storage，网络存储\r\n Network  Storage") == ["nas", "network storage", "网络存储"]
    with pytest.raises(Invalid):
        kb_search.synonym_words(", ".join(f"w{n}" for n in range(21)))
