"""Languages: a complete Chinese catalogue, negotiation, and the visible switcher."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from portal.i18n import Catalogues, negotiate, normalise_locale

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "portal" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _catalogue() -> Any:
    with PO.open("rb") as fh:
        return read_po(fh)


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    missing, mismatched = [], []
    for message in _catalogue():
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        target = message.string if isinstance(message.string, str) else message.string[0]
        if not target:
            missing.append(source)
        elif sorted(PLACEHOLDER.findall(source)) != sorted(PLACEHOLDER.findall(target)):
            mismatched.append(source)
    assert missing == [], f"untranslated: {missing[:10]}"
    assert mismatched == [], f"placeholders differ: {mismatched[:10]}"


def test_the_catalogue_covers_every_string_in_the_code_and_templates(tmp_path: Path) -> None:
    """A string added to a page without re-running `make messages` fails here."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", "-k", "N_", "-k", "Invalid:2", "-k", "ngettext:1,2",
         "-o", str(pot), "--no-location", "."],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    with pot.open("rb") as fh:
        extracted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue() if m.id}
    assert sorted(extracted - known) == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,zh-TW;q=0.5", "zh"),
        ("de, en;q=0.1, zh;q=0.5", "zh"),
        ("zh-Hans;q=0", "en"),
        ("xx;q=abc", "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_locale_names_are_normalised() -> None:
    assert [normalise_locale(v) for v in ("zh_Hans", "ZH-cn", "en-US", "fr", None)] == ["zh", "zh", "en", None, None]


def test_translator_formats_parameters_after_translating() -> None:
    zh = Catalogues().get("zh")
    text = zh.gettext("Hello, %(name)s", name="Li Wei")
    assert "Li Wei" in text
    assert text != "Hello, Li Wei"


def test_pages_follow_accept_language_then_the_switcher_cookie(client: Any) -> None:
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="zh-Hans">' in page.text
    response = client.submit("/language", {"locale": "en", "next": "/kb"})
    assert (response.status_code, response.headers["location"]) == (303, "/kb")
    page = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert '<html lang="en">' in page.text


def test_signed_in_users_language_is_saved_to_their_profile(client: Any, make_user: Any, uow: Any) -> None:
    from portal.accounts.models import User

    user = make_user("lang@example.com")
    client.login("lang@example.com")
    client.submit("/language", {"locale": "zh", "next": "/account"})
    with uow() as session:
        assert session.get(User, user.id).locale == "zh"
    assert '<html lang="zh-Hans">' in client.get("/account").text


def test_language_switch_never_redirects_off_site(client: Any) -> None:
    response = client.submit("/language", {"locale": "zh", "next": "//evil.example/"})
    assert response.headers["location"] == "/"
