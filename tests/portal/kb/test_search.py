"""The search service: audiences decided from the actor, inside the index query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from portal.accounts.models import Role
from portal.kb import search as kb_search
from portal.kb.index import SearchIndex, get_index
from portal.kb.models import Audience
from portal.settings import Settings
from tests.portal.kb.kbdata import add_synonyms, standard_articles


@pytest.fixture
def index(settings: Settings) -> SearchIndex:
    return get_index(settings.data_dir)


@pytest.fixture
def ids(uow: Callable[..., Any], index: SearchIndex) -> dict[str, int]:
    ids = standard_articles(uow)
    with uow() as db:
        index.apply_changes(db, wait=True)
    return ids


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, {Audience.PUBLIC}),
        (Role.CUSTOMER, {Audience.PUBLIC, Audience.CUSTOMERS}),
        (Role.CUSTOMER_ADMIN, {Audience.PUBLIC, Audience.CUSTOMERS}),
        (Role.PARTNER, {Audience.PUBLIC, Audience.PARTNERS}),
        (Role.PARTNER_ADMIN, {Audience.PUBLIC, Audience.PARTNERS}),
        (Role.STAFF, set(Audience)),
        (Role.ADMIN, set(Audience)),
    ],
)
def test_who_may_find_what(make_user: Callable[..., Any], role: Role | None, expected: set[Audience]) -> None:
    actor = make_user(f"{role or 'guest'}@example.com", role) if role else None
    assert kb_search.search_audiences(actor) == expected


def test_partners_find_partner_articles_and_guests_do_not(
    uow: Callable[..., Any], make_user: Callable[..., Any], index: SearchIndex, ids: dict[str, int]
) -> None:
    partner = make_user("p@example.com", Role.PARTNER)
    with uow() as db:
        as_guest = kb_search.search_articles(db, index, None, "reseller margins", "en")
        as_partner = kb_search.search_articles(db, index, partner, "reseller margins", "en")
        guest_suggest = kb_search.suggestions(db, index, None, "reseller", "en")
    assert as_guest.total == 0
    assert not as_guest.facets
    assert [h.slug for h in as_partner.hits] == ["partner-router-margins"]
    assert "partner-router-margins" not in {h.slug for h in guest_suggest.hits}


def test_synonyms_added_by_staff_reach_the_search(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    with uow() as db:
        assert kb_search.search_articles(db, index, None, "gateway", "en").total == 0
        add_synonyms(db, "router", "gateway")
    index.synonyms._checked = 0.0  # the cache re-reads the table at most every few seconds
    with uow() as db:
        results = kb_search.search_articles(db, index, None, "gateway", "en")
    assert results.hits[0].slug == "reset-router"


def test_input_is_bounded(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    with uow() as db:
        results = kb_search.search_articles(db, index, None, "router " * 100, "xx", page=10_000, category="x" * 500)
    assert len(results.query) <= 200
    assert results.page == kb_search.MAX_PAGE
    assert results.total == 0


def test_an_index_still_being_built_answers_nothing_found_not_an_error(
    uow: Callable[..., Any], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh node serves requests while its updater builds the index: the directory exists
    but its table of contents does not yet (whoosh raises EmptyIndexError on opening)."""
    from whoosh import index as whoosh_index

    fresh = SearchIndex(settings.data_dir / "search-fresh")

    def not_yet(*_args: object, **_kwargs: object) -> None:
        raise whoosh_index.EmptyIndexError("Index 'MAIN' does not exist")

    monkeypatch.setattr(whoosh_index, "open_dir", not_yet)
    with uow() as db:
        results = kb_search.search_articles(db, fresh, None, "paper jam", "en")
        suggestions = kb_search.suggestions(db, fresh, None, "paper", "en")
    assert (results.total, results.hits) == (0, [])
    assert suggestions.hits == []
