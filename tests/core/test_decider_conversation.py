"""Given past events / when a technician answers, notes or a customer replies to a
resolved ticket / then: the conversation's rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain import events as ev
from shared.domain.ticket import DomainError, decide, fold
from shared.domain.ticket import commands as c
from tests.factories import NOW, request_submitted

CASE = "20260301-0001"
SUBMITTED = request_submitted(case_number=CASE, email="kunde@example.de")
FILE = ev.AttachmentRef(sha256="1" * 64, filename="plan.pdf", content_type="application/pdf",
                        size=9)
RESOLVED = ev.TicketResolved(at=NOW - timedelta(days=3), technician="anna")
PERIOD = timedelta(days=14)
# The receipt went out: a reply naming its Message-ID is the customer's (the trust rule).
RECEIPT = ev.AckSent(at=NOW - timedelta(days=5), message_id="<receipt.1.tag@x>",
                     recipient="kunde@example.de")


def when(history: list[ev.Event], command: c.Command) -> list[ev.Event]:
    return decide(command, fold(history))


def reply_mail(at_offset: timedelta = timedelta(),
               answers: str = "<receipt.1.tag@x>") -> c.FileMail:
    received = c.ReceivedMail(message_id="<r@x>", sender="kunde@example.de",
                              envelope_sender="kunde@example.de", reference_ids=(answers,),
                              subject=f"AW: [SA#{CASE}] Drucker", text="geht wieder nicht")
    return c.FileMail(at=NOW + at_offset, mail=received, reopen_within=PERIOD)


def test_an_answer_carries_the_first_name_and_files() -> None:
    [answer] = when([SUBMITTED], c.Respond(at=NOW, technician="anna", message="Hallo",
                                           first_name="Anna", attachments=(FILE,)))
    assert answer == ev.TechnicianResponded(at=NOW, technician="anna", message="Hallo",
                                            first_name="Anna", attachments=(FILE,))


def test_an_internal_note_is_its_own_event_and_needs_a_text() -> None:
    [note] = when([SUBMITTED, RECEIPT, RESOLVED], c.AddInternalNote(at=NOW, technician="anna",
                                                            text="  Kunde ruft zurück "))
    assert note == ev.InternalNoteAdded(at=NOW, technician="anna", text="Kunde ruft zurück")
    assert not ev.InternalNoteAdded.CUSTOMER_VISIBLE
    with pytest.raises(DomainError) as refused:
        when([SUBMITTED], c.AddInternalNote(at=NOW, technician="anna", text="  "))
    assert refused.value.code == "note_required"
    with pytest.raises(DomainError) as unknown:
        when([], c.AddInternalNote(at=NOW, technician="anna", text="x"))
    assert unknown.value.code == "unknown_ticket"


def test_a_customer_mail_is_recorded_once_per_source_event() -> None:
    record = c.RecordCustomerMail(at=NOW, kind="answer", source_event_id="respond-1",
                                  message_id="<answer.x@y>")
    [mailed] = when([SUBMITTED], record)
    assert mailed == ev.CustomerMailed(at=NOW, kind="answer", source_event_id="respond-1",
                                       message_id="<answer.x@y>")
    assert when([SUBMITTED, mailed], record) == []
    other = c.RecordCustomerMail(at=NOW, kind="resolved", source_event_id="resolve-1",
                                 message_id="<resolved.x@y>")
    assert len(when([SUBMITTED, mailed], other)) == 1


def test_a_reply_within_the_period_reopens_the_resolved_ticket() -> None:
    reply, reopened = when([SUBMITTED, RECEIPT, RESOLVED], reply_mail())
    assert isinstance(reply, ev.CustomerReplied) and reply.text == "geht wieder nicht"
    assert reopened == ev.TicketReopened(at=NOW, by="customer", reason="reply by mail")
    state = fold([SUBMITTED, RECEIPT, RESOLVED, reply, reopened])
    assert (state.status, state.resolved_at, state.reply_count) == ("in_progress", None, 1)


def test_a_reply_on_the_last_day_still_reopens() -> None:
    last_moment = RESOLVED.at + PERIOD - NOW
    events = when([SUBMITTED, RECEIPT, RESOLVED], reply_mail(last_moment))
    assert [type(e) for e in events] == [ev.CustomerReplied, ev.TicketReopened]


def test_a_reply_after_the_period_is_held_for_a_technician_and_reopens_nothing() -> None:
    too_late = RESOLVED.at + PERIOD - NOW + timedelta(seconds=1)
    [held] = when([SUBMITTED, RECEIPT, RESOLVED], reply_mail(too_late))
    assert isinstance(held, ev.ReplyQuarantined)
    assert held.reason == "the ticket was resolved too long ago to be reopened by a reply"
    assert (held.text, held.candidate_case_number) == ("geht wieder nicht", CASE)
    assert fold([SUBMITTED, RECEIPT, RESOLVED, held]).status == "resolved"


def test_a_reply_to_an_open_ticket_reopens_nothing() -> None:
    [reply] = when([SUBMITTED, RECEIPT], reply_mail())
    assert isinstance(reply, ev.CustomerReplied)


def test_a_reply_naming_a_mailed_answer_is_the_customers() -> None:
    mailed = ev.CustomerMailed(at=NOW, kind="answer", source_event_id="respond-1",
                               message_id="<answer.1.tag@x>")
    assert fold([SUBMITTED, mailed]).sent_message_ids == {"<answer.1.tag@x>"}
    [reply] = when([SUBMITTED, mailed], reply_mail(answers="<answer.1.tag@x>"))
    assert isinstance(reply, ev.CustomerReplied)
    [doubted] = when([SUBMITTED], reply_mail(answers="<answer.1.tag@x>"))
    assert isinstance(doubted, ev.ReplyHeld)


def test_an_automatic_mail_never_reopens() -> None:
    auto = c.ReceivedMail(message_id="<a@x>", sender="kunde@example.de", auto_reply="ooo")
    [recorded] = when([SUBMITTED, RECEIPT, RESOLVED], c.FileMail(at=NOW, mail=auto))
    assert isinstance(recorded, ev.AutoReplyRecorded)


def test_a_mail_refused_for_good_is_recorded_once_unless_it_was_sent() -> None:
    failure = c.RecordCustomerMailFailure(at=NOW, kind="answer", source_event_id="respond-1",
                                          error="550 5.1.1 no such user")
    [failed] = when([SUBMITTED], failure)
    assert failed == ev.CustomerMailFailed(at=NOW, kind="answer", source_event_id="respond-1",
                                           error="550 5.1.1 no such user")
    assert fold([SUBMITTED, failed]).mail_failures == (failed,)
    assert when([SUBMITTED, failed], failure) == []
    mailed = ev.CustomerMailed(at=NOW, kind="answer", source_event_id="respond-1",
                               message_id="<answer.x@y>")
    assert when([SUBMITTED, mailed], failure) == []
    with pytest.raises(DomainError):
        when([], failure)
