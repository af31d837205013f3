"""Help-article search in a real browser: typos, Chinese, suggestions while typing, and what a
guest must never find (drafts, partner-only articles). Every page is audited with axe-core."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from e2e.conftest import Auditor
from e2e.pages import BasePage, KbSearchPage, translator

Shoot = Callable[[Page, str], Path]

PAPER_JAM_EN = "Clearing a paper jam (error E-102, E-103, E-104)"
PAPER_JAM_ZH = "打印机卡纸怎么处理（E-102、E-103、E-104）"
DRAFT_TITLE = "Scheduling snapshots on the NAS"
PARTNER_TITLE = "Partners: sell-through CSV format and columns"


def test_english_search_with_a_typo_finds_the_article_and_offers_the_correction(page: Page, a11y: Auditor, screenshot: Shoot) -> None:
    kb = KbSearchPage(page).open()
    a11y.check(page)
    screenshot(page, "en-30-kb-home")

    # Suggestions appear while typing (the JSON endpoint behind the combobox).
    suggestions = kb.type_slowly("paper ja")
    expect(suggestions.get_by_role("option").first).to_be_visible()
    expect(suggestions).to_contain_text(PAPER_JAM_EN)
    a11y.check(page)
    screenshot(page, "en-31-kb-suggestions")

    kb.search("papr jam")
    expect(kb.hits.first).to_have_text(PAPER_JAM_EN)
    expect(kb.suggestion).to_have_text(re.compile(r"paper", re.IGNORECASE))
    a11y.check(page)
    screenshot(page, "en-32-kb-typo")

    kb.hits.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PAPER_JAM_EN)
    a11y.check(page)
    screenshot(page, "en-33-kb-article")


def test_chinese_search_finds_the_chinese_article(page: Page, a11y: Auditor, screenshot: Shoot) -> None:
    KbSearchPage(page).open()
    BasePage(page).switch_language("zh")
    kb = KbSearchPage(page, translator("zh"))
    a11y.check(page)
    kb.search("打印机卡纸")
    expect(kb.hits.first).to_have_text(PAPER_JAM_ZH)
    a11y.check(page)
    screenshot(page, "zh-32-kb-search")
    kb.hits.first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PAPER_JAM_ZH)
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^zh"))
    a11y.check(page)
    screenshot(page, "zh-33-kb-article")


def test_a_guest_never_finds_a_draft_or_a_partner_only_article(page: Page, a11y: Auditor, base_url: str) -> None:
    kb = KbSearchPage(page).open()
    a11y.check(page)
    for query, title in (("snapshot schedule NAS", DRAFT_TITLE), ("sell-through CSV columns", PARTNER_TITLE)):
        kb.search(query)
        a11y.check(page)
        expect(kb.main).not_to_contain_text(title)
        # Nor among the suggestions the search box would show for the same words.
        answer = page.request.get(f"{base_url}/kb/search.json", params={"q": query, "limit": "10"}).json()
        assert title not in [result["title"] for result in answer["results"]]
    response = page.goto("/kb/partner-sell-through-csv")
    assert response is not None
    assert response.status == 404
    a11y.check(page)
