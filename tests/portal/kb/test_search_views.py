"""GET /kb/search (HTML, no JavaScript needed) and GET /kb/search.json (CONTRACTS.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from portal.accounts.models import Role
from portal.kb.index import SearchIndex, get_index
from portal.settings import Settings
from tests.conftest import WebClient
from tests.portal.kb.kbdata import put_article, standard_articles


@pytest.fixture
def index(settings: Settings) -> SearchIndex:
    return get_index(settings.data_dir)


@pytest.fixture
def ids(uow: Callable[..., Any], index: SearchIndex) -> dict[str, int]:
    ids = standard_articles(uow)
    with uow() as db:
        index.apply_changes(db, wait=True)
    return ids


def test_the_results_page_lists_highlighted_hits_with_facets(client: WebClient, ids: dict[str, int]) -> None:
    page = client.get("/kb/search", params={"q": "reset router"})
    assert page.status_code == 200
    assert 'href="/kb/reset-router"' in page.text
    assert "<mark>" in page.text
    assert "/kb/search?q=reset+router&amp;category=networking" in page.text
    assert "Configure many routers at once" not in page.text  # customers only
    assert "reseller margins" not in page.text  # partners only


def test_a_facet_link_filters_the_results(client: WebClient, ids: dict[str, int]) -> None:
    page = client.get("/kb/search", params={"q": "battery", "category": "networking"})
    assert "battery-care" not in page.text
    assert "No articles match" in page.text
    assert "Search without filters" in page.text


def test_did_you_mean_links_to_the_corrected_search(client: WebClient, ids: dict[str, int]) -> None:
    page = client.get("/kb/search", params={"q": "batery"})
    assert "Did you mean" in page.text
    assert '/kb/search?q=battery"' in page.text
    assert 'href="/kb/battery-care"' in page.text


def test_the_query_is_escaped(client: WebClient, ids: dict[str, int]) -> None:
    page = client.get("/kb/search", params={"q": "<script>alert(1)</script>"})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text


def test_pagination_and_empty_state(client: WebClient, uow: Callable[..., Any], index: SearchIndex) -> None:
    with uow() as db:
        for n in range(14):
            put_article(db, f"printer-{n}", f"Label printer tip {n}", f"Printer advice number {n}.")
    with uow() as db:
        index.apply_changes(db, wait=True)
    first = client.get("/kb/search", params={"q": "printer"})
    assert "14 articles found" in first.text
    assert len(re.findall(r'class="search-hit"', first.text)) == 10
    second = client.get("/kb/search", params={"q": "printer", "page": "2"})
    assert len(re.findall(r'class="search-hit"', second.text)) == 4
    assert "Page 2 of 2" in second.text
    none = client.get("/kb/search", params={"q": "zzzqqq"})
    assert "No articles match" in none.text
    blank = client.get("/kb/search")
    assert blank.status_code == 200
    assert 'name="q"' in blank.text


def test_the_page_speaks_chinese(client: WebClient, ids: dict[str, int]) -> None:
    client.cookies.set("portal_lang", "zh")
    page = client.get("/kb/search", params={"q": "重置路由器"})
    assert page.status_code == 200
    assert "如何重置路由器" in page.text
    assert '<html lang="zh-Hans">' in page.text


def test_json_contract(client: WebClient, ids: dict[str, int]) -> None:
    response = client.get("/kb/search.json", params={"q": "rese", "locale": "en", "limit": "3"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "no-store" in response.headers["cache-control"]
    body = response.json()
    assert set(body) == {"query", "suggestion", "results"}
    assert body["query"] == "rese"
    assert len(body["results"]) in range(1, 4)
    first = body["results"][0]
    assert set(first) == {"slug", "title", "url", "snippet", "locale"}
    assert first == {
        "slug": "reset-router",
        "title": "How to reset your router",
        "url": "/kb/reset-router",
        "snippet": "Restore factory settings on the R200 router.",
        "locale": "en",
    }


def test_json_limits_and_suggestion(client: WebClient, ids: dict[str, int]) -> None:
    assert client.get("/kb/search.json").json() == {"query": "", "suggestion": None, "results": []}
    long = client.get("/kb/search.json", params={"q": "a" * 500, "limit": "500"}).json()
    assert len(long["query"]) == 200
    assert len(long["results"]) <= 10
    typo = client.get("/kb/search.json", params={"q": "batery care"}).json()
    assert typo["suggestion"] == "battery care"
    assert typo["results"][0]["slug"] == "battery-care"
    zh = client.get("/kb/search.json", params={"q": "路由", "locale": "zh"}).json()
    assert zh["results"][0] == {**zh["results"][0], "slug": "reset-router", "locale": "zh"}


def test_json_respects_the_audience(make_client: Callable[[], WebClient], make_user: Callable[..., Any], ids: dict[str, int]) -> None:
    guest = make_client()
    slugs = {r["slug"] for r in guest.get("/kb/search.json", params={"q": "router", "limit": "10"}).json()["results"]}
    assert "partner-router-margins" not in slugs
    assert "router-bulk-config" not in slugs
    assert "router-secret-draft" not in slugs
    make_user("cust@example.com", Role.CUSTOMER)
    customer = make_client()
    customer.login("cust@example.com")
    slugs = {r["slug"] for r in customer.get("/kb/search.json", params={"q": "router", "limit": "10"}).json()["results"]}
    assert "router-bulk-config" in slugs
    assert "partner-router-margins" not in slugs
