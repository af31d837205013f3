from __future__ import annotations

import json
from pathlib import Path

from portal.settings import load_settings


def test_defaults_follow_the_contract(tmp_path: Path, monkeypatch: object) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'portal.db'}"
    assert settings.crm_database_url == f"sqlite:///{tmp_path / 'crm.db'}"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.mail_url is None
    assert settings.adapter_in_process is False
    assert settings.oidc_providers == ()
    assert settings.https is False


def test_secret_key_is_generated_once_and_reused(tmp_path: Path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)}).secret_key
    second = load_settings({"DATA_DIR": str(tmp_path)}).secret_key
    assert first == second
    assert len(first) >= 40
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_overrides(tmp_path: Path) -> None:
    providers = [
        {"name": "corp", "label": "Corp SSO", "client_id": "id", "client_secret": "s", "server_metadata_url": "http://idp/.well-known"}
    ]
    settings = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": "k" * 40,
            "BASE_URL": "https://portal.example/",
            "ADAPTER_IN_PROCESS": "1",
            "MAIL_URL": "smtp://mail:25",
            "OIDC_PROVIDERS": json.dumps(providers),
        }
    )
    assert (settings.secret_key, settings.base_url, settings.https, settings.adapter_in_process) == (
        "k" * 40,
        "https://portal.example",
        True,
        True,
    )
    assert settings.mail_url == "smtp://mail:25"
    assert [p.label for p in settings.oidc_providers] == ["Corp SSO"]
