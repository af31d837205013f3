"""Mail leaves the database after commit: Maildir by default, a real SMTP server when set."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select, update

from portal.mail.models import DeliveryStatus, MailMessage, MailRecipient
from portal.mail.sender import deliver_due
from portal.mail.service import queue_email
from portal.mail.transports import MaildirTransport, SmtpTransport, TransientMailError, transport_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorder:
    def __init__(self, reply: str = "250 OK") -> None:
        self.messages: list[Envelope] = []
        self.reply = reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.reply.startswith("250"):
            self.messages.append(envelope)
        return self.reply


@pytest.fixture
def smtp_server() -> Iterator[Callable[[str], tuple[Recorder, int]]]:
    controllers: list[Controller] = []

    def start(reply: str = "250 OK") -> tuple[Recorder, int]:
        recorder = Recorder(reply)
        port = _free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return recorder, port

    yield start
    for controller in controllers:
        controller.stop()


def _queue(state: Any, uow: Callable[..., Any], to: str = "someone@example.com", locale: str = "en") -> int:
    with uow() as session:
        message = queue_email(
            session,
            state.mailing.composer,
            to=to,
            template="verify_email",
            locale=locale,
            context={"name": "Someone", "verify_url": "http://testserver/verify-email?token=abc"},
        )
        session.flush()
        return message.id


def test_queued_mail_reaches_a_real_smtp_server_and_is_marked_sent(state: Any, uow: Callable[..., Any], smtp_server: Any) -> None:
    recorder, port = smtp_server()
    message_id = _queue(state, uow)
    sent = deliver_due(state.db, SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5), sender="Portal <no-reply@portal.example>")
    assert sent == 1
    assert [m.rcpt_tos for m in recorder.messages] == [["someone@example.com"]]
    parsed = message_from_bytes(recorder.messages[0].original_content, policy=policy.default)
    assert parsed["Subject"] == "Verify your e-mail address"
    assert "http://testserver/verify-email?token=abc" in parsed.get_body(preferencelist=("plain",)).get_content()
    assert parsed.get_body(preferencelist=("html",)) is not None
    with uow() as session:
        row = session.get(MailMessage, message_id)
        assert row.status is DeliveryStatus.SENT
        assert [r.status for r in row.recipients] == [DeliveryStatus.SENT]


def test_a_temporary_smtp_refusal_keeps_the_message_queued_for_later(state: Any, uow: Callable[..., Any], smtp_server: Any) -> None:
    _recorder, port = smtp_server("451 Try again later")
    message_id = _queue(state, uow)
    assert deliver_due(state.db, SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5), sender="p@example.com") == 0
    with uow() as session:
        row = session.get(MailMessage, message_id)
        assert (row.status, row.attempts) == (DeliveryStatus.QUEUED, 1)
        assert "451" in (row.last_error or "")


def test_a_permanent_smtp_refusal_marks_message_and_recipient_failed(state: Any, uow: Callable[..., Any], smtp_server: Any) -> None:
    _recorder, port = smtp_server("550 No such user")
    message_id = _queue(state, uow)
    deliver_due(state.db, SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5), sender="p@example.com")
    with uow() as session:
        row = session.get(MailMessage, message_id)
        assert row.status is DeliveryStatus.FAILED
        assert [r.status for r in session.scalars(select(MailRecipient).where(MailRecipient.message_id == message_id))] == [
            DeliveryStatus.FAILED
        ]


def test_an_unreachable_smtp_server_is_a_transient_error() -> None:
    with pytest.raises(TransientMailError):
        SmtpTransport(f"smtp://127.0.0.1:{_free_port()}", timeout=2).send(__import__("email.message").message.EmailMessage())


def test_mail_survives_a_crash_between_commit_and_sending(state: Any, uow: Callable[..., Any], tmp_path: Path) -> None:
    """The message is in the database with the change; a sender started later delivers it."""
    _queue(state, uow, "later@example.com")
    # (no sender ran: the "process" died here)
    transport = MaildirTransport(tmp_path / "mail")
    assert deliver_due(state.db, transport, sender="p@example.com") == 1
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 1
    assert deliver_due(state.db, transport, sender="p@example.com") == 0  # never twice


def test_two_senders_never_send_the_same_message(state: Any, uow: Callable[..., Any], tmp_path: Path) -> None:
    for n in range(20):
        _queue(state, uow, f"r{n}@example.com")
    transport = MaildirTransport(tmp_path / "mail")
    results: list[int] = []

    def run() -> None:
        results.append(deliver_due(state.db, transport, sender="p@example.com"))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(results) == 20
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 20


def test_chinese_mail_is_rendered_in_chinese(state: Any, uow: Callable[..., Any], outbox_mail: Any) -> None:
    _queue(state, uow, "zh@example.com", locale="zh")
    message = outbox_mail()[0]
    assert message["Content-Language"] == "zh-Hans"
    assert message["Subject"] != "Verify your e-mail address"


def test_mail_url_picks_the_transport(tmp_path: Path) -> None:
    assert isinstance(transport_for(None, tmp_path / "m"), MaildirTransport)
    smtp = transport_for("smtps://user%40x:p%3Ass@mail.example:2465", tmp_path / "m")
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.ssl, smtp.host, smtp.port, smtp.user, smtp.password) == (True, "mail.example", 2465, "user@x", "p:ss")
    with pytest.raises(ValueError, match="MAIL_URL"):
        transport_for("http://nope", tmp_path / "m")


def test_the_in_process_sender_delivers_soon_after_commit(settings: Any, state: Any, uow: Callable[..., Any]) -> None:
    from portal.app import _mail_loop

    async def scenario() -> int:
        task = asyncio.create_task(_mail_loop(state))
        await asyncio.sleep(0.05)
        _queue(state, uow, "soon@example.com")
        for _ in range(50):
            await asyncio.sleep(0.05)
            if list((settings.maildir / "new").glob("*")):
                break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return len(list((settings.maildir / "new").glob("*")))

    assert asyncio.run(scenario()) == 1


def test_a_slow_smtp_exchange_holds_up_no_other_writer(state: Any, uow: Callable[..., Any]) -> None:
    """The message is sent outside any transaction: on SQLite a write transaction holds the
    database's one write lock, and every other writer would wait for the SMTP server."""
    _queue(state, uow, "slow@example.com")
    others: list[str] = []

    class SlowTransport:
        def send(self, message: Any) -> None:
            def another_writer() -> None:
                with state.db.unit_of_work() as session:
                    session.execute(update(MailMessage).where(MailMessage.id == -1).values(last_error="x"))
                others.append("committed")

            writer = threading.Thread(target=another_writer)
            writer.start()
            writer.join(5)  # while this "SMTP exchange" is still going on
            others.append("alive" if writer.is_alive() else "done")
            writer.join()

    assert deliver_due(state.db, SlowTransport(), sender="p@example.com") == 1
    assert others == ["committed", "done"]
    with uow() as session:
        assert session.scalars(select(MailMessage.status)).all() == [DeliveryStatus.SENT]
