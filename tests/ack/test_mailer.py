"""The shared SMTP adapter against real SMTP servers on loopback."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

from shared.adapters.mailer import Mailer, PermanentMailError, TemporaryMailError
from shared.adapters.natsserver import free_port
from shared.settings.mail import SmtpSettings
from tests.ack.helpers import RefusingSmtp, wait_until
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


class ScriptedSmtp:
    """A minimal SMTP server on loopback whose misbehaviour the test chooses: answer 421 to
    MAIL on the n-th mail of a connection, or drop the connection after a mail's content
    arrived without answering it. Counts connections, received contents and QUITs."""

    def __init__(self, *, closing_on_mail: int = 0, drop_after_content: int = 0) -> None:
        self.closing_on_mail = closing_on_mail
        self.drop_after_content = drop_after_content
        self.connections = 0
        self.open = 0
        self.contents: list[bytes] = []
        self.quits = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedSmtp:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        mails = 0
        try:
            writer.write(b"220 scripted ESMTP\r\n")
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-scripted\r\n250 8BITMIME\r\n")
                elif verb == b"MAIL":
                    mails += 1
                    if mails == self.closing_on_mail:
                        writer.write(b"421 4.4.2 idle too long, closing\r\n")
                        await writer.drain()
                        return
                    writer.write(b"250 OK\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go on\r\n")
                    await writer.drain()
                    self.contents.append(await reader.readuntil(b"\r\n.\r\n"))
                    if len(self.contents) == self.drop_after_content:
                        return
                    writer.write(b"250 kept\r\n")
                elif verb == b"QUIT":
                    self.quits += 1
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    return
                else:  # RCPT, RSET, NOOP
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        finally:
            self.open -= 1
            writer.close()


async def test_mails_share_a_few_connections(smtp_sink: SmtpSink) -> None:
    sender = mailer(smtp_sink.port)
    for number in range(3):
        await sender.send(mail(f"kunde{number}@example.de"))
    assert sender.connections_opened == 1
    await asyncio.gather(*(sender.send(mail(f"k{n}@example.de")) for n in range(10)))
    assert len(smtp_sink.messages) == 13
    assert sender.connections_opened <= 4
    await sender.close()


async def test_a_reused_connection_closed_before_data_is_replaced_once() -> None:
    async with ScriptedSmtp(closing_on_mail=2) as server:
        sender = mailer(server.port)
        await sender.send(mail("kunde@example.de"))
        await sender.send(mail("kunde2@example.de"))  # 421 on the reused one: a fresh one
        assert server.connections == 2 and len(server.contents) == 2
        await sender.close()


async def test_a_mail_whose_content_went_out_is_never_sent_again() -> None:
    async with ScriptedSmtp(drop_after_content=2) as server:
        sender = mailer(server.port)
        await sender.send(mail("kunde@example.de"))
        with pytest.raises(TemporaryMailError):
            await sender.send(mail("kunde2@example.de"))  # dropped after DATA, unanswered
        assert len(server.contents) == 2 and server.connections == 1
        await sender.send(mail("kunde3@example.de"))  # the next mail gets a fresh connection
        assert server.connections == 2
        await sender.close()


async def test_close_and_idle_connections_are_closed_politely() -> None:
    async with ScriptedSmtp() as server:
        sender = Mailer(SmtpSettings(host="127.0.0.1", port=server.port, security="none",
                                     timeout_s=5), idle_s=0.05)
        await sender.send(mail("kunde@example.de"))
        await wait_until(lambda: server.quits == 1)
        assert server.quits == 1 and server.open == 0
        await sender.send(mail("kunde@example.de"))
        await sender.close()
        assert server.quits == 2 and sender.connections_opened == 2


async def test_refused_recipient_leaves_the_connection_usable() -> None:
    server = RefusingSmtp({"gibtsnicht@example.de": "550 5.1.1 no such user"}).start()
    try:
        sender = mailer(server.port)
        with pytest.raises(PermanentMailError):
            await sender.send(mail("gibtsnicht@example.de"))
        await sender.send(mail("kunde@example.de"))
        assert len(server.delivered) == 1 and sender.connections_opened == 1
        await sender.close()
    finally:
        server.stop()
