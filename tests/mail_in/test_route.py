"""Where a matched mail goes, given the ticket's state (pure)."""

from __future__ import annotations

from services.intake.mail.handler import route
from services.intake.mail.match import CaseMatch
from services.intake.mail.parse import InboundMail
from shared.domain.ticket.state import INITIAL_STATE, fold
from tests.factories import request_submitted
from tests.mail_in.mails import CASE, CUSTOMER

TICKET = fold([request_submitted(case_number=CASE, email="Kunde@Example.DE")])
MATCHED = CaseMatch(CASE, "subject")


def mail(sender: str = CUSTOMER, *, senders: int = 1, auto: str | None = None) -> InboundMail:
    return InboundMail(raw_sha256="0" * 64, message_id="<m@x>", sender=sender,
                       sender_count=senders, subject="", reference_ids=(), text="",
                       auto_reply=auto)


def test_the_contact_replies() -> None:
    assert route(mail(), MATCHED, TICKET).kind == "reply"


def test_strangers_and_several_senders_are_quarantined_on_the_ticket() -> None:
    assert route(mail("x@evil.example"), MATCHED, TICKET).kind == "quarantine_on_ticket"
    assert route(mail(senders=2), MATCHED, TICKET).kind == "quarantine_on_ticket"
    assert route(mail(""), MATCHED, TICKET).kind == "quarantine_on_ticket"


def test_automatic_mail_is_recorded_whoever_sent_it() -> None:
    routing = route(mail("mailer-daemon@mx.example", auto="bounce"), MATCHED, TICKET)
    assert (routing.kind, routing.reason) == ("auto_reply", "bounce")


def test_no_match_or_no_ticket_goes_to_quarantine_apart() -> None:
    unmatched = CaseMatch(None, "", reason="no case number")
    assert route(mail(), unmatched, TICKET).kind == "quarantine"
    assert route(mail(auto="bounce"), unmatched, None).reason.startswith("automatic mail")
    assert route(mail(), MATCHED, INITIAL_STATE).kind == "quarantine"
