"""The embedded mail catcher: a real SMTP server on loopback that keeps every mail.

When no SMTP server is configured, ``ticketcore up`` sends outgoing mail here, so a new
user sees the receipt without setting up mail. Each accepted mail becomes one ``.eml``
file under ``<data_dir>/outbox/``; :func:`list_outbox` and :func:`read_outbox` read them
back for the ``/outbox`` page. Nothing leaves the machine.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from shared.adapters.natsserver import free_port

# File names the catcher writes: UTC time (sorts newest last) and a random part.
OUTBOX_NAME = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{32}\.eml$")


def outbox_dir(data_dir: Path) -> Path:
    """Where the catcher of a system with data folder ``data_dir`` keeps its mails."""
    return data_dir / "outbox"


class OutboxMailNotFound(LookupError):
    """No kept mail has that name."""


@dataclass(frozen=True)
class OutboxEntry:
    """One kept mail as listed on the outbox page."""

    name: str
    subject: str
    recipients: str
    date: str


class MailCatcher:
    """An aiosmtpd server on 127.0.0.1 writing each mail to ``outbox_dir`` as ``.eml``."""

    def __init__(self, outbox_dir: Path, *, port: int = 0) -> None:
        self.outbox_dir = outbox_dir
        self.port = port
        self._controller: Controller | None = None

    async def handle_DATA(self, server: object, session: Session,
                          envelope: Envelope) -> str:
        """aiosmtpd hook: keep the mail (write to a temporary name, then rename)."""
        now = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{now}-{uuid.uuid4().hex}.eml"
        content = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else content.encode()
        temporary = self.outbox_dir / f".{name}.part"
        temporary.write_bytes(data)
        temporary.replace(self.outbox_dir / name)
        return "250 Message kept in the local outbox"

    def start(self) -> MailCatcher:
        """Listen on loopback (a free port when ``port`` is 0); return self."""
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def list_outbox(outbox_dir: Path) -> list[OutboxEntry]:
    """The kept mails, newest first."""
    if not outbox_dir.is_dir():
        return []
    entries = []
    for path in sorted(outbox_dir.glob("*.eml"), reverse=True):
        if not OUTBOX_NAME.match(path.name):
            continue
        message = _parse(path.read_bytes())
        entries.append(OutboxEntry(name=path.name, subject=str(message["Subject"] or ""),
                                   recipients=str(message["To"] or ""),
                                   date=str(message["Date"] or "")))
    return entries


def read_outbox(outbox_dir: Path, name: str) -> EmailMessage:
    """The kept mail called ``name``; raise OutboxMailNotFound for any other name."""
    if not OUTBOX_NAME.match(name):  # also keeps paths like ../x out of the folder
        raise OutboxMailNotFound(name)
    path = outbox_dir / name
    if not path.is_file():
        raise OutboxMailNotFound(name)
    return _parse(path.read_bytes())


def _parse(data: bytes) -> EmailMessage:
    return message_from_bytes(data, policy=policy.default)


def erase_from_outbox(outbox_dir: Path, case_number: str) -> int:
    """Delete the kept mails about ``case_number`` (receipts, answers, pages: every mail
    the system writes names the case); returns how many. Part of erasing a customer: the
    outbox is a copy of their mails on the machine running ``ticketcore up``."""
    if not outbox_dir.is_dir():
        return 0
    marker = case_number.encode()
    deleted = 0
    for path in outbox_dir.glob("*.eml"):
        if OUTBOX_NAME.match(path.name) and marker in path.read_bytes():
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted
