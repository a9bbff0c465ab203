"""The shared SMTP adapter against real SMTP servers on loopback."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from shared.mailer import Mailer, PermanentMailError, TemporaryMailError
from shared.natsserver import free_port
from shared.settings.mail import SmtpSettings
from tests.ack.helpers import RefusingSmtp
from tests.support import SmtpSink


def mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "service@msp.example"
    message["To"] = to
    message["Subject"] = "[SA#202611260000427] Test"
    message.set_content("Hallo")
    return message


def mailer(port: int) -> Mailer:
    return Mailer(SmtpSettings(host="127.0.0.1", port=port, security="none", timeout_s=5))


async def test_accepted_mail_arrives(smtp_sink: SmtpSink) -> None:
    await mailer(smtp_sink.port).send(mail("kunde@example.de"))
    assert [m["Subject"] for m in smtp_sink.messages] == ["[SA#202611260000427] Test"]
    assert smtp_sink.envelopes[0].rcpt_tos == ["kunde@example.de"]


async def test_refused_recipient_is_permanent_and_busy_server_temporary() -> None:
    server = RefusingSmtp({"gibtsnicht@example.de": "550 5.1.1 no such user",
                           "voll@example.de": "452 4.2.2 mailbox full"}).start()
    try:
        with pytest.raises(PermanentMailError, match="550"):
            await mailer(server.port).send(mail("gibtsnicht@example.de"))
        with pytest.raises(TemporaryMailError, match="452"):
            await mailer(server.port).send(mail("voll@example.de"))
        assert server.delivered == []
    finally:
        server.stop()


async def test_unreachable_server_is_temporary() -> None:
    with pytest.raises(TemporaryMailError):
        await mailer(free_port()).send(mail("kunde@example.de"))


async def test_starttls_required_but_not_offered_is_temporary(smtp_sink: SmtpSink) -> None:
    strict = Mailer(SmtpSettings(host="127.0.0.1", port=smtp_sink.port, security="starttls",
                                 timeout_s=5))
    with pytest.raises(TemporaryMailError):
        await strict.send(mail("kunde@example.de"))
    assert smtp_sink.messages == []


async def test_without_a_configured_host_nothing_is_sent() -> None:
    with pytest.raises(TemporaryMailError, match="TICKETCORE_SMTP__HOST"):
        await Mailer(SmtpSettings()).send(mail("kunde@example.de"))
