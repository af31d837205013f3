"""Deliver queued messages after commit: claim with a lease, send, record each outcome.

Several senders (one per web worker) may run: a message is claimed by a conditional
UPDATE, so only one of them sends it. A crash after commit loses nothing: the message is
still `queued` and its lease runs out.
"""

from __future__ import annotations

import random
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import structlog
from sqlalchemy import or_, select, update

from portal.db import Database, utcnow
from portal.mail.models import DeliveryStatus, MailMessage
from portal.mail.transports import PermanentMailError, TransientMailError, Transport

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)


def build_message(message: MailMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = ", ".join(r.email for r in message.recipients)
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain="portal.local")
    email["Auto-Submitted"] = "auto-generated"
    # Ties a delivered message back to its mail_message row (support, tests).
    email["X-Portal-Message-Id"] = str(message.id)
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    # After the bodies: set_content() drops Content-* headers set before it.
    email["Content-Language"] = "zh-Hans" if message.locale == "zh" else "en"
    return email


def _backoff(attempts: int) -> timedelta:
    # Full jitter: anywhere between 0 and 2^attempts × 10 s, capped at an hour.
    return timedelta(seconds=random.uniform(0, min(3600, 10 * 2**attempts)))  # noqa: S311 - jitter, not secrecy


def deliver_due(db: Database, transport: Transport, *, sender: str, limit: int = 50) -> int:
    """Send up to `limit` due messages; returns how many were sent."""
    now = utcnow()
    with db.unit_of_work(write=False) as session:
        candidates = session.scalars(
            select(MailMessage.id)
            .where(
                MailMessage.status == DeliveryStatus.QUEUED,
                MailMessage.next_attempt_at <= now,
                or_(MailMessage.locked_until.is_(None), MailMessage.locked_until < now),
            )
            .order_by(MailMessage.id)
            .limit(limit)
        ).all()
    sent = 0
    for message_id in candidates:
        # Claimed and built in one short transaction, sent outside any, the outcome recorded in
        # another: a write transaction holds SQLite's write lock, and an SMTP exchange (up to its
        # timeout) inside one kept every other writer waiting (docs/decisions/0016).
        with db.unit_of_work() as session:
            claimed = session.execute(
                update(MailMessage)
                .where(
                    MailMessage.id == message_id,
                    MailMessage.status == DeliveryStatus.QUEUED,
                    or_(MailMessage.locked_until.is_(None), MailMessage.locked_until < now),
                )
                .values(locked_until=now + LEASE, attempts=MailMessage.attempts + 1)
            ).rowcount  # type: ignore[attr-defined]
            email = build_message(session.get_one(MailMessage, message_id), sender) if claimed else None
        if email is None:
            continue
        failure: tuple[str, bool | None] | None = None  # (error, permanent; None: after MAX_ATTEMPTS)
        try:
            transport.send(email)
        except PermanentMailError as exc:
            failure = (str(exc), True)
        except (TransientMailError, OSError) as exc:
            failure = (str(exc), None)
        except Exception as exc:  # a permanent refusal (5xx, bad address)
            failure = (str(exc), True)
        with db.unit_of_work() as session:
            message = session.get_one(MailMessage, message_id)
            if failure is not None:
                error, permanent = failure
                if permanent is None:
                    _record_failure(message, error, permanent=message.attempts >= MAX_ATTEMPTS)
                    log.warning("mail.retry", message_id=message_id, error=error, attempts=message.attempts)
                else:
                    _record_failure(message, error, permanent=True)
                    log.error("mail.failed", message_id=message_id, error=error)
                continue
            message.status = DeliveryStatus.SENT
            message.sent_at = utcnow()
            message.locked_until = None
            for recipient in message.recipients:
                recipient.status = DeliveryStatus.SENT
            sent += 1
    return sent


def _record_failure(message: MailMessage, error: str, *, permanent: bool) -> None:
    message.last_error = error[:2000]
    message.locked_until = None
    if permanent:
        message.status = DeliveryStatus.FAILED
        for recipient in message.recipients:
            recipient.status = DeliveryStatus.FAILED
            recipient.last_error = error[:2000]
    else:
        message.next_attempt_at = utcnow() + _backoff(message.attempts)
