"""Is a mail an automatic one (out-of-office, bounce, read receipt)? Such mail is recorded on
the ticket but is not a customer reply and never causes another mail (no loops)."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message

from services.intake.mail.match import strip_reply_prefixes

# Subjects of out-of-office notes and bounces: the phrase must stand alone or be followed
# by a colon, so that a person writing "AW: Out of office printer" is not an auto-reply.
_AUTO_SUBJECT = re.compile(
    r"^(?:Abwesenheitsnotiz|Automatische Antwort|Automatic reply|Auto(?:matic)?[- ]?Reply|"
    r"Out of (?:the )?Office(?: AutoReply)?|Abwesend|Automatisk svar|Frånvaro|Fravær|"
    r"Poissaolo|Automaattinen vastaus|Undelivered Mail Returned to Sender|Undeliverable|"
    r"Delivery Status Notification|Mail delivery failed|Unzustellbar|Returned mail|"
    r"Nicht zustellbar)\s*(?:[:：(]|$)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster)@", re.IGNORECASE)
_AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})


def auto_reply_reason(message: Message, sender: str, subject: str, envelope_sender: str | None,
                      *, header: Callable[[Message, str], str]) -> str | None:
    """Why ``message`` is an automatic mail, or None for mail written by a person.
    ``envelope_sender`` is the SMTP return path (None when unknown); empty means a bounce."""
    auto_submitted = header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if header(message, name).strip():
            return f"{name} header"
    precedence = header(message, "Precedence").strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type") or "").lower()
        return f"report ({report_type or 'unknown type'})"
    if envelope_sender is not None and envelope_sender.strip("<> ") == "":
        return "bounce (empty return path)"
    if _BOUNCE_SENDER.match(sender):
        return "bounce (sent by the mail system)"
    if _AUTO_SUBJECT.match(strip_reply_prefixes(subject)):
        return "automatic subject"
    return None
