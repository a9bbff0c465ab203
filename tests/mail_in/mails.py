"""Builders of inbound test mails, as a customer's mail client would send them."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from tests.factories import request_submitted

CASE = with_check_digit("2026112600042")
SUPPORT = "auftrag@example.com"
CUSTOMER = "kunde@example.de"


def receipt_id(case: str) -> str:
    """The Message-ID of a case's receipt as tests record it (AckSent): signed-looking."""
    return f"<receipt.{case}.0123456789abcdef01234567@example.com>"


RECEIPT_ID = receipt_id(CASE)


def ticket_with_receipt(case: str = CASE, email: str = CUSTOMER) -> list[ev.Event]:
    """A submitted ticket whose receipt went out (replies to it are authenticated)."""
    request = request_submitted(case_number=case, email=email)
    return [request, ev.AckSent(at=request.at, message_id=receipt_id(case), recipient=email)]
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(reversed(range(256))) * 30


def reply(subject: str = f"AW: [SA#{CASE}] Drucker druckt nicht", *, sender: str = CUSTOMER,
          text: str = "Der Drucker zeigt jetzt Fehler 49.", message_id: str | None = None,
          files: tuple[tuple[str, str, bytes], ...] = (), **headers: str) -> EmailMessage:
    """A reply to the receipt (In-Reply-To names it unless given); ``files`` are
    (filename, mime type, bytes)."""
    message = EmailMessage()
    headers.setdefault("In_Reply_To", RECEIPT_ID)
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
