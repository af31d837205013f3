"""The Jinja environment shared by pages and e-mails."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.i18n import HTML_LANG


def _babel_locale(locale: str) -> str:
    return "zh_Hans_CN" if locale == "zh" else "en_GB"


def make_environment(templates_dir: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(["html", "xml"], default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.globals["html_lang"] = HTML_LANG

    def date_filter(value: datetime | None, locale: str = "en", fmt: str = "medium") -> str:
        return "" if value is None else format_date(value, format=fmt, locale=_babel_locale(locale))

    def datetime_filter(value: datetime | None, locale: str = "en", fmt: str = "medium") -> str:
        return "" if value is None else format_datetime(value, format=fmt, locale=_babel_locale(locale))

    def money_filter(cents: int, currency: str, locale: str = "en") -> str:
        return format_currency(cents / 100, currency, locale=_babel_locale(locale))

    env.filters["date"] = date_filter
    env.filters["datetime"] = datetime_filter
    env.filters["money"] = money_filter
    return env
