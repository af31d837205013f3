"""Knowledge-base search pages: GET /kb/search (HTML, works without JavaScript) and
GET /kb/search.json (as-you-type suggestions; CONTRACTS.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from portal.i18n import LANGUAGE_NAMES
from portal.kb import search as kb_search
from portal.kb.index import get_index
from portal.web import Ctx, view

JSON_DEFAULT_LIMIT = 6


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or default)
    except ValueError:
        return default


def article_url(slug: str, locale: str) -> str:
    return f"/kb/{quote(slug)}"


@view()
def search_page(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    query = kb_search.clean_query(params.get("q"))
    chosen = {
        "category": (params.get("category") or "")[:60],
        "product": (params.get("product") or "")[:60],
        "language": params.get("language") if params.get("language") in kb_search.LOCALES else "",
    }
    page = _int(params.get("page"), 1)
    results = None
    if query:
        index = get_index(ctx.state.settings.data_dir)
        results = kb_search.search_articles(
            ctx.db,
            index,
            ctx.user,
            query,
            ctx.locale,
            category=chosen["category"] or None,
            product=chosen["product"] or None,
            language=chosen["language"] or None,
            page=page,
        )

    def link(**changes: Any) -> str:
        values = {"q": query, **chosen, **changes}
        return "/kb/search?" + urlencode({k: v for k, v in values.items() if v})

    return ctx.render(
        "kb/search.html",
        query=query,
        results=results,
        chosen=chosen,
        link=link,
        language_names=LANGUAGE_NAMES,
        article_url=article_url,
        pager_base=link() + "&",
    )


@view()
def search_json(ctx: Ctx) -> Response:
    params = ctx.request.query_params
    raw = params.get("q") or ""
    query = kb_search.clean_query(raw)
    locale = kb_search.clean_locale(params.get("locale"), ctx.locale)
    limit = min(max(_int(params.get("limit"), JSON_DEFAULT_LIMIT), 1), kb_search.MAX_SUGGESTIONS)
    body: dict[str, Any] = {"query": query, "suggestion": None, "results": []}
    if query:
        found = kb_search.suggestions(ctx.db, get_index(ctx.state.settings.data_dir), ctx.user, query, locale, limit=limit)
        body["suggestion"] = found.suggestion
        body["results"] = [
            {
                "slug": hit.slug,
                "title": hit.title,
                "url": article_url(hit.slug, hit.locale),
                "snippet": hit.snippet_text,
                "locale": hit.locale,
            }
            for hit in found.hits
        ]
    response = JSONResponse(body)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Vary"] = "Cookie"
    return response


routes: list[BaseRoute] = [
    Route("/kb/search.json", search_json, name="kb_search_json"),
    Route("/kb/search", search_page, name="kb_search"),
]
