"""The search index against a real Whoosh directory and real articles (SQLite / PostgreSQL)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from portal.kb.index import Filters, SearchIndex, get_index, index_dir, markdown_text
from portal.kb.models import ArticleStatus, Audience
from portal.settings import Settings
from tests.portal.kb.kbdata import add_synonyms, put_article, set_status, standard_articles

EVERYONE = frozenset(Audience)
GUEST = frozenset({Audience.PUBLIC})


@pytest.fixture
def index(settings: Settings) -> SearchIndex:
    return get_index(settings.data_dir)


@pytest.fixture
def ids(uow: Callable[..., Any], index: SearchIndex) -> dict[str, int]:
    ids = standard_articles(uow)
    with uow() as db:
        index.apply_changes(db, wait=True)
    return ids


def slugs(index: SearchIndex, q: str, audiences: frozenset[Audience] = GUEST, locale: str = "en", **filters: str) -> list[str]:
    return [f"{h.slug}/{h.locale}" for h in index.search(q, locale=locale, audiences=audiences, filters=Filters(**filters)).hits]


def test_english_stemming_matches_plural_and_singular(index: SearchIndex, ids: dict[str, int]) -> None:
    assert slugs(index, "battery")[0] == "battery-care/en"
    assert slugs(index, "routers resetting")[0] == "reset-router/en"


def test_a_typo_finds_the_article_and_suggests_the_spelling(index: SearchIndex, ids: dict[str, int]) -> None:
    results = index.search("thred pitch", locale="en", audiences=GUEST)
    assert [h.slug for h in results.hits][:1] == ["thread-pitch"]
    assert results.suggestion == "thread pitch"
    results = index.search("batery", locale="en", audiences=GUEST)
    assert results.hits
    assert results.hits[0].slug == "battery-care"
    assert results.suggestion == "battery"


def test_chinese_query_finds_the_chinese_article(index: SearchIndex, ids: dict[str, int]) -> None:
    assert slugs(index, "重置路由器", locale="zh")[0] == "reset-router/zh"
    assert slugs(index, "固件升级", locale="zh") == ["firmware-update/zh"]


def test_mixed_language_query(index: SearchIndex, ids: dict[str, int]) -> None:
    assert slugs(index, "R200 固件", locale="zh")[0] == "firmware-update/zh"
    assert slugs(index, "firmware 升级", locale="zh")[0] == "firmware-update/zh"


def test_the_reader_locale_ranks_first(index: SearchIndex, ids: dict[str, int]) -> None:
    assert slugs(index, "NW-R200 reset", locale="en")[0] == "reset-router/en"


def test_synonyms_staff_add_are_used(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    assert slugs(index, "gateway") == []
    with uow() as db:
        add_synonyms(db, "router", "gateway", "路由器")
    with uow() as db:
        index.synonyms.refresh(db, force=True)
    assert slugs(index, "gateway")[0] == "reset-router/en"
    assert "reset-router/zh" in slugs(index, "gateway", locale="zh")


def test_audience_filter_applies_to_hits_counts_facets_and_suggestions(index: SearchIndex, ids: dict[str, int]) -> None:
    guest = index.search("router", locale="en", audiences=GUEST)
    found = {h.slug for h in guest.hits}
    assert "partner-router-margins" not in found
    assert "router-bulk-config" not in found
    assert "router-secret-draft" not in found
    assert guest.total == len(guest.hits)
    assert dict(guest.facets["category"]).get("sales") is None
    assert "recalls" not in dict(guest.facets["category"])
    suggested = {h.slug for h in index.suggest("rout", locale="en", audiences=GUEST)}
    assert suggested
    assert not suggested & {"partner-router-margins", "router-bulk-config", "router-secret-draft"}
    partner = {h.slug for h in index.search("router", locale="en", audiences=frozenset({Audience.PUBLIC, Audience.PARTNERS})).hits}
    assert "partner-router-margins" in partner
    assert "router-bulk-config" not in partner
    staff = {h.slug for h in index.search("router", locale="en", audiences=EVERYONE).hits}
    assert {"partner-router-margins", "router-bulk-config"} <= staff
    assert "router-secret-draft" not in staff  # drafts are never in the index


def test_facets_and_filters(index: SearchIndex, ids: dict[str, int]) -> None:
    results = index.search("router", locale="en", audiences=EVERYONE)
    languages = dict(index.search("NW-R200", locale="en", audiences=EVERYONE).facets["language"])
    assert languages["en"] >= 3
    assert languages["zh"] >= 1
    assert dict(results.facets["product"])["NW-R200"] == results.total
    only_sales = slugs(index, "router", EVERYONE, category="sales")
    assert only_sales == ["partner-router-margins/en"]
    assert all(s.endswith("/zh") for s in slugs(index, "NW-R200", EVERYONE, language="zh"))


def test_snippets_mark_matches_and_escape_the_text(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    with uow() as db:
        put_article(db, "xss", "Scripts in labels", 'Press Ctrl & P on the label printer when 1 < 2 "twice".')
    with uow() as db:
        index.apply_changes(db, wait=True)
    hit = index.search("label printer", locale="en", audiences=GUEST).hits[0]
    assert "<mark>label</mark> <mark>printer</mark>" in hit.snippet
    assert "Ctrl &amp; P" in hit.snippet
    assert "1 &lt; 2" in hit.snippet
    assert hit.snippet_text.startswith("Press Ctrl & P on the label printer when 1 < 2")


def test_pagination(uow: Callable[..., Any], index: SearchIndex) -> None:
    with uow() as db:
        for n in range(23):
            put_article(db, f"printer-{n}", f"Label printer tip {n}", f"Printer advice number {n}.")
    with uow() as db:
        index.apply_changes(db, wait=True)
    first = index.search("printer", locale="en", audiences=GUEST, page=1, page_size=10)
    third = index.search("printer", locale="en", audiences=GUEST, page=3, page_size=10)
    assert first.total == 23
    assert first.pages == 3
    assert len(first.hits) == 10
    assert len(third.hits) == 3
    assert not {h.slug for h in first.hits} & {h.slug for h in third.hits}


def test_incremental_updates_follow_the_change_log(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    with uow() as db:
        draft = put_article(db, "new-dock", "Docking station setup", "Connect the dock.", status=ArticleStatus.DRAFT)
    with uow() as db:
        assert index.apply_changes(db, wait=True) == 1
    assert slugs(index, "docking") == []
    generation = index._open().latest_generation()
    with uow() as db:
        set_status(db, draft.id, ArticleStatus.PUBLISHED)
    with uow() as db:
        assert index.apply_changes(db, wait=True) == 1  # only the changed article, no rebuild
    assert slugs(index, "docking") == ["new-dock/en"]
    assert index._open().latest_generation() == generation + 1
    with uow() as db:
        set_status(db, draft.id, ArticleStatus.ARCHIVED)
    with uow() as db:
        index.apply_changes(db, wait=True)
        assert index.apply_changes(db, wait=True) == 0  # the cursor moved on
    assert slugs(index, "docking") == []


def test_the_index_survives_a_restart(settings: Settings, uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    fresh = SearchIndex(index.directory)  # another process opening the same directory
    assert fresh.cursor() == index.cursor() > 0
    assert fresh.search("battery", locale="en", audiences=GUEST).hits[0].slug == "battery-care"
    with uow() as db:
        assert fresh.ensure(db) is False


def test_a_missing_or_corrupt_index_is_rebuilt(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    for segment in Path(index.directory).glob("*.seg"):
        segment.write_bytes(b"garbage")
    for toc in Path(index.directory).glob("_MAIN_*.toc"):
        toc.write_bytes(b"garbage")
    fresh = SearchIndex(index.directory)
    assert not fresh.healthy()
    with uow() as db:
        assert fresh.ensure(db) is True
    assert fresh.search("battery", locale="en", audiences=GUEST).hits[0].slug == "battery-care"
    shutil.rmtree(index.directory)
    again = SearchIndex(index.directory)
    with uow() as db:
        assert again.apply_changes(db, wait=True) is None  # rebuilt instead
    assert again.search("battery", locale="en", audiences=GUEST).hits[0].slug == "battery-care"


def test_one_writer_per_directory(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    other = SearchIndex(index.directory)
    with index._exclusive(wait=True) as mine, uow() as db:
        assert mine
        put_article(db, "late", "Late article", "Written while another writer works.")
        db.flush()
        assert other.apply_changes(db) is None  # skipped: the lock is held
    with uow() as db:
        assert other.apply_changes(db) == 1


def test_rebuild_reports_progress(uow: Callable[..., Any], index: SearchIndex, ids: dict[str, int]) -> None:
    seen: list[tuple[int, int]] = []
    with uow() as db:
        count = index.rebuild(db, lambda done, total: seen.append((done, total)))
    assert count == 7  # every published article, drafts left out
    assert seen[0] == (0, 7)
    assert seen[-1] == (7, 7)
    assert slugs(index, "battery")[0] == "battery-care/en"


def test_markdown_is_reduced_to_words() -> None:
    assert markdown_text("# Title\n\nSee [the guide](http://x) and **bold** `code`.") == "Title See the guide and bold code."


def test_reindex_command_rebuilds_with_progress(settings: Settings, uow: Callable[..., Any], ids: dict[str, int]) -> None:
    from click.testing import CliRunner

    from portal.cli import main

    shutil.rmtree(index_dir(settings.data_dir))
    env = {"DATABASE_URL": settings.database_url, "CRM_DATABASE_URL": settings.crm_database_url, "DATA_DIR": str(settings.data_dir)}
    result = CliRunner().invoke(main, ["search", "reindex"], env=env)
    assert result.exit_code == 0, result.output
    assert "Indexed 7 published article(s)" in result.output
    assert "articles/s" in result.output
    fresh = SearchIndex(index_dir(settings.data_dir).resolve())
    assert fresh.search("battery", locale="en", audiences=GUEST).hits[0].slug == "battery-care"
