"""Queue e-mail in the caller's transaction; the sender delivers it after commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.i18n import Catalogues
from portal.mail.models import MailMessage, MailRecipient
from portal.security.tokens import LinkSigner
from portal.settings import Settings
from portal.templating import make_environment


@dataclass(frozen=True)
class MailComposer:
    """Renders `templates/email/<name>/{subject,body}.txt` and `body.html` in a locale."""

    env: Environment
    catalogues: Catalogues
    base_url: str

    def compose(self, template: str, locale: str, context: dict[str, Any]) -> tuple[str, str, str]:
        t = self.catalogues.get(locale)
        full = {"_": t.gettext, "gettext": t.gettext, "ngettext": t.ngettext, "locale": t.locale, "base_url": self.base_url, **context}
        subject = self.env.get_template(f"email/{template}/subject.txt").render(full).strip()
        text = self.env.get_template(f"email/{template}/body.txt").render(full)
        html = self.env.get_template(f"email/{template}/body.html").render({**full, "subject": subject})
        return " ".join(subject.split()), text, html


@dataclass(frozen=True)
class Mailing:
    """What services need to send e-mail with links: templates and a link signer."""

    composer: MailComposer
    signer: LinkSigner

    def link(self, path: str) -> str:
        return f"{self.composer.base_url}{path}"


def build_mailing(settings: Settings) -> Mailing:
    """The composer and signer a process needs to queue e-mail (the web app, the adapter)."""
    composer = MailComposer(env=make_environment(settings.templates_dir), catalogues=Catalogues(), base_url=settings.base_url)
    return Mailing(composer=composer, signer=LinkSigner(settings.secret_key))


def queue_email(
    session: Session,
    composer: MailComposer,
    *,
    to: str | list[str],
    template: str,
    locale: str,
    context: dict[str, Any],
) -> MailMessage:
    subject, text, html = composer.compose(template, locale, context)
    now = utcnow()
    message = MailMessage(
        template=template,
        locale=locale,
        subject=subject,
        body_text=text,
        body_html=html,
        next_attempt_at=now,
        created_at=now,
    )
    for address in [to] if isinstance(to, str) else to:
        message.recipients.append(MailRecipient(email=address))
    session.add(message)
    session.info["mail_queued"] = True
    return message
