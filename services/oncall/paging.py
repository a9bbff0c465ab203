"""Paging people: the page mail with its signed acknowledge link, the webhook beside it,
and the decline mail to a customer, each sent once. Whom to page and when is decided in
:mod:`services.oncall.policy`; this module only sends.

"Once" rests on claims (:mod:`shared.adapters.claims`) in the KV bucket ``oncall_pages``
under ``<ticket>.<what>``: one replica holds the claim; it goes ``sending`` -> ``sent``
once the SMTP server took the mail. A replica finding a ``sending`` claim older than
``CLAIM_TIMEOUT`` takes it over (the holder crashed). The one crash window: the SMTP
server accepted the mail and the process died before the claim said ``sent`` - then the
mail goes out twice, with the same Message-ID, so mail clients show it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any
from zoneinfo import ZoneInfo

from nats.js import JetStreamContext

from services.oncall.pagetexts import TechLanguage, tech_language, words
from services.oncall.policy import DeclineNotice, Page
from services.oncall.rota import Person
from services.oncall.webhook import WebhookSender
from shared.adapters.claims import ClaimStore, once
from shared.adapters.mailer import Mailer, MailError
from shared.domain import events as ev
from shared.domain.casenumber import subject_token
from shared.runtime.links import status_path
from shared.runtime.signing import (
    ACKNOWLEDGE_LINK,
    ExpiryCheck,
    Keys,
    check_expiring,
    sign_expiring,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

BUCKET = "oncall_pages"
CLAIM_TIMEOUT = timedelta(minutes=2)
BERLIN = ZoneInfo("Europe/Berlin")
AckCheck = ExpiryCheck


# -- acknowledge links ---------------------------------------------------------------------

def ack_signature(secret: Keys, case: str, technician: str, expires: int) -> str:
    """HMAC-SHA256 binding the link to one ticket, one technician and an expiry."""
    return sign_expiring(secret, ACKNOWLEDGE_LINK, expires, case, technician)


def ack_path(secret: Keys, case: str, technician: str, expires: int) -> str:
    sig = ack_signature(secret, case, technician, expires)
    return f"/oncall/ack/{case}/{technician}?exp={expires}&sig={sig}"


def check_ack_link(secret: Keys, case: str, technician: str, expires: str, sig: str,
                   now: float | None = None) -> AckCheck:
    """Whether an acknowledge link is genuine and still valid."""
    return check_expiring(secret, ACKNOWLEDGE_LINK, sig, expires, case, technician, now=now)


# -- pages -----------------------------------------------------------------------------------

def _domain(address: str) -> str:
    return address.rpartition("@")[2] or "ticketcore.invalid"


def _berlin(moment: datetime | None, language: TechLanguage) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(BERLIN).strftime(words(language, "time"))


def page_mail(page: Page, person: Person, settings: Settings, base_url: str) -> EmailMessage:
    """The page mail in the person's language: what, for whom, until when, and the
    acknowledge link."""
    language = tech_language(person.language)
    expires = int(page.paged_at.timestamp()) + settings.oncall.ack_link_ttl_s
    ack_url = base_url + ack_path(settings.secret_key, page.case, person.id, expires)
    request = page.request
    label = words(language, f"label.{page.reason}", attempt=page.attempt, level=page.level)
    message = EmailMessage()
    message["From"] = formataddr((settings.smtp.sender_name, settings.smtp.sender))
    message["To"] = formataddr((person.name, person.email))
    message["Subject"] = f"{subject_token(page.case)} {label}: {request.short_description}"
    message["Message-ID"] = f"<{page.page_id}@{_domain(settings.smtp.sender)}>"
    message["Date"] = format_datetime(page.paged_at.astimezone(UTC))
    message["Auto-Submitted"] = "auto-generated"
    message["X-Priority"] = "1"
    message["Content-Language"] = language
    status_url = base_url + status_path(settings.secret_key, page.case)
    contact = request.contact
    message.set_content("\n".join([
        words(language, "headline", case=page.case, title=request.short_description),
        "",
        words(language, "customer", name=request.contract_party.name),
        words(language, "contact", name=contact.full_name, phone=contact.phone,
              email=contact.email),
        words(language, "deadline", deadline=_berlin(page.reaction_deadline, language)),
        words(language, "level", level=page.level, number=page.attempt + 1),
        "",
        words(language, "acknowledge"),
        ack_url,
        "",
        words(language, "status", url=status_url),
    ]))
    return message


def webhook_payload(page: Page, event_type: str) -> dict[str, Any]:
    return {"event_id": page.page_id, "type": event_type, "ticket": page.case,
            "case_number": page.case, "technician": page.technician,
            "level": page.level, "attempt": page.attempt,
            "deadline": page.reaction_deadline.isoformat() if page.reaction_deadline else None,
            "short_description": page.request.short_description,
            "paged_at": page.paged_at.isoformat()}


DECLINE_TEXT = {
    "de": ("Ihre Anfrage {case} wurde abgelehnt",
           "Guten Tag {name},\n\nwir können Ihre Anfrage {case} ({title}) leider nicht "
           "annehmen.\n\nBegründung: {reason}\n\nMit freundlichen Grüßen\n{sender}"),
    "en": ("Your request {case} was declined",
           "Hello {name},\n\nwe are sorry, we cannot take on your request {case} ({title}).\n\n"
           "Reason: {reason}\n\nKind regards\n{sender}"),
}


def decline_mail(request: ev.RequestSubmitted, declined: ev.TicketDeclined,
                 settings: Settings) -> EmailMessage:
    """The mail telling the customer that (and why) the request was declined."""
    subject, body = DECLINE_TEXT.get(request.language, DECLINE_TEXT["de"])
    case = request.case_number
    message = EmailMessage()
    message["From"] = formataddr((settings.smtp.sender_name, settings.smtp.sender))
    message["To"] = formataddr((request.contact.full_name, request.contact.email))
    message["Reply-To"] = settings.inbound_mail.support_address
    message["Subject"] = f"{subject_token(case)} {subject.format(case=case)}"
    message["Message-ID"] = f"<decline-{case}@{_domain(settings.smtp.sender)}>"
    message["Date"] = format_datetime(declined.at.astimezone(UTC))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body.format(name=request.contact.full_name, case=case,
                                    title=request.short_description, reason=declined.reason,
                                    sender=settings.smtp.sender_name))
    return message


# -- sending once ---------------------------------------------------------------------------

def page_claims(js: JetStreamContext, replica: str | None = None) -> ClaimStore:
    """The claims of pages, webhooks and decline mails (bucket ``oncall_pages``)."""
    return ClaimStore(js, BUCKET, CLAIM_TIMEOUT, replica=replica)


async def queue_once(claims: ClaimStore, webhooks: WebhookSender, key: str, url: str,
                     event_id: str, payload: dict[str, Any]) -> bool:
    """Queue a webhook call unless it was queued already (claimed like a mail, so a crash
    between claim and queueing is taken over, not lost); True if this call queued it."""
    return await once(claims, key, lambda: webhooks.enqueue(url, event_id, payload))


async def send_once(claims: ClaimStore, mailer: Mailer, key: str, message: EmailMessage
                    ) -> bool:
    """Send ``message`` unless it went out already; True if this call sent it."""
    return await once(claims, key, lambda: mailer.send(message), release_on=MailError)


@dataclass
class Pager:
    """Sends each page once: the mail, and the webhook (queued, delivered on its own)."""

    settings: Settings
    mailer: Mailer
    claims: ClaimStore
    webhooks: WebhookSender
    base_url: str

    async def page(self, page: Page, person: Person) -> None:
        """Queue the webhook, send the mail, each at most once. A webhook that cannot be
        queued (NATS down, another replica's claim) never holds up the mail: its error is
        raised after the mail, so the event is handled again and the webhook retried."""
        webhook_error: Exception | None = None
        url = person.webhook_url
        if url:
            try:
                await self._queue_webhook(page, url)
            except Exception as error:  # the mail goes out first; then the retry
                webhook_error = error
        key = f"{page.case}.page-{page.level}-{page.attempt}"
        if await send_once(self.claims, self.mailer, key,
                           page_mail(page, person, self.settings, self.base_url)):
            log.info("paged %s for %s (level %s, page %s)", person.id, page.case,
                     page.level, page.attempt + 1)
        if webhook_error is not None:
            raise webhook_error

    async def decline(self, notice: DeclineNotice) -> None:
        """Tell the customer (once) that and why their request was declined."""
        await send_once(self.claims, self.mailer, f"{notice.case}.decline-mail",
                        decline_mail(notice.request, notice.declined, self.settings))

    async def _queue_webhook(self, page: Page, url: str) -> None:
        event_type = {"escalated": "PriorityEscalated", "renotified": "OnCallReNotified",
                      "escalated_level": "OnCallEscalated"}[page.reason]
        await queue_once(self.claims, self.webhooks, f"{page.case}.hook-{page.level}-"
                         f"{page.attempt}", url, page.page_id, webhook_payload(page, event_type))
