"""Knowledge-base search as a service: who may find what, then the index.

The audience rule is applied inside the index query (a filter), never to a finished page: the
totals, facet counts, suggestions and "did you mean" only ever come from articles the actor
may read. The index holds published articles only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.errors import Invalid, NotFound
from portal.i18n import N_
from portal.kb.index import MAX_QUERY_CHARS, Filters, Hit, IndexNotReady, Results, SearchIndex
from portal.kb.models import Audience, SearchSynonym
from portal.kb.service import audiences_for
from portal.security.audit import audit

PAGE_SIZE = 10
MAX_PAGE = 50
MAX_SUGGESTIONS = 10
LOCALES = ("en", "zh")

log = structlog.get_logger(__name__)


def search_audiences(actor: User | None) -> frozenset[Audience]:
    """The audiences whose articles `actor` may find: the article pages' rule
    (service.audiences_for); drafts are never in the index."""
    return frozenset(audiences_for(actor))


def clean_query(q: str | None) -> str:
    return " ".join((q or "").split())[:MAX_QUERY_CHARS]


def clean_locale(locale: str | None, default: str = "en") -> str:
    return locale if locale in LOCALES else default


@dataclass(frozen=True)
class Suggestions:
    query: str
    suggestion: str | None
    hits: list[Hit]


def search_articles(
    db: Session,
    index: SearchIndex,
    actor: User | None,
    q: str,
    locale: str,
    *,
    category: str | None = None,
    product: str | None = None,
    language: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> Results:
    """One page of results for `q` among the articles `actor` may read."""
    index.synonyms.refresh(db)
    query = clean_query(q)
    filters = Filters(
        category=(category or None) and category[:60],
        product=(product or None) and product[:60],
        language=language if language in LOCALES else None,
    )
    try:
        return index.search(
            query,
            locale=clean_locale(locale),
            audiences=search_audiences(actor),
            filters=filters,
            page=min(max(1, page), MAX_PAGE),
            page_size=page_size,
        )
    except IndexNotReady:
        # A node whose index is still being built answers "nothing found" for those seconds
        # rather than an error page.
        log.info("search.index_not_ready")
        return Results(query=query, hits=[], total=0, page=1, page_size=page_size)


def suggestions(db: Session, index: SearchIndex, actor: User | None, q: str, locale: str, *, limit: int = 6) -> Suggestions:
    """As-you-type: a few titles for the words typed so far, and a spelling suggestion when
    nothing matches (no fuzzy matching here: it is too slow for every keystroke)."""
    index.synonyms.refresh(db)
    query = clean_query(q)
    audiences = search_audiences(actor)
    limit = min(max(1, limit), MAX_SUGGESTIONS)
    suggestion = None
    try:
        hits = index.suggest(query, locale=clean_locale(locale), audiences=audiences, limit=limit)
        if not hits and query:
            from portal.kb.index import query_words

            suggestion = index.correction(index.searcher(), query_words(query))
            if suggestion:
                hits = index.suggest(suggestion, locale=clean_locale(locale), audiences=audiences, limit=limit)
    except IndexNotReady:
        log.info("search.index_not_ready")
        hits = []
    return Suggestions(query=query, suggestion=suggestion, hits=hits)


# -- the synonyms list (staff) -------------------------------------------------------------------------
SYNONYM_WORD_CHARS = 60
SYNONYM_MAX_WORDS = 20
_SYNONYM_SPLIT = re.compile(r"[,\n\r，、;；]+")
DEMO_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("router", "gateway", "路由器"),
    ("access point", "ap", "无线接入点"),
    ("printer", "打印机"),
    ("firmware", "software update", "固件"),
    ("nas", "network storage", "网络存储"),
    ("switch", "交换机"),
    ("motherboard", "mainboard", "board", "主板"),
    ("warranty", "guarantee", "保修"),
    ("repair", "rma", "维修"),
    ("toner", "ink", "墨粉"),
    ("wifi", "wi-fi", "wireless", "无线"),
    ("reset", "factory reset", "恢复出厂设置"),
    ("password", "passcode", "密码"),
    ("invoice", "bill", "发票"),
)


def synonym_words(text: str) -> list[str]:
    """The words of a synonym group typed by staff: comma-, semicolon- or newline-separated
    (Chinese punctuation too), trimmed, lower-cased, without duplicates. Raises Invalid."""
    words: list[str] = []
    for part in _SYNONYM_SPLIT.split(text or ""):
        word = " ".join(part.split()).lower()
        if not word:
            continue
        if len(word) > SYNONYM_WORD_CHARS:
            raise Invalid("words", N_("Each word or phrase may have at most 60 characters."))
        if word not in words:
            words.append(word)
    if len(words) < 2:
        raise Invalid("words", N_("Enter at least two words or phrases that mean the same, separated by commas."))
    if len(words) > SYNONYM_MAX_WORDS:
        raise Invalid("words", N_("A group may have at most 20 words or phrases."))
    return words


def synonym_groups(db: Session) -> list[SearchSynonym]:
    return list(db.scalars(select(SearchSynonym).order_by(SearchSynonym.id)))


def _staff(actor: User) -> None:
    if not actor.role.is_staff:
        raise NotFound()


def add_synonym_group(db: Session, *, actor: User, text: str, ip: str | None = None) -> SearchSynonym:
    """A new group of words that mean the same. Search picks it up within a few seconds
    (index.SYNONYM_TTL_S)."""
    _staff(actor)
    group = SearchSynonym(words=synonym_words(text), updated_at=utcnow())
    db.add(group)
    db.flush()
    audit(db, "kb_synonym.added", actor_user_id=actor.id, actor_email=actor.email, target=str(group.id), ip=ip, words=group.words)
    return group


def _group(db: Session, group_id: int) -> SearchSynonym:
    group = db.get(SearchSynonym, group_id)
    if group is None:
        raise NotFound()
    return group


def save_synonym_group(db: Session, *, actor: User, group_id: int, text: str, ip: str | None = None) -> SearchSynonym:
    _staff(actor)
    group = _group(db, group_id)
    words = synonym_words(text)
    before = list(group.words or [])
    if words != before:
        group.words = words
        group.updated_at = utcnow()
        audit(
            db,
            "kb_synonym.changed",
            actor_user_id=actor.id,
            actor_email=actor.email,
            target=str(group.id),
            ip=ip,
            before=before,
            words=words,
        )
    return group


def delete_synonym_group(db: Session, *, actor: User, group_id: int, ip: str | None = None) -> None:
    _staff(actor)
    group = _group(db, group_id)
    audit(
        db,
        "kb_synonym.deleted",
        actor_user_id=actor.id,
        actor_email=actor.email,
        target=str(group.id),
        ip=ip,
        words=list(group.words or []),
    )
    db.delete(group)
    db.flush()


def seed_demo_synonyms(db: Session) -> int:
    """The demo's synonym groups (idempotent: a group whose first word is already in some
    group is skipped, so staff edits survive a re-seed). Returns how many groups were added."""
    existing = {str(w).lower() for (words,) in db.execute(select(SearchSynonym.words)) for w in (words or [])}
    added = 0
    for words in DEMO_SYNONYMS:
        if words[0] not in existing:
            db.add(SearchSynonym(words=list(words), updated_at=utcnow()))
            existing.update(words)
            added += 1
    db.flush()
    return added
