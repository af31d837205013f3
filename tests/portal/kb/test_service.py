"""Knowledge-base rules: who reads what, revisions and the change log, the workflow, feedback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.accounts.models import Role, User
from portal.customer.models import Product
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound, RateLimited
from portal.kb import service
from portal.kb.models import Article, ArticleFeedback, ArticleRevision, ArticleStatus, Audience, KbChange
from portal.security.models import AuditEvent


def _input(db: Session, **overrides: Any) -> service.ArticleInput:
    raw = {
        "title": "Reset your router",
        "slug": "",
        "locale": "en",
        "category": "Networking",
        "products": "",
        "tags": "network, reset",
        "audience": "public",
        "summary": "Restore factory settings.",
        "body_md": "Hold the reset button for ten seconds.",
        **overrides,
    }
    return service.clean_input(db, raw)


def _staff(db: Session, email: str = "sam@northwind.example") -> User:
    from portal.accounts import service as accounts

    user = accounts.create_user(db, email=email, password="correct horse battery", role=Role.STAFF, name="Sam", verified=True)
    db.flush()
    return user


def _user(db: Session, role: Role, email: str, account: str | None = None) -> User:
    from portal.accounts import service as accounts

    if account:
        kind = "partner" if role.is_partner else "customer"
        accounts.apply_crm_account(db, account_id=account, kind=kind, name=account, tier=None, country="GB")
        db.flush()
    user = accounts.create_user(db, email=email, password="correct horse battery", role=role, name=email, account_id=account, verified=True)
    db.flush()
    return user


def _publish(db: Session, staff: User, article: Article) -> None:
    service.change_status(db, actor=staff, article_id=article.id, action="submit")
    service.change_status(db, actor=staff, article_id=article.id, action="publish")


def _changes(db: Session, article_id: int) -> int:
    return int(db.scalar(select(func.count()).select_from(KbChange).where(KbChange.article_id == article_id)) or 0)


def test_each_role_reads_its_audiences_and_only_staff_read_drafts(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        slugs = {}
        for audience in Audience:
            article = service.create_article(db, actor=staff, data=_input(db, title=f"For {audience.value}", audience=audience.value))
            _publish(db, staff, article)
            slugs[audience] = article.slug
        service.create_article(db, actor=staff, data=_input(db, title="Unfinished draft"))
        customer = _user(db, Role.CUSTOMER, "c@alpha.example", "C-A")
        partner = _user(db, Role.PARTNER_ADMIN, "p@xenon.example", "P-X")
        admin = _user(db, Role.ADMIN, "a@northwind.example")
        consumer = _user(db, Role.CUSTOMER, "dee@home.example")

        def visible(actor: User | None) -> set[str]:
            return set(db.scalars(select(Article.slug).where(service.readable(actor))))

        assert visible(None) == {"for-public"}
        assert visible(customer) == visible(consumer) == {"for-public", "for-customers"}
        assert visible(partner) == {"for-public", "for-partners"}
        assert visible(staff) == visible(admin) == {"for-public", "for-customers", "for-partners", "for-staff", "unfinished-draft"}
        assert service.audiences_for(None) == {Audience.PUBLIC}
        assert service.audiences_for(partner) == {Audience.PUBLIC, Audience.PARTNERS}
        # Not readable is not found (never "forbidden").
        for actor in (None, customer):
            with pytest.raises(NotFound):
                service.get_article(db, actor=actor, slug="for-partners", locale="en")
            with pytest.raises(NotFound):
                service.get_article(db, actor=actor, slug="unfinished-draft", locale="en")
        assert service.get_article(db, actor=staff, slug="unfinished-draft", locale="en").article.status == ArticleStatus.DRAFT
        # Lists show published articles only, even to staff.
        assert [a.slug for a in service.recent(db, actor=staff, locale="en", limit=10)].count("unfinished-draft") == 0
        assert {name for name, _count in service.categories(db, actor=None, locale="en")} == {"Networking"}
        assert service.categories(db, actor=partner, locale="en") == [("Networking", 2)]


def test_saving_content_adds_a_revision_and_a_change_and_an_unchanged_save_adds_nothing(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        article = service.create_article(db, actor=staff, data=_input(db))
        assert (article.version, article.slug, article.status) == (1, "reset-your-router", ArticleStatus.DRAFT)
        assert _changes(db, article.id) == 1
        longer = _input(db, body_md="Hold it for 30 seconds.")
        service.update_article(db, actor=staff, article_id=article.id, data=longer, expected_version=1)
        assert article.version == 2
        service.update_article(db, actor=staff, article_id=article.id, data=_input(db, body_md="Hold it for 30 seconds."))
        assert article.version == 2
        assert _changes(db, article.id) == 2
        history = service.revisions(db, actor=staff, article_id=article.id)
        assert [(row.revision.version, row.editor) for row in history] == [(2, "Sam"), (1, "Sam")]
        assert history[1].revision.body_md == "Hold the reset button for ten seconds."
        with pytest.raises(Conflict):  # someone saved version 2 meanwhile
            service.update_article(db, actor=staff, article_id=article.id, data=_input(db, body_md="Mine."), expected_version=1)


def test_restoring_a_revision_makes_a_new_version(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        article = service.create_article(db, actor=staff, data=_input(db))
        service.update_article(db, actor=staff, article_id=article.id, data=_input(db, title="Reset the router", body_md="New text."))
        service.restore_revision(db, actor=staff, article_id=article.id, version=1)
        assert (article.version, article.title, article.body_md) == (3, "Reset your router", "Hold the reset button for ten seconds.")
        notes = [row.revision.note for row in service.revisions(db, actor=staff, article_id=article.id)]
        assert notes[0] == "Restored version 1"
        assert _changes(db, article.id) == 3
        with pytest.raises(NotFound):
            service.restore_revision(db, actor=staff, article_id=article.id, version=9)


def test_the_workflow_moves_draft_to_review_to_published_and_refuses_skips(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        article = service.create_article(db, actor=staff, data=_input(db))
        with pytest.raises(Conflict):
            service.change_status(db, actor=staff, article_id=article.id, action="publish")  # a draft is reviewed first
        service.change_status(db, actor=staff, article_id=article.id, action="submit")
        assert (article.status, article.published_at) == (ArticleStatus.REVIEW, None)
        service.change_status(db, actor=staff, article_id=article.id, action="publish")
        assert (article.status, article.reviewer_id) == (ArticleStatus.PUBLISHED, staff.id)
        assert article.published_at is not None
        assert service.get_article(db, actor=None, slug=article.slug, locale="en").article.id == article.id
        service.change_status(db, actor=staff, article_id=article.id, action="archive")
        with pytest.raises(NotFound):
            service.get_article(db, actor=None, slug=article.slug, locale="en")
        service.change_status(db, actor=staff, article_id=article.id, action="draft")
        assert article.status == ArticleStatus.DRAFT
        assert article.version == 1  # status changes are not content changes
        assert _changes(db, article.id) == 5
        db.flush()
        actions = set(db.scalars(select(AuditEvent.action).where(AuditEvent.action.like("kb.%"))))
        assert actions == {"kb.submit", "kb.publish", "kb.archive", "kb.draft"}
        customer = _user(db, Role.CUSTOMER, "c@alpha.example", "C-A")
        with pytest.raises(NotFound):  # only staff author
            service.change_status(db, actor=customer, article_id=article.id, action="submit")


def test_input_rules(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        with pytest.raises(Invalid) as missing:
            _input(db, title="", category="", body_md="  ", locale="fr", audience="everyone")
        assert set(missing.value.errors) == {"title", "category", "body_md", "locale", "audience"}
        with pytest.raises(Invalid) as chinese:
            _input(db, title="如何重置路由器", locale="zh")
        assert set(chinese.value.errors) == {"slug"}
        assert _input(db, title="如何重置路由器", slug="reset-your-router", locale="zh").slug == "reset-your-router"
        with pytest.raises(Invalid) as bad_slug:
            _input(db, slug="Reset Router!")
        assert "slug" in bad_slug.value.errors
        with pytest.raises(Invalid) as long_summary:
            _input(db, summary="x" * 301)
        assert "summary" in long_summary.value.errors
        assert _input(db, title="Café Wi-Fi set-up").slug == "cafe-wi-fi-set-up"
        with pytest.raises(Invalid):
            _input(db, slug="search")  # /kb/search is the search page
        # Product SKUs are checked once the catalogue is known.
        assert _input(db, products="nw-r200, NW-R200").products == ["NW-R200"]
        db.add(Product(sku="NW-R200", name="R200 router", category="network", warranty_months=24, active=True, updated_at=utcnow()))
        db.flush()
        with pytest.raises(Invalid) as unknown:
            _input(db, products="NW-R200, NW-NOPE")
        assert "products" in unknown.value.errors
        service.create_article(db, actor=staff, data=_input(db))
        with pytest.raises(Invalid) as duplicate:
            service.create_article(db, actor=staff, data=_input(db))
        assert "slug" in duplicate.value.errors
        # The translation shares the slug.
        zh = service.create_article(db, actor=staff, data=_input(db, title="重置路由器", slug="reset-your-router", locale="zh"))
        assert zh.slug == "reset-your-router"


def test_the_other_language_is_shown_when_the_article_is_not_translated(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        en = service.create_article(db, actor=staff, data=_input(db))
        _publish(db, staff, en)
        page = service.get_article(db, actor=None, slug=en.slug, locale="zh")
        assert (page.fallback, page.article.locale, page.translations) == (True, "en", [])
        zh = service.create_article(db, actor=staff, data=_input(db, title="重置路由器", slug=en.slug, locale="zh"))
        # The Chinese draft is not for readers yet.
        assert service.get_article(db, actor=None, slug=en.slug, locale="zh").fallback
        _publish(db, staff, zh)
        page = service.get_article(db, actor=None, slug=en.slug, locale="zh")
        assert (page.fallback, page.article.id, [a.id for a in page.translations]) == (False, zh.id, [en.id])


def test_related_articles_share_a_category_or_tags_and_are_readable(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        main = service.create_article(db, actor=staff, data=_input(db))
        for title, category, tags, audience in (
            ("Same category", "Networking", "", "public"),
            ("Shared tag", "Other", "reset", "public"),
            ("Unrelated", "Other", "battery", "public"),
            ("Partner only", "Networking", "reset", "partners"),
        ):
            data = _input(db, title=title, category=category, tags=tags, audience=audience)
            _publish(db, staff, service.create_article(db, actor=staff, data=data))
        _publish(db, staff, main)
        assert {a.title for a in service.related(db, actor=None, article=main)} == {"Same category", "Shared tag"}
        assert service.related(db, actor=staff, article=main)[0].title == "Partner only"  # category and tag


def test_feedback_counts_and_is_limited_per_address(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        article = service.create_article(db, actor=staff, data=_input(db))
        with pytest.raises(NotFound):  # a draft takes no feedback from readers
            service.record_feedback(db, actor=None, slug=article.slug, locale="en", helpful="yes", comment="", ip="10.0.0.1")
        _publish(db, staff, article)
        service.record_feedback(db, actor=None, slug=article.slug, locale="en", helpful="yes", comment="Worked!", ip="10.0.0.1")
        service.record_feedback(db, actor=None, slug=article.slug, locale="en", helpful="no", comment="", ip="10.0.0.1")
        with pytest.raises(Invalid):
            service.record_feedback(db, actor=None, slug=article.slug, locale="en", helpful="maybe", comment="", ip="10.0.0.1")
        db.refresh(article)
        assert (article.helpful_yes, article.helpful_no) == (1, 1)
        assert [f.comment for f in db.scalars(select(ArticleFeedback).order_by(ArticleFeedback.id))] == ["Worked!", ""]
        with pytest.raises(RateLimited):
            for _ in range(20):
                service.record_feedback(db, actor=None, slug=article.slug, locale="en", helpful="yes", comment="", ip="10.0.0.1")
        service.record_feedback(db, actor=None, slug=article.slug, locale="en", helpful="yes", comment="", ip="10.0.0.2")


def test_popular_follows_helpful_votes(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        first = service.create_article(db, actor=staff, data=_input(db, title="First"))
        second = service.create_article(db, actor=staff, data=_input(db, title="Second"))
        _publish(db, staff, first)
        _publish(db, staff, second)
        service.record_feedback(db, actor=None, slug=first.slug, locale="en", helpful="yes", comment="", ip="10.0.0.1")
        db.expire_all()
        assert [a.title for a in service.popular(db, actor=None, locale="en")] == ["First", "Second"]
        assert [a.title for a in service.recent(db, actor=None, locale="en")] == ["Second", "First"]
        assert service.popular(db, actor=None, locale="zh") == []


def test_revisions_are_kept_per_version(uow: Callable[..., Any]) -> None:
    with uow() as db:
        staff = _staff(db)
        article = service.create_article(db, actor=staff, data=_input(db))
        service.update_article(db, actor=staff, article_id=article.id, data=_input(db, body_md="Two"))
        stmt = select(ArticleRevision.version).where(ArticleRevision.article_id == article.id)
        versions = db.scalars(stmt.order_by(ArticleRevision.version))
        assert list(versions) == [1, 2]
