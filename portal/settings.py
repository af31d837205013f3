"""Settings read from the environment once, inside create_app / the CLI (never at import)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class OidcProvider:
    name: str
    label: str
    client_id: str
    client_secret: str
    server_metadata_url: str


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/portal.db"
    crm_database_url: str = "sqlite:///var/crm.db"
    data_dir: Path = Path("var")
    secret_key: str = ""
    mail_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    adapter_in_process: bool = False
    oidc_providers: tuple[OidcProvider, ...] = ()
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    mail_from: str = "Portal <no-reply@portal.example>"
    # Sessions: idle and absolute lifetimes in seconds.
    session_idle_s: int = 30 * 60
    session_absolute_s: int = 12 * 60 * 60
    # How often a live session's last-seen time is written back (saves a write per request).
    session_touch_s: int = 60
    background_poll_s: float = 1.0
    debug: bool = False
    templates_dir: Path = field(default=PROJECT_ROOT / "templates")
    static_dir: Path = field(default=PROJECT_ROOT / "static")

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def crm_is_http(self) -> bool:
        """The CRM is reached through its HTTP API (the adapter's `http` connector), not SQL."""
        return self.crm_database_url.lower().startswith(("http://", "https://"))

    @property
    def maildir(self) -> Path:
        return self.data_dir / "mail"


def _load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Exclusive create: two workers starting together must agree on one key.
    try:
        with open(path, "x") as fh:
            fh.write(key)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return key


def _parse_oidc(raw: str | None) -> tuple[OidcProvider, ...]:
    if not raw:
        return ()
    items = json.loads(raw)
    return tuple(
        OidcProvider(
            name=item["name"],
            label=item.get("label", item["name"]),
            client_id=item["client_id"],
            client_secret=item.get("client_secret", ""),
            server_metadata_url=item["server_metadata_url"],
        )
        for item in items
    )


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from environment variables (defaults per CONTRACTS.md)."""
    env = dict(os.environ if env is None else env)
    data_dir = Path(env.get("DATA_DIR", "var"))
    values: dict[str, object] = {
        "database_url": env.get("DATABASE_URL", f"sqlite:///{data_dir / 'portal.db'}"),
        "crm_database_url": env.get("CRM_DATABASE_URL", f"sqlite:///{data_dir / 'crm.db'}"),
        "data_dir": data_dir,
        "mail_url": env.get("MAIL_URL") or None,
        "base_url": env.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        "adapter_in_process": env.get("ADAPTER_IN_PROCESS", "0") == "1",
        "oidc_providers": _parse_oidc(env.get("OIDC_PROVIDERS")),
        "stripe_secret_key": env.get("STRIPE_SECRET_KEY") or None,
        "stripe_webhook_secret": env.get("STRIPE_WEBHOOK_SECRET") or None,
        "stripe_api_base": env.get("STRIPE_API_BASE") or None,
        "debug": env.get("PORTAL_DEBUG", "0") == "1",
    }
    if "MAIL_FROM" in env:
        values["mail_from"] = env["MAIL_FROM"]
    values.update(overrides)
    if not values.get("secret_key"):
        values["secret_key"] = env.get("SECRET_KEY") or _load_or_create_secret(Path(str(values["data_dir"])))
    return Settings(**values)  # type: ignore[arg-type]
