"""Knowledge-base search pages: GET /kb/search (HTML, works without JavaScript),
GET /kb/search.json (as-you-type suggestions; CONTRACTS.md) and the staff's synonyms list
(/staff/kb/synonyms)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from portal.errors import Invalid
from portal.i18n import LANGUAGE_NAMES, N_
from portal.kb import search as kb_search
from portal.kb.index import SYNONYM_TTL_S, get_index
from portal.kb.service import category_label
from portal.web import STAFF_ROLES, Ctx, view

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
        category_label=category_label,
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


def _group_words(ctx: Ctx, group_id: int) -> str:
    """The words typed into one group's box (named words-<id> on the list; `words` also works)."""
    return ctx.field(f"words-{group_id}") or ctx.field("words")


def _synonyms_page(ctx: Ctx, *, code: int = 200, errors: dict[str, str] | None = None, edit_id: int | None = None) -> Response:
    groups = kb_search.synonym_groups(ctx.db)
    return ctx.render(
        "staff/kb/synonyms.html",
        status=code,
        groups=groups,
        errors=errors or {},
        edit_id=edit_id,
        new_words=ctx.field("words") if edit_id is None else "",
        edit_words=_group_words(ctx, edit_id) if edit_id is not None else "",
        delay_s=round(SYNONYM_TTL_S),
    )


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def staff_synonyms(ctx: Ctx) -> Response:
    """The list of synonym groups; POST adds one."""
    assert ctx.user is not None
    if ctx.request.method == "POST":
        try:
            group = kb_search.add_synonym_group(ctx.db, actor=ctx.user, text=ctx.field("words"), ip=ctx.ip)
        except Invalid as exc:
            return _synonyms_page(ctx, code=422, errors=exc.errors)
        ctx.flash(ctx._("Synonyms added: %(words)s.", words=", ".join(group.words)))
        return ctx.redirect("/staff/kb/synonyms")
    return _synonyms_page(ctx)


@view(methods=("POST",), roles=STAFF_ROLES)
def staff_synonym(ctx: Ctx) -> Response:
    """Save (action=save) or delete (action=delete) one group."""
    assert ctx.user is not None
    group_id = int(ctx.request.path_params["group_id"])
    action = ctx.field("action")
    try:
        if action == "delete":
            kb_search.delete_synonym_group(ctx.db, actor=ctx.user, group_id=group_id, ip=ctx.ip)
            ctx.flash(ctx._("The synonym group is deleted."))
        elif action == "save":
            kb_search.save_synonym_group(ctx.db, actor=ctx.user, group_id=group_id, text=_group_words(ctx, group_id), ip=ctx.ip)
            ctx.flash(ctx._("The synonym group is saved."))
        else:
            raise Invalid("action", N_("Choose save or delete."))
    except Invalid as exc:
        return _synonyms_page(
            ctx, code=422, errors={f"words-{group_id}" if k == "words" else k: v for k, v in exc.errors.items()}, edit_id=group_id
        )
    return ctx.redirect("/staff/kb/synonyms")


routes: list[BaseRoute] = [
    Route("/kb/search.json", search_json, name="kb_search_json"),
    Route("/kb/search", search_page, name="kb_search"),
    Route("/staff/kb/synonyms", staff_synonyms, methods=["GET", "POST"], name="staff_kb_synonyms"),
    Route("/staff/kb/synonyms/{group_id:int}", staff_synonym, methods=["POST"], name="staff_kb_synonym"),
]
