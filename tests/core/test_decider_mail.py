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
RECEIPT_ID = f"<receipt.{CASE}.5f2c9a0e41b7d3c8a6e1f042@example.com>"
RECEIPT = ev.AckSent(at=NOW, message_id=RECEIPT_ID, recipient="kunde@example.de")


def mail(sender: str = "kunde@example.de", *, senders: int = 1, auto: str | None = None,
         envelope: str | None = None, references: tuple[str, ...] = (RECEIPT_ID,),
         relay: tuple[c.AuthResult, ...] = ()) -> c.ReceivedMail:
    """A reply; by default authenticated: it answers the receipt, envelope = From."""
    return c.ReceivedMail(message_id="<m@x>", sender=sender, sender_count=senders,
                          auto_reply=auto, subject=f"Re: [#{CASE}]", text="more detail",
                          attachments=(FILE,), redacted=True, mail_id="mail-1",
                          envelope_sender=sender if envelope is None else envelope,
                          reference_ids=references, relay_results=relay)


def when(history: list[ev.Event], command: c.Command) -> list[ev.Event]:
    return decide(command, fold(history))


def filed(history: list[ev.Event], received: c.ReceivedMail) -> ev.Event:
    [event] = when(history, c.FileMail(at=NOW, mail=received))
    return event


def test_the_contact_replies_to_the_ticket() -> None:
    reply = filed([SUBMITTED, RECEIPT], mail())
    assert reply == ev.CustomerReplied(at=NOW, message_id="<m@x>", sender="kunde@example.de",
                                       subject=f"Re: [#{CASE}]", text="more detail",
                                       attachments=(FILE,), redacted=True)
    assert fold([SUBMITTED, RECEIPT, reply]).reply_count == 1


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


# -- trust: the customer's words need evidence beyond the From address ----------------------

DMARC_PASS = c.AuthResult(method="dmarc", result="pass", domain="example.de")


def held_reason(history: list[ev.Event], received: c.ReceivedMail) -> str:
    event = filed(history, received)
    assert isinstance(event, ev.ReplyHeld), event
    assert fold([*history, event]).reply_count == 0  # never the customer's words
    return event.reason


def test_forged_from_with_a_foreign_envelope_sender_is_held_even_naming_the_receipt() -> None:
    # The measured attack: MAIL FROM attacker@evil.example, From: the real customer.
    reason = held_reason([SUBMITTED, RECEIPT], mail(envelope="attacker@evil.example"))
    assert reason == "the envelope sender is not in the From address's domain"


def test_held_mail_keeps_everything_for_the_technician() -> None:
    event = filed([SUBMITTED, RECEIPT], mail(envelope="attacker@evil.example"))
    assert event == ev.ReplyHeld(
        at=NOW, mail_id="mail-1", message_id="<m@x>", sender="kunde@example.de",
        envelope_sender="attacker@evil.example", subject=f"Re: [#{CASE}]",
        reason=event.reason, text="more detail", attachments=(FILE,), redacted=True)
    assert fold([SUBMITTED, RECEIPT, event]).pending_mails == (event,)


def test_a_reply_without_any_evidence_is_held() -> None:
    reason = held_reason([SUBMITTED, RECEIPT], mail(references=()))
    assert reason.startswith("the mail answers no mail sent for this ticket")


def test_a_reference_to_a_message_id_never_sent_for_this_ticket_is_no_evidence() -> None:
    guessed = f"<receipt.{CASE}@example.com>"  # the old, guessable form
    held_reason([SUBMITTED, RECEIPT], mail(references=(guessed,)))
    held_reason([SUBMITTED], mail())  # no receipt recorded: nothing to answer


def test_the_envelope_may_be_a_subdomain_bounce_address() -> None:
    reply = filed([SUBMITTED, RECEIPT], mail(envelope="bounces+x=y@mail.example.de"))
    assert isinstance(reply, ev.CustomerReplied)


@pytest.mark.parametrize("verdict", [
    DMARC_PASS,
    c.AuthResult(method="dkim", result="pass", domain="example.de"),
    c.AuthResult(method="dkim", result="pass", domain="mail.example.de"),
])
def test_a_trusted_relays_dmarc_or_aligned_dkim_pass_authenticates(
        verdict: c.AuthResult) -> None:
    reply = filed([SUBMITTED], mail(references=(), relay=(verdict,)))
    assert isinstance(reply, ev.CustomerReplied) and reply.released_by == ""


@pytest.mark.parametrize("verdict", [
    c.AuthResult(method="dmarc", result="fail", domain="example.de"),
    c.AuthResult(method="dmarc", result="pass", domain="evil.example"),
    c.AuthResult(method="dkim", result="pass", domain="evil.example"),
    c.AuthResult(method="spf", result="pass", domain="example.de"),  # SPF alone: no
])
def test_failing_unaligned_or_spf_only_verdicts_do_not(verdict: c.AuthResult) -> None:
    held_reason([SUBMITTED], mail(references=(), relay=(verdict,)))


def test_a_relay_pass_does_not_excuse_a_foreign_envelope() -> None:
    held_reason([SUBMITTED], mail(envelope="a@evil.example", references=(),
                                  relay=(DMARC_PASS,)))


def test_strangers_stay_quarantined_before_any_trust_question() -> None:
    event = filed([SUBMITTED, RECEIPT], mail("x@evil.example"))
    assert isinstance(event, ev.ReplyQuarantined) and event.mail_id == "mail-1"


# -- a technician releases, moves or discards held and quarantined mail ---------------------

HELD = ev.ReplyHeld(at=NOW, mail_id="mail-1", message_id="<m@x>", sender="kunde@example.de",
                    envelope_sender="a@evil.example", subject="Re", reason="r",
                    text="more detail", attachments=(FILE,))
QUARANTINED = ev.ReplyQuarantined(at=NOW, message_id="<q@x>", sender="x@y.example",
                                  subject="?", reason="no case number", text="hello",
                                  mail_id="mail-2")


def test_releasing_a_held_mail_makes_it_the_customers_reply_naming_the_technician() -> None:
    events = when([SUBMITTED, HELD], c.ReleaseMail(at=NOW, technician="t1", mail_id="mail-1"))
    assert events == [
        ev.MailReleased(at=NOW, technician="t1", mail_id="mail-1", case_number=CASE),
        ev.CustomerReplied(at=NOW, message_id="<m@x>", sender="kunde@example.de",
                           subject="Re", text="more detail", attachments=(FILE,),
                           released_by="t1")]
    after = fold([SUBMITTED, HELD, *events])
    assert (after.pending_mails, after.reply_count) == ((), 1)
    # A second release (a form sent twice) does nothing; a discard after it neither.
    assert when([SUBMITTED, HELD, *events],
                c.ReleaseMail(at=NOW, technician="t2", mail_id="mail-1")) == []
    assert when([SUBMITTED, HELD, *events],
                c.DiscardMail(at=NOW, technician="t2", mail_id="mail-1")) == []


def test_discarding_names_the_technician_and_is_done_once() -> None:
    [discarded] = when([SUBMITTED, HELD], c.DiscardMail(at=NOW, technician="t1",
                                                        mail_id="mail-1", reason="Spam"))
    assert discarded == ev.MailDiscarded(at=NOW, technician="t1", mail_id="mail-1",
                                         reason="Spam")
    assert fold([SUBMITTED, HELD, discarded]).pending_mails == ()
    assert when([SUBMITTED, HELD, discarded],
                c.ReleaseMail(at=NOW, technician="t1", mail_id="mail-1")) == []


def test_an_unknown_mail_id_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        when([SUBMITTED, HELD], c.DiscardMail(at=NOW, technician="t1", mail_id="mail-9"))
    assert refused.value.code == "unknown_mail"


def test_a_quarantine_entry_moves_its_mail_to_a_named_ticket() -> None:
    with pytest.raises(DomainError) as refused:
        when([QUARANTINED], c.ReleaseMail(at=NOW, technician="t1", mail_id="mail-2"))
    assert refused.value.code == "no_ticket"
    [moved] = when([QUARANTINED], c.ReleaseMail(at=NOW, technician="t1", mail_id="mail-2",
                                                to_case=CASE))
    assert moved == ev.MailReleased(at=NOW, technician="t1", mail_id="mail-2",
                                    case_number=CASE)
    [reply] = when([SUBMITTED], c.AttachMail(at=NOW, technician="t1", mail=QUARANTINED))
    assert isinstance(reply, ev.CustomerReplied)
    assert (reply.sender, reply.text, reply.released_by) == ("x@y.example", "hello", "t1")
    with pytest.raises(DomainError):  # no such ticket to attach to
        when([], c.AttachMail(at=NOW, technician="t1", mail=QUARANTINED))


NEW_CASE = "20261125000018"  # a valid case number (Damm check digit)


def test_opening_a_ticket_from_a_quarantined_mail_settles_it_naming_the_technician() -> None:
    [opened] = when([QUARANTINED], c.OpenTicketFromMail(
        at=NOW, technician="t1", mail_id="mail-2", case_number=NEW_CASE))
    assert opened == ev.MailOpenedAsTicket(at=NOW, technician="t1", mail_id="mail-2",
                                           case_number=NEW_CASE)
    assert fold([QUARANTINED, opened]).pending_mails == ()
    # A form sent twice opens nothing twice; the mail cannot be released or discarded after.
    for again in (c.OpenTicketFromMail(at=NOW, technician="t2", mail_id="mail-2",
                                       case_number=NEW_CASE),
                  c.DiscardMail(at=NOW, technician="t2", mail_id="mail-2")):
        assert when([QUARANTINED, opened], again) == []


@pytest.mark.parametrize("number", ["20261125000017", "", CASE])
def test_a_ticket_opened_from_a_mail_needs_a_valid_new_case_number(number: str) -> None:
    with pytest.raises(DomainError) as refused:
        when([SUBMITTED, HELD], c.OpenTicketFromMail(
            at=NOW, technician="t1", mail_id="mail-1", case_number=number))
    assert refused.value.code == "invalid_case_number"


def test_opening_a_ticket_from_an_unknown_mail_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        when([QUARANTINED], c.OpenTicketFromMail(at=NOW, technician="t1", mail_id="mail-9",
                                                 case_number=NEW_CASE))
    assert refused.value.code == "unknown_mail"
