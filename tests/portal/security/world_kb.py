"""Records of the test world for the knowledge-base routes (called by conftest.build_world).

Published articles for everyone, for customers and for partners; a draft; an image. The
articles are written as an import writes them (no author), by the knowledge-base service.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.kb import service
from portal.kb.models import Article, ArticleImage, ArticleStatus, SearchSynonym

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

ARTICLES = {
    # world.ids name: (slug, audience, status)
    "kb:public": ("reset-your-router", "public", ArticleStatus.PUBLISHED),
    "kb:customers": ("customer-portal-tips", "customers", ArticleStatus.PUBLISHED),
    "kb:partners": ("partner-price-lists", "partners", ArticleStatus.PUBLISHED),
    "kb:draft": ("unfinished-draft", "public", ArticleStatus.DRAFT),
}


def add(db: Session, world: World, now: datetime) -> None:
    """Name each article's slug in world.ids ("kb:public", ...), its id as "kb-id:<kind>",
    the image as "kb-image" (id) and "kb-image-file" (file name), and a synonym group as
    "kb-synonym"."""
    for name, (slug, audience, status) in ARTICLES.items():
        data = service.clean_input(
            db,
            {
                "title": slug.replace("-", " ").capitalize(),
                "slug": slug,
                "locale": "en",
                "category": "Help",
                "audience": audience,
                "summary": f"About {slug}.",
                "body_md": f"How to {slug.replace('-', ' ')}.",
            },
        )
        service.apply_import(db, data, status, actor=None, note="world")
        world.ids[name] = slug
        world.ids[f"kb-id:{name.split(':')[1]}"] = int(db.scalar(select(Article.id).where(Article.slug == slug)) or 0)
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 90, 200)).save(out, "PNG")
    image = ArticleImage(filename="router.png", content_type="image/png", data=out.getvalue(), uploaded_by_id=None, created_at=now)
    db.add(image)
    db.flush()
    world.ids["kb-image"] = image.id
    world.ids["kb-image-file"] = image.filename
    synonym = SearchSynonym(words=["router", "gateway"], updated_at=now)
    db.add(synonym)
    db.flush()
    world.ids["kb-synonym"] = synonym.id
