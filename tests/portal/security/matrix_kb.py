"""Authorization matrix entries for the knowledge-base routes (merged into matrix.MATRIX).

Readers: an article a role may not read is "not found" for it, guests included (never a
sign-in prompt: a guest cannot tell a partner-only article from a missing one). Public
articles for everyone; customers-only for customers; partners-only for partners; drafts only
for staff. The authoring console (/staff/kb) is staff's alone.
"""

from __future__ import annotations

from tests.portal.security.matrix import (
    ADMIN,
    COLLEAGUE_A,
    CONSUMER,
    CUSTOMER_A,
    CUSTOMER_B,
    NOBODY,
    PARTNER_X,
    PARTNER_Y,
    PUBLIC,
    STAFF,
    Case,
    Obj,
    only,
    outcomes,
)

STAFF_ONLY = (STAFF, ADMIN)
CUSTOMERS = (CUSTOMER_A, CUSTOMER_B, COLLEAGUE_A, CONSUMER)
PARTNERS = (PARTNER_X, PARTNER_Y)
NOT_FOUND = outcomes("404")


def _readers(*roles: str) -> dict[str, str]:
    """Readable by `roles` (and staff); "not found" for everyone else, guests included."""
    return outcomes("404", **dict.fromkeys((*roles, *STAFF_ONLY), "ok"))


def _per_article(**form: str) -> tuple[Case, ...]:
    return (
        Case(expect=PUBLIC, params={"slug": Obj("kb:public")}, form=form, label="public"),
        Case(expect=_readers(*CUSTOMERS), params={"slug": Obj("kb:customers")}, form=form, label="customers only"),
        Case(expect=_readers(*PARTNERS), params={"slug": Obj("kb:partners")}, form=form, label="partners only"),
        Case(expect=_readers(), params={"slug": Obj("kb:draft")}, form=form, label="draft"),
        Case(expect=NOT_FOUND, params={"slug": "no-such-article"}, form=form, label="missing"),
    )


def _staff_article(*, result: str = "ok", version: bool = False, **form: str) -> tuple[Case, ...]:
    extra: dict[str, Obj | str] = {"version": "1"} if version else {}
    missing: dict[str, Obj | str] = {"version": "99"} if version else {}
    cases = [
        Case(expect=only(*STAFF_ONLY, result=result), params={"article_id": Obj("kb-id:draft"), **extra}, form=form, label="draft"),
        Case(expect=only(*STAFF_ONLY, result=result), params={"article_id": Obj("kb-id:partners"), **extra}, form=form, label="partners"),
        Case(expect=NOBODY, params={"article_id": Obj("missing"), **extra}, form=form, label="missing"),
    ]
    if version:
        cases.append(Case(expect=NOBODY, params={"article_id": Obj("kb-id:draft"), **missing}, form=form, label="missing version"))
    return tuple(cases)


ENTRIES: dict[tuple[str, str], tuple[Case, ...]] = {
    # -- readers --------------------------------------------------------------------------------
    ("/kb/{slug}", "GET"): (
        *_per_article(),
        Case(expect=PUBLIC, params={"slug": Obj("kb:public")}, query="lang=zh", label="other language"),
    ),
    # Feedback: the "yes" is counted (rate-limited per address and article); a bad answer is refused.
    ("/kb/{slug}/feedback", "POST"): (
        *_per_article(locale="en", helpful="yes"),
        Case(expect=outcomes("invalid"), params={"slug": Obj("kb:public")}, form={"locale": "en", "helpful": "maybe"}, label="bad answer"),
    ),
    ("/kb/images/{image_id}/{filename}", "GET"): (
        Case(expect=PUBLIC, params={"image_id": Obj("kb-image"), "filename": Obj("kb-image-file")}, label="image"),
        Case(expect=NOT_FOUND, params={"image_id": Obj("kb-image"), "filename": "other.png"}, label="wrong name"),
        Case(expect=NOT_FOUND, params={"image_id": Obj("missing"), "filename": "router.png"}, label="missing"),
    ),
    # The search pages (portal/kb/search_views.py): public; results follow the reader's audiences.
    ("/kb/search", "GET"): (Case(PUBLIC, query="q=router"), Case(PUBLIC, query="q=", label="empty")),
    ("/kb/search.json", "GET"): (Case(PUBLIC, query="q=rou"),),
    # -- authoring (staff) ----------------------------------------------------------------------------
    ("/staff/kb", "GET"): (Case(only(*STAFF_ONLY)), Case(only(*STAFF_ONLY), query="status=draft&q=draft&page=2", label="filtered")),
    ("/staff/kb/new", "GET"): (Case(only(*STAFF_ONLY)), Case(only(*STAFF_ONLY), query="from=1&locale=zh", label="translation")),
    # No title: the form comes back with its errors (nothing saved); a preview saves nothing either.
    ("/staff/kb/new", "POST"): (
        Case(only(*STAFF_ONLY, result="invalid"), form={"title": "", "action": "save"}),
        Case(only(*STAFF_ONLY), form={"title": "Preview", "body_md": "**x**", "action": "preview"}, label="preview"),
    ),
    ("/staff/kb/images", "GET"): (Case(only(*STAFF_ONLY)),),
    ("/staff/kb/images", "POST"): (Case(only(*STAFF_ONLY, result="invalid")),),  # no file
    ("/staff/kb/{article_id}", "GET"): _staff_article(),
    ("/staff/kb/{article_id}", "POST"): _staff_article(result="invalid", title="", action="save"),
    ("/staff/kb/{article_id}/status", "POST"): _staff_article(result="invalid", action="no-such-step"),
    ("/staff/kb/{article_id}/revisions", "GET"): _staff_article(),
    ("/staff/kb/{article_id}/revisions/{version}", "GET"): _staff_article(version=True),
    # Restoring the current version is a no-op that answers like a restore.
    ("/staff/kb/{article_id}/revisions/{version}/restore", "POST"): _staff_article(version=True),
    # The search synonyms (portal/kb/search_views.py): staff only; a one-word group is refused.
    ("/staff/kb/synonyms", "GET"): (Case(only(*STAFF_ONLY)),),
    ("/staff/kb/synonyms", "POST"): (Case(only(*STAFF_ONLY, result="invalid"), form={"words": "router"}),),
    ("/staff/kb/synonyms/{group_id}", "POST"): (
        Case(only(*STAFF_ONLY, result="invalid"), params={"group_id": Obj("kb-synonym")}, form={"action": "save", "words": "x"}),
        Case(NOBODY, params={"group_id": Obj("missing")}, form={"action": "delete"}, label="missing"),
    ),
}
