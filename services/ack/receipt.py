"""The receipt mail: built from the submitted request, in the customer's language."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared import events as ev
from shared.casenumber import subject_token
from shared.links import status_path
from shared.redaction import shorten

# The short description's limit on the form (DOMAIN.md section 2).
SUBJECT_TEXT_LIMIT = 80

NextStep = Literal["acceptance", "on_call", "business_day"]

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),  # the text part is plain text, never escaped
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def receipt_message_id(case_number: str, support_address: str) -> str:
    """The receipt's Message-ID, derived from the ticket alone: ``<receipt.<case>@<domain>>``.

    Deterministic, so a resend after a crash carries the same id (receivers and our own
    reply matching treat it as the same mail), and replies name it in In-Reply-To."""
    domain = support_address.rpartition("@")[2] or "localhost"
    return f"<receipt.{case_number}@{domain}>"


def next_step(request: ev.RequestSubmitted) -> NextStep:
    """What the customer is told happens next (DOMAIN.md 2.6, 5.1-5.3)."""
    if not request.has_sla:
        return "acceptance"
    return "on_call" if request.priority else "business_day"


def subject_text(text: str, limit: int = SUBJECT_TEXT_LIMIT) -> str:
    """``text`` as one header line of at most ``limit`` characters: control characters and
    line breaks become spaces, runs of white space one space (guards events written before
    the short description was cut after redaction, or by other writers)."""
    visible = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
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
    """The receipt for ``request``: text and HTML in the customer's language."""
    case = request.case_number
    short_description = subject_text(request.short_description)
    context = {
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
    language = request.language if request.language in ("de", "en") else "de"
    message = EmailMessage()
    message["From"] = formataddr((sender.name, sender.address))
    message["To"] = formataddr((request.contact.full_name, request.contact.email))
    message["Reply-To"] = sender.reply_to
    message["Subject"] = f"{subject_token(case)} {short_description}"
    message["Message-ID"] = receipt_message_id(case, sender.reply_to)
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(_templates.get_template(f"receipt.{language}.txt").render(context))
    message.add_alternative(_templates.get_template(f"receipt.{language}.html").render(context),
                            subtype="html")
    # Set last: set_content and add_alternative move Content-* headers into the parts.
    message["Content-Language"] = language
    return message
