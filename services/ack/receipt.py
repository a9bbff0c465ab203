"""The receipt mail: built from the submitted request, in the customer's language."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

from services.ack.templating import TEMPLATES
from shared.adapters.mailer import OutgoingMail
from shared.domain import events as ev
from shared.domain.casenumber import subject_token
from shared.domain.redaction import shorten
from shared.runtime.links import status_path
from shared.runtime.signing import MESSAGE_ID, sign

# The short description's limit on the form (docs/domain.md 2.2).
SUBJECT_TEXT_LIMIT = 80

NextStep = Literal["acceptance", "on_call", "business_day"]

# QP output never contains "=_" ("=" only starts an escape), so no body can hold it.
BOUNDARY = "=_receipt_alternative"
# Bytes of UTF-8 per encoded word: base64 of 45 bytes plus "=?utf-8?b??=" is 72 <= 75.
ENCODED_WORD_BYTES = 45


def receipt_message_id(case_number: str, support_address: str, secret_key: str) -> str:
    """The receipt's Message-ID: ``<receipt.<case>.<tag>@<domain>>``.

    Deterministic, so a resend after a crash carries the same id (receivers and our own
    reply matching treat it as the same mail), and replies name it in In-Reply-To. The tag
    is signed with the secret key: only who received the receipt knows the id, so a reply
    naming it counts as evidence that its writer is the customer (docs/mail-in.md)."""
    domain = support_address.rpartition("@")[2] or "localhost"
    tag = sign(secret_key, MESSAGE_ID, "receipt", case_number)
    return f"<receipt.{case_number}.{tag}@{domain}>"


def next_step(request: ev.RequestSubmitted) -> NextStep:
    """What the customer is told happens next (docs/domain.md 2.7, 5.1-5.3)."""
    if not request.has_sla:
        return "acceptance"
    return "on_call" if request.priority else "business_day"


def subject_text(text: str, limit: int = SUBJECT_TEXT_LIMIT) -> str:
    """``text`` as one header line of at most ``limit`` characters: control characters and
    line breaks become spaces, runs of white space one space (guards events written before
    the short description was cut after redaction, or by other writers)."""
    visible = text if text.isprintable() else "".join(  # printable: no Cc, no Cs
        " " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    return shorten(" ".join(visible.split()), limit)


@dataclass(frozen=True)
class ReceiptSender:
    """Who the receipt comes from and where replies go."""

    address: str
    name: str
    reply_to: str
    public_url: str
    secret_key: str


def build_receipt(request: ev.RequestSubmitted, sender: ReceiptSender,
                  now: datetime) -> EmailMessage:
    """The receipt for ``request`` as a message object (what a mail client parses)."""
    mail = receipt_mail(request, sender, now)
    if isinstance(mail, EmailMessage):
        return mail
    return message_from_bytes(mail.data, policy=policy.default)


def receipt_mail(request: ev.RequestSubmitted, sender: ReceiptSender,
                 now: datetime) -> OutgoingMail | EmailMessage:
    """The receipt for ``request``: text and HTML in the customer's language.

    Written straight into its wire form (the ``email`` package's header machinery cost
    more than everything else per receipt); addresses or names it cannot write safely
    (non-ASCII addresses, control characters) go the ``email`` package's way instead."""
    subject = subject_text(request.short_description)
    context = _context(request, sender, subject)
    language = request.language if request.language in ("de", "en") else "de"
    text = TEMPLATES.get_template(f"receipt.{language}.txt").render(context)
    html = TEMPLATES.get_template(f"receipt.{language}.html").render(context)
    name, email = request.contact.full_name, request.contact.email
    if not all(_plain(v) for v in (name, email, sender.name, sender.address,
                                   sender.reply_to)):
        return _email_message(request, sender, now, context, language, text, html)
    headers = [
        ("From", _address(sender.name, sender.address)),
        ("To", _address(name, email)),
        ("Reply-To", sender.reply_to),
        ("Subject", _subject_header(subject_token(request.case_number),
                                    subject)),
        ("Message-ID", receipt_message_id(request.case_number, sender.reply_to,
                                              sender.secret_key)),
        ("Date", format_datetime(now)),
        ("Auto-Submitted", "auto-replied"),
        ("X-Auto-Response-Suppress", "All"),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{BOUNDARY}"'),
        ("Content-Language", language),
    ]
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    data = b"".join([head.encode("ascii"), b"\r\n", _part("plain", text),
                     _part("html", html), f"--{BOUNDARY}--\r\n".encode("ascii")])
    return OutgoingMail(sender=sender.address, recipients=(email,), data=data)


def _context(request: ev.RequestSubmitted, sender: ReceiptSender,
             short_description: str) -> dict[str, object]:
    case = request.case_number
    return {
        "name": request.contact.full_name,
        "case_number": case,
        "short_description": short_description,
        "next_step": next_step(request),
        "reaction_minutes": request.reaction_minutes,
        "status_url": sender.public_url.rstrip("/") + status_path(sender.secret_key, case),
        "token": subject_token(case),
        "reply_to": sender.reply_to,
        "redacted": bool(request.redacted_fields),
        "sender_name": sender.name,
    }


def _plain(value: str) -> bool:
    """Safe to write into a header as it is: no control characters (no header injection),
    and addresses in ASCII (a non-ASCII one needs SMTPUTF8, which the slow path handles)."""
    return value.isprintable() and ("@" not in value or value.isascii())


def _address(name: str, address: str) -> str:
    # formataddr encodes a non-ASCII name and may fold it with a bare LF.
    return formataddr((name, address)).replace("\n", "\r\n")


def _subject_header(token: str, text: str) -> str:
    """``[SA#...] text``: ASCII as it is, anything else as RFC 2047 encoded words (whole
    characters per word, folded between words; the space between words is not text)."""
    if not text:
        return token
    if text.isascii() and "=?" not in text:
        return f"{token} {text}"
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    for ch in text:
        width = len(ch.encode())
        if size + width > ENCODED_WORD_BYTES:
            words.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += width
    words.append("".join(chunk))
    encoded = (f"=?utf-8?b?{base64.b64encode(w.encode()).decode('ascii')}?=" for w in words)
    return token + " " + "\r\n ".join(encoded)


def _part(subtype: str, body: str) -> bytes:
    encoded = binascii.b2a_qp(body.encode(), istext=True).replace(b"\n", b"\r\n")
    if not encoded.endswith(b"\r\n"):
        encoded += b"\r\n"
    return (f"--{BOUNDARY}\r\nContent-Type: text/{subtype}; charset=\"utf-8\"\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii") + encoded


def _email_message(request: ev.RequestSubmitted, sender: ReceiptSender, now: datetime,
                   context: dict[str, object], language: str, text: str,
                   html: str) -> EmailMessage:
    case = request.case_number
    message = EmailMessage()
    # Address objects, not formatted strings: the policy then encodes any display name so
    # that parsers read it back as it was (a formatted string is parsed again first).
    message["From"] = Address(display_name=sender.name, addr_spec=sender.address)
    message["To"] = Address(display_name=request.contact.full_name,
                            addr_spec=request.contact.email)
    message["Reply-To"] = sender.reply_to
    message["Subject"] = f"{subject_token(case)} {context['short_description']}"
    message["Message-ID"] = receipt_message_id(case, sender.reply_to, sender.secret_key)
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    # Set last: set_content and add_alternative move Content-* headers into the parts.
    message["Content-Language"] = language
    return message
