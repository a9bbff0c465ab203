"""Sending mail through SMTP (aiosmtplib): one small adapter for every service.

``Mailer.send`` either returns (the server accepted the mail) or raises one of two errors,
so callers decide in the domain's words instead of in SMTP codes:

- :class:`TemporaryMailError`: trying again later can help (server unreachable, timeouts,
  4xx answers, login or sender refused: a configuration an operator can fix).
- :class:`PermanentMailError`: this mail can never be delivered as it is (the server
  refused the recipient or the content with a 5xx answer).

A ``Mailer`` keeps a few SMTP connections open and sends one mail at a time over each
(connect, TLS, EHLO and login cost more than the mail itself). A reused connection that
fails before the DATA command is dropped and the mail tried once more on a fresh
connection; once DATA was sent the mailer never sends the mail again (the server may have
kept it). Idle connections are closed after ``idle_s``; ``close()`` closes all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from shared.adapters import tracing
from shared.settings.mail import SmtpSettings

# Open connections per Mailer: each carries one mail at a time.
POOL_SIZE = 4
# An unused connection is closed after this long (servers drop idle clients after minutes).
IDLE_CLOSE_S = 30.0
# A connection unused for longer than this is checked with NOOP before it carries a mail.
PROBE_AFTER_S = 5.0
# SMTP 421: the server is closing this connection (e.g. an idle timeout): a fresh one helps.
SERVICE_CLOSING = 421


class MailError(Exception):
    """The SMTP server did not take the mail."""


class TemporaryMailError(MailError):
    """Sending failed for now; a later attempt may succeed."""


class PermanentMailError(MailError):
    """The server refused this mail for good (e.g. an address that does not exist)."""


@dataclass(frozen=True)
class OutgoingMail:
    """A mail already in its wire form: 7-bit, CRLF line ends (cheaper to send than an
    ``EmailMessage``, which is serialised again for every send)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


@dataclass
class _Connection:
    smtp: aiosmtplib.SMTP
    generation: int
    last_used: float = 0.0


class _ReusedConnectionFailed(Exception):
    """A pooled connection broke before DATA: nothing was handed over, try a fresh one."""


@dataclass
class _Pool:
    """The open connections of one Mailer on one event loop."""

    loop: asyncio.AbstractEventLoop
    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)
    reaper: asyncio.TimerHandle | None = None
    closing: set[asyncio.Task[None]] = field(default_factory=set)


_local_hostname: str | None = None


async def _ehlo_name() -> str:
    """This host's name for EHLO, looked up once per process (``getfqdn`` may ask DNS,
    which aiosmtplib would otherwise do on every new connection)."""
    global _local_hostname
    if _local_hostname is None:
        _local_hostname = await asyncio.to_thread(socket.getfqdn)
    return _local_hostname


class Mailer:
    """Sends messages through the SMTP server described by ``smtp``, over up to
    ``pool_size`` reused connections."""

    def __init__(self, smtp: SmtpSettings, *, pool_size: int = POOL_SIZE,
                 idle_s: float = IDLE_CLOSE_S) -> None:
        self.smtp = smtp
        self.pool_size = pool_size
        self.idle_s = idle_s
        self._pool: _Pool | None = None
        self._generation = 0
        self.connections_opened = 0  # for tests and benchmarks: reuse is observable

    @classmethod
    def to_local_catcher(cls, smtp: SmtpSettings, port: int) -> Mailer:
        """A mailer for the embedded mail catcher: plain SMTP on loopback, no login."""
        return cls(smtp.model_copy(update={"host": "127.0.0.1", "port": port,
                                           "security": "none", "username": None,
                                           "password": None}))

    async def send(self, message: EmailMessage | OutgoingMail) -> None:
        """Hand ``message`` to the SMTP server; raise Temporary/PermanentMailError."""
        if self.smtp.host is None:
            raise TemporaryMailError("no SMTP server configured (TICKETCORE_SMTP__HOST)")
        with tracing.span("smtp send", kind=tracing.SpanKind.CLIENT, attributes={
                "server.address": self.smtp.host, "server.port": self.smtp.port}):
            await self._send_classified(message)

    async def _send_classified(self, message: EmailMessage | OutgoingMail) -> None:
        try:
            await self._send(message)
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise _classify_refusals(error) from error
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as error:
            kind = PermanentMailError if error.code >= 500 else TemporaryMailError
            raise kind(f"{error.code} {error.message}") from error
        except aiosmtplib.SMTPResponseException as error:
            raise TemporaryMailError(f"{error.code} {error.message}") from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TemporaryMailError(f"{type(error).__name__}: {error}") from error

    async def close(self) -> None:
        """Close every open connection (call at service stop). Mails being sent finish;
        their connections are closed afterwards. The mailer stays usable."""
        pool, self._pool = self._pool, None
        self._generation += 1
        if pool is None or pool.loop is not asyncio.get_running_loop():
            return
        if pool.reaper is not None:
            pool.reaper.cancel()
        idle, pool.idle = pool.idle, []
        await asyncio.gather(*(_quit(c.smtp) for c in idle), *pool.closing)

    async def _send(self, message: EmailMessage | OutgoingMail) -> None:
        pool = self._current_pool()
        async with pool.slots:
            connection = await self._checkout(pool)
            try:
                try:
                    await self._transact(connection, message,
                                         reused=connection.last_used > 0)
                except _ReusedConnectionFailed:
                    connection = await self._connect()
                    await self._transact(connection, message, reused=False)
            finally:  # kept if still usable (also after an error answer), else closed
                self._checkin(pool, connection)

    def _current_pool(self) -> _Pool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._pool.loop is not loop:
            # A new event loop (e.g. a restarted service): the old connections belong to
            # the old loop and cannot be used from this one.
            self._pool = _Pool(loop, asyncio.Semaphore(self.pool_size))
        return self._pool

    async def _checkout(self, pool: _Pool) -> _Connection:
        now = pool.loop.time()
        while pool.idle:
            connection = pool.idle.pop()  # the most recently used: least likely stale
            if not connection.smtp.is_connected:
                continue
            if now - connection.last_used < PROBE_AFTER_S:
                return connection
            try:
                await connection.smtp.noop()
                return connection
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                connection.smtp.close()
        return await self._connect()

    async def _connect(self) -> _Connection:
        smtp = self.smtp
        client = aiosmtplib.SMTP(
            hostname=smtp.host, port=smtp.port, username=smtp.username,
            password=smtp.password, use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls", validate_certs=smtp.validate_certs,
            timeout=smtp.timeout_s, local_hostname=await _ehlo_name())
        try:
            await client.connect()
        except BaseException:
            client.close()
            raise
        self.connections_opened += 1
        return _Connection(client, self._generation)

    async def _transact(self, connection: _Connection, message: EmailMessage | OutgoingMail,
                        *, reused: bool) -> None:
        """One mail over ``connection``; a failed connection is closed, one that answered
        an error is reset (RSET) and kept."""
        smtp = connection.smtp
        data_sent = False
        try:
            if smtp.is_ehlo_or_helo_needed:  # its extensions decide how to serialise
                await smtp.ehlo()
            sender, recipients, data, options = _envelope(smtp, message)
            await smtp.mail(sender, options=options)
            refused = []
            for recipient in recipients:
                try:
                    await smtp.rcpt(recipient)
                except aiosmtplib.SMTPRecipientRefused as error:
                    refused.append(error)
            if len(refused) == len(recipients):
                raise aiosmtplib.SMTPRecipientsRefused(refused)
            data_sent = True
            await smtp.data(data)
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as error:
            if reused and not data_sent and getattr(error, "code", 0) == SERVICE_CLOSING:
                smtp.close()
                raise _ReusedConnectionFailed from error
            await _reset_or_close(smtp)
            raise
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                OSError) as error:
            smtp.close()
            if reused and not data_sent:
                raise _ReusedConnectionFailed from error
            raise
        except BaseException:  # cancelled mid-command, or a bug: the state is unknown
            smtp.close()
            raise

    def _checkin(self, pool: _Pool, connection: _Connection) -> None:
        if (not connection.smtp.is_connected or connection.generation != self._generation
                or self._pool is not pool):
            self._close_later(pool, connection.smtp)
            return
        connection.last_used = pool.loop.time()
        pool.idle.append(connection)
        if pool.reaper is None:
            pool.reaper = pool.loop.call_later(self.idle_s, self._reap, pool)

    def _reap(self, pool: _Pool) -> None:
        """Close connections unused for ``idle_s``; check again while any stay open."""
        pool.reaper = None
        deadline = pool.loop.time() - self.idle_s
        stale = [c for c in pool.idle if c.last_used <= deadline]
        pool.idle = [c for c in pool.idle if c.last_used > deadline]
        for connection in stale:
            self._close_later(pool, connection.smtp)
        if pool.idle:
            wait = min(c.last_used for c in pool.idle) - deadline
            pool.reaper = pool.loop.call_later(wait, self._reap, pool)

    def _close_later(self, pool: _Pool, smtp: aiosmtplib.SMTP) -> None:
        if not smtp.is_connected:
            return
        task = pool.loop.create_task(_quit(smtp))
        pool.closing.add(task)
        task.add_done_callback(pool.closing.discard)


def _envelope(smtp: aiosmtplib.SMTP, message: EmailMessage | OutgoingMail
              ) -> tuple[str, list[str], bytes, list[str]]:
    """Sender, recipients, wire bytes and MAIL options, as ``aiosmtplib.send`` derives them."""
    if isinstance(message, OutgoingMail):
        return message.sender, list(message.recipients), message.data, []
    return _envelope_of_message(smtp, message)


def _envelope_of_message(smtp: aiosmtplib.SMTP, message: Message
                         ) -> tuple[str, list[str], bytes, list[str]]:
    sender = extract_sender(message)
    recipients = extract_recipients(message)
    if sender is None or not recipients:
        raise ValueError("the mail has no From or no recipient header")
    options = []
    utf8 = not (sender + "".join(recipients)).isascii()
    if utf8:
        if not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported("non-ASCII address, server lacks SMTPUTF8")
        options.append("SMTPUTF8")
    cte_type = "7bit"
    if smtp.supports_extension("8BITMIME"):
        options.append("BODY=8BITMIME")
        cte_type = "8bit"
    return sender, recipients, flatten_message(message, utf8=utf8, cte_type=cte_type), options


async def _reset_or_close(smtp: aiosmtplib.SMTP) -> None:
    """After an error answer: RSET so the connection can carry the next mail, or close."""
    try:
        await smtp.rset()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        smtp.close()  # the original error is what the caller needs to see
    except BaseException:
        smtp.close()
        raise


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """Say goodbye politely, briefly; close in any case."""
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        async with asyncio.timeout(2.0):
            await smtp.quit()
    smtp.close()


def _classify_refusals(error: aiosmtplib.SMTPRecipientsRefused) -> MailError:
    reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
    if error.recipients and all(r.code >= 500 for r in error.recipients):
        return PermanentMailError(reasons)
    return TemporaryMailError(reasons)
