"""Articles for the search tests, written as the knowledge-base service writes them: the
article row plus a kb_change line in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.kb.models import Article, ArticleStatus, Audience, KbChange, SearchSynonym


def put_article(
    db: Session,
    slug: str,
    title: str,
    body: str,
    *,
    locale: str = "en",
    category: str = "troubleshooting",
    products: list[str] | None = None,
    tags: list[str] | None = None,
    summary: str = "",
    audience: Audience = Audience.PUBLIC,
    status: ArticleStatus = ArticleStatus.PUBLISHED,
) -> Article:
    now = utcnow()
    article = db.scalar(select(Article).where(Article.slug == slug, Article.locale == locale))
    if article is None:
        article = Article(slug=slug, locale=locale, created_at=now)
        db.add(article)
    article.title = title
    article.body_md = body
    article.summary = summary
    article.category = category
    article.products = products or []
    article.tags = tags or []
    article.audience = audience
    article.status = status
    article.published_at = now if status == ArticleStatus.PUBLISHED else None
    article.updated_at = now
    db.flush()
    db.add(KbChange(article_id=article.id, created_at=now))
    return article


def set_status(db: Session, article_id: int, status: ArticleStatus) -> None:
    article = db.get(Article, article_id)
    assert article is not None
    article.status = status
    article.updated_at = utcnow()
    db.add(KbChange(article_id=article_id, created_at=utcnow()))


def add_synonyms(db: Session, *words: str) -> None:
    db.add(SearchSynonym(words=list(words), updated_at=utcnow()))


def standard_articles(uow: Callable[..., Any]) -> dict[str, int]:
    """A small help centre in English and Chinese, with restricted and draft articles."""
    ids: dict[str, int] = {}
    with uow() as db:
        ids["router"] = put_article(
            db,
            "reset-router",
            "How to reset your router",
            "Hold the **reset** button on the back of the router for ten seconds. "
            "The lights blink, then the router restarts with factory settings.",
            products=["NW-R200"],
            tags=["network", "factory reset"],
            category="networking",
            summary="Restore factory settings on the R200 router.",
        ).id
        ids["battery"] = put_article(
            db,
            "battery-care",
            "Battery care for handheld scanners",
            "Charge the batteries fully before first use. Store spare batteries at room temperature. A swollen battery must be replaced.",
            products=["NW-S10"],
            tags=["battery", "charging"],
            category="maintenance",
        ).id
        ids["thread"] = put_article(
            db,
            "thread-pitch",
            "Choosing the thread pitch for mounting screws",
            "The wall bracket uses M4 screws with a standard thread. Use the supplied anchors for drywall.",
            products=["NW-B1"],
            tags=["mounting"],
            category="installation",
        ).id
        ids["router_zh"] = put_article(
            db,
            "reset-router",
            "如何重置路由器",
            "按住路由器背面的重置按钮十秒钟。指示灯闪烁后，路由器恢复出厂设置并重新启动。",
            locale="zh",
            products=["NW-R200"],
            tags=["网络"],
            category="networking",
        ).id
        ids["firmware_zh"] = put_article(
            db,
            "firmware-update",
            "R200 固件升级步骤",
            "下载最新的 firmware 文件，然后在管理页面上传。升级过程中请勿断电。",
            locale="zh",
            products=["NW-R200"],
            category="networking",
        ).id
        ids["partner"] = put_article(
            db,
            "partner-router-margins",
            "Router reseller margins and stock rotation",
            "Partner-only guidance on router pricing and stock rotation.",
            audience=Audience.PARTNERS,
            products=["NW-R200"],
            category="sales",
        ).id
        ids["customer"] = put_article(
            db,
            "router-bulk-config",
            "Configure many routers at once",
            "Customers with a company account can push router configuration to many devices.",
            audience=Audience.CUSTOMERS,
            products=["NW-R200"],
            category="networking",
        ).id
        ids["draft"] = put_article(
            db,
            "router-secret-draft",
            "Router recall draft",
            "Unreleased router recall notice, draft.",
            status=ArticleStatus.DRAFT,
            category="recalls",
        ).id
    return ids
