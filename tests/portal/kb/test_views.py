"""Knowledge-base pages over HTTP: readers in English and Chinese, feedback, images, and the
staff authoring console end to end (with CSRF)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import Any

import pyotp
from PIL import Image
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.kb import service
from portal.kb.models import Article, ArticleFeedback, ArticleStatus, KbChange

ROUTER_BODY = "Hold the **reset** button for ten seconds.\n\n| Light | Meaning |\n|---|---|\n| Blue | Ready |\n\n<script>alert(1)</script>"


def _publish(uow: Callable[..., Any], **fields: Any) -> int:
    raw = {
        "title": "Reset your router",
        "slug": "reset-router",
        "locale": "en",
        "category": "Networking",
        "tags": "network, reset",
        "audience": "public",
        "summary": "Restore factory settings on the R200 router.",
        "body_md": ROUTER_BODY,
        **fields,
    }
    with uow() as db:
        data = service.clean_input(db, raw)
        service.apply_import(db, data, ArticleStatus.PUBLISHED, actor=None, note="test")
        return int(db.scalar(select(Article.id).where(Article.slug == data.slug, Article.locale == data.locale)) or 0)


def _staff_client(make_client: Any, make_user: Any, uow: Any) -> Any:
    staff = make_user("sam@northwind.example", Role.STAFF, name="Sam Staff")
    with uow() as session:
        row = session.get(User, staff.id)
        row.totp_secret, row.totp_enabled = pyotp.random_base32(), True
        secret = row.totp_secret
    web = make_client()
    web.login("sam@northwind.example")
    web.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    return web


def _set_language(client: Any, locale: str) -> None:
    client.submit("/language", {"locale": locale, "next": "/kb"})


def test_the_help_centre_lists_categories_popular_and_recent_articles(client: Any, uow: Any) -> None:
    empty = client.get("/kb")
    assert "No articles published yet" in empty.text
    assert 'action="/kb/search"' in empty.text
    assert "Search help articles" in empty.text
    _publish(uow)
    _publish(uow, title="Battery care", slug="battery-care", category="Scanners", tags="battery", products="NW-S10")
    _publish(uow, title="Partner price lists", slug="partner-prices", audience="partners")
    page = client.get("/kb").text
    assert "Networking" in page
    assert "Scanners" in page
    assert "Popular articles" in page
    assert "Recently published" in page
    assert 'href="/kb/reset-router"' in page
    assert "Partner price lists" not in page  # not for guests
    category = client.get("/kb", params={"category": "Networking"}).text
    assert "Reset your router" in category
    assert "Battery care" not in category
    by_product = client.get("/kb", params={"product": "NW-S10"}).text
    assert "Battery care" in by_product
    assert "Reset your router" not in by_product
    nothing = client.get("/kb", params={"product": "NW-NONE"}).text
    assert "No articles for this product yet" in nothing
    assert "No articles in this category" in client.get("/kb", params={"category": "Nope"}).text
    old_search = client.get("/kb", params={"q": "router"}, follow_redirects=False)
    assert old_search.headers["location"] == "/kb/search?q=router"


def test_an_article_page_has_seo_tags_sanitized_body_and_related_articles(client: Any, uow: Any) -> None:
    _publish(uow)
    _publish(uow, title="Router lights explained", slug="router-lights", tags="network")
    response = client.get("/kb/reset-router")
    assert response.status_code == 200
    page = response.text
    assert '<link rel="canonical" href="http://testserver/kb/reset-router">' in page
    assert '<meta name="description" content="Restore factory settings on the R200 router.">' in page
    assert '<http://testserver/kb/reset-router>; rel="canonical"' in response.headers["link"]
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", response.headers["content-security-policy"])
    assert nonce is not None
    match = re.search(r'<script type="application/ld\+json" nonce="([^"]+)">(.*?)</script>', page, re.S)
    assert match is not None
    assert match.group(1) == nonce.group(1)
    data = json.loads(match.group(2))
    assert (data["@type"], data["headline"], data["inLanguage"]) == ("Article", "Reset your router", "en")
    assert "<strong>reset</strong>" in page
    assert "<td>Blue</td>" in page
    assert "<script>alert(1)</script>" not in page
    assert "Last updated" in page
    assert "Router lights explained" in page  # related: same category
    assert "Was this helpful?" in page


def test_the_reader_gets_their_language_or_a_visible_fallback(client: Any, uow: Any) -> None:
    _publish(uow)
    _set_language(client, "zh")
    fallback = client.get("/kb/reset-router").text
    assert 'class="notice kb-fallback"' in fallback  # the notice, in the reader's language
    assert '<article class="kb-article" lang="en">' in fallback
    _publish(uow, title="重置路由器", locale="zh", summary="恢复出厂设置。", body_md="按住复位键十秒钟。")
    translated = client.get("/kb/reset-router").text
    assert "按住复位键十秒钟。" in translated
    assert '<article class="kb-article" lang="zh-Hans">' in translated
    assert 'href="/kb/reset-router?lang=en"' in translated  # the other language
    assert 'hreflang="zh-Hans" href="http://testserver/kb/reset-router?lang=zh"' in translated
    assert "重置路由器" in client.get("/kb").text
    _set_language(client, "en")
    english = client.get("/kb/reset-router").text
    assert "Hold the" in english
    assert 'href="/kb/reset-router?lang=zh"' in english
    assert "按住复位键十秒钟。" in client.get("/kb/reset-router?lang=zh").text


def test_english_fallback_notice_is_shown_in_english(client: Any, uow: Any) -> None:
    _publish(uow, title="重置路由器", locale="zh", summary="恢复出厂设置。", body_md="按住复位键十秒钟。")
    page = client.get("/kb/reset-router").text
    assert "This article is not available in English yet; showing 简体中文." in page
    assert '<article class="kb-article" lang="zh-Hans">' in page


def test_articles_a_reader_may_not_read_are_not_found(client: Any, uow: Any, make_user: Any, make_account: Any) -> None:
    _publish(uow, title="Partner price lists", slug="partner-prices", audience="partners")
    _publish(uow, title="Customer portal tips", slug="customer-tips", audience="customers")
    assert client.get("/kb/partner-prices").status_code == 404
    assert client.get("/kb/customer-tips").status_code == 404
    assert client.get("/kb/no-such-article").status_code == 404
    make_account("C-1")
    make_user("ann@alpha.example", Role.CUSTOMER, account_id="C-1")
    client.login("ann@alpha.example")
    assert client.get("/kb/customer-tips").status_code == 200
    assert client.get("/kb/partner-prices").status_code == 404


def test_feedback_is_counted_with_its_comment_and_thanks_the_reader(client: Any, uow: Any) -> None:
    article_id = _publish(uow)
    answer = {"locale": "en", "helpful": "no", "comment": "Light stays red."}
    response = client.submit("/kb/reset-router/feedback", answer, form_page="/kb/reset-router")
    assert response.status_code == 303
    thanks = client.get(response.headers["location"]).text
    assert "Thank you for your feedback." in thanks
    with uow() as db:
        article = db.get(Article, article_id)
        assert (article.helpful_yes, article.helpful_no) == (0, 1)
        assert db.scalar(select(ArticleFeedback.comment)) == "Light stays red."
    refused = client.post("/kb/reset-router/feedback", data={"locale": "en", "helpful": "yes"})
    assert refused.status_code == 403  # no CSRF token
    bad = client.submit("/kb/reset-router/feedback", {"locale": "en", "helpful": "maybe"}, form_page="/kb/reset-router")
    assert bad.status_code == 422


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_staff_write_preview_review_publish_revise_and_restore(make_client: Any, make_user: Any, uow: Any, client: Any) -> None:
    staff = _staff_client(make_client, make_user, uow)
    assert "No articles here." in staff.get("/staff/kb").text
    form = {
        "title": "Pair a scanner",
        "slug": "",
        "locale": "en",
        "category": "Scanners",
        "products": "",
        "tags": "bluetooth",
        "audience": "public",
        "summary": "",
        "body_md": "Press **pair** <img src=x onerror=alert(1)>",
    }
    preview = staff.submit("/staff/kb/new", {**form, "action": "preview"}, form_page="/staff/kb/new")
    assert preview.status_code == 200
    assert "<strong>pair</strong>" in preview.text
    assert "onerror=alert" not in preview.text.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    with uow() as db:
        assert db.scalar(select(Article.id)) is None  # a preview saves nothing
    invalid = staff.submit("/staff/kb/new", {**form, "title": "配对扫描枪", "locale": "zh"}, form_page="/staff/kb/new")
    assert invalid.status_code == 422
    assert "Enter a slug" in invalid.text
    assert 'value="配对扫描枪"' in invalid.text
    created = staff.submit("/staff/kb/new", {**form, "action": "save"}, form_page="/staff/kb/new")
    assert created.status_code == 303
    edit_url = created.headers["location"]
    article_id = int(edit_url.rsplit("/", 1)[1])
    assert client.get("/kb/pair-a-scanner").status_code == 404  # a draft
    assert staff.get("/kb/pair-a-scanner").status_code == 200  # staff may read it
    saved = staff.submit(edit_url, {**form, "body_md": "Press and hold **pair**.", "version": "1", "note": "Clearer"}, form_page=edit_url)
    assert saved.status_code == 303
    stale = staff.submit(edit_url, {**form, "body_md": "Mine.", "version": "1"}, form_page=edit_url)
    assert stale.status_code == 409
    for action in ("submit", "publish"):
        assert staff.submit(f"/staff/kb/{article_id}/status", {"action": action}, form_page=edit_url).status_code == 303
    skipped = staff.submit(f"/staff/kb/{article_id}/status", {"action": "submit"}, form_page=edit_url)
    assert skipped.status_code == 409
    assert "Press and hold" in client.get("/kb/pair-a-scanner").text
    history = staff.get(f"/staff/kb/{article_id}/revisions").text
    assert "Version 2" in history
    assert "Version 1" in history
    assert "Sam Staff" in history
    assert "Clearer" in history
    assert "Press" in staff.get(f"/staff/kb/{article_id}/revisions/1").text
    restored = staff.submit(f"/staff/kb/{article_id}/revisions/1/restore", {}, form_page=edit_url)
    assert restored.status_code == 303
    with uow() as db:
        article = db.get(Article, article_id)
        assert (article.version, article.status, article.body_md) == (3, ArticleStatus.PUBLISHED, form["body_md"])
        assert db.scalar(select(KbChange.id).where(KbChange.article_id == article_id).order_by(KbChange.id.desc())) is not None
    listing = staff.get("/staff/kb", params={"status": "published", "q": "scanner"}).text
    assert "Pair a scanner" in listing
    assert "Pair a scanner" not in staff.get("/staff/kb", params={"status": "draft"}).text
    # A translation starts from the English version's slug.
    assert 'value="pair-a-scanner"' in staff.get(f"/staff/kb/new?from={article_id}&locale=zh").text


def test_staff_upload_an_image_and_readers_fetch_it(make_client: Any, make_user: Any, uow: Any, client: Any) -> None:
    staff = _staff_client(make_client, make_user, uow)
    token = staff.csrf("/staff/kb/images")
    response = staff.post(
        "/staff/kb/images",
        data={"csrf_token": token, "alt": "Reset button"},
        files={"image": ("reset button.png", _png(), "image/png")},
    )
    assert response.status_code == 200
    snippet = re.search(r'value="(!\[Reset button\]\((/kb/images/\d+/[^)]+)\))"', response.text)
    assert snippet is not None
    image = client.get(snippet.group(2))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in image.headers["cache-control"]
    assert client.get(snippet.group(2) + "x").status_code == 404
    refused = staff.post("/staff/kb/images", data={"csrf_token": token}, files={"image": ("x.png", b"not an image", "image/png")})
    assert refused.status_code == 422
    assert "JPEG, PNG or WebP" in refused.text


def test_readers_cannot_reach_the_authoring_pages(client: Any, make_user: Any, make_account: Any) -> None:
    assert client.get("/staff/kb", follow_redirects=False).headers["location"].startswith("/login")
    make_account("C-1")
    make_user("ann@alpha.example", Role.CUSTOMER, account_id="C-1")
    client.login("ann@alpha.example")
    assert client.get("/staff/kb").status_code == 404
    assert client.get("/staff/kb/new").status_code == 404
