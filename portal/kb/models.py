"""Knowledge-base articles, their revisions, reader feedback, images, synonyms, and the change
log the search index follows.

An article is one (slug, locale) pair: the English and Chinese versions of an article share a
slug, which is what links translations. Every saved edit is a revision. The portal never pushes
articles to the CRM store; search indexing follows `kb_change` instead (each node's index keeps
its own position in that log, so every node's replica catches up by itself).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base


def _enum(cls: type[enum.Enum], length: int = 12) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class Audience(enum.StrEnum):
    """Who may read an article (and find it in search)."""

    PUBLIC = "public"
    CUSTOMERS = "customers"
    PARTNERS = "partners"
    STAFF = "staff"


class ArticleStatus(enum.StrEnum):
    DRAFT = "draft"
    REVIEW = "review"
    PUBLISHED = "published"
    ARCHIVED = "archived"


class Article(Base):
    __tablename__ = "kb_article"
    __table_args__ = (
        UniqueConstraint("slug", "locale", name="uq_kb_article_slug_locale"),
        Index("ix_kb_article_status_published", "status", "published_at"),
        Index("ix_kb_article_category", "category"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(120))
    locale: Mapped[str] = mapped_column(String(10))  # en | zh
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(300), default="")  # the meta description
    body_md: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(60))
    products: Mapped[list[str]] = mapped_column(JSON, default=list)  # SKUs
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    audience: Mapped[Audience] = mapped_column(_enum(Audience), default=Audience.PUBLIC)
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus), default=ArticleStatus.DRAFT)
    version: Mapped[int] = mapped_column(Integer, default=1)  # grows with every saved revision
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    views: Mapped[int] = mapped_column(Integer, default=0)
    helpful_yes: Mapped[int] = mapped_column(Integer, default=0)
    helpful_no: Mapped[int] = mapped_column(Integer, default=0)
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ArticleRevision(Base):
    """The article as it was saved at one version (the history staff can read and restore)."""

    __tablename__ = "kb_article_revision"
    __table_args__ = (UniqueConstraint("article_id", "version", name="uq_kb_revision_article_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id"))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(300), default="")
    body_md: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus))
    editor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]


class ArticleFeedback(Base):
    """ "Was this helpful?" with an optional comment."""

    __tablename__ = "kb_feedback"
    __table_args__ = (Index("ix_kb_feedback_article_created", "article_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    comment: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


class ArticleImage(Base):
    """An image for article bodies (re-encoded by portal.uploads.clean_image), served at
    /kb/images/{id}/{filename}."""

    __tablename__ = "kb_image"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]


class SearchSynonym(Base):
    """A group of words that mean the same to searchers (staff-editable), e.g.
    "router, gateway, 路由器"."""

    __tablename__ = "kb_synonym"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    words: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]


class KbChange(Base):
    """One line of the log the search index follows: article `article_id` changed (or was
    deleted). Written in the same transaction as the change; ids only grow."""

    __tablename__ = "kb_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    article_id: Mapped[int] = mapped_column(Integer)  # no foreign key: a deleted article is logged too
    created_at: Mapped[datetime]
