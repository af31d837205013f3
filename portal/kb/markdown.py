"""Article bodies: Markdown rendered with markdown-it-py, then sanitized with nh3.

Raw HTML in the Markdown is never passed through (markdown-it escapes it), and whatever the
renderer produces is cleaned again by an allow-list: headings, paragraphs, lists, quotes,
code, tables, links and images. Links to other sites get rel="noopener nofollow"; images
are only those uploaded to the knowledge base (/kb/images/...), so an article cannot make
readers' browsers fetch from elsewhere. Headings move one level down (a Markdown `#` becomes
<h2>): the article's title is the page's only <h1>.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

IMAGE_PREFIX = "/kb/images/"
EXTERNAL_REL = "noopener nofollow"

TAGS = {
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "s",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},
}
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+-]{1,30}")


def is_external(href: str) -> bool:
    return href.startswith(("http://", "https://", "//"))


def _filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if value.startswith(IMAGE_PREFIX) and "//" not in value else None
    if tag == "code" and attribute == "class":
        return value if _LANGUAGE_CLASS.fullmatch(value) else None
    return value


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(["table", "strikethrough"])


def _adjust(tokens: list[Token]) -> None:
    """Headings one level down, rel on external links, foreign images replaced by their alt text."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, 6)}"
        elif token.type in ("th_open", "td_open"):
            token.attrs.pop("style", None)  # alignment as an inline style: the CSP forbids those
        if token.children:
            children: list[Token] = []
            for child in token.children:
                if child.type == "link_open" and is_external(str(child.attrGet("href") or "")):
                    child.attrSet("rel", EXTERNAL_REL)
                if child.type == "image" and not str(child.attrGet("src") or "").startswith(IMAGE_PREFIX):
                    text = Token("text", "", 0)
                    text.content = child.content
                    children.append(text)
                    continue
                children.append(child)
            token.children = children


def sanitize(html: str) -> str:
    """Clean HTML by the knowledge base's allow-list (links keep only our rel value)."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags={"script", "style"},
        attributes=ATTRIBUTES,
        tag_attribute_values={"a": {"rel": {EXTERNAL_REL}}},
        attribute_filter=_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel=None,
        strip_comments=True,
    )


def render(markdown_text: str, *, title: str | None = None) -> str:
    """Markdown to safe HTML (a fragment for the article body). A leading `# heading` that
    repeats `title` is left out: the page shows the title already."""
    parser = _parser()
    tokens = parser.parse(markdown_text or "")
    if (
        title is not None
        and len(tokens) >= 3
        and tokens[0].type == "heading_open"
        and tokens[0].tag == "h1"
        and " ".join(tokens[1].content.split()) == " ".join(title.split())
    ):
        tokens = tokens[3:]
    _adjust(tokens)
    return sanitize(parser.renderer.render(tokens, parser.options, {}))


def first_paragraph(markdown_text: str, limit: int = 300) -> str:
    """The first paragraph as plain text (a summary when none is given), at most `limit` characters."""
    tokens = _parser().parse(markdown_text or "")
    for index, token in enumerate(tokens):
        if token.type == "paragraph_open" and index + 1 < len(tokens):
            inline = tokens[index + 1]
            text = "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))
            text = re.sub(r"\s+", " ", text).strip()
            if text:
                return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
    return ""
