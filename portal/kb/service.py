"""Knowledge-base rules: who reads which article, the authoring workflow, revisions, reader
feedback, images, and importing Markdown files.

Visibility (`readable`): guests read public articles; customers public and customers-only;
partners public and partners-only; staff everything. Readers other than staff see only
published articles. An article the reader may not read does not exist for them (NotFound).

Every change to an article writes a `KbChange` row in the same transaction (the search index
follows that log); every change to its content also writes an `ArticleRevision` and raises
its version. Services never commit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import ColumnElement, String, and_, cast, false, func, select, true, update
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.customer.models import Product
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import LOCALES, N_
from portal.kb import markdown
from portal.kb.models import Article, ArticleFeedback, ArticleImage, ArticleRevision, ArticleStatus, Audience, KbChange
from portal.security import ratelimit
from portal.security.audit import audit
from portal.uploads import BadUpload, Upload, clean_image, safe_filename

PAGE_SIZE = 25
MAX_TITLE = 200
MAX_SLUG = 120
MAX_SUMMARY = 300
MAX_CATEGORY = 60
MAX_BODY = 200_000
MAX_TAGS = 20
MAX_TAG = 40
MAX_COMMENT = 2000
RELATED_MAX = 5
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
RESERVED_SLUGS = frozenset({"search", "images"})  # /kb/search, /kb/images/...
SKU_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]{0,39}")

# Workflow: action -> (statuses it starts from, status it leads to).
TRANSITIONS: dict[str, tuple[frozenset[ArticleStatus], ArticleStatus]] = {
    "submit": (frozenset({ArticleStatus.DRAFT}), ArticleStatus.REVIEW),
    "publish": (frozenset({ArticleStatus.REVIEW}), ArticleStatus.PUBLISHED),
    "draft": (frozenset({ArticleStatus.REVIEW, ArticleStatus.PUBLISHED, ArticleStatus.ARCHIVED}), ArticleStatus.DRAFT),
    "archive": (frozenset({ArticleStatus.DRAFT, ArticleStatus.REVIEW, ArticleStatus.PUBLISHED}), ArticleStatus.ARCHIVED),
}
IMPORT_STATUSES = (ArticleStatus.DRAFT, ArticleStatus.REVIEW, ArticleStatus.PUBLISHED)

# Categories are language-neutral keys shared by an article's translations; these are their
# names for readers (message ids: translate with `_()` where shown).
CATEGORY_LABELS = {
    "getting-started": N_("Getting started"),
    "account-and-orders": N_("Account and orders"),
    "warranty-and-repairs": N_("Warranty and repairs"),
    "networking": N_("Networking"),
    "printing": N_("Printing"),
    "storage": N_("Storage"),
    "troubleshooting": N_("Troubleshooting"),
    "partners": N_("For partners"),
}


def category_label(category: str) -> str:
    """A category's name for readers (a message id when known, else the key made readable)."""
    known = CATEGORY_LABELS.get(category)
    if known:
        return known
    return category.replace("-", " ").capitalize() if re.fullmatch(r"[a-z0-9-]+", category) else category


# -- visibility ---------------------------------------------------------------------------------


def is_staff(actor: User | None) -> bool:
    return actor is not None and actor.role.is_staff


def audiences_for(actor: User | None) -> set[Audience]:
    """The audiences whose articles `actor` may read (status aside)."""
    if actor is None:
        return {Audience.PUBLIC}
    if actor.role.is_staff:
        return set(Audience)
    if actor.role.is_customer:
        return {Audience.PUBLIC, Audience.CUSTOMERS}
    if actor.role.is_partner:
        return {Audience.PUBLIC, Audience.PARTNERS}
    return {Audience.PUBLIC}


def readable(actor: User | None) -> ColumnElement[bool]:
    """WHERE clause: the articles `actor` may open (staff: every article, drafts included)."""
    if is_staff(actor):
        return true()
    return and_(Article.status == ArticleStatus.PUBLISHED, Article.audience.in_(sorted(audiences_for(actor))))


def _listed(actor: User | None, locale: str) -> ColumnElement[bool]:
    """Articles shown in the reader's lists: readable and published, in one language."""
    return and_(readable(actor), Article.status == ArticleStatus.PUBLISHED, Article.locale == locale)


def _with_product(sku: str | None) -> ColumnElement[bool]:
    if not sku:
        return true()
    if not SKU_RE.fullmatch(sku):
        return false()
    return cast(Article.products, String).contains(f'"{sku}"', autoescape=True)


def _with_category(category: str | None) -> ColumnElement[bool]:
    return Article.category == category if category else true()


# -- the change log and revisions ----------------------------------------------------------------


def log_change(db: Session, article_id: int) -> None:
    db.add(KbChange(article_id=article_id, created_at=utcnow()))


def _revision(db: Session, article: Article, editor: User | None, note: str = "") -> None:
    db.add(
        ArticleRevision(
            article_id=article.id,
            version=article.version,
            title=article.title,
            summary=article.summary,
            body_md=article.body_md,
            tags=list(article.tags),
            status=article.status,
            editor_id=editor.id if editor else None,
            note=note[:300],
            created_at=utcnow(),
        )
    )


# -- input -----------------------------------------------------------------------------------------


@dataclass
class ArticleInput:
    """An article's editable fields, cleaned (see `clean_input`)."""

    title: str
    slug: str
    locale: str
    category: str
    products: list[str]
    tags: list[str]
    audience: Audience
    summary: str
    body_md: str

    def content(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "slug": self.slug,
            "locale": self.locale,
            "category": self.category,
            "products": self.products,
            "tags": self.tags,
            "audience": self.audience,
            "summary": self.summary,
            "body_md": self.body_md,
        }


def slugify(text: str) -> str:
    """ASCII lowercase words joined by hyphens ("" when the text has no Latin letters or digits)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_SLUG].strip("-")


def split_list(value: str | Iterable[Any] | None) -> list[str]:
    """A comma-separated string (form) or a list (front matter) as a list of trimmed strings."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    seen: list[str] = []
    for item in items:
        item = " ".join(item.split())
        if item and item not in seen:
            seen.append(item)
    return seen


def known_skus(db: Session) -> set[str] | None:
    """The product catalogue's SKUs, or None when no catalogue has been pulled yet."""
    skus = set(db.scalars(select(Product.sku)))
    return skus or None


def clean_input(db: Session, raw: Mapping[str, Any], *, summary_from_body: bool = False) -> ArticleInput:
    """Validate an article's fields; raise Invalid with every field's message at once."""
    errors: dict[str, str] = {}
    title = " ".join(str(raw.get("title") or "").split())
    if not title:
        errors["title"] = N_("Enter a title.")
    elif len(title) > MAX_TITLE:
        errors["title"] = N_("Use at most 200 characters.")
    slug = str(raw.get("slug") or "").strip().lower()
    if not slug and title:
        slug = slugify(title)
        if not slug:
            errors["slug"] = N_("Enter a slug: this title has no Latin letters to make one from.")
    if slug and (len(slug) > MAX_SLUG or not SLUG_RE.fullmatch(slug)):
        errors["slug"] = N_("Use lowercase letters a-z, digits and hyphens (at most 120), like reset-your-router.")
    elif slug in RESERVED_SLUGS:
        errors["slug"] = N_("This slug is taken by a page of the help centre: choose another.")
    locale = str(raw.get("locale") or "").strip()
    if locale not in LOCALES:
        errors["locale"] = N_("Choose a language from the list.")
    category = " ".join(str(raw.get("category") or "").split())
    if not category:
        errors["category"] = N_("Enter a category.")
    elif len(category) > MAX_CATEGORY:
        errors["category"] = N_("Use at most 60 characters.")
    products = list(dict.fromkeys(sku.upper() for sku in split_list(raw.get("products"))))
    if any(not SKU_RE.fullmatch(sku) for sku in products):
        errors["products"] = N_("Enter product SKUs separated by commas, like NW-RT-AX3000.")
    else:
        catalogue = known_skus(db) if products else None
        if catalogue is not None and any(sku not in catalogue for sku in products):
            errors["products"] = N_("A product SKU is not in the catalogue.")
    tags = list(dict.fromkeys(tag.lower() for tag in split_list(raw.get("tags"))))
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG for tag in tags):
        errors["tags"] = N_("Use at most 20 tags of at most 40 characters each.")
    audience_raw = str(raw.get("audience") or Audience.PUBLIC.value).strip()
    audience = Audience(audience_raw) if audience_raw in {a.value for a in Audience} else None
    if audience is None:
        errors["audience"] = N_("Choose an audience from the list.")
    body = str(raw.get("body_md") or "").replace("\r\n", "\n").strip("\n")
    if not body.strip():
        errors["body_md"] = N_("Write the article.")
    elif len(body) > MAX_BODY:
        errors["body_md"] = N_("The article is too long.")
    summary = " ".join(str(raw.get("summary") or "").split())
    if len(summary) > MAX_SUMMARY:
        errors["summary"] = N_("Use at most 300 characters.")
    elif not summary and summary_from_body:
        summary = markdown.first_paragraph(body, MAX_SUMMARY)
    if errors:
        raise Invalid(errors)
    assert audience is not None
    return ArticleInput(
        title=title,
        slug=slug,
        locale=locale,
        category=category,
        products=products,
        tags=tags,
        audience=audience,
        summary=summary,
        body_md=body,
    )


def _check_unique(db: Session, slug: str, locale: str, *, except_id: int | None = None) -> None:
    stmt = select(Article.id).where(Article.slug == slug, Article.locale == locale)
    if except_id is not None:
        stmt = stmt.where(Article.id != except_id)
    if db.scalar(stmt) is not None:
        raise Invalid("slug", N_("An article with this slug already exists in this language."))


# -- authoring (staff) -----------------------------------------------------------------------------


def _require_staff(actor: User | None) -> User:
    if actor is None or not actor.role.is_staff:
        raise NotFound()
    return actor


def create_article(
    db: Session, *, actor: User | None, data: ArticleInput, status: ArticleStatus = ArticleStatus.DRAFT, note: str = ""
) -> Article:
    """A new article at version 1 (staff, or an import when `actor` is None)."""
    if actor is not None:
        _require_staff(actor)
    _check_unique(db, data.slug, data.locale)
    now = utcnow()
    article = Article(
        **data.content(),
        status=status,
        version=1,
        author_id=actor.id if actor else None,
        views=0,
        helpful_yes=0,
        helpful_no=0,
        published_at=now if status == ArticleStatus.PUBLISHED else None,
        created_at=now,
        updated_at=now,
    )
    db.add(article)
    db.flush()
    _revision(db, article, actor, note or "Created")
    log_change(db, article.id)
    return article


def _content_differs(article: Article, data: ArticleInput) -> bool:
    return any(getattr(article, name) != value for name, value in data.content().items())


def update_article(
    db: Session, *, actor: User | None, article_id: int, data: ArticleInput, expected_version: int | None = None, note: str = ""
) -> Article:
    """Save new content as the next version (nothing happens when nothing changed)."""
    if actor is not None:
        _require_staff(actor)
    article = _get(db, article_id)
    if expected_version is not None and article.version != expected_version:
        raise Conflict(N_("Someone else saved this article while you were editing it. Reload it to see their changes."))
    if not _content_differs(article, data):
        return article
    _check_unique(db, data.slug, data.locale, except_id=article.id)
    for name, value in data.content().items():
        setattr(article, name, value)
    article.version += 1
    article.updated_at = utcnow()
    db.flush()
    _revision(db, article, actor, note)
    log_change(db, article.id)
    return article


def change_status(db: Session, *, actor: User, article_id: int, action: str) -> Article:
    """Move an article through the workflow (submit, publish, draft, archive)."""
    _require_staff(actor)
    if action not in TRANSITIONS:
        raise Invalid("action", N_("Choose an action from the list."))
    article = _get(db, article_id)
    sources, target = TRANSITIONS[action]
    if article.status not in sources:
        raise Conflict(N_("The article has moved on meanwhile: this step is not possible from its current status."))
    previous = article.status
    article.status = target
    now = utcnow()
    article.updated_at = now
    if target == ArticleStatus.PUBLISHED:
        article.published_at = now
        article.reviewer_id = actor.id
    log_change(db, article.id)
    audit(
        db,
        f"kb.{action}",
        actor_user_id=actor.id,
        actor_email=actor.email,
        target=f"{article.slug}/{article.locale}",
        article_id=article.id,
        previous=previous.value,
    )
    return article


def archive_article(db: Session, *, actor: User, article_id: int) -> Article:
    return change_status(db, actor=actor, article_id=article_id, action="archive")


def _get(db: Session, article_id: int) -> Article:
    article = db.get(Article, article_id)
    if article is None:
        raise NotFound()
    return article


def get_for_staff(db: Session, *, actor: User, article_id: int) -> Article:
    _require_staff(actor)
    return _get(db, article_id)


def staff_list(
    db: Session, *, actor: User, status: ArticleStatus | None = None, query: str = "", page: int = 1
) -> tuple[list[Article], int]:
    _require_staff(actor)
    where: list[ColumnElement[bool]] = []
    if status is not None:
        where.append(Article.status == status)
    query = query.strip()[:200]
    if query:
        where.append(func.lower(Article.title).contains(query.lower(), autoescape=True))
    total = int(db.scalar(select(func.count()).select_from(Article).where(*where)) or 0)
    rows = db.scalars(
        select(Article)
        .where(*where)
        .order_by(Article.updated_at.desc(), Article.id.desc())
        .limit(PAGE_SIZE)
        .offset((max(page, 1) - 1) * PAGE_SIZE)
    ).all()
    return list(rows), total


def translations_of(db: Session, article: Article, actor: User | None) -> list[Article]:
    """The other language versions of `article` that `actor` may read."""
    return list(
        db.scalars(
            select(Article).where(Article.slug == article.slug, Article.locale != article.locale, readable(actor)).order_by(Article.locale)
        )
    )


@dataclass(frozen=True)
class RevisionRow:
    revision: ArticleRevision
    editor: str  # the editor's name or e-mail ("" for imports)


def revisions(db: Session, *, actor: User, article_id: int) -> list[RevisionRow]:
    _require_staff(actor)
    _get(db, article_id)
    rows = db.execute(
        select(ArticleRevision, User)
        .outerjoin(User, User.id == ArticleRevision.editor_id)
        .where(ArticleRevision.article_id == article_id)
        .order_by(ArticleRevision.version.desc())
    ).all()
    return [RevisionRow(revision=rev, editor=(user.name or user.email) if user else "") for rev, user in rows]


def get_revision(db: Session, *, actor: User, article_id: int, version: int) -> ArticleRevision:
    _require_staff(actor)
    revision = db.scalar(select(ArticleRevision).where(ArticleRevision.article_id == article_id, ArticleRevision.version == version))
    if revision is None:
        raise NotFound()
    return revision


def restore_revision(db: Session, *, actor: User, article_id: int, version: int) -> Article:
    """Make an old version's text the article's next version (history is never rewritten)."""
    revision = get_revision(db, actor=actor, article_id=article_id, version=version)
    article = _get(db, article_id)
    if (article.title, article.summary, article.body_md, list(article.tags)) == (
        revision.title,
        revision.summary,
        revision.body_md,
        list(revision.tags),
    ):
        return article
    article.title, article.summary, article.body_md, article.tags = revision.title, revision.summary, revision.body_md, list(revision.tags)
    article.version += 1
    article.updated_at = utcnow()
    db.flush()
    _revision(db, article, actor, f"Restored version {version}")
    log_change(db, article.id)
    return article


# -- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticlePage:
    article: Article
    fallback: bool  # shown in another language than the one asked for
    translations: list[Article]  # the other language versions the reader may open


def get_article(db: Session, *, actor: User | None, slug: str, locale: str) -> ArticlePage:
    """The article `slug` in `locale`, or (visibly) in the other language when it is not translated."""
    found = {a.locale: a for a in db.scalars(select(Article).where(Article.slug == slug, readable(actor)))}
    if not found:
        raise NotFound()
    article = found.get(locale)
    fallback = article is None
    if article is None:
        article = next(found[code] for code in (*LOCALES, *sorted(found)) if code in found)
    return ArticlePage(article=article, fallback=fallback, translations=[a for code, a in sorted(found.items()) if code != article.locale])


def categories(db: Session, *, actor: User | None, locale: str, product: str | None = None) -> list[tuple[str, int]]:
    rows = db.execute(
        select(Article.category, func.count())
        .where(_listed(actor, locale), _with_product(product))
        .group_by(Article.category)
        .order_by(Article.category)
    ).all()
    return [(str(name), int(count)) for name, count in rows]


def popular(db: Session, *, actor: User | None, locale: str, product: str | None = None, limit: int = 5) -> list[Article]:
    """Most found helpful first (readers' "yes" votes, then views, then the newest): reading an
    article never writes, so the ranking follows feedback rather than page views."""
    return list(
        db.scalars(
            select(Article)
            .where(_listed(actor, locale), _with_product(product))
            .order_by(
                Article.helpful_yes.desc(),
                (Article.helpful_yes - Article.helpful_no).desc(),
                Article.views.desc(),
                Article.published_at.desc(),
                Article.id,
            )
            .limit(limit)
        )
    )


def recent(db: Session, *, actor: User | None, locale: str, product: str | None = None, limit: int = 5) -> list[Article]:
    return list(
        db.scalars(
            select(Article)
            .where(_listed(actor, locale), _with_product(product))
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(limit)
        )
    )


def listing(
    db: Session, *, actor: User | None, locale: str, category: str | None = None, product: str | None = None, page: int = 1
) -> tuple[list[Article], int]:
    """One category's (or one product's) articles, by title."""
    where = (_listed(actor, locale), _with_category(category), _with_product(product))
    total = int(db.scalar(select(func.count()).select_from(Article).where(*where)) or 0)
    rows = db.scalars(
        select(Article).where(*where).order_by(Article.title, Article.id).limit(PAGE_SIZE).offset((max(page, 1) - 1) * PAGE_SIZE)
    ).all()
    return list(rows), total


def products_in_use(db: Session, *, actor: User | None, locale: str) -> list[tuple[str, str]]:
    """(SKU, product name) of every product the reader's articles mention, for the filter."""
    skus: set[str] = set()
    for products in db.scalars(select(Article.products).where(_listed(actor, locale))):
        skus.update(products or [])
    names: dict[str, str] = {}
    if skus:
        names = {str(sku): str(name) for sku, name in db.execute(select(Product.sku, Product.name).where(Product.sku.in_(sorted(skus))))}
    return sorted(((sku, names.get(sku, sku)) for sku in skus), key=lambda item: item[1].lower())


def product_name(db: Session, sku: str) -> str:
    return db.scalar(select(Product.name).where(Product.sku == sku)) or sku


def related(db: Session, *, actor: User | None, article: Article, limit: int = RELATED_MAX) -> list[Article]:
    """Readable published articles in the same language sharing the category or tags, best first."""
    tags = set(article.tags or [])
    candidates = db.scalars(
        select(Article)
        .where(_listed(actor, article.locale), Article.slug != article.slug)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(300)
    ).all()
    scored = []
    for other in candidates:
        score = len(tags & set(other.tags or [])) + (2 if other.category == article.category else 0)
        if score:
            scored.append((score, other))
    scored.sort(key=lambda item: -item[0])
    return [other for _score, other in scored[:limit]]


def record_feedback(db: Session, *, actor: User | None, slug: str, locale: str, helpful: str, comment: str, ip: str) -> ArticleFeedback:
    """Count a "Was this helpful?" answer (with its optional comment); limited per address and article."""
    if helpful not in ("yes", "no"):
        raise Invalid("helpful", N_("Choose yes or no."))
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise Invalid("comment", N_("Use at most 2000 characters."))
    article = db.scalar(select(Article).where(Article.slug == slug, Article.locale == locale, readable(actor)))
    if article is None:
        raise NotFound()
    ratelimit.hit(db, ratelimit.EMAIL_ACTION_IP, f"kb-feedback:{article.id}:{ip}")
    yes = helpful == "yes"
    column = Article.helpful_yes if yes else Article.helpful_no
    db.execute(update(Article).where(Article.id == article.id).values({column: column + 1}))
    feedback = ArticleFeedback(
        article_id=article.id, helpful=yes, comment=comment, user_id=actor.id if actor else None, created_at=utcnow()
    )
    db.add(feedback)
    return feedback


def recent_feedback(db: Session, *, actor: User, article_id: int, limit: int = 20) -> list[ArticleFeedback]:
    _require_staff(actor)
    return list(
        db.scalars(
            select(ArticleFeedback)
            .where(ArticleFeedback.article_id == article_id)
            .order_by(ArticleFeedback.created_at.desc(), ArticleFeedback.id.desc())
            .limit(limit)
        )
    )


# -- images ------------------------------------------------------------------------------------------


def image_url(image: ArticleImage) -> str:
    return f"/kb/images/{image.id}/{image.filename}"


def image_snippet(image: ArticleImage, alt: str) -> str:
    alt = re.sub(r"[\[\]\\\n\r]", " ", alt).strip() or image.filename.rsplit(".", 1)[0]
    return f"![{alt}]({image_url(image)})"


def save_image(db: Session, *, actor: User, upload: Upload | None) -> ArticleImage:
    _require_staff(actor)
    if upload is None:
        raise Invalid("image", N_("Choose an image to upload."))
    try:
        clean = clean_image(upload)
    except BadUpload as exc:
        raise Invalid("image", str(exc)) from None
    filename = re.sub(r"[^A-Za-z0-9._-]+", "-", safe_filename(clean.filename)).strip("-") or "image"
    image = ArticleImage(
        filename=filename[:200], content_type=clean.content_type, data=clean.data, uploaded_by_id=actor.id, created_at=utcnow()
    )
    db.add(image)
    db.flush()
    return image


def recent_images(db: Session, *, actor: User, limit: int = 12) -> list[ArticleImage]:
    _require_staff(actor)
    return list(db.scalars(select(ArticleImage).order_by(ArticleImage.id.desc()).limit(limit)))


def get_image(db: Session, *, image_id: int, filename: str) -> ArticleImage:
    image = db.get(ArticleImage, image_id)
    if image is None or image.filename != filename:
        raise NotFound()
    return image


# -- import ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileResult:
    path: str
    outcome: str  # created | updated | unchanged | error
    reason: str = ""
    slug: str = ""
    locale: str = ""


@dataclass
class ImportReport:
    results: list[FileResult] = field(default_factory=list)

    def _count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def created(self) -> int:
        return self._count("created")

    @property
    def updated(self) -> int:
        return self._count("updated")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.results if r.outcome == "error"]


class BadFile(ValueError):
    """A file that cannot be imported; the message says why."""


FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.S)


def parse_file(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, Markdown body) of an article file. Raises BadFile."""
    match = FRONT_MATTER.match(text)
    if not match:
        raise BadFile("no YAML front matter (the file must start with a line '---')")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise BadFile(f"the front matter is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise BadFile("the front matter is not a mapping of fields")
    return meta, match.group(2)


def _invalid_reason(exc: Invalid) -> str:
    return "; ".join(f"{name}: {message}" for name, message in exc.errors.items())


def read_file(db: Session, path: Path) -> tuple[ArticleInput, ArticleStatus]:
    """An article file's cleaned fields and status. Raises BadFile."""
    try:
        meta, body = parse_file(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFile(f"cannot read the file ({exc})") from None
    raw_status = str(meta.get("status") or ArticleStatus.PUBLISHED.value).strip()
    if raw_status not in {s.value for s in IMPORT_STATUSES}:
        raise BadFile(f"status must be draft, review or published, not {raw_status!r}")
    if not str(meta.get("slug") or "").strip():
        raise BadFile("slug is missing")
    for name in ("products", "tags"):
        if meta.get(name) is not None and not isinstance(meta.get(name), list | str):
            raise BadFile(f"{name} must be a list")
    fields = {str(k): v for k, v in meta.items()}
    try:
        data = clean_input(db, {**fields, "body_md": body}, summary_from_body=True)
    except Invalid as exc:
        raise BadFile(_invalid_reason(exc)) from None
    return data, ArticleStatus(raw_status)


def apply_import(db: Session, data: ArticleInput, status: ArticleStatus, *, actor: User | None, note: str) -> str:
    """Create or update the article (slug, locale) from a file: created, updated or unchanged.
    In a savepoint, so a failing file leaves nothing behind."""
    with db.begin_nested():
        existing = db.scalar(select(Article).where(Article.slug == data.slug, Article.locale == data.locale))
        if existing is None:
            create_article(db, actor=actor, data=data, status=status, note=note)
            return "created"
        content_changed = _content_differs(existing, data)
        if not content_changed and existing.status == status:
            return "unchanged"
        if existing.status != status:
            existing.status = status
            if status == ArticleStatus.PUBLISHED:
                existing.published_at = utcnow()
        if content_changed:
            update_article(db, actor=actor, article_id=existing.id, data=data, note=note)
        else:
            existing.updated_at = utcnow()
            log_change(db, existing.id)
        return "updated"


def import_folder(
    db: Session, path: str | Path, actor: User | None = None, *, progress: Callable[[FileResult], None] | None = None
) -> ImportReport:
    """Import every `*.md` file under `path` (recursively, in name order), upserting by slug
    and language. Invalid files are reported (name and reason) and skipped; an unchanged file
    changes nothing; a second file for the same slug and language is refused."""
    root = Path(path)
    if not root.is_dir():
        raise NotFound(f"{root} is not a folder")
    report = ImportReport()
    seen: dict[tuple[str, str], str] = {}
    for file in sorted(p for p in root.rglob("*.md") if p.is_file()):
        shown = str(file.relative_to(root))
        try:
            data, status = read_file(db, file)
            key = (data.slug, data.locale)
            if key in seen:
                raise BadFile(f"same slug and language as {seen[key]}")
            seen[key] = shown
            outcome = apply_import(db, data, status, actor=actor, note=f"Imported from {file.name}")
            result = FileResult(shown, outcome, "", data.slug, data.locale)
        except BadFile as exc:
            result = FileResult(shown, "error", str(exc))
        except Invalid as exc:
            result = FileResult(shown, "error", _invalid_reason(exc))
        report.results.append(result)
        if progress is not None:
            progress(result)
    return report
