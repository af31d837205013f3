"""Per-process application state: settings, databases, templates, mail."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from starlette.templating import Jinja2Templates

from portal.db import Database, make_engine
from portal.i18n import Catalogues
from portal.mail.sender import deliver_due
from portal.mail.service import MailComposer, Mailing
from portal.mail.transports import Transport, transport_for
from portal.security.models import WebSession
from portal.security.tokens import LinkSigner
from portal.settings import Settings
from portal.templating import make_environment


@dataclass
class AppState:
    settings: Settings
    db: Database
    crm_engine: Engine | None  # None when the CRM is reached over HTTP
    catalogues: Catalogues
    templates: Jinja2Templates
    signer: LinkSigner
    mailing: Mailing
    transport: Transport
    mail_wakeup: threading.Event = field(default_factory=threading.Event)
    # Set by views that queue work for the partner report worker (a no-op without one).
    report_wakeup: threading.Event = field(default_factory=threading.Event)

    def touch_session(self, token_hash: str, now: datetime) -> None:
        with self.db.unit_of_work() as session:
            session.execute(update(WebSession).where(WebSession.token_hash == token_hash).values(last_seen_at=now))

    def deliver_mail(self) -> int:
        return deliver_due(self.db, self.transport, sender=self.settings.mail_from)


def build_state(settings: Settings) -> AppState:
    db = Database(settings.database_url)
    crm_engine = None if settings.crm_is_http else make_engine(settings.crm_database_url)
    catalogues = Catalogues()
    env = make_environment(settings.templates_dir)
    signer = LinkSigner(settings.secret_key)
    composer = MailComposer(env=env, catalogues=catalogues, base_url=settings.base_url)
    state = AppState(
        settings=settings,
        db=db,
        crm_engine=crm_engine,
        catalogues=catalogues,
        templates=Jinja2Templates(env=env),
        signer=signer,
        mailing=Mailing(composer=composer, signer=signer),
        transport=transport_for(settings.mail_url, settings.maildir),
    )

    def wake_sender(session: Session) -> None:
        if session.info.pop("mail_queued", False):
            state.mail_wakeup.set()

    db.on_commit(wake_sender)
    return state
