"""Knowledge-base search as a service: who may find what, then the index.

The audience rule is applied inside the index query (a filter), never to a finished page: the
totals, facet counts, suggestions and "did you mean" only ever come from articles the actor
may read. The index holds published articles only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.kb.index import MAX_QUERY_CHARS, Filters, Hit, Results, SearchIndex
from portal.kb.models import Audience
from portal.kb.service import audiences_for

PAGE_SIZE = 10
MAX_PAGE = 50
MAX_SUGGESTIONS = 10
LOCALES = ("en", "zh")


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
    return index.search(
        query,
        locale=clean_locale(locale),
        audiences=search_audiences(actor),
        filters=filters,
        page=min(max(1, page), MAX_PAGE),
        page_size=page_size,
    )


def suggestions(db: Session, index: SearchIndex, actor: User | None, q: str, locale: str, *, limit: int = 6) -> Suggestions:
    """As-you-type: a few titles for the words typed so far, and a spelling suggestion when
    nothing matches (no fuzzy matching here: it is too slow for every keystroke)."""
    index.synonyms.refresh(db)
    query = clean_query(q)
    audiences = search_audiences(actor)
    limit = min(max(1, limit), MAX_SUGGESTIONS)
    hits = index.suggest(query, locale=clean_locale(locale), audiences=audiences, limit=limit)
    suggestion = None
    if not hits and query:
        from portal.kb.index import query_words

        suggestion = index.correction(index.searcher(), query_words(query))
        if suggestion:
            hits = index.suggest(suggestion, locale=clean_locale(locale), audiences=audiences, limit=limit)
    return Suggestions(query=query, suggestion=suggestion, hits=hits)
