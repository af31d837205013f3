"""Importing Markdown articles from a folder (`portal kb import PATH`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from portal.cli import main
from portal.kb import service
from portal.kb.models import Article, ArticleRevision, ArticleStatus, Audience, KbChange

ROUTER_EN = """---
title: Reset your router
slug: reset-router
locale: en
category: Networking
products: [NW-R200]
tags: [network, reset]
audience: public
---
Hold the **reset** button for ten seconds. The lights blink, then the router restarts.

## Afterwards

Sign in again with the password on the label.
"""

ROUTER_ZH = """---
title: 重置路由器
slug: reset-router
locale: zh
category: 网络
summary: 恢复出厂设置。
status: draft
---
按住复位键十秒钟。
"""


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _counts(db: Any) -> tuple[int, int, int]:
    return tuple(int(db.scalar(select(func.count()).select_from(t)) or 0) for t in (Article, ArticleRevision, KbChange))  # type: ignore[return-value]


def test_import_creates_articles_and_a_second_run_changes_nothing(uow: Callable[..., Any], tmp_path: Path) -> None:
    _write(tmp_path, "networking/reset-router.en.md", ROUTER_EN)
    _write(tmp_path, "networking/reset-router.zh.md", ROUTER_ZH)
    with uow() as db:
        report = service.import_folder(db, tmp_path)
    assert (report.created, report.updated, report.unchanged, report.errors) == (2, 0, 0, [])
    with uow() as db:
        en = db.scalar(select(Article).where(Article.slug == "reset-router", Article.locale == "en"))
        assert en is not None
        assert (en.status, en.audience, en.products, en.tags, en.category) == (
            ArticleStatus.PUBLISHED,
            Audience.PUBLIC,
            ["NW-R200"],
            ["network", "reset"],
            "Networking",
        )
        assert en.summary == "Hold the reset button for ten seconds. The lights blink, then the router restarts."
        assert en.published_at is not None
        zh = db.scalar(select(Article).where(Article.slug == "reset-router", Article.locale == "zh"))
        assert zh is not None
        assert (zh.status, zh.summary) == (ArticleStatus.DRAFT, "恢复出厂设置。")
        before = _counts(db)
    with uow() as db:
        again = service.import_folder(db, tmp_path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    with uow() as db:
        assert _counts(db) == before


def test_a_changed_file_updates_the_article_as_a_new_version(uow: Callable[..., Any], tmp_path: Path) -> None:
    path = _write(tmp_path, "reset-router.md", ROUTER_EN)
    with uow() as db:
        service.import_folder(db, tmp_path)
    path.write_text(ROUTER_EN.replace("ten seconds", "thirty seconds"), encoding="utf-8")
    with uow() as db:
        report = service.import_folder(db, tmp_path)
        assert report.updated == 1
        article = db.scalar(select(Article))
        assert article is not None
        assert article.version == 2
        assert "thirty seconds" in article.body_md
        assert _counts(db) == (1, 2, 2)


def test_invalid_files_are_reported_by_name_and_skipped(uow: Callable[..., Any], tmp_path: Path) -> None:
    _write(tmp_path, "good.md", ROUTER_EN)
    _write(tmp_path, "no-front-matter.md", "# Just text\n")
    _write(tmp_path, "bad-yaml.md", "---\ntitle: [unclosed\n---\nBody\n")
    _write(tmp_path, "bad-locale.md", ROUTER_EN.replace("locale: en", "locale: fr").replace("slug: reset-router", "slug: other"))
    _write(tmp_path, "chinese-no-slug.md", ROUTER_ZH.replace("slug: reset-router\n", ""))
    _write(tmp_path, "twin.md", ROUTER_EN.replace("ten seconds", "eleven seconds"))
    _write(tmp_path, "notes.txt", "not an article")
    with uow() as db:
        report = service.import_folder(db, tmp_path)
    reasons = {r.path: r.reason for r in report.errors}
    assert set(reasons) == {"no-front-matter.md", "bad-yaml.md", "bad-locale.md", "chinese-no-slug.md", "twin.md"}
    assert "front matter" in reasons["no-front-matter.md"]
    assert "YAML" in reasons["bad-yaml.md"]
    assert reasons["bad-locale.md"].startswith("locale:")
    assert "slug" in reasons["chinese-no-slug.md"]
    assert "good.md" in reasons["twin.md"]
    assert report.created == 1
    with uow() as db:
        assert _counts(db) == (1, 1, 1)
        article = db.scalar(select(Article))
        assert article is not None
        assert "ten seconds" in article.body_md


def test_the_command_prints_a_line_per_file_and_a_summary(settings: Any, state: Any, tmp_path: Path, uow: Callable[..., Any]) -> None:
    env = {"DATABASE_URL": settings.database_url, "CRM_DATABASE_URL": settings.crm_database_url, "SECRET_KEY": settings.secret_key}
    _write(tmp_path, "reset-router.md", ROUTER_EN)
    result = CliRunner().invoke(main, ["kb", "import", str(tmp_path)], env=env)
    assert result.exit_code == 0, result.output
    assert "created    reset-router.md (reset-router, en)" in result.output
    assert "1 file(s): 1 created, 0 updated, 0 unchanged, 0 refused" in result.output
    _write(tmp_path, "broken.md", "no front matter")
    result = CliRunner().invoke(main, ["kb", "import", str(tmp_path)], env=env)
    assert result.exit_code == 1
    assert "broken.md: no YAML front matter" in result.output
    assert "unchanged  reset-router.md" in result.output
    with uow() as db:
        assert db.scalar(select(func.count()).select_from(Article)) == 1
