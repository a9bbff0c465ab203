"""Raw mail bytes -> :class:`InboundMail`, with the standard ``email`` package.

Parsing never raises on malformed mail (broken MIME, undecodable headers, unknown charsets
become defects and best-effort values). It raises :class:`MailRefused` only when the mail
breaks a configured limit, with the SMTP status to answer.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import getaddresses

from services.intake.mail.autoreply import auto_reply_reason
from services.intake.mail.text import clean_text, decode_text, html_to_text

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,500})>")
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class MailRefused(Exception):
    """The mail breaks a limit; ``status`` is the SMTP reply to give."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class MailLimits:
    max_message_bytes: int = 25 * 1024 * 1024
    max_header_bytes: int = 256 * 1024
    max_header_count: int = 500
    max_mime_parts: int = 200
    max_mime_depth: int = 10


@dataclass(frozen=True)
class MailFile:
    """An attached file as received (never decompressed or interpreted)."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InboundMail:
    """What the rest of the channel needs to know about one received mail."""

    raw_sha256: str
    message_id: str
    sender: str  # the From address, lowercased ("" when there is none)
    sender_count: int
    subject: str  # decoded and unfolded
    reference_ids: tuple[str, ...]  # In-Reply-To first, then References
    text: str  # the body as plain text, quoted history not yet trimmed
    files: tuple[MailFile, ...] = ()
    auto_reply: str | None = None  # why it is an automatic mail, if it is one
    defects: tuple[str, ...] = field(default=())
    # The Authentication-Results fields, topmost (the last relay's) first.
    authentication_results: tuple[str, ...] = ()
    sender_name: str = ""  # the first From address's display name ("Anna Müller")


def check_header_section(raw: bytes, limits: MailLimits) -> None:
    """Refuse a header section that is too large or has too many fields, before parsing."""
    end = _header_end(raw)
    if end > limits.max_header_bytes:
        raise MailRefused("552 5.3.4 Message header too large")
    fields = sum(1 for line in raw[:end].splitlines() if line and line[:1] not in b" \t")
    if fields > limits.max_header_count:
        raise MailRefused("552 5.3.4 Too many header fields")


def _header_end(raw: bytes) -> int:
    positions = [p for p in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if p >= 0]
    return min(positions) if positions else len(raw)


def parse_mail(raw: bytes, envelope_sender: str | None = None, limits: MailLimits | None = None
               ) -> InboundMail:
    """Parse one mail as received. Raises MailRefused only for limits."""
    limits = limits or MailLimits()
    if len(raw) > limits.max_message_bytes:
        raise MailRefused("552 5.3.4 Message too big")
    check_header_section(raw, limits)
    message = message_from_bytes(raw, policy=policy.default)
    defects = [type(defect).__name__ for defect in message.defects]
    leaves = list(_leaves(message, limits))
    text, files = _body_and_files(leaves, limits, defects)
    addresses = _addresses(message, "From")
    sender = addresses[0] if addresses else ""
    subject = " ".join(_header(message, "Subject").split())
    references = (*_message_ids(_header(message, "In-Reply-To")),
                  *_message_ids(_header(message, "References")),
                  *_bounced_message_ids(message, leaves))
    message_id_match = _MESSAGE_ID.search(_header(message, "Message-ID"))
    return InboundMail(
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        message_id=f"<{message_id_match.group(1)}>" if message_id_match else "",
        sender=sender, sender_count=len(addresses), subject=subject,
        reference_ids=tuple(references), text=text, files=tuple(files),
        auto_reply=auto_reply_reason(message, sender, subject, envelope_sender,
                                     header=_header),
        defects=tuple(defects),
        authentication_results=_all_headers(message, "Authentication-Results"),
        sender_name=_display_name(message, "From"),
    )


def _header(message: Message, name: str) -> str:
    """A header's decoded value; malformed encodings fall back to a lenient decoding."""
    try:
        value = message.get(name)
        return "" if value is None else clean_text(str(value))
    except Exception:
        pass
    for key, raw_value in message.raw_items() if isinstance(message, EmailMessage) else []:
        if key.lower() == name.lower():
            try:
                return clean_text(str(make_header(decode_header(str(raw_value)))))
            except Exception:
                return clean_text(str(raw_value))
    return ""


def _all_headers(message: Message, name: str) -> tuple[str, ...]:
    """Every value of a header field, in order (malformed ones skipped)."""
    values = []
    for value in message.get_all(name) or []:
        try:
            values.append(" ".join(clean_text(str(value)).split()))
        except Exception:
            continue
    return tuple(values[:20])


def _display_name(message: Message, name: str) -> str:
    """The first address's display name, one line of valid text ("" without one)."""
    try:
        header = message.get(name)
        if header is not None and hasattr(header, "addresses") and header.addresses:
            return " ".join(clean_text(header.addresses[0].display_name).split())[:200]
    except Exception:
        pass
    found = getaddresses([_header(message, name)])
    return " ".join(found[0][0].split())[:200] if found else ""


def _addresses(message: Message, name: str) -> list[str]:
    try:
        header = message.get(name)
        if header is not None and hasattr(header, "addresses"):
            found = [clean_text(a.addr_spec.lower()) for a in header.addresses if a.addr_spec]
            if found:
                return found
    except Exception:
        pass
    return [address.lower() for _, address in getaddresses([_header(message, name)])
            if "@" in address]


def _message_ids(value: str) -> list[str]:
    return [f"<{match}>" for match in _MESSAGE_ID.findall(value)[:100]]


_BOUNCED_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^<>\s]{1,500}>)", re.IGNORECASE | re.M)


def _bounced_message_ids(message: Message, leaves: list[Message]) -> list[str]:
    """A delivery report names the mail it is about in its attached headers: so a bounce of
    a receipt finds its ticket."""
    if message.get_content_type() != "multipart/report":
        return []
    found: list[str] = []
    for part in leaves:
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            found += [m.decode("ascii", "replace")
                      for m in _BOUNCED_MESSAGE_ID.findall(_payload_bytes(part))[:10]]
    return found


def _leaves(part: Message, limits: MailLimits, depth: int = 0,
            counter: list[int] | None = None) -> Iterator[Message]:
    """The non-multipart parts in order; embedded messages count as one leaf (a file)."""
    counter = counter if counter is not None else [0]
    counter[0] += 1
    if counter[0] > limits.max_mime_parts:
        raise MailRefused("554 5.6.0 Too many MIME parts")
    if depth > limits.max_mime_depth:
        raise MailRefused("554 5.6.0 MIME parts nested too deeply")
    payload = part.get_payload()
    if part.get_content_maintype() == "multipart" and isinstance(payload, list):
        for child in payload:
            if isinstance(child, Message):
                yield from _leaves(child, limits, depth + 1, counter)
        return
    yield part


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
        filename = part.get_filename()
    except Exception:
        disposition, filename = "", None
    if part.get_content_maintype() == "multipart":
        return False  # a multipart without a usable boundary: read it as text
    if part.get_content_maintype() != "text":
        return True
    return disposition == "attachment" or bool(filename)


def _body_and_files(leaves: list[Message], limits: MailLimits, defects: list[str]
                    ) -> tuple[str, list[MailFile]]:
    plain: str | None = None
    html: str | None = None
    files: list[MailFile] = []
    for part in leaves:
        if _is_attachment(part):
            _check_declared_size(part, limits)
            mail_file = _file(part, len(files) + 1, defects)
            if mail_file is not None:
                files.append(mail_file)
        elif part.get_content_subtype() == "html":
            html = html if html is not None else _text_of(part)
        elif plain is None:
            plain = _text_of(part)
    if plain is not None and plain.strip():
        return plain, files
    if html is not None:
        return html_to_text(html), files
    return plain or "", files


def _text_of(part: Message) -> str:
    payload = _payload_bytes(part)
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_text(payload, charset)


def _payload_bytes(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    try:  # an embedded message (message/rfc822): keep it whole as a file
        whole = part.as_bytes()
        return whole[_header_end(whole):].lstrip(b"\r\n")
    except Exception:
        return b""


def _check_declared_size(part: Message, limits: MailLimits) -> None:
    """A part that declares a size beyond the limit (RFC 2183) is refused, not unpacked."""
    try:
        declared = part.get_param("size", header="content-disposition")
        size = int(str(declared)) if declared else 0
    except (ValueError, TypeError):
        return
    if size > limits.max_message_bytes:
        raise MailRefused("552 5.3.4 Declared attachment size exceeds the limit")


def _file(part: Message, number: int, defects: list[str]) -> MailFile | None:
    content_type = part.get_content_type()
    data = _payload_bytes(part)
    if not data:
        defects.append(f"empty attachment {number}")
        return None
    return MailFile(filename=_filename(part, content_type, number),
                    content_type=content_type, data=data)


def _filename(part: Message, content_type: str, number: int) -> str:
    try:
        name = clean_text(part.get_filename() or "")
    except Exception:
        name = ""
    # Only the last path component, no control characters: the name is shown to people.
    name = _UNSAFE_FILENAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if name in ("", ".", ".."):
        extension = ".eml" if content_type == "message/rfc822" else (
            mimetypes.guess_extension(content_type) or ".bin")
        name = f"attachment-{number}{extension}"
    return name[:255]
