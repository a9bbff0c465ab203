"""Which ticket a mail is about: the ``[SA#...]`` token in the subject, then the receipt's
Message-ID in In-Reply-To/References. Pure functions, no I/O.

Mail clients re-fold, re-encode and prefix subjects, so the subject is never compared as a
whole: the token is searched anywhere in the decoded, unfolded subject.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from shared.domain.casenumber import is_valid_case_number

# Reply and forward prefixes in German, English, Nordic and a few other forms, optionally
# with a counter ("Re[2]:", "AW(3):"), in any case and nesting ("AW: WG: Re: ...").
_PREFIX_WORDS = ("re", "aw", "wg", "fwd", "fw", "antw", "antwort", "vs", "sv", "svar",
                 "ynt", "r", "rif", "tr", "rv", "enc", "odp", "doorst")
REPLY_PREFIX = re.compile(
    r"^\s*(?:" + "|".join(_PREFIX_WORDS) + r")\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*[:：]\s*",
    re.IGNORECASE,
)
# Tolerates spaces a client may have put in while re-wrapping; the check digit decides.
CASE_TOKEN = re.compile(r"\[\s*SA\s*#\s*(\d[\d ]{0,40}?)\s*\]", re.IGNORECASE)
# Our own Message-IDs name the case, then (since Message-IDs are evidence) a signed tag:
# the receipt ``<receipt.<case>.<tag>@...>`` and the mails of the conversation,
# ``<answer.<case>.<tag>@...>`` and the like (services/ack/conversation.py).
RECEIPT_MESSAGE_ID = re.compile(
    r"^<?\s*(?:receipt|answer|accepted|resolved|notice)\.(\d{1,40})(?:\.[0-9a-f]{1,64})?"
    r"@[^<>\s]+>?$", re.IGNORECASE)


@dataclass(frozen=True)
class CaseMatch:
    """The outcome of matching: a valid case number, or why there is none."""

    case_number: str | None
    via: str  # "subject", "references" or "" when nothing matched
    reason: str = ""
    # A number the mail mentions that could not be used (mistyped, ambiguous).
    candidate: str | None = None


def strip_reply_prefixes(subject: str) -> str:
    """The subject without leading reply/forward prefixes, whitespace collapsed."""
    text = " ".join(subject.split())
    while True:
        stripped = REPLY_PREFIX.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped


def case_tokens(subject: str) -> list[str]:
    """Every number written as ``[SA#...]`` in the subject, in order (spaces removed)."""
    unfolded = " ".join(subject.split())
    return [match.group(1).replace(" ", "") for match in CASE_TOKEN.finditer(unfolded)]


def receipt_case_numbers(message_ids: list[str] | tuple[str, ...]) -> list[str]:
    """Case numbers from the Message-IDs of our mails to customers (the receipt
    ``<receipt.<case>@<domain>>``, answers and notifications ``<answer.<case>.<hex>@...>``)."""
    numbers = []
    for message_id in message_ids:
        match = RECEIPT_MESSAGE_ID.match(message_id.strip())
        if match:
            numbers.append(match.group(1))
    return numbers


def _unique(numbers: list[str]) -> list[str]:
    return list(dict.fromkeys(numbers))


def match_case(subject: str, reference_ids: list[str] | tuple[str, ...]) -> CaseMatch:
    """Find the ticket a mail belongs to. The subject token wins over the references; a
    mistyped or ambiguous number never falls through to another source."""
    tokens = _unique(case_tokens(subject))
    if tokens:
        return _decide(tokens, via="subject")
    references = _unique(receipt_case_numbers(reference_ids))
    if references:
        return _decide(references, via="references")
    return CaseMatch(None, "", reason="no case number in the subject or references")


def _decide(numbers: list[str], *, via: str) -> CaseMatch:
    valid = [number for number in numbers if is_valid_case_number(number)]
    invalid = [number for number in numbers if not is_valid_case_number(number)]
    if len(valid) > 1:
        return CaseMatch(None, via, reason=f"several case numbers in the {via}",
                         candidate=valid[0])
    if invalid:
        return CaseMatch(None, via, reason=f"invalid case number {invalid[0]} in the {via}",
                         candidate=invalid[0])
    return CaseMatch(valid[0], via)


def mail_key(message_id: str, sender: str, raw: bytes) -> str:
    """A stable hash of one mail: the same mail delivered twice gets the same key.

    The sender is part of the key so that a stranger reusing someone's Message-ID cannot
    make a genuine mail look like a duplicate."""
    if message_id:
        source = f"{message_id.strip()}\0{sender}".encode("utf-8", "surrogatepass")
    else:
        source = raw
    return hashlib.sha256(source).hexdigest()


def quarantine_ticket_id(key: str) -> str:
    """Quarantine of a mail without a usable ticket: one small stream entry per mail."""
    return "Q" + key[:16]


def event_id(key: str) -> str:
    return "mail-" + key[:32]
