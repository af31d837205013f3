"""The knowledge-base search index: the only module that knows the engine (Whoosh, the
`whoosh3` fork; docs/decisions/0008-search-engine-whoosh3.md).

One index directory per node (`DATA_DIR/search`). It follows the `kb_change` log: the last
applied change id is kept next to the index (`cursor.json`, written after each commit), so
`apply_changes` re-reads only the articles changed since, whichever process wrote them. One
writer per directory: a non-blocking file lock (`DATA_DIR/search.lock`); a process that
cannot take it skips the round (another one is writing). Readers never wait for it.

Only published articles are indexed; who may find what is decided at query time by the
`audience` field, inside the query (a filter), so counts, facets and suggestions agree with
the hits.

Fields, per language (an article is one locale): English `title`/`summary`/`tags`/`body`
(Porter stemming) and Chinese `title_zh`/`summary_zh`/`tags_zh`/`body_zh` (jieba, which also
stems the English words inside Chinese text), plus two unstemmed fields: `plain` (title, tags,
summary and body: fuzzy matching and the spelling dictionary) and `title_plain` (as-you-type
prefixes).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import heapq
import json
import logging
import os
import re
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from markupsafe import Markup, escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from whoosh import index as whoosh_index
from whoosh.analysis.acore import Token
from whoosh.analysis.analyzers import Analyzer, StandardAnalyzer, StemmingAnalyzer
from whoosh.analysis.filters import LowercaseFilter, StopFilter
from whoosh.analysis.morph import StemFilter
from whoosh.analysis.tokenizers import Tokenizer
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema
from whoosh.lang.porter import stem
from whoosh.qparser import plugins
from whoosh.qparser.default import MultifieldParser, QueryParser
from whoosh.query import compound, qcore, terms
from whoosh.query.qcore import Query
from whoosh.searching import Searcher
from whoosh.writing import CLEAR, IndexWriter

from portal.kb.models import Article, ArticleStatus, Audience, KbChange, SearchSynonym

log = structlog.get_logger(__name__)


class Q:
    """The query classes used here (whoosh.query re-exports them untyped)."""

    NullQuery = qcore.NullQuery
    And = compound.And
    Or = compound.Or
    AndMaybe = compound.AndMaybe
    Term = terms.Term
    Prefix = terms.Prefix
    FuzzyTerm = terms.FuzzyTerm


SCHEMA_VERSION = 1
INDEX_DIRNAME = "search"
CURSOR_FILE = "cursor.json"
MAX_QUERY_CHARS = 200
MAX_WORDS = 12
SYNONYM_TTL_S = 5.0
FEW_HITS = 3  # fewer exact hits than this: try fuzzy matching and suggest a spelling
BATCH = 500

FIELD_BOOSTS = {
    "title": 4.0,
    "title_zh": 4.0,
    "tags": 2.5,
    "tags_zh": 2.5,
    "products": 3.0,
    "summary": 1.5,
    "summary_zh": 1.5,
    "body": 1.0,
    "body_zh": 1.0,
}
SEARCH_FIELDS = tuple(FIELD_BOOSTS)
LOCALE_BOOST = 4.0
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u4E00-\u9FD5]+")
_MARK_OPEN, _MARK_CLOSE = "\x02", "\x03"


# -- analyzers ----------------------------------------------------------------------------------------
_jieba_lock = threading.Lock()
_jieba_ready = False


def init_jieba() -> None:
    """Load jieba's dictionary once per process (1–2 s) with its logger silenced."""
    global _jieba_ready
    with _jieba_lock:
        if _jieba_ready:
            return
        import jieba

        jieba.setLogLevel(logging.WARNING)
        logging.getLogger("jieba").setLevel(logging.WARNING)
        jieba.initialize()
        _jieba_ready = True


class ChineseTokenizer(Tokenizer):  # type: ignore[misc]
    """jieba's search-mode segmentation (what `jieba.analyse.ChineseTokenizer` does, without
    importing `jieba.analyse`, which leaks a file handle at import)."""

    def __call__(self, value: str, **kwargs: Any) -> Iterator[Token]:
        import jieba

        init_jieba()
        token = Token(**{k: v for k, v in kwargs.items() if k in ("positions", "chars", "removestops", "mode")})
        for word, start, end in jieba.tokenize(value, mode="search"):
            if len(word) <= 1 and not _CJK_RUN.match(word):
                continue
            if not word.strip():
                continue
            token.original = token.text = word  # type: ignore[attr-defined]
            token.pos = start
            token.startchar = start
            token.endchar = end
            token.boost = 1.0
            token.stopped = False
            yield token


def chinese_analyzer() -> Analyzer:
    stemmer = StemFilter(stemfn=stem, ignore=None, cachesize=50000)  # type: ignore[no-untyped-call]
    analyzer: Analyzer = ChineseTokenizer() | LowercaseFilter() | StopFilter(minsize=1) | stemmer
    return analyzer


def make_schema() -> Schema:
    english = StemmingAnalyzer()
    chinese = chinese_analyzer()
    unstemmed = StandardAnalyzer(minsize=2)
    return Schema(
        id=ID(stored=True, unique=True),
        slug=ID(stored=True),
        locale=ID(stored=True, sortable=True),
        audience=ID(stored=True),
        category=ID(stored=True, sortable=True),
        products=KEYWORD(stored=True, commas=True, lowercase=False, scorable=True),
        title=TEXT(analyzer=english),
        summary=TEXT(analyzer=english),
        tags=TEXT(analyzer=english),
        body=TEXT(analyzer=english),
        title_zh=TEXT(analyzer=chinese),
        summary_zh=TEXT(analyzer=chinese),
        tags_zh=TEXT(analyzer=chinese),
        body_zh=TEXT(analyzer=chinese),
        plain=TEXT(analyzer=unstemmed, spelling=True),
        title_plain=TEXT(analyzer=unstemmed),
        display_title=STORED(),
        display_summary=STORED(),
        content=STORED(),  # plain text of the body, for snippets
    )


# -- documents ----------------------------------------------------------------------------------------
_MD_STRIP = [
    (re.compile(r"```.*?```", re.S), " "),
    (re.compile(r"^[ \t|:-]*-{3,}[ \t|:-]*$", re.M), " "),  # table separator rows, rules
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"<[^>]+>"), " "),
    (re.compile(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+", re.M), ""),
    (re.compile(r"[*_`~|]+"), ""),
    (re.compile(r"[\x00-\x08\x0b-\x1f]"), " "),
    (re.compile(r"\s+"), " "),
]


def markdown_text(body_md: str) -> str:
    """The words of a Markdown body, without the markup (for indexing and snippets)."""
    text = body_md
    for pattern, repl in _MD_STRIP:
        text = pattern.sub(repl, text)
    return text.strip()


def article_document(article: Article) -> dict[str, Any]:
    body = markdown_text(article.body_md)
    tags = " ".join(article.tags or [])
    zh = article.locale == "zh"
    suffix = "_zh" if zh else ""
    doc: dict[str, Any] = {
        "id": str(article.id),
        "slug": article.slug,
        "locale": article.locale,
        "audience": str(article.audience.value if isinstance(article.audience, Audience) else article.audience),
        "category": article.category or "",
        "products": ",".join(article.products or []),
        f"title{suffix}": article.title,
        f"summary{suffix}": article.summary or "",
        f"tags{suffix}": tags,
        f"body{suffix}": body,
        "plain": " ".join((article.title, tags, article.summary or "", body)),
        "title_plain": article.title,
        "display_title": article.title,
        "display_summary": article.summary or "",
        "content": body[:6000],
    }
    return doc


# -- search results -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    article_id: int
    slug: str
    locale: str
    title: str
    summary: str
    category: str
    products: tuple[str, ...]
    snippet: Markup  # escaped text with <mark> around matches
    score: float

    snippet_text: str  # the same without markup (JSON)


@dataclass(frozen=True)
class Results:
    query: str
    hits: list[Hit]
    total: int
    page: int
    page_size: int
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    suggestion: str | None = None
    fuzzy: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    product: str | None = None
    language: str | None = None


_WORD = re.compile(r"\w+")
_stem: Callable[[str], str] = functools.lru_cache(maxsize=100_000)(stem)
SNIPPET_CHARS = 220
SNIPPET_SCAN = 3000


def query_terms(query: Query, extra_words: Sequence[str] = ()) -> frozenset[str]:
    """The indexed forms (stems, jieba words, SKUs) a query looks for, for snippets."""
    out: set[str] = set()
    for name, text in query.iter_all_terms():
        if name in ("locale", "audience", "category"):
            continue
        value = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        out.add(value.lower())
    for word in extra_words:
        out.add(word.lower())
        out.add(_stem(word.lower()))
    return frozenset(t for t in out if t)


def make_snippet(text: str, terms: frozenset[str]) -> str:
    """A window of `text` around the first matches, matches wrapped in marks (not HTML yet).

    English words match by their stem; Chinese words (and other terms) as substrings. Much
    cheaper than re-analysing the whole body as the engine's highlighter does."""
    scan = text[:SNIPPET_SCAN]
    spans: list[tuple[int, int]] = []
    for match in _WORD.finditer(scan):
        word = match.group().lower()
        if word in terms or (word.isascii() and _stem(word) in terms):
            spans.append(match.span())
    for term in terms:
        if _CJK.search(term):
            start = scan.find(term)
            while start >= 0 and len(spans) < 200:
                spans.append((start, start + len(term)))
                start = scan.find(term, start + len(term))
    if not spans:
        return ""
    spans.sort()
    first = spans[0][0]
    start = max(0, first - 60)
    if start > 0:
        space = scan.rfind(" ", 0, start + 1)
        start = space + 1 if space >= 0 and first - space < 90 else start
    end = min(len(scan), start + SNIPPET_CHARS)
    if end < len(scan):
        space = scan.rfind(" ", start, end)
        end = space if space > first + 20 else end
    out: list[str] = ["… " if start > 0 else ""]
    position = start
    for a, b in spans:
        if a < position or b > end:
            continue
        out.append(scan[position:a])
        out.append(f"{_MARK_OPEN}{scan[a:b]}{_MARK_CLOSE}")
        position = b
    out.append(scan[position:end])
    if end < len(text):
        out.append(" …")
    return "".join(out)


def _marked_to_text(marked: str) -> str:
    return marked.replace(_MARK_OPEN, "").replace(_MARK_CLOSE, "")


def _marked_to_html(marked: str) -> Markup:
    parts = re.split(f"([{_MARK_OPEN}{_MARK_CLOSE}])", marked)
    out: list[str] = []
    inside = False
    for part in parts:
        if part == _MARK_OPEN:
            inside = True
        elif part == _MARK_CLOSE:
            inside = False
        elif part:
            out.append(f"<mark>{escape(part)}</mark>" if inside else str(escape(part)))
    return Markup("".join(out))  # noqa: S704 - every part was escaped above


def _clip(text: str, limit: int = 220) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut + " …"


# -- the query ------------------------------------------------------------------------------------------
_SYNTAX = re.compile(r"[\"'(){}\[\]:^~*?\\+!<>=]")
_OPERATORS = {"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "TO"}


def query_words(text: str) -> list[str]:
    """The words of a user's query (jieba splits runs of Chinese), without query syntax."""
    cleaned = _SYNTAX.sub(" ", text[:MAX_QUERY_CHARS])
    words: list[str] = []
    for chunk in cleaned.split():
        chunk = chunk.strip("-,.;/")
        if not chunk:
            continue
        if _CJK.search(chunk):
            import jieba

            init_jieba()
            words.extend(w.strip() for w in jieba.lcut(chunk) if w.strip() and not re.fullmatch(r"\W+", w.strip()))
        else:
            words.append(chunk.lower() if chunk in _OPERATORS else chunk)
    return words[:MAX_WORDS]


class Synonyms:
    """Staff-edited synonym groups (SearchSynonym), cached per process and re-read when the
    table changed (checked at most every SYNONYM_TTL_S seconds)."""

    def __init__(self) -> None:
        self._groups: dict[str, tuple[str, ...]] = {}
        self._stamp: tuple[int, str] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def refresh(self, db: Session, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < SYNONYM_TTL_S:
            return
        with self._lock:
            count, latest = db.execute(select(func.count(SearchSynonym.id), func.max(SearchSynonym.updated_at))).one()
            stamp = (int(count or 0), str(latest))
            self._checked = now
            if stamp == self._stamp and not force:
                return
            groups: dict[str, tuple[str, ...]] = {}
            for (words,) in db.execute(select(SearchSynonym.words)):
                clean = tuple(dict.fromkeys(w.strip().lower() for w in (words or []) if w and w.strip()))
                for word in clean:
                    groups[word] = tuple(dict.fromkeys(groups.get(word, ()) + clean))
            self._groups, self._stamp = groups, stamp

    def expand(self, word: str) -> tuple[str, ...]:
        return self._groups.get(word.lower(), (word,))


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _distance(a: str, b: str) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


class Spelling:
    """The words of the unstemmed `plain` field with their document counts, and a table of
    their one-letter deletions (symmetric-delete spelling correction). One lookup costs a few
    dictionary probes instead of a walk over the whole term list (the engine's corrector and
    fuzzy terms take 100+ ms on a large index)."""

    def __init__(self, searcher: Searcher) -> None:
        self.freq: dict[str, int] = {}
        self.deletes: dict[str, list[str]] = {}
        reader: Any = searcher.reader()
        for raw, info in reader.iter_field("plain"):
            word = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            if len(word) < 3 or not word.isalpha() or not word.isascii():
                continue
            self.freq[word] = int(info.doc_frequency())
            for deleted in _deletes(word):
                self.deletes.setdefault(deleted, []).append(word)

    def candidates(self, word: str, limit: int = 3) -> list[str]:
        """Known words within edit distance 1 (then 2) of `word`, most common first."""
        word = word.lower()
        if word in self.freq:
            return [word]
        found: set[str] = set()
        probes = {word} | _deletes(word)
        for probe in probes:
            found.update(self.deletes.get(probe, ()))
            if probe in self.freq:
                found.add(probe)
        scored = [(d, -self.freq[w], w) for w in found if (d := _distance(word, w)) <= 2]
        if not scored:
            return []
        best = min(d for d, _f, _w in scored)
        return [w for _d, _f, w in sorted(x for x in scored if x[0] == best)][:limit]


# -- query evaluation over cached postings ---------------------------------------------------------------
Scores = dict[int, float]
POSTINGS_BUDGET = 1_500_000  # cached (document, score) pairs per index generation, about 150 MB at most


class Postings:
    """Evaluates our queries (And / Or of boosted terms) on one searcher generation with the
    engine's own BM25F scores, but as dictionary and set operations over each term's postings
    (read once per generation, then cached) instead of Whoosh's matcher tree, which advances
    every matching document through a dozen Python objects. Same scores (the sum of the
    matching terms' weighted BM25F, as Whoosh's And/Or matchers add them), the exact number of
    matches, and facet counts by set intersection, in a few milliseconds on 10,000 articles.
    Queries of any other shape are scored by the engine's matcher (same result, slower)."""

    def __init__(self, searcher: Searcher) -> None:
        reader: Any = searcher.reader()
        self.live = frozenset(reader.all_doc_ids())
        self._lengths: dict[str, list[int]] = {}
        self._terms: dict[tuple[str, Any], Scores] = {}
        self._size = 0
        self._lock = threading.Lock()

    def lengths(self, searcher: Any, fieldname: str) -> list[int]:
        lengths = self._lengths.get(fieldname)
        if lengths is None:
            count = int(searcher.doc_count_all())
            lengths = [int(searcher.doc_field_length(d, fieldname, 1) or 1) for d in range(count)]
            self._lengths[fieldname] = lengths
        return lengths

    def term(self, searcher: Any, fieldname: str, text: Any) -> Scores:
        """Document -> unboosted score of one term (cached for the generation). `searcher`:
        the calling thread's searcher of this generation (searchers are not shared)."""
        key = (fieldname, text)
        found = self._terms.get(key)
        if found is not None:
            return found
        out: Scores = {}
        if (fieldname, text) in searcher.reader():
            scorer: Any = searcher.weighting.scorer(searcher, fieldname, text)
            fast = hasattr(scorer, "_score") and hasattr(scorer, "dfl")
            lengths = self.lengths(searcher, fieldname) if fast else []
            score = scorer._score if fast else None
            for sub, offset in searcher.leaf_searchers():
                subreader: Any = sub.reader()
                if (fieldname, text) not in subreader:
                    continue
                matcher: Any = subreader.postings(fieldname, text)
                live = self.live
                while matcher.is_active():
                    doc = matcher.id() + offset
                    if doc in live:
                        out[doc] = score(matcher.weight(), lengths[doc]) if score else scorer.score(matcher)
                    matcher.next()
        with self._lock:
            if self._size + len(out) <= POSTINGS_BUDGET:
                self._terms[key] = out
                self._size += len(out)
        return out

    def _coordinated(self, searcher: Any, query: Any) -> Scores:
        """Or(..., scale=s): the sum of the scores with Whoosh's coordination bonus (CoordMatcher:
        documents matching more of the query's terms rank higher)."""
        plain = compound.Or(query.subqueries)
        merged = self.scores(searcher, plain)
        reader = searcher.reader()
        leaves = [q for q in query.leaves() if type(q) is terms.Term and (q.fieldname, q.text) in reader]
        termcount, scale = len(leaves), float(query.scale)
        if termcount <= 1 or termcount == scale:
            return merged
        matching = dict.fromkeys(merged, 0)
        for leaf in leaves:
            for doc in self.term(searcher, leaf.fieldname, leaf.text):
                if doc in matching:
                    matching[doc] += 1
        factor = (termcount - 1) / termcount
        spread = (termcount - scale) ** 2
        return {d: (s + (matching[d] - 1) / spread) * factor for d, s in merged.items()}

    def warm(self, searcher: Any) -> None:
        """Read the field lengths ahead (the updater thread does, not a request)."""
        for fieldname in (*SEARCH_FIELDS, "plain"):
            self.lengths(searcher, fieldname)

    def scores(self, searcher: Any, query: Any) -> Scores:
        """Document -> score for the documents matching `query` (a Whoosh query, before any filter)."""
        if type(query) is terms.Term:
            base = self.term(searcher, query.fieldname, query.text)
            boost = float(query.boost)
            return base if boost == 1.0 else {d: s * boost for d, s in base.items()}
        if type(query) is compound.Or and getattr(query, "scale", None) and float(query.boost) == 1.0:
            return self._coordinated(searcher, query)
        if type(query) in (compound.And, compound.Or) and float(query.boost) == 1.0 and not getattr(query, "scale", None):
            parts = [self.scores(searcher, q) for q in query.subqueries if q is not Q.NullQuery]
            if not parts:
                return {}
            if type(query) is compound.And:
                parts.sort(key=len)
                keys = set(parts[0])
                for part in parts[1:]:
                    keys.intersection_update(part)
                    if not keys:
                        return {}
                return {d: sum(p[d] for p in parts) for d in keys}
            parts.sort(key=len, reverse=True)
            merged = dict(parts[0])
            for part in parts[1:]:
                get = merged.get
                for d, s in part.items():
                    merged[d] = get(d, 0.0) + s
            return merged
        if query is Q.NullQuery:
            return {}
        # Anything else: the engine's own matcher.
        out: Scores = {}
        matcher: Any = query.matcher(searcher, searcher.context())
        while matcher.is_active():
            out[matcher.id()] = matcher.score()
            matcher.next()
        return out


# -- the index ------------------------------------------------------------------------------------------
class SearchIndex:
    """One index directory: open, update, rebuild, search. Thread-safe for readers."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock_path = directory.parent / f"{directory.name}.lock"
        self.synonyms = Synonyms()
        self._ix: Any = None
        self._open_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._schema = make_schema()
        self._spelling: tuple[int, Spelling] | None = None
        self._facet_sets: tuple[int, dict[str, dict[str, frozenset[int]]]] | None = None
        self._postings: tuple[int, Postings] | None = None
        self._allowed_sets: tuple[int, dict[tuple[Any, ...], frozenset[int]]] | None = None
        self._parser = self._make_parser(SEARCH_FIELDS, FIELD_BOOSTS)
        self._title_parser = self._make_parser(("title_plain", "title_zh"), {"title_plain": 1.0, "title_zh": 1.0})

    def _make_parser(self, fields: Sequence[str], boosts: dict[str, float]) -> QueryParser:
        parser = MultifieldParser(list(fields), self._schema, fieldboosts=boosts)
        for plugin in (
            plugins.WildcardPlugin,
            plugins.FieldsPlugin,
            plugins.RangePlugin,
            plugins.BoostPlugin,
            plugins.EveryPlugin,
            plugins.SingleQuotePlugin,
            plugins.PhrasePlugin,
        ):
            parser.remove_plugin_class(plugin)  # type: ignore[no-untyped-call]
        return parser

    # -- opening ----------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.directory.is_dir() and any(self.directory.glob("_MAIN_*.toc"))

    def _open(self) -> Any:
        if self._ix is None:
            with self._open_lock:
                if self._ix is None:
                    if not self.exists():
                        self.directory.mkdir(parents=True, exist_ok=True)
                        whoosh_index.create_in(str(self.directory), self._schema)
                    try:
                        self._ix = whoosh_index.open_dir(str(self.directory))
                    except (whoosh_index.EmptyIndexError, FileNotFoundError) as exc:
                        # Being (re)built by the updater right now: the directory is there,
                        # its table of contents not yet.
                        raise IndexNotReady(str(exc)) from exc
        return self._ix

    def healthy(self) -> bool:
        """The index opens, reads, has our schema version and a readable cursor."""
        if not self.exists():
            return False
        cursor = self._read_cursor()
        if cursor is None or cursor.get("schema") != SCHEMA_VERSION:
            return False
        # Whoosh leaves a file open when it fails to read a damaged table of contents: collect
        # it here, where its warning is expected, rather than somewhere later.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                ix = whoosh_index.open_dir(str(self.directory))
                with ix.searcher() as searcher:
                    searcher.doc_count()
                    list(searcher.lexicon("locale"))
                return True
            except Exception as exc:  # any damage: the caller rebuilds
                log.warning("search.index_unhealthy", directory=str(self.directory), error=repr(exc))
                gc.collect()
                return False

    def searcher(self) -> Searcher:
        """This thread's searcher, refreshed when a writer committed a new generation."""
        ix = self._open()
        current: Searcher | None = getattr(self._local, "searcher", None)
        if current is None:
            current = ix.searcher()
        elif not current.up_to_date():  # type: ignore[no-untyped-call]
            # A new searcher, not `refresh()`: a refreshed reader reuses segment readers and
            # misses deletions committed to an existing segment.
            current.close()  # type: ignore[no-untyped-call]
            current = ix.searcher()
        self._local.searcher = current
        return current

    def _reset(self) -> None:
        with self._open_lock:
            self._ix = None
            self._local = threading.local()

    # -- the cursor --------------------------------------------------------------------------------------
    def _read_cursor(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.directory / CURSOR_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def cursor(self) -> int:
        data = self._read_cursor() or {}
        value = data.get("last_change_id", 0)
        return value if isinstance(value, int) else 0

    def _write_cursor(self, last_change_id: int) -> None:
        tmp = self.directory / f".{CURSOR_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"schema": SCHEMA_VERSION, "last_change_id": last_change_id}))
        os.replace(tmp, self.directory / CURSOR_FILE)

    # -- writing --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _exclusive(self, *, wait: bool) -> Iterator[bool]:
        """The node's single writer: a thread lock plus a file lock shared by the processes."""
        if not self._write_lock.acquire(blocking=wait):
            yield False
            return
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a+") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _add(self, writer: IndexWriter, article: Article) -> None:
        writer.add_document(**article_document(article))

    def apply_changes(self, db: Session, *, wait: bool = False) -> int | None:
        """Apply the kb_change lines after the cursor. Returns how many articles were
        re-indexed, or None when another writer holds the lock (or the index needs a rebuild
        first, which this does)."""
        with self._exclusive(wait=wait) as mine:
            if not mine:
                return None
            if not self.healthy():
                self._rebuild_locked(db, None)
                return None
            cursor = self.cursor()
            rows = db.execute(select(KbChange.id, KbChange.article_id).where(KbChange.id > cursor).order_by(KbChange.id)).all()
            if not rows:
                return 0
            article_ids = sorted({row.article_id for row in rows})
            last = rows[-1].id
            ix = self._open()
            writer = ix.writer(timeout=10.0)
            try:
                for start in range(0, len(article_ids), BATCH):
                    chunk = article_ids[start : start + BATCH]
                    found = {a.id: a for a in db.scalars(select(Article).where(Article.id.in_(chunk)))}
                    for article_id in chunk:
                        writer.delete_by_term("id", str(article_id))
                        article = found.get(article_id)
                        if article is not None and article.status == ArticleStatus.PUBLISHED:
                            self._add(writer, article)
                writer.commit()
            except BaseException:
                writer.cancel()
                raise
            self._write_cursor(last)
            log.info("search.index_updated", articles=len(article_ids), cursor=last)
            return len(article_ids)

    def rebuild(self, db: Session, progress: Callable[[int, int], None] | None = None) -> int:
        """Index every published article again (waits for the writer lock). `progress(done,
        total)` is called as articles are added. Returns the number of articles indexed."""
        with self._exclusive(wait=True):
            return self._rebuild_locked(db, progress)

    def _rebuild_locked(self, db: Session, progress: Callable[[int, int], None] | None) -> int:
        if not self.healthy():
            # Missing, damaged or of another schema version: start from an empty directory.
            self._reset()
            if self.directory.exists():
                log.warning("search.index_recreated", directory=str(self.directory))
                shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True, exist_ok=True)
            whoosh_index.create_in(str(self.directory), self._schema)
            self._reset()
        # Changes logged while we read are applied afterwards (re-indexing is idempotent).
        last = db.scalar(select(func.max(KbChange.id))) or 0
        published = Article.status == ArticleStatus.PUBLISHED
        total = db.scalar(select(func.count(Article.id)).where(published)) or 0
        ix = self._open()
        writer = ix.writer(timeout=30.0, limitmb=256)
        done = 0
        try:
            if progress:
                progress(0, total)
            last_id = 0
            while True:
                batch = list(db.scalars(select(Article).where(published, Article.id > last_id).order_by(Article.id).limit(BATCH)))
                if not batch:
                    break
                for article in batch:
                    self._add(writer, article)
                    done += 1
                    if progress and done % 25 == 0:
                        progress(done, total)
                last_id = batch[-1].id
                db.expunge_all()
            writer.commit(mergetype=CLEAR)
        except BaseException:
            writer.cancel()
            raise
        if progress:
            progress(done, total)
        self._write_cursor(last)
        log.info("search.index_rebuilt", articles=done, cursor=last)
        return done

    def ensure(self, db: Session) -> bool:
        """Rebuild when the index is missing or damaged. True when it rebuilt."""
        if self.healthy():
            return False
        with self._exclusive(wait=True):
            if self.healthy():
                return False
            self._rebuild_locked(db, None)
            return True

    # -- searching -------------------------------------------------------------------------------------------
    def _allowed(self, audiences: frozenset[Audience] | set[Audience], filters: Filters) -> Query:
        terms: list[Query] = [Q.Or([Q.Term("audience", a.value) for a in sorted(audiences)]) if audiences else Q.NullQuery()]
        if filters.category:
            terms.append(Q.Term("category", filters.category))
        if filters.product:
            terms.append(Q.Term("products", filters.product))
        if filters.language:
            terms.append(Q.Term("locale", filters.language))
        return Q.And(terms)

    def _word_query(self, word: str, parser: QueryParser) -> Query:
        alternatives = [parser.parse(w) for w in self.synonyms.expand(word)]
        alternatives = [a for a in alternatives if a is not None and a is not Q.NullQuery]
        if not alternatives:
            return Q.NullQuery
        return alternatives[0] if len(alternatives) == 1 else Q.Or(alternatives)

    def _fuzzy_word(self, word: str, exact: Query, spelling: Spelling) -> Query:
        """The word, or the indexed words within one or two typos of it."""
        if _CJK.search(word) or len(word) < 4 or not word.isalpha() or word.lower() in spelling.freq:
            return exact
        close = [Q.Term("plain", w, boost=0.6) for w in spelling.candidates(word, limit=3)]
        alternatives = [q for q in (exact, *close) if q is not Q.NullQuery]
        if not alternatives:
            return Q.NullQuery
        return alternatives[0] if len(alternatives) == 1 else Q.Or(alternatives)

    def facet_sets(self, searcher: Searcher) -> dict[str, dict[str, frozenset[int]]]:
        """For each facet value, the documents that have it (once per index generation):
        counting a result set's facets is then a few set intersections."""
        generation = int(searcher.reader().generation() or 0)  # type: ignore[no-untyped-call]
        cached = self._facet_sets
        if cached is None or cached[0] != generation:
            reader: Any = searcher.reader()
            sets: dict[str, dict[str, frozenset[int]]] = {}
            for name, fieldname in (("category", "category"), ("language", "locale"), ("product", "products")):
                values: dict[str, frozenset[int]] = {}
                for raw in reader.lexicon(fieldname):
                    value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                    if value:
                        values[value] = frozenset(reader.postings(fieldname, raw).all_ids())
                sets[name] = values
            cached = (generation, sets)
            self._facet_sets = cached
        return cached[1]

    def spelling(self, searcher: Searcher) -> Spelling:
        """The spelling dictionary of the searcher's generation (built once per generation)."""
        generation = int(searcher.reader().generation() or 0)  # type: ignore[no-untyped-call]
        cached = self._spelling
        if cached is None or cached[0] != generation:
            cached = (generation, Spelling(searcher))
            self._spelling = cached
        return cached[1]

    def correction(self, searcher: Searcher, words: Sequence[str]) -> str | None:
        """'Did you mean': each unknown Latin word replaced by the closest indexed word."""
        spelling = self.spelling(searcher)
        changed = False
        out: list[str] = []
        for word in words:
            low = word.lower()
            if _CJK.search(word) or len(word) < 3 or not word.isalpha() or low in spelling.freq:
                out.append(word)
                continue
            found = spelling.candidates(low, limit=1)
            if found and found[0] != low:
                out.append(found[0])
                changed = True
            else:
                out.append(word)
        return " ".join(out) if changed else None

    def search(
        self,
        text: str,
        *,
        locale: str,
        audiences: frozenset[Audience] | set[Audience],
        filters: Filters | None = None,
        page: int = 1,
        page_size: int = 10,
        snippets: bool = True,
    ) -> Results:
        filters = filters or Filters()
        page = max(1, page)
        words = query_words(text)
        empty = Results(query=text, hits=[], total=0, page=page, page_size=page_size)
        if not words or not audiences:
            return empty
        searcher: Any = self.searcher()
        postings = self.postings(searcher)
        allowed = self.allowed_set(searcher, audiences, filters)
        in_locale = self.facet_sets(searcher)["language"].get(locale, frozenset())
        exact_words = [self._word_query(w, self._parser) for w in words]
        exact_words = [q for q in exact_words if q is not Q.NullQuery]

        def run(query: Query) -> tuple[Query, Scores, set[int]]:
            scores = postings.scores(searcher, query)
            return query, scores, set(allowed.intersection(scores))

        found = run(Q.And(exact_words)) if exact_words else None
        total = len(found[2]) if found is not None else 0
        fuzzy = False
        suggestion: str | None = None
        if total < FEW_HITS:
            suggestion = self.correction(searcher, words)
            spelling = self.spelling(searcher)
            fuzzy_words = [self._fuzzy_word(w, self._word_query(w, self._parser), spelling) for w in words]
            fuzzy_words = [q for q in fuzzy_words if q is not Q.NullQuery]
            if fuzzy_words:
                expanded = [str(q) for q in fuzzy_words] != [str(q) for q in exact_words]
                candidate = run(Q.And(fuzzy_words)) if expanded or found is None else found
                if not candidate[2] and len(fuzzy_words) > 1:
                    candidate = run(Q.Or(fuzzy_words, scale=0.9))
                if len(candidate[2]) > total:
                    found, total, fuzzy = candidate, len(candidate[2]), True
        if found is None or total == 0:
            return Results(query=text, hits=[], total=0, page=page, page_size=page_size, suggestion=suggestion)
        query, scores, matched = found
        # The reader's language adds LOCALE_BOOST (what AndMaybe(query, Term("locale", ..., boost)) scores).
        ranked = heapq.nlargest(page * page_size, matched, key=lambda d: (scores[d] + (LOCALE_BOOST if d in in_locale else 0.0), -d))[
            (page - 1) * page_size :
        ]
        terms = query_terms(query, suggestion.split() if suggestion else ()) if snippets else frozenset()
        hits = [
            self._hit(searcher.stored_fields(d), scores[d] + (LOCALE_BOOST if d in in_locale else 0.0), terms, snippets) for d in ranked
        ]
        return Results(
            query=text,
            hits=hits,
            total=total,
            page=page,
            page_size=page_size,
            facets=self._facets(searcher, matched),
            suggestion=suggestion,
            fuzzy=fuzzy,
        )

    def postings(self, searcher: Searcher) -> Postings:
        """The query evaluator of the searcher's generation (its term cache lives as long)."""
        generation = int(searcher.reader().generation() or 0)  # type: ignore[no-untyped-call]
        cached = self._postings
        if cached is None or cached[0] != generation:
            cached = (generation, Postings(searcher))
            self._postings = cached
        return cached[1]

    def allowed_set(self, searcher: Searcher, audiences: frozenset[Audience] | set[Audience], filters: Filters) -> frozenset[int]:
        """The live documents a reader of `audiences` may find with `filters` (cached per
        generation): intersections of the per-value document sets."""
        generation = int(searcher.reader().generation() or 0)  # type: ignore[no-untyped-call]
        key = (tuple(sorted(a.value for a in audiences)), filters.category, filters.product, filters.language)
        cached = self._allowed_sets
        if cached is None or cached[0] != generation:
            cached = (generation, {})
            self._allowed_sets = cached
        found = cached[1].get(key)
        if found is None:
            sets = self.facet_sets(searcher)
            reader: Any = searcher.reader()
            docs: set[int] = set()
            for audience in key[0]:
                if ("audience", audience) in reader:
                    docs.update(reader.postings("audience", audience).all_ids())
            docs &= self.postings(searcher).live
            for name, value in (("category", filters.category), ("product", filters.product), ("language", filters.language)):
                if value:
                    docs &= sets[name].get(value, frozenset())
            found = frozenset(docs)
            if len(cached[1]) < 256:
                cached[1][key] = found
        return found

    def _facets(self, searcher: Searcher, matched: set[int]) -> dict[str, list[tuple[str, int]]]:
        out: dict[str, list[tuple[str, int]]] = {}
        for name, values in self.facet_sets(searcher).items():
            counts = [(value, len(docs & matched)) for value, docs in values.items()]
            counts = [c for c in counts if c[1]]
            counts.sort(key=lambda item: (-item[1], item[0]))
            out[name] = counts[:12]
        return out

    def _hit(self, stored: dict[str, Any], score: float, terms: frozenset[str], snippets: bool) -> Hit:
        title = stored.get("display_title", "")
        summary = stored.get("display_summary", "")
        snippet, snippet_text = Markup(""), ""
        if snippets:
            marked = make_snippet(stored.get("content", ""), terms)
            if marked:
                snippet, snippet_text = _marked_to_html(marked), _marked_to_text(marked)
        if not snippet:
            snippet_text = _clip(summary or stored.get("content", ""))
            snippet = escape(snippet_text)
        return Hit(
            article_id=int(stored["id"]),
            slug=stored["slug"],
            locale=stored["locale"],
            title=title,
            summary=summary,
            category=stored.get("category", ""),
            products=tuple(p for p in stored.get("products", "").split(",") if p),
            snippet=snippet,
            snippet_text=snippet_text,
            score=float(score or 0.0),
        )

    def suggest(
        self,
        text: str,
        *,
        locale: str,
        audiences: frozenset[Audience] | set[Audience],
        limit: int = 6,
    ) -> list[Hit]:
        """As-you-type: titles matching the finished words and the last word as a prefix.
        No fuzzy matching, no highlighting (fast enough for every keystroke)."""
        words = query_words(text)
        if not words or not audiences:
            return []
        searcher = self.searcher()
        allowed = self._allowed(audiences, Filters())
        parts: list[Query] = []
        for word in words[:-1]:
            part = self._word_query(word, self._title_parser)
            if part is not Q.NullQuery:
                parts.append(part)
        last = words[-1]
        if _CJK.search(last):
            tail = self._word_query(last, self._title_parser)
        else:
            # Titles only, and the prefix only from two letters: few terms to expand.
            low = last.lower()
            tail = Q.Prefix("title_plain", low) if len(low) >= 2 else self._word_query(last, self._title_parser)
        if tail is not Q.NullQuery:
            parts.append(tail)
        if not parts:
            return []
        query = Q.AndMaybe(Q.And(parts), Q.Term("locale", locale, boost=LOCALE_BOOST))
        results = searcher.search(query, limit=limit, filter=allowed)
        return [self._hit(hit.fields(), hit.score, frozenset(), False) for hit in results]

    def doc_count(self) -> int:
        return int(self.searcher().doc_count())


# -- one index per directory per process ------------------------------------------------------------------
_indexes: dict[Path, SearchIndex] = {}
_indexes_lock = threading.Lock()


def index_dir(data_dir: Path) -> Path:
    return Path(data_dir) / INDEX_DIRNAME


class IndexNotReady(Exception):
    """The index is being built (a fresh node, or a rebuild after damage): try again shortly."""


def get_index(data_dir: Path) -> SearchIndex:
    """The process's SearchIndex for `DATA_DIR/search` (created empty when missing)."""
    directory = index_dir(data_dir).resolve()
    with _indexes_lock:
        index = _indexes.get(directory)
        if index is None:
            index = _indexes[directory] = SearchIndex(directory)
        return index


class Updater:
    """A thread that keeps this node's index in step with the kb_change log."""

    def __init__(
        self, index: SearchIndex, session_factory: Callable[[], contextlib.AbstractContextManager[Session]], every_s: float
    ) -> None:
        self.index = index
        self.session_factory = session_factory
        self.every_s = every_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kb-search-index", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        init_jieba()
        first = True
        while not self.stop.is_set():
            try:
                with self.session_factory() as db:
                    if first:
                        self.index.ensure(db)
                        first = False
                    self.index.apply_changes(db)
                    self.index.synonyms.refresh(db)
                searcher = self.index.searcher()  # built here, not in a request:
                self.index.spelling(searcher)
                self.index.facet_sets(searcher)
                self.index.postings(searcher).warm(searcher)
            except Exception:  # keep following the log; the next round retries
                log.exception("search.updater_error")
            self.stop.wait(self.every_s)

    def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)
