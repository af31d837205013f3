"""Knowledge-base pages: the reader's /kb and /kb/{slug}, feedback, images, and the staff
authoring console under /staff/kb.

Reading never writes: "popular" follows readers' feedback, not page views (a GET is
read-only, docs/decisions/0001).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.responses import Response
from starlette.routing import Route

from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import HTML_LANG, LANGUAGE_NAMES, LOCALES, N_
from portal.kb import markdown, service
from portal.kb.models import Article, ArticleStatus, Audience
from portal.web import STAFF_ROLES, Ctx, view

STATUS_LABELS = {
    ArticleStatus.DRAFT: N_("Draft"),
    ArticleStatus.REVIEW: N_("In review"),
    ArticleStatus.PUBLISHED: N_("Published"),
    ArticleStatus.ARCHIVED: N_("Archived"),
}
AUDIENCE_LABELS = {
    Audience.PUBLIC: N_("Everyone"),
    Audience.CUSTOMERS: N_("Customers"),
    Audience.PARTNERS: N_("Partners"),
    Audience.STAFF: N_("Staff only"),
}
ACTION_LABELS = {
    "submit": N_("Submit for review"),
    "publish": N_("Publish"),
    "draft": N_("Back to draft"),
    "archive": N_("Archive"),
}
ACTION_DONE = {
    "submit": N_("The article is waiting for review."),
    "publish": N_("The article is published."),
    "draft": N_("The article is a draft again."),
    "archive": N_("The article is archived: readers no longer see it."),
}


def _page(ctx: Ctx) -> int:
    try:
        return max(1, min(10_000, int(ctx.request.query_params.get("page", "1"))))
    except ValueError:
        return 1


def _query(ctx: Ctx, name: str, limit: int = 100) -> str:
    return ctx.request.query_params.get(name, "").strip()[:limit]


def _common() -> dict[str, Any]:
    return {
        "status_labels": {s.value: label for s, label in STATUS_LABELS.items()},
        "audience_labels": {a.value: label for a, label in AUDIENCE_LABELS.items()},
        "language_names": LANGUAGE_NAMES,
        "html_langs": HTML_LANG,
        "category_label": service.category_label,
        "known_categories": list(service.CATEGORY_LABELS),
    }


# -- readers ----------------------------------------------------------------------------------------


@view()
def index(ctx: Ctx) -> Response:
    locale = ctx.locale
    product = _query(ctx, "product", 40).upper() or None
    category = _query(ctx, "category", 60) or None
    query = _query(ctx, "q", 200)
    if query:  # the old search box sent ?q= here: searching is /kb/search now
        return ctx.redirect(f"/kb/search?{urlencode({'q': query})}")
    page = _page(ctx)
    context: dict[str, Any] = {
        "query": query,
        "product": product,
        "product_label": service.product_name(ctx.db, product) if product else "",
        "category": category,
        "products": service.products_in_use(ctx.db, actor=ctx.user, locale=locale),
        "categories": service.categories(ctx.db, actor=ctx.user, locale=locale, product=product),
    }
    if category:
        rows, total = service.listing(ctx.db, actor=ctx.user, locale=locale, category=category, product=product, page=page)
        pages = max(1, -(-total // service.PAGE_SIZE))
        return ctx.render("kb/category.html", rows=rows, total=total, page=page, pages=pages, **context, **_common())
    context["popular"] = service.popular(ctx.db, actor=ctx.user, locale=locale, product=product)
    context["recent"] = service.recent(ctx.db, actor=ctx.user, locale=locale, product=product)
    return ctx.render("kb/index.html", **context, **_common())


def article_url(article: Article, *, explicit: bool = False) -> str:
    """/kb/{slug} for English (and for "the reader's language"), ?lang=zh for the Chinese version."""
    if article.locale == "en" and not explicit:
        return f"/kb/{article.slug}"
    return f"/kb/{article.slug}?lang={article.locale}"


def _requested_locale(ctx: Ctx) -> str:
    lang = _query(ctx, "lang", 10)
    return lang if lang in LOCALES else ctx.locale


def _structured_data(ctx: Ctx, article: Article, canonical: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "Article",
        "headline": article.title,
        "description": article.summary,
        "inLanguage": HTML_LANG.get(article.locale, article.locale),
        "dateModified": article.updated_at.isoformat(),
        "mainEntityOfPage": canonical,
        "url": canonical,
        "publisher": {"@type": "Organization", "name": "Northwind Devices"},
    }
    if article.published_at is not None:
        data["datePublished"] = article.published_at.isoformat()
    if article.tags:
        data["keywords"] = ", ".join(article.tags)
    return data


@view()
def article_page(ctx: Ctx) -> Response:
    slug = ctx.request.path_params["slug"]
    found = service.get_article(ctx.db, actor=ctx.user, slug=slug, locale=_requested_locale(ctx))
    article = found.article
    canonical = ctx.absolute_url(article_url(article))
    alternates = [
        (HTML_LANG[a.locale], ctx.absolute_url(article_url(a))) for a in sorted([article, *found.translations], key=lambda a: a.locale)
    ]
    response = ctx.render(
        "kb/article.html",
        article=article,
        body_html=Markup(markdown.render(article.body_md, title=article.title)),  # noqa: S704 - sanitized by nh3 in markdown.render
        fallback=found.fallback,
        wanted_language=LANGUAGE_NAMES[_requested_locale(ctx)],
        translations=[(a, article_url(a, explicit=True)) for a in found.translations],
        related=service.related(ctx.db, actor=ctx.user, article=article),
        canonical=canonical,
        alternates=alternates,
        default_url=ctx.absolute_url(f"/kb/{article.slug}"),
        structured_data=_structured_data(ctx, article, canonical),
        feedback_sent=ctx.request.query_params.get("thanks") == "1",
        **_common(),
    )
    # Canonical and language alternates also as HTTP Link headers (read by search engines).
    links = [f'<{canonical}>; rel="canonical"'] + [f'<{href}>; rel="alternate"; hreflang="{lang}"' for lang, href in alternates]
    response.headers["Link"] = ", ".join(links)
    return response


@view(methods=("POST",))
def feedback(ctx: Ctx) -> Response:
    slug = ctx.request.path_params["slug"]
    locale = ctx.field("locale")
    if locale not in LOCALES:
        raise NotFound()
    article = service.get_article(ctx.db, actor=ctx.user, slug=slug, locale=locale).article
    service.record_feedback(
        ctx.db, actor=ctx.user, slug=slug, locale=article.locale, helpful=ctx.field("helpful"), comment=ctx.raw_field("comment"), ip=ctx.ip
    )
    ctx.flash(ctx._("Thank you for your feedback."))
    return ctx.redirect(f"{article_url(article, explicit=True)}&thanks=1#feedback")


@view()
def image(ctx: Ctx) -> Response:
    found = service.get_image(ctx.db, image_id=int(ctx.request.path_params["image_id"]), filename=ctx.request.path_params["filename"])
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            # An image's URL never changes content (a new upload is a new id).
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Disposition": f'inline; filename="{found.filename}"',
        },
    )


# -- staff authoring ---------------------------------------------------------------------------------


@view(roles=STAFF_ROLES)
def staff_list(ctx: Ctx) -> Response:
    assert ctx.user is not None
    raw = _query(ctx, "status", 20) or "all"
    status_filter = ArticleStatus(raw) if raw in {s.value for s in ArticleStatus} else None
    query = _query(ctx, "q", 200)
    page = _page(ctx)
    rows, total = service.staff_list(ctx.db, actor=ctx.user, status=status_filter, query=query, page=page)
    pages = max(1, -(-total // service.PAGE_SIZE))
    return ctx.render(
        "staff/kb/list.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        status_filter=raw if status_filter else "all",
        query=query,
        statuses=list(ArticleStatus),
        **_common(),
    )


def _form_values(ctx: Ctx) -> dict[str, str]:
    return {
        "title": ctx.field("title"),
        "slug": ctx.field("slug"),
        "locale": ctx.field("locale"),
        "category": ctx.field("category"),
        "products": ctx.field("products"),
        "tags": ctx.field("tags"),
        "audience": ctx.field("audience"),
        "summary": ctx.field("summary"),
        "body_md": ctx.raw_field("body_md"),
    }


def _article_values(article: Article) -> dict[str, str]:
    return {
        "title": article.title,
        "slug": article.slug,
        "locale": article.locale,
        "category": article.category,
        "products": ", ".join(article.products or []),
        "tags": ", ".join(article.tags or []),
        "audience": article.audience.value,
        "summary": article.summary,
        "body_md": article.body_md,
    }


def _render_form(
    ctx: Ctx,
    *,
    values: dict[str, str],
    article: Article | None = None,
    errors: dict[str, str] | None = None,
    preview: str | None = None,
    code: int = 200,
) -> Response:
    assert ctx.user is not None
    translations = service.translations_of(ctx.db, article, ctx.user) if article else []
    missing_locales = [code_ for code_ in LOCALES if article and code_ != article.locale and code_ not in {t.locale for t in translations}]
    return ctx.render(
        "staff/kb/edit.html",
        status=code,
        article=article,
        values=values,
        errors=errors or {},
        preview_html=Markup(preview) if preview is not None else None,  # noqa: S704 - sanitized by nh3 in markdown.render
        locales=[(c, LANGUAGE_NAMES[c]) for c in LOCALES],
        audiences=[(a.value, ctx._(label)) for a, label in AUDIENCE_LABELS.items()],
        actions=[
            (name, ACTION_LABELS[name]) for name, (sources, _t) in service.TRANSITIONS.items() if article and article.status in sources
        ],
        translations=translations,
        missing_locales=missing_locales,
        feedback_rows=service.recent_feedback(ctx.db, actor=ctx.user, article_id=article.id) if article else [],
        **_common(),
    )


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def staff_new(ctx: Ctx) -> Response:
    assert ctx.user is not None
    if ctx.request.method == "GET":
        # "Add a translation" links prefill the slug, language, category, products and tags.
        values = dict.fromkeys(("title", "slug", "locale", "category", "products", "tags", "summary", "body_md"), "")
        values.update(locale=ctx.locale, audience=Audience.PUBLIC.value)
        source_id = _query(ctx, "from", 12)
        if source_id.isdigit():
            try:
                source = service.get_for_staff(ctx.db, actor=ctx.user, article_id=int(source_id))
            except NotFound:
                source = None
            if source is not None:
                values.update(
                    {k: v for k, v in _article_values(source).items() if k in ("slug", "category", "products", "tags", "audience")}
                )
        wanted = _query(ctx, "locale", 10)
        if wanted in LOCALES:
            values["locale"] = wanted
        return _render_form(ctx, values=values)
    values = _form_values(ctx)
    if ctx.field("action") == "preview":
        return _render_form(ctx, values=values, preview=markdown.render(values["body_md"], title=values["title"]))
    try:
        data = service.clean_input(ctx.db, values)
        article = service.create_article(ctx.db, actor=ctx.user, data=data)
    except Invalid as exc:
        return _render_form(ctx, values=values, errors=exc.errors, code=422)
    ctx.flash(ctx._("Draft saved."))
    return ctx.redirect(f"/staff/kb/{article.id}")


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def staff_edit(ctx: Ctx) -> Response:
    assert ctx.user is not None
    article = service.get_for_staff(ctx.db, actor=ctx.user, article_id=int(ctx.request.path_params["article_id"]))
    if ctx.request.method == "GET":
        return _render_form(ctx, values=_article_values(article), article=article)
    values = _form_values(ctx)
    if ctx.field("action") == "preview":
        return _render_form(ctx, values=values, article=article, preview=markdown.render(values["body_md"], title=values["title"]))
    version = ctx.field("version")
    try:
        data = service.clean_input(ctx.db, values)
        saved = service.update_article(
            ctx.db,
            actor=ctx.user,
            article_id=article.id,
            data=data,
            expected_version=int(version) if version.isdigit() else None,
            note=ctx.field("note"),
        )
    except Invalid as exc:
        return _render_form(ctx, values=values, article=article, errors=exc.errors, code=422)
    except Conflict as exc:
        return _render_form(ctx, values=values, article=article, errors={"body_md": exc.message}, code=409)
    ctx.flash(ctx._("Saved as version %(version)s.", version=saved.version))
    return ctx.redirect(f"/staff/kb/{article.id}")


@view(methods=("POST",), roles=STAFF_ROLES)
def staff_status(ctx: Ctx) -> Response:
    assert ctx.user is not None
    article_id = int(ctx.request.path_params["article_id"])
    action = ctx.field("action")
    try:
        service.change_status(ctx.db, actor=ctx.user, article_id=article_id, action=action)
    except Conflict as exc:
        article = service.get_for_staff(ctx.db, actor=ctx.user, article_id=article_id)
        return _render_form(ctx, values=_article_values(article), article=article, errors={"action": exc.message}, code=409)
    except Invalid as exc:
        article = service.get_for_staff(ctx.db, actor=ctx.user, article_id=article_id)
        return _render_form(ctx, values=_article_values(article), article=article, errors=exc.errors, code=422)
    ctx.flash(ctx._(ACTION_DONE[action]))
    return ctx.redirect(f"/staff/kb/{article_id}")


@view(roles=STAFF_ROLES)
def staff_revisions(ctx: Ctx) -> Response:
    assert ctx.user is not None
    article = service.get_for_staff(ctx.db, actor=ctx.user, article_id=int(ctx.request.path_params["article_id"]))
    rows = service.revisions(ctx.db, actor=ctx.user, article_id=article.id)
    return ctx.render("staff/kb/revisions.html", article=article, rows=rows, **_common())


@view(roles=STAFF_ROLES)
def staff_revision(ctx: Ctx) -> Response:
    assert ctx.user is not None
    article = service.get_for_staff(ctx.db, actor=ctx.user, article_id=int(ctx.request.path_params["article_id"]))
    revision = service.get_revision(ctx.db, actor=ctx.user, article_id=article.id, version=int(ctx.request.path_params["version"]))
    return ctx.render(
        "staff/kb/revision.html",
        article=article,
        revision=revision,
        body_html=Markup(markdown.render(revision.body_md, title=revision.title)),  # noqa: S704 - sanitized by nh3 in markdown.render
        **_common(),
    )


@view(methods=("POST",), roles=STAFF_ROLES)
def staff_restore(ctx: Ctx) -> Response:
    assert ctx.user is not None
    article_id, version = int(ctx.request.path_params["article_id"]), int(ctx.request.path_params["version"])
    article = service.restore_revision(ctx.db, actor=ctx.user, article_id=article_id, version=version)
    ctx.flash(ctx._("Version %(old)s restored as version %(new)s.", old=version, new=article.version))
    return ctx.redirect(f"/staff/kb/{article_id}")


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def staff_images(ctx: Ctx) -> Response:
    assert ctx.user is not None
    snippet, uploaded, errors, code = "", None, {}, 200
    if ctx.request.method == "POST":
        files = ctx.files("image")
        try:
            uploaded = service.save_image(ctx.db, actor=ctx.user, upload=files[0] if files else None)
            snippet = service.image_snippet(uploaded, ctx.field("alt"))
        except Invalid as exc:
            errors, code = exc.errors, 422
    return ctx.render(
        "staff/kb/images.html",
        status=code,
        snippet=snippet,
        uploaded=uploaded,
        errors=errors,
        alt=ctx.field("alt"),
        images=[(img, service.image_url(img)) for img in service.recent_images(ctx.db, actor=ctx.user)],
    )


routes = [
    Route("/kb", index, name="kb"),
    Route("/kb/images/{image_id:int}/{filename}", image, name="kb_image"),
    Route("/kb/{slug}", article_page, name="kb_article"),
    Route("/kb/{slug}/feedback", feedback, methods=["POST"], name="kb_feedback"),
    Route("/staff/kb", staff_list, name="staff_kb"),
    Route("/staff/kb/new", staff_new, methods=["GET", "POST"], name="staff_kb_new"),
    Route("/staff/kb/images", staff_images, methods=["GET", "POST"], name="staff_kb_images"),
    Route("/staff/kb/{article_id:int}", staff_edit, methods=["GET", "POST"], name="staff_kb_edit"),
    Route("/staff/kb/{article_id:int}/status", staff_status, methods=["POST"], name="staff_kb_status"),
    Route("/staff/kb/{article_id:int}/revisions", staff_revisions, name="staff_kb_revisions"),
    Route("/staff/kb/{article_id:int}/revisions/{version:int}", staff_revision, name="staff_kb_revision"),
    Route("/staff/kb/{article_id:int}/revisions/{version:int}/restore", staff_restore, methods=["POST"], name="staff_kb_restore"),
]
