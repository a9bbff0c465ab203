"""Sending mail through SMTP (aiosmtplib): one small adapter for every service.

``Mailer.send`` either returns (the server accepted the mail) or raises one of two errors,
so callers decide in the domain's words instead of in SMTP codes:

- :class:`TemporaryMailError`: trying again later can help (server unreachable, timeouts,
  4xx answers, login or sender refused: a configuration an operator can fix).
- :class:`PermanentMailError`: this mail can never be delivered as it is (the server
  refused the recipient or the content with a 5xx answer).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib

from shared.mailcatcher import MailCatcher
from shared.settings.mail import SmtpSettings

if TYPE_CHECKING:
    from shared.runtime import Runtime


class MailError(Exception):
    """The SMTP server did not take the mail."""


class TemporaryMailError(MailError):
    """Sending failed for now; a later attempt may succeed."""


class PermanentMailError(MailError):
    """The server refused this mail for good (e.g. an address that does not exist)."""


@dataclass(frozen=True)
class Mailer:
    """Sends messages through the SMTP server described by ``smtp``."""

    smtp: SmtpSettings

    @classmethod
    def to_local_catcher(cls, smtp: SmtpSettings, port: int) -> Mailer:
        """A mailer for the embedded mail catcher: plain SMTP on loopback, no login."""
        return cls(smtp.model_copy(update={"host": "127.0.0.1", "port": port,
                                           "security": "none", "username": None,
                                           "password": None}))

    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` to the SMTP server; raise Temporary/PermanentMailError."""
        smtp = self.smtp
        if smtp.host is None:
            raise TemporaryMailError("no SMTP server configured (TICKETCORE_SMTP__HOST)")
        try:
            await aiosmtplib.send(
                message, hostname=smtp.host, port=smtp.port,
                username=smtp.username, password=smtp.password,
                use_tls=smtp.security == "tls", start_tls=smtp.security == "starttls",
                validate_certs=smtp.validate_certs, timeout=smtp.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as error:
            raise _classify_refusals(error) from error
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as error:
            kind = PermanentMailError if error.code >= 500 else TemporaryMailError
            raise kind(f"{error.code} {error.message}") from error
        except aiosmtplib.SMTPResponseException as error:
            raise TemporaryMailError(f"{error.code} {error.message}") from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TemporaryMailError(f"{type(error).__name__}: {error}") from error


def _classify_refusals(error: aiosmtplib.SMTPRecipientsRefused) -> MailError:
    reasons = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
    if error.recipients and all(r.code >= 500 for r in error.recipients):
        return PermanentMailError(reasons)
    return TemporaryMailError(reasons)


CATCHER_KEY = "mail_catcher"


async def local_catcher(runtime: Runtime) -> MailCatcher:
    """The embedded mail catcher of this process, started on first use and shared by every
    service in it (receipts, pages and decline mails all land in one outbox)."""
    catcher = runtime.extras.get(CATCHER_KEY)
    if catcher is None:
        settings = runtime.settings
        catcher = await asyncio.to_thread(
            MailCatcher(settings.data_dir / "outbox", port=settings.smtp.catcher_port).start)
        runtime.extras[CATCHER_KEY] = catcher
    return catcher  # type: ignore[return-value]


async def stop_local_catcher(runtime: Runtime) -> None:
    catcher = runtime.extras.pop(CATCHER_KEY, None)
    if catcher is not None:
        await asyncio.to_thread(catcher.stop)  # type: ignore[attr-defined]


async def mailer_for(runtime: Runtime) -> Mailer:
    """The configured SMTP server, or without one the process's embedded mail catcher."""
    smtp = runtime.settings.smtp
    if smtp.host is not None:
        return Mailer(smtp)
    return Mailer.to_local_catcher(smtp, (await local_catcher(runtime)).port)
