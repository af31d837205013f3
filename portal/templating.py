"""The Jinja environment shared by pages and e-mails."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.core import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, nodes, select_autoescape
from jinja2.compiler import CodeGenerator, Frame
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

from portal.i18n import HTML_LANG

# markupsafe's own escaping of a `str` (its `escape` wraps the result in `Markup`); a private name
# of the pinned version, checked against `escape` by tests/portal/test_templating.py.
try:
    from markupsafe._speedups import _escape_inner
except ImportError:  # pragma: no cover - the pure-Python build
    from markupsafe._native import _escape_inner

# Parsed once: Babel parses a locale given as a string ("en_GB") again on every call, which
# was a third to a half of each |date, |datetime and |money (docs/performance.md, issue 4).
_BABEL_LOCALES = {"en": Locale.parse("en_GB"), "zh": Locale.parse("zh_Hans_CN")}


def _babel_locale(locale: str) -> Locale:
    return _BABEL_LOCALES["zh" if locale == "zh" else "en"]


# Pure functions of their arguments, and pages repeat the same few days and amounts.
@lru_cache(maxsize=4096)
def _format_day(day: date, locale: str, fmt: str) -> str:
    return format_date(day, format=fmt, locale=_babel_locale(locale))


@lru_cache(maxsize=4096)
def _format_moment(moment: datetime, offset: timedelta | None, locale: str, fmt: str) -> str:
    # `offset` is part of the key: equal instants in different zones compare (and hash) equal,
    # but Babel writes each in its own zone. A timeline page formats ten of them (≈ 16 µs each).
    return format_datetime(moment, format=fmt, locale=_babel_locale(locale))


@lru_cache(maxsize=4096)
def _format_money(cents: int, currency: str, locale: str) -> str:
    return format_currency(cents / 100, currency, locale=_babel_locale(locale))


def escape_text(value: Any) -> str:
    """What `markupsafe.escape` returns, as a plain `str`: output is joined into the page's text
    at once, so the `Markup` object `escape` builds around each value (a Python-level `__new__`,
    ≈ 0.6 µs; the RMA timeline escapes ≈ 110 values) is never needed. Jinja wraps a macro's or a
    `{% set %}` block's output in `Markup` itself."""
    if type(value) is str:
        return _escape_inner(value)
    html = getattr(value, "__html__", None)
    if html is not None:
        return str(html())
    return _escape_inner(str(value))


class JoinedOutputGenerator(CodeGenerator):
    """Jinja's code generator, with the pieces of one output node (the text and `{{ ... }}`
    between two tags) joined into one string and yielded once, where Jinja yields each piece.

    A page is a chain of generators (an include inside a block of a child of `base.html`), and
    each yield resumes every frame of the chain: the RMA timeline yielded ≈ 300 pieces through four
    generators, ≈ 140 once joined, and an included page's are joined into one (docs/decisions/0018).
    Outputs written into a buffer (macros, `{% set %}` blocks, call blocks) are left to Jinja.
    Values are escaped by `escape_text` where autoescaping is on for the whole template.
    """

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        self.writeline(f"from {__name__} import escape_text as _portal_escape_text")
        super().visit_Template(node, frame)

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: CodeGenerator._FinalizeInfo) -> None:
        if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
            self.write("_portal_escape_text(")
            if finalize.src is not None:
                self.write(finalize.src)
            return
        super()._output_child_pre(node, frame, finalize)

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        if frame.buffer is not None:
            super().visit_Output(node, frame)
            return
        body = self._output_body(node, frame)
        if len(body) < 2:
            super().visit_Output(node, frame)
            return
        if frame.require_output_check:
            # As Jinja does: nothing is output outside blocks of a template that extends another.
            if self.has_known_extends:
                return
            self.writeline("if parent_template is None:")
            self.indent()
        finalize = self._make_finalize()
        self.writeline("yield ''.join((")  # every piece is a str already (escaped or str())
        self.indent()
        for item in body:
            if isinstance(item, list):
                self.writeline(self._output_const_repr(item) + ",")
            else:
                self.newline(item)
                self._output_child_pre(item, frame, finalize)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize)
                self.write(",")
        self.outdent()
        self.writeline("))")
        if frame.require_output_check:
            self.outdent()

    def visit_Include(self, node: nodes.Include, frame: Frame) -> None:
        # `{% include "name" %}` with the context: the included page's pieces joined as they are
        # made and yielded once, where Jinja passes each one on from a loop of its own.
        plain = isinstance(node.template, nodes.Const) and isinstance(node.template.value, str)
        if not plain or node.ignore_missing or not node.with_context or frame.buffer is not None or self.environment.is_async:
            super().visit_Include(node, frame)
            return
        self.writeline("template = environment.get_template(", node)
        self.visit(node.template, frame)
        self.write(f", {self.name!r})")
        self.writeline(
            f"yield ''.join(template.root_render_func(template.new_context(context.get_all(), True, {self.dump_local_context(frame)})))"
        )

    def _output_body(self, node: nodes.Output, frame: Frame) -> list[list[str] | nodes.Expr]:
        """The node's children as Jinja groups them: runs of constants folded at compile time
        (each a list of strings) and expressions to evaluate (the same loop as `visit_Output`)."""
        finalize = self._make_finalize()
        body: list[list[str] | nodes.Expr] = []
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                body.append(child)
                continue
            last = body[-1] if body else None
            if isinstance(last, list):
                last.append(const)
            else:
                body.append([const])
        return body


class PortalEnvironment(Environment):
    """Jinja's environment, with each template's globals a plain dict instead of a `ChainMap`
    over the environment's: every render copies them into a new context, and copying a
    `ChainMap` looks each environment global up in the template's own map first, raising and
    catching a `KeyError` for each (eight a page, ≈ 10 µs). The environment's globals are all set
    when it is made (`make_environment`, Starlette's `url_for`), before any template is loaded,
    so a snapshot taken at load time is the same thing.

    Its templates are compiled by `JoinedOutputGenerator`."""

    code_generator_class = JoinedOutputGenerator

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:  # type: ignore[override]
        return {**self.globals, **(d or {})}


# Compiled templates kept in a plain dict (Jinja's meaning of a negative size): the pages are the
# files of `templates/`, a fixed set. Jinja's LRU cache moves a template to the end of a deque on
# every `get_template`, a linear `deque.remove` comparing keys that a page makes four or five
# times (its own, `base.html`, includes, imported macros).
TEMPLATE_CACHE_SIZE = -1


def make_environment(templates_dir: Path) -> Environment:
    env = PortalEnvironment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(["html", "xml"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=TEMPLATE_CACHE_SIZE,
        extensions=["jinja2.ext.i18n"],
    )
    env.globals["html_lang"] = HTML_LANG

    def date_filter(value: date | None, locale: str = "en", fmt: str = "medium") -> str:
        if value is None:
            return ""
        # Babel formats a datetime's own date (no time-zone conversion), so the day is the key.
        return _format_day(value.date() if isinstance(value, datetime) else value, locale, fmt)

    def datetime_filter(value: datetime | None, locale: str = "en", fmt: str = "medium") -> str:
        return "" if value is None else _format_moment(value, value.utcoffset(), locale, fmt)

    def money_filter(cents: int, currency: str, locale: str = "en") -> str:
        return _format_money(cents, currency, locale)

    def under(path: str, prefix: str) -> bool:
        """`current_path is under('/orders')`: a test, called directly, where a method call
        (`current_path.startswith(...)`) would go through Jinja's `Context.call` (navigation
        makes six on every page)."""
        return path.startswith(prefix)

    def isoformat(value: date) -> str:
        """`moment|isoformat` for `<time datetime=...>`: a filter is called directly, a method
        call (`moment.isoformat()`) goes through Jinja's `Context.call` (ten a timeline page)."""
        return value.isoformat()

    env.tests["under"] = under
    env.filters["isoformat"] = isoformat
    env.filters["date"] = date_filter
    env.filters["datetime"] = datetime_filter
    env.filters["money"] = money_filter
    return env


# -- pages translated when their template is compiled -----------------------------------------------
TRANSLATE_FILTER = "_translate"
_OPENING = {"lparen", "lbracket", "lbrace"}
_CLOSING = {"rparen", "rbracket", "rbrace"}


class _TranslatedLiterals(Extension):
    """Rewrites the `_(...)` calls of a page template while it is compiled, for one locale:

    * `_("literal")` (one string literal, nothing else) becomes its translation, part of the
      template's static output instead of a call on every render (a page makes 35-100 of them;
      docs/decisions/0009). Without parameters `gettext` returns the catalogue's text unchanged,
      which is what is baked in.
    * any other `_(message, name=value, ...)` becomes `((message)|_translate(name=value, ...))`:
      the same `gettext(message, **params)` of the locale, called directly as filters are,
      instead of through Jinja's `Context.call`, which inspects the callable on every call
      (≈ 1.5 µs each; the RMA timeline makes 57; docs/decisions/0013).

    Only in the per-locale environments of `locale_environment`, which define the filter; `_` as
    an attribute (`x._("a")`), `_` not called, or a call of another shape is left as it is, as is
    everything in the base environment (e-mails pass their own `_`).
    """

    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        gettext: Callable[[str], str] = getattr(self.environment, "portal_gettext", None) or (lambda message: message)
        return _iterate(_rewrite(list(stream), gettext))


def _rewrite(tokens: list[Token], gettext: Callable[[str], str]) -> list[Token]:
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not (tok.type == "name" and tok.value == "_" and i + 1 < len(tokens) and tokens[i + 1].type == "lparen") or (
            out and out[-1].type == "dot"
        ):
            out.append(tok)
            i += 1
            continue
        if i + 3 < len(tokens) and tokens[i + 2].type == "string" and tokens[i + 3].type == "rparen":
            out.append(Token(tok.lineno, "string", gettext(tokens[i + 2].value)))
            i += 4
            continue
        close = _matching(tokens, i + 1)
        arguments = _split_arguments(tokens[i + 2 : close]) if close is not None else None
        if close is None or arguments is None:
            out.append(tok)
            i += 1
            continue
        message, keywords = arguments
        line = tok.lineno
        out += [Token(line, "lparen", "("), Token(line, "lparen", "("), *_rewrite(message, gettext), Token(line, "rparen", ")")]
        out += [Token(line, "pipe", "|"), Token(line, "name", TRANSLATE_FILTER)]
        if keywords:
            out.append(Token(line, "lparen", "("))
            for n, keyword in enumerate(keywords):
                if n:
                    out.append(Token(line, "comma", ","))
                out += _rewrite(keyword, gettext)
            out.append(Token(line, "rparen", ")"))
        out.append(Token(line, "rparen", ")"))
        i = close + 1
    return out


def _matching(tokens: list[Token], opening: int) -> int | None:
    """The index of the bracket closing the one at `opening`."""
    depth = 0
    for j in range(opening, len(tokens)):
        if tokens[j].type in _OPENING:
            depth += 1
        elif tokens[j].type in _CLOSING:
            depth -= 1
            if depth == 0:
                return j
    return None


def _split_arguments(tokens: list[Token]) -> tuple[list[Token], list[list[Token]]] | None:
    """(message, [keyword argument, ...]) of a call's argument tokens, or None if they are not one
    positional argument followed by keyword arguments only."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.type in _OPENING:
            depth += 1
        elif tok.type in _CLOSING:
            depth -= 1
        if tok.type == "comma" and depth == 0:
            parts.append([])
        else:
            parts[-1].append(tok)
    if parts and not parts[-1] and len(parts) > 1:
        parts.pop()  # a trailing comma
    message, keywords = parts[0], parts[1:]
    if not message or any(len(k) < 3 or k[0].type != "name" or k[1].type != "assign" for k in keywords):
        return None
    if len(message) > 1 and message[1].type == "assign":
        return None  # `_(message=...)`
    return message, keywords


def _iterate(tokens: list[Token]) -> Iterator[Token]:
    yield from tokens


_OVERLAYS_LOCK = threading.Lock()
_OVERLAYS: weakref.WeakKeyDictionary[Environment, dict[str, Environment]] = weakref.WeakKeyDictionary()


def locale_environment(env: Environment, locale: str, gettext: Callable[[str], str]) -> Environment:
    """An overlay of `env` (same loader, filters, globals; its own template cache) whose
    templates have `_("literal")` translated for `locale` at compile time. Made once per locale."""
    overlays = _OVERLAYS.setdefault(env, {})
    found = overlays.get(locale)
    if found is not None:
        return found
    with _OVERLAYS_LOCK:
        found = overlays.get(locale)
        if found is None:
            # A cache of its own (an overlay otherwise starts with copies of the base's templates).
            found = env.overlay(extensions=[_TranslatedLiterals], cache_size=TEMPLATE_CACHE_SIZE)
            found.portal_gettext = gettext  # type: ignore[attr-defined]
            # A filter dictionary of its own (an overlay shares its base's) with this locale's `_`.
            found.filters = {**env.filters, TRANSLATE_FILTER: lambda message, **params: gettext(message, **params)}
            overlays[locale] = found
    return found
