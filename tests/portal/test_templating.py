"""The page filters: Babel's formats, memoised without mixing up zones, locales or formats."""

from __future__ import annotations

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
