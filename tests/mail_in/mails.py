"""Builders of inbound test mails, as a customer's mail client would send them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from shared.domain.casenumber import with_check_digit

CASE = with_check_digit("2026112600042")
SUPPORT = "auftrag@example.com"
CUSTOMER = "kunde@example.de"
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 30


def reply(subject: str = f"AW: [SA#{CASE}] Drucker druckt nicht", *, sender: str = CUSTOMER,
          text: str = "Der Drucker zeigt jetzt Fehler 49.", message_id: str | None = None,
          files: tuple[tuple[str, str, bytes], ...] = (), **headers: str) -> EmailMessage:
    """A reply to the receipt; ``files`` are (filename, mime type, bytes)."""
    message = EmailMessage()
    message["From"] = f"Erika Mustermann <{sender}>"
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.de")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    for filename, mime, data in files:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message
