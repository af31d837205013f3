"""Where e-mail goes: a Maildir (the embedded default) or an SMTP server."""

from __future__ import annotations

import mailbox
import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class TransientMailError(Exception):
    """Worth retrying later (connection refused, 4xx)."""


class PermanentMailError(Exception):
    """The server refused for good (5xx): retrying will not help."""


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class MaildirTransport:
    """One RFC 5322 file per message in `<dir>/new/`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Maildir(create=True) makes tmp/new/cur only when the folder itself is new.
        path.parent.mkdir(parents=True, exist_ok=True)
        self._box = mailbox.Maildir(str(path), create=True)
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(exist_ok=True)

    def send(self, message: EmailMessage) -> None:
        self._box.add(message)


class SmtpTransport:
    def __init__(self, url: str, *, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        self.ssl = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.ssl else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        try:
            client: smtplib.SMTP
            if self.ssl:
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                client.ehlo()
                if not self.ssl and client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message)
        except smtplib.SMTPResponseException as exc:
            if 400 <= exc.smtp_code < 500:
                raise TransientMailError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise PermanentMailError(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentMailError(f"recipients refused: {exc.recipients!r}") from exc
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise TransientMailError(str(exc)) from exc


def transport_for(mail_url: str | None, maildir: Path) -> Transport:
    if not mail_url:
        return MaildirTransport(maildir)
    if mail_url.startswith(("smtp://", "smtps://")):
        return SmtpTransport(mail_url)
    raise ValueError("MAIL_URL must start with smtp:// or smtps://")
