"""The page filters: Babel's formats, memoised without mixing up zones, locales or formats."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency

from portal.templating import make_environment

ENV = make_environment(Path(__file__).resolve().parents[2] / "templates")
MOMENT = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


def test_datetimes_are_babels_in_each_locale_and_format_also_when_repeated() -> None:
    show = ENV.filters["datetime"]
    for _ in range(2):  # the second time from the memo
        assert show(MOMENT, "en") == format_datetime(MOMENT, format="medium", locale="en_GB")
        assert show(MOMENT, "zh") == format_datetime(MOMENT, format="medium", locale="zh_Hans_CN")
        assert show(MOMENT, "en", "short") == format_datetime(MOMENT, format="short", locale="en_GB")
    assert show(None) == ""


def test_the_same_instant_in_another_zone_is_written_in_that_zone() -> None:
    show = ENV.filters["datetime"]
    singapore = MOMENT.astimezone(timezone(timedelta(hours=8)))
    assert singapore == MOMENT  # equal (and equal hashes) ...
    assert show(MOMENT, "en") != show(singapore, "en")  # ... but not the same text
    assert show(singapore, "en") == format_datetime(singapore, format="medium", locale="en_GB")
    assert "23:30" in show(singapore, "en")


def test_dates_and_money() -> None:
    assert ENV.filters["date"](MOMENT, "en") == format_date(date(2026, 12, 7), format="medium", locale="en_GB")
    assert ENV.filters["money"](123456, "EUR", "en") == format_currency(1234.56, "EUR", locale="en_GB")
    assert ENV.filters["money"](123456, "USD", "zh") == format_currency(1234.56, "USD", locale="zh_Hans_CN")


# -- `_()` rewritten at compile time in a locale's environment (portal.templating.locale_environment) ----
TRANSLATING = (
    "{% autoescape true %}"
    '{{ _("Sign in") }}|{{ _(labels[key]) }}|{{ _("Hello, %(name)s", name=who) }}|'
    '{{ _(labels[key]).upper() }}|{{ _(labels[key] ~ "") }}|{{ _("Repair %(number)s", number=_(labels[key]),) }}|'
    '{{ helper._("Sign in") }}|{{ [_("Sign in")][0] }}|{% set t = _ %}{{ t("Sign in") }}'
    "{% endautoescape %}"
)


def _render_both(locale: str, **context: object) -> tuple[str, str]:
    from portal.i18n import Catalogues
    from portal.templating import locale_environment

    translator = Catalogues().get(locale)
    env = make_environment(Path(__file__).resolve().parents[2] / "templates")

    class Helper:
        def _(self, message: str) -> str:
            return f"helper:{message}"

    values = {"_": translator.gettext, "labels": {"k": "Sign out"}, "key": "k", "who": "<Ann>", "helper": Helper(), **context}
    runtime = env.from_string(TRANSLATING).render(values)
    compiled = locale_environment(env, locale, translator.gettext).from_string(TRANSLATING).render(values)
    return runtime, compiled


def test_translations_rewritten_at_compile_time_render_as_the_runtime_calls_do() -> None:
    for locale in ("en", "zh"):
        runtime, compiled = _render_both(locale)
        assert compiled == runtime, locale
    runtime, _compiled = _render_both("zh")
    assert "登录" in runtime  # the catalogue was used: "Sign in"
    assert "helper:Sign in" in runtime  # an attribute `_` is not ours
    assert "&lt;Ann&gt;" in runtime  # parameters are still escaped on output


def test_only_calls_through_jinjas_context_remain_for_attribute_and_aliased_underscores() -> None:
    from portal.templating import locale_environment

    env = make_environment(Path(__file__).resolve().parents[2] / "templates")
    overlay = locale_environment(env, "en", lambda message, **params: message % params if params else message)
    source = '{{ _(labels[key]) }}{{ _("Hi %(n)s", n=1) }}{{ x._("a") }}'
    code = overlay.compile(source, raw=True)
    assert code.count("context.call(") == 1  # x._("a") only
    assert "'_translate'" in code
    plain = env.compile(source, raw=True)
    assert plain.count("context.call(") == 3  # the base environment (e-mails) is left alone


def test_a_templates_globals_are_the_environments_as_they_were_set_up(state: Any) -> None:
    """Templates take a plain copy of the environment's globals when loaded (PortalEnvironment):
    everything set up when the environment was made is there, Starlette's `url_for` included."""
    env = state.templates.env
    template = env.get_template("base.html")
    assert type(template.globals) is dict
    assert {"html_lang", "url_for", "range", "namespace"} <= set(template.globals)
    assert env.from_string("{{ html_lang['zh'] }}{{ range(2)|list }}").render() == f"{env.globals['html_lang']['zh']}[0, 1]"


# -- output joined per node and escaped to plain text (portal.templating.JoinedOutputGenerator) -----
class _Html:
    def __html__(self) -> str:
        return "<b>safe</b>"


class _Shown:
    def __str__(self) -> str:
        return "<i>shown</i>"


@dataclass
class _Person:
    name: str
    friend: _Person | None = None


_PAGES = {
    "base.html": "<title>{% block title %}T{% endblock %}</title>{% block body %}{% endblock %}<p>{{ after }}</p>",
    "page.html": (
        '{% extends "base.html" %}{% from "macros.html" import box %}'
        "outside {{ ignored }} blocks"
        "{% block title %}{{ title }} & {{ n }}{% endblock %}"
        '{% block body %}<h1 class="{{ cls }}">{{ title }}</h1>{{ html }}{{ shown }}{{ markup }}{{ raw|safe }}'
        "{% for item in items %}<li>{{ loop.index }}: {{ item }}{% if item == 'b' %} (b){% endif %}</li>{% endfor %}"
        "{{ box(title) }}{% call box('called') %}<em>{{ title }}</em>{% endcall %}"
        "{% set block_value %}<s>{{ title }}</s>{% endset %}{{ block_value }}"
        "{% autoescape false %}<u>{{ raw }}</u>{% endautoescape %}"
        '{% include "part.html" %}{{ nothing }}{% for item in items %}{% include "item.html" %}{% endfor %}'
        '{% set captured %}{% include "item.html" ignore missing %}{% endset %}[{{ captured }}]{% endblock %}'
    ),
    "item.html": "<i>{{ item|default('none') }}</i>",
    "macros.html": "{% macro box(text) %}<div>{{ text }}{% if caller is defined %}{{ caller() }}{% endif %}</div>{% endmacro %}",
    "part.html": (
        "<aside>{{ title }}{{ n + 1 }}|{{ mapping.key }}|{{ mapping.items()|length }}|{{ person.name.upper() }}|"
        "{{ person.friend.name }}|{{ people[1].name }}|{{ (person.friend or person).name }}</aside>"
    ),
}


def _environments() -> tuple[Any, Any]:
    from jinja2 import DictLoader, Environment, StrictUndefined

    from portal.templating import PortalEnvironment

    loader = DictLoader(_PAGES)
    stock = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
    return stock, PortalEnvironment(loader=loader, autoescape=True, undefined=StrictUndefined)


def test_joined_output_renders_exactly_what_jinja_renders() -> None:
    from markupsafe import Markup

    context = {
        "title": "Tom & <Jerry> \"quoted\" 'single'",
        "n": 41,
        "cls": 'a"b',
        "html": _Html(),
        "shown": _Shown(),
        "markup": Markup("<br>"),
        "raw": "<raw>",
        "items": ["a", "b", "<c>"],
        "after": None,
        "nothing": "",
        "ignored": "x",
        "mapping": {"key": "<value>", "items": [1, 2]},  # `.key` falls back to the item; `.items` is the method
        "person": _Person("Ann", _Person("Bo")),
        "people": [_Person("Cy"), _Person("Di")],
    }
    stock, portal = _environments()
    expected = stock.get_template("page.html").render(context)
    assert portal.get_template("page.html").render(context) == expected
    assert "Tom &amp; &lt;Jerry&gt; &#34;quoted&#34; &#39;single&#39;" in expected  # escaped once ...
    assert "<div>Tom &amp;" in expected  # ... also through a macro
    assert "<s>Tom &amp;" in expected  # ... and a `{% set %}` block
    assert "<b>safe</b>&lt;i&gt;shown&lt;/i&gt;<br><raw>" in expected  # `__html__`, `str()`, Markup, |safe
    assert "<u><raw></u>" in expected  # autoescape false
    assert "outside" not in expected
    assert "<i>a</i><i>b</i><i>&lt;c&gt;</i>[<i>none</i>]" in expected  # includes see the loop's variables
    assert "<aside>Tom &amp;" in expected
    assert "42|&lt;value&gt;|2|ANN|Bo|Di|Bo</aside>" in expected


def test_escape_text_is_markupsafes_escape_as_plain_text() -> None:
    from markupsafe import Markup, escape

    from portal.templating import escape_text

    for value in ("<a href=\"x\">'&'</a>", "", "plain", 42, 1.5, None, Markup("<b>"), _Html(), _Shown()):
        assert escape_text(value) == str(escape(value))
        assert type(escape_text(value)) in (str, Markup)


def test_joined_output_yields_once_per_run_of_text_and_values_between_tags() -> None:
    stock, portal = _environments()
    source = "<p>{{ a }} and {{ b }}</p>{% if a %}<q>{{ a }}</q>{% endif %}"

    def pieces(env: Any) -> list[str]:
        template = env.from_string(source)
        return list(template.root_render_func(template.new_context({"a": "<1>", "b": 2})))

    assert pieces(stock) == ["<p>", "&lt;1&gt;", " and ", "2", "</p>", "<q>", "&lt;1&gt;", "</q>"]
    assert pieces(portal) == ["<p>&lt;1&gt; and 2</p>", "<q>&lt;1&gt;</q>"]


def test_an_undefined_value_still_fails_the_render() -> None:
    import pytest
    from jinja2 import UndefinedError

    _stock, portal = _environments()
    with pytest.raises(UndefinedError):
        portal.from_string("<p>{{ a }}{{ missing }}</p>").render(a=1)
    with pytest.raises(UndefinedError):
        portal.from_string("<p>{{ a }}{{ missing.attr }}</p>").render(a=1)
    with pytest.raises(UndefinedError):
        portal.from_string("<p>{{ a.nope }}</p>").render(a=_Person("Ann"))
    with pytest.raises(UndefinedError):
        portal.from_string("<p>{{ a.nope }}</p>").render(a={"yes": 1})


def test_isoformat_filter_writes_the_machine_readable_moment() -> None:
    singapore = MOMENT.astimezone(timezone(timedelta(hours=8)))
    assert ENV.filters["isoformat"](singapore) == "2026-12-07T23:30:00+08:00"
    assert ENV.filters["isoformat"](date(2026, 12, 7)) == "2026-12-07"
