"""Given past events / when a mail arrives / then where it goes: the inbound-mail rules."""

from __future__ import annotations

import pytest

from shared.domain import events as ev
from shared.domain.ticket import DomainError, decide, fold
from shared.domain.ticket import commands as c
from tests.factories import NOW, request_submitted

CASE = "20260301-0001"
SUBMITTED = request_submitted(case_number=CASE, email="Kunde@Example.DE")
FILE = ev.AttachmentRef(sha256="0" * 64, filename="log.txt", content_type="text/plain", size=3)


def mail(sender: str = "kunde@example.de", *, senders: int = 1,
         auto: str | None = None) -> c.ReceivedMail:
    return c.ReceivedMail(message_id="<m@x>", sender=sender, sender_count=senders,
                          auto_reply=auto, subject=f"Re: [#{CASE}]", text="more detail",
                          attachments=(FILE,), redacted=True)


def when(history: list[ev.Event], command: c.Command) -> list[ev.Event]:
    return decide(command, fold(history))


def filed(history: list[ev.Event], received: c.ReceivedMail) -> ev.Event:
    [event] = when(history, c.FileMail(at=NOW, mail=received))
    return event


def test_the_contact_replies_to_the_ticket() -> None:
    reply = filed([SUBMITTED], mail())
    assert reply == ev.CustomerReplied(at=NOW, message_id="<m@x>", sender="kunde@example.de",
                                       subject=f"Re: [#{CASE}]", text="more detail",
                                       attachments=(FILE,), redacted=True)
    assert fold([SUBMITTED, reply]).reply_count == 1


@pytest.mark.parametrize(("sender", "senders", "reason"), [
    ("x@evil.example", 1, "the sender is not known to this ticket"),
    ("kunde@example.de", 2, "the mail has no single sender address"),
    ("", 0, "the mail has no single sender address"),
])
def test_strangers_and_several_senders_are_quarantined_on_the_ticket(
        sender: str, senders: int, reason: str) -> None:
    held = filed([SUBMITTED], mail(sender, senders=senders))
    assert isinstance(held, ev.ReplyQuarantined)
    assert (held.reason, held.candidate_case_number) == (reason, CASE)
    assert (held.text, held.attachments) == ("more detail", (FILE,))  # kept for a technician
    assert fold([SUBMITTED, held]).reply_count == 0


def test_automatic_mail_is_recorded_whoever_sent_it() -> None:
    auto = filed([SUBMITTED], mail("mailer-daemon@mx.example", auto="bounce"))
    assert auto == ev.AutoReplyRecorded(at=NOW, message_id="<m@x>",
                                        sender="mailer-daemon@mx.example",
                                        subject=f"Re: [#{CASE}]", reason="bounce")


def test_mail_naming_no_ticket_is_refused_for_the_quarantine() -> None:
    with pytest.raises(DomainError) as raised:
        decide(c.FileMail(at=NOW, mail=mail()), fold([]))
    assert raised.value.code == "unknown_ticket"


def test_an_unknown_case_number_is_quarantined_apart_with_the_number() -> None:
    [held] = when([], c.QuarantineMail(at=NOW, mail=mail(), case_number=CASE))
    assert isinstance(held, ev.ReplyQuarantined)
    assert (held.reason, held.candidate_case_number) == (
        f"no ticket with case number {CASE}", CASE)


def test_mail_without_a_number_is_quarantined_apart_with_the_near_miss() -> None:
    command = c.QuarantineMail(at=NOW, mail=mail(), unmatched_reason="no case number",
                               candidate="20260301-0002")
    [held] = when([], command)
    assert isinstance(held, ev.ReplyQuarantined)
    assert (held.reason, held.candidate_case_number) == ("no case number", "20260301-0002")


def test_automatic_mail_without_a_number_says_it_is_automatic() -> None:
    command = c.QuarantineMail(at=NOW, mail=mail(auto="bounce"),
                               unmatched_reason="no case number")
    [held] = when([], command)
    assert isinstance(held, ev.ReplyQuarantined)
    assert held.reason == "automatic mail (bounce); no case number"
