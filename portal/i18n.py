"""Translations: English source strings, Simplified Chinese catalogue.

Catalogues are read from the committed .po files at start-up (compiled in memory), so there
is no build step to forget.
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from markupsafe import Markup, escape

LOCALES = ("en", "zh")
DEFAULT_LOCALE = "en"
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}
HTML_LANG = {"en": "en", "zh": "zh-Hans"}
TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def _load(locale: str) -> gettext_module.NullTranslations:
    po = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == DEFAULT_LOCALE or not po.exists():
        return gettext_module.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=locale.replace("zh", "zh_Hans"))
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(fp=buf)


@dataclass(frozen=True)
class Translator:
    locale: str
    _t: gettext_module.NullTranslations

    def gettext(self, message: str, **params: Any) -> str:
        text = self._t.gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        text = self._t.ngettext(singular, plural, n)
        params.setdefault("num", n)
        return text % params

    def markup(self, message: str, **params: Any) -> Markup:
        """Translate a message containing HTML from our own templates; parameters are escaped."""
        # The message is ours (from the catalogue); only the parameters come from outside.
        return Markup(self._t.gettext(message)) % {k: escape(v) for k, v in params.items()}  # noqa: S704


class Catalogues:
    def __init__(self) -> None:
        self._translators = {loc: Translator(loc, _load(loc)) for loc in LOCALES}

    def get(self, locale: str) -> Translator:
        return self._translators.get(locale, self._translators[DEFAULT_LOCALE])


def normalise_locale(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower().replace("_", "-")
    if value.startswith("zh"):
        return "zh"
    if value.startswith("en"):
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """Pick a supported locale from an Accept-Language header (q-values respected)."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        quality = 1.0
        for param in pieces[1:]:
            name, _, val = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(val)
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, index, pieces[0]))
    for neg_q, _index, tag in sorted(ranked):
        locale = normalise_locale(tag)
        if locale and neg_q < 0:
            return locale
    return DEFAULT_LOCALE


GettextFn = Callable[..., str]
