"""Given past events / when a command / then new events or a refusal: the ticket decider."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from shared.domain import events as ev
from shared.domain.calendar import BusinessCalendar
from shared.domain.pricing import InvoiceTerms, Tariff
from shared.domain.requestform import ServiceTerms, SupportRequest, request_event
from shared.domain.ticket import DomainError, decide, fold
from shared.domain.ticket import commands as c
from tests.factories import NOW, request_submitted

LATER = NOW + timedelta(minutes=5)
DEADLINE = NOW + timedelta(hours=4)


def given(*events: ev.Event) -> list[ev.Event]:
    return list(events)


def when(history: list[ev.Event], command: c.Command) -> list[ev.Event]:
    return decide(command, fold(history))


def refused(history: list[ev.Event], command: c.Command) -> str:
    with pytest.raises(DomainError) as raised:
        decide(command, fold(history))
    return raised.value.code


SUBMITTED = request_submitted()
PRIORITY = request_submitted(priority=True)
NO_SLA = request_submitted(has_sla=False)
ESCALATED = ev.PriorityEscalated(at=NOW, technician="anna", reaction_deadline=DEADLINE)
RESPONDED = ev.TechnicianResponded(at=LATER, technician="anna")
RESOLVED = ev.TicketResolved(at=LATER, technician="anna")
ENTRY = ev.TimeLogged(at=LATER, entry_id="e1", technician="anna", start=NOW,
                      end=NOW + timedelta(minutes=30), kind="work")


def invoice(entry_ids: tuple[str, ...] = ("e1",), number: str = "RE-2026-000001"
            ) -> ev.InvoiceIssued:
    return ev.InvoiceIssued(
        at=LATER, invoice_number=number, invoice_date=NOW.date(), due_date=NOW.date(),
        service_period_start=NOW.date(), service_period_end=NOW.date(),
        seller=ev.Seller(name="S", street="s", postcode="1", city="c"),
        buyer=SUBMITTED.contract_party, lines=(), net=Decimal("65.00"),
        vat_rate=Decimal("0.19"), vat=Decimal("12.35"), gross=Decimal("77.35"),
        entry_ids=entry_ids)


TERMS = InvoiceTerms(tariff=Tariff(hourly_rate=Decimal("130.00"), vat_rate=Decimal("0.19")),
                     calendar=BusinessCalendar(),
                     seller=ev.Seller(name="S", street="s", postcode="1", city="c"),
                     payment_days=10)


def issue(number: str = "RE-2026-000001") -> c.IssueInvoice:
    return c.IssueInvoice(at=LATER, invoice_number=number, invoice_date=NOW.date(),
                          issued_by="anna", terms=TERMS)


# -- submission and acceptance ----------------------------------------------------------

FORM = SupportRequest(company="Muster GmbH", first_name="Erika", last_name="Mustermann",
                      email="kunde@muster.de", phone="+49 30 123456", street="Hauptstraße 5",
                      postcode="10115", city="Berlin",
                      short_description="Drucker druckt nicht, PIN 4711", priority=True)


def submit(terms: ServiceTerms = ServiceTerms()) -> c.SubmitRequest:
    return c.SubmitRequest(at=NOW, case_number="202611250000010", form=FORM, language="de",
                           channel="api", terms=terms)


def test_submit_creates_the_ticket() -> None:
    [request] = when(given(), submit())
    assert request == request_event(FORM, case_number="202611250000010", language="de",
                                    channel="api", terms=ServiceTerms(), at=NOW)
    assert isinstance(request, ev.RequestSubmitted)
    assert (request.case_number, request.contact.email, request.priority, request.has_sla,
            request.reaction_minutes) == ("202611250000010", "kunde@muster.de", True, True, 240)
    assert request.short_description == "Drucker druckt nicht, PIN [REDACTED]"
    assert fold([request]).status == "open"


def test_submit_without_sla_awaits_acceptance_in_the_same_command() -> None:
    events = when(given(), submit(ServiceTerms(customers_without_sla=frozenset({"muster.de"}))))
    [request, waiting] = events
    assert isinstance(request, ev.RequestSubmitted) and not request.has_sla
    assert waiting == ev.AwaitingAcceptance(at=NOW, customer_id=request.customer_id)
    assert fold(events).status == "awaiting_acceptance"


def test_submit_twice_is_refused() -> None:
    assert refused(given(SUBMITTED), submit()) == "already_submitted"


@pytest.mark.parametrize("command", [
    c.RecordReceipt(at=NOW, message_id="m", recipient="r"),
    c.Respond(at=NOW, technician="anna"),
    c.ResolveTicket(at=NOW, technician="anna"),
    c.AcceptTicket(at=NOW, technician="anna"),
    c.LogTime(at=NOW, entry_id="e", technician="a", start=NOW, end=LATER, kind="work"),
])
def test_commands_on_an_unknown_ticket_are_refused(command: c.Command) -> None:
    assert refused(given(), command) == "unknown_ticket"


def test_accept_and_decline_only_while_awaiting_acceptance() -> None:
    waiting = given(NO_SLA, ev.AwaitingAcceptance(at=NOW))
    assert when(waiting, c.AcceptTicket(at=LATER, technician="anna")) == [
        ev.TicketAccepted(at=LATER, technician="anna")]
    assert fold([*waiting, ev.TicketAccepted(at=LATER, technician="anna")]).status == "open"
    declined = when(waiting, c.DeclineTicket(at=LATER, technician="anna", reason=" busy "))
    assert declined == [ev.TicketDeclined(at=LATER, technician="anna", reason="busy")]
    assert fold([*waiting, *declined]).status == "declined"
    assert refused(waiting, c.DeclineTicket(at=LATER, technician="a", reason=" ")) == \
        "reason_required"
    assert refused(given(SUBMITTED), c.AcceptTicket(at=LATER, technician="a")) == \
        "not_awaiting_acceptance"
    assert refused(given(SUBMITTED), c.DeclineTicket(at=LATER, technician="a", reason="x")) \
        == "not_awaiting_acceptance"


def test_respond_before_acceptance_is_refused() -> None:
    waiting = given(NO_SLA, ev.AwaitingAcceptance(at=NOW))
    assert refused(waiting, c.Respond(at=LATER, technician="anna")) == "not_accepted"


# -- receipt ----------------------------------------------------------------------------

def test_receipt_is_recorded_once() -> None:
    command = c.RecordReceipt(at=LATER, message_id="<m>", recipient="k@x")
    assert when(given(SUBMITTED), command) == [
        ev.AckSent(at=LATER, message_id="<m>", recipient="k@x")]
    sent = given(SUBMITTED, ev.AckSent(at=LATER, message_id="<m>", recipient="k@x"))
    assert when(sent, command) == []
    assert fold(sent).receipt_sent


def test_receipt_failures_count_attempts_and_stop_after_success() -> None:
    failure = c.RecordReceiptFailure(at=LATER, error="421", permanent=False)
    assert when(given(SUBMITTED), failure) == [
        ev.AckFailed(at=LATER, attempt=1, error="421", permanent=False)]
    failed_once = given(SUBMITTED, ev.AckFailed(at=LATER, attempt=1, error="421"))
    assert when(failed_once, failure) == [  # the next attempt, counted by the ticket
        ev.AckFailed(at=LATER, attempt=2, error="421", permanent=False)]
    sent = given(SUBMITTED, ev.AckSent(at=LATER, message_id="m", recipient="r"))
    assert when(sent, failure) == []


def test_receipt_overdue_is_flagged_once_and_never_after_the_receipt() -> None:
    overdue = c.FlagReceiptOverdue(at=LATER, minutes_since_submission=9)
    assert when(given(SUBMITTED), overdue) == [
        ev.ReceiptOverdue(at=LATER, minutes_since_submission=9)]
    assert when(given(SUBMITTED, ev.ReceiptOverdue(at=LATER, minutes_since_submission=9)),
                overdue) == []
    assert when(given(SUBMITTED, ev.AckSent(at=LATER, message_id="m", recipient="r")),
                overdue) == []


# -- priority, paging, SLA ----------------------------------------------------------------

def test_priority_is_escalated_once() -> None:
    command = c.EscalatePriority(at=NOW, technician="anna", reaction_deadline=DEADLINE)
    assert when(given(PRIORITY), command) == [ESCALATED]
    assert when(given(PRIORITY, ESCALATED), command) == []
    assert refused(given(SUBMITTED), command) == "not_priority"


def test_response_deadline_is_set_once() -> None:
    command = c.SetResponseDeadline(at=NOW, deadline=DEADLINE, calendar_version="v1")
    assert when(given(SUBMITTED), command) == [
        ev.ResponseDeadlineSet(at=NOW, deadline=DEADLINE, calendar_version="v1")]
    assert when(given(SUBMITTED, *when(given(SUBMITTED), command)), command) == []


def test_renotify_and_escalation_only_while_the_page_is_open() -> None:
    paged = given(PRIORITY, ESCALATED)
    renotify = c.ReNotifyOnCall(at=LATER, technician="anna", attempt=1)
    assert when(paged, renotify) == [ev.OnCallReNotified(at=LATER, technician="anna",
                                                         attempt=1)]
    renotified = [*paged, ev.OnCallReNotified(at=LATER, technician="anna", attempt=1)]
    assert when(renotified, renotify) == []  # a timer fired twice
    escalate = c.EscalateOnCallLevel(at=LATER, technician="ben", level=2)
    assert when(renotified, escalate) == [ev.OnCallEscalated(at=LATER, technician="ben",
                                                             level=2)]
    acknowledged = [*paged, ev.OnCallAcknowledged(at=LATER, technician="anna")]
    assert when(acknowledged, renotify) == []
    assert when(acknowledged, escalate) == []
    assert when([*paged, RESPONDED], renotify) == []


def test_only_the_paged_technician_acknowledges_and_twice_is_harmless() -> None:
    paged = given(PRIORITY, ESCALATED)
    assert when(paged, c.AcknowledgePage(at=LATER, technician="anna")) == [
        ev.OnCallAcknowledged(at=LATER, technician="anna")]
    assert refused(paged, c.AcknowledgePage(at=LATER, technician="eve")) == \
        "not_paged_person"
    done = [*paged, ev.OnCallAcknowledged(at=LATER, technician="anna")]
    assert when(done, c.AcknowledgePage(at=LATER, technician="anna")) == []
    assert refused(given(SUBMITTED), c.AcknowledgePage(at=LATER, technician="anna")) == \
        "not_paged"
    escalated = [*paged, ev.OnCallEscalated(at=LATER, technician="ben", level=2)]
    assert refused(escalated, c.AcknowledgePage(at=LATER, technician="anna")) == \
        "not_paged_person"


def test_first_response_stops_the_clock_and_moves_to_in_progress() -> None:
    assert when(given(PRIORITY, ESCALATED), c.Respond(at=LATER, technician="anna")) == [
        RESPONDED]
    state = fold([PRIORITY, ESCALATED, RESPONDED])
    assert state.status == "in_progress" and state.first_response_at == LATER
    breach = c.RecordSlaBreach(at=DEADLINE, clock="reaction", deadline=DEADLINE)
    assert when([PRIORITY, ESCALATED, RESPONDED], breach) == []


def test_breach_is_recorded_once_when_nobody_responded() -> None:
    breach = c.RecordSlaBreach(at=DEADLINE, clock="reaction", deadline=DEADLINE)
    expected = [ev.SlaBreached(at=DEADLINE, clock="reaction", deadline=DEADLINE)]
    assert when(given(PRIORITY, ESCALATED), breach) == expected
    assert when(given(PRIORITY, ESCALATED, *expected), breach) == []
    assert when(given(SUBMITTED, RESOLVED), breach) == []


# -- customer mail -------------------------------------------------------------------------

def test_customer_replies_and_auto_replies_are_recorded() -> None:
    receipt = ev.AckSent(at=NOW, message_id="<m>", recipient="kunde@example.de")
    mail = c.ReceivedMail(message_id="<r>", sender="kunde@example.de",
                          envelope_sender="kunde@example.de", reference_ids=("<m>",),
                          subject="s", text="t")
    reply = ev.CustomerReplied(at=LATER, message_id="<r>", sender="kunde@example.de",
                               subject="s", text="t")
    assert when(given(SUBMITTED, receipt), c.FileMail(at=LATER, mail=mail)) == [reply]
    assert fold([SUBMITTED, reply]).reply_count == 1
    automatic = c.ReceivedMail(message_id="<a>", sender="kunde@example.de", subject="OOO",
                               auto_reply="auto-submitted")
    auto = ev.AutoReplyRecorded(at=LATER, message_id="<a>", sender="kunde@example.de",
                                subject="OOO", reason="auto-submitted")
    assert when(given(SUBMITTED), c.FileMail(at=LATER, mail=automatic)) == [auto]
    assert fold([SUBMITTED, auto]).reply_count == 0


# -- time ----------------------------------------------------------------------------------

def log(entry_id: str = "e2", start_min: int = 60, minutes: int = 30, kind: str = "work",
        technician: str = "anna") -> c.LogTime:
    start = NOW + timedelta(minutes=start_min)
    return c.LogTime(at=NOW + timedelta(hours=3), entry_id=entry_id, technician=technician,
                     start=start, end=start + timedelta(minutes=minutes), kind=kind)


def test_time_is_logged_and_voided() -> None:
    events = when(given(SUBMITTED), log())
    assert len(events) == 1 and isinstance(events[0], ev.TimeLogged)
    assert when(given(SUBMITTED, *events), log()) == []  # same entry id again: redelivery
    void = c.VoidTimeEntry(at=LATER, entry_id="e2", technician="anna", reason="typo")
    voided = when(given(SUBMITTED, *events), void)
    assert voided == [ev.TimeEntryVoided(at=LATER, entry_id="e2", technician="anna",
                                         reason="typo")]
    assert fold([SUBMITTED, *events, *voided]).time_entries == ()
    assert refused(given(SUBMITTED), void) == "unknown_entry"


@pytest.mark.parametrize(("command", "code"), [
    (log(minutes=0), "end_not_after_start"),
    (log(minutes=-10), "end_not_after_start"),
    (log(kind="lunch"), "unknown_kind"),
    (log(start_min=60 * 5), "entry_in_future"),
    (log(start_min=10, entry_id="e3"), "overlapping_entry"),
])
def test_bad_time_entries_are_refused(command: c.LogTime, code: str) -> None:
    assert refused(given(SUBMITTED, ENTRY), command) == code


def test_other_technicians_may_overlap() -> None:
    assert when(given(SUBMITTED, ENTRY), log(start_min=10, technician="ben"))


@pytest.mark.parametrize("final", [
    ev.TicketClosed(at=LATER, by="anna"),
    ev.TicketDeclined(at=LATER, technician="anna", reason="no"),
])
def test_no_time_on_closed_or_declined_tickets(final: ev.Event) -> None:
    history = [SUBMITTED, RESOLVED, final] if isinstance(final, ev.TicketClosed) else [
        NO_SLA, ev.AwaitingAcceptance(at=NOW), final]
    assert refused(history, log()) == "ticket_not_open_for_time"


def test_no_time_on_invoiced_tickets_and_invoiced_entries_stay() -> None:
    invoiced = [SUBMITTED, ENTRY, RESOLVED, invoice()]
    assert refused(invoiced, log()) == "ticket_not_open_for_time"
    assert refused(invoiced, c.VoidTimeEntry(at=LATER, entry_id="e1", technician="a")) == \
        "entry_invoiced"


# -- resolve, reopen, close ------------------------------------------------------------------

def test_resolve_reopen_close() -> None:
    assert when(given(SUBMITTED), c.ResolveTicket(at=LATER, technician="anna")) == [RESOLVED]
    reopened = when(given(SUBMITTED, RESOLVED), c.ReopenTicket(at=LATER, by="k"))
    assert fold([SUBMITTED, RESOLVED, *reopened]).status == "in_progress"
    closed = when(given(SUBMITTED, RESOLVED), c.CloseTicket(at=LATER, by="anna"))
    assert fold([SUBMITTED, RESOLVED, *closed]).status == "closed"
    assert when([SUBMITTED, RESOLVED, *closed], c.CloseTicket(at=LATER, by="anna")) == []
    assert refused(given(SUBMITTED), c.CloseTicket(at=LATER, by="a")) == "not_resolved"
    assert refused(given(SUBMITTED), c.ReopenTicket(at=LATER, by="a")) == "not_resolved"
    assert refused(given(SUBMITTED, RESOLVED), c.ResolveTicket(at=LATER, technician="a")) \
        == "not_active"


# -- invoices --------------------------------------------------------------------------------

def test_invoice_needs_a_resolved_ticket_with_uninvoiced_time() -> None:
    command = issue()
    assert refused(given(SUBMITTED, ENTRY), command) == "not_billable"
    assert refused(given(SUBMITTED, RESOLVED), command) == "nothing_to_invoice"
    [issued] = when(given(SUBMITTED, ENTRY, RESOLVED), command)
    assert isinstance(issued, ev.InvoiceIssued)
    assert (issued.invoice_number, issued.entry_ids, issued.buyer) == (
        "RE-2026-000001", ("e1",), SUBMITTED.contract_party)
    assert (issued.net, issued.vat, issued.gross) == (
        Decimal("65.00"), Decimal("12.35"), Decimal("77.35"))
    assert issued.due_date == NOW.date() + timedelta(days=10) and issued.issued_by == "anna"
    assert fold([SUBMITTED, ENTRY, RESOLVED, issued]).status == "invoiced"


def test_an_invoice_covers_exactly_the_uninvoiced_entries() -> None:
    voided = ev.TimeLogged(at=LATER, entry_id="e9", technician="anna", start=NOW,
                           end=NOW + timedelta(minutes=30), kind="work")
    history = given(SUBMITTED, ENTRY, voided,
                    ev.TimeEntryVoided(at=LATER, entry_id="e9", technician="anna"), RESOLVED)
    [issued] = when(history, issue())
    assert isinstance(issued, ev.InvoiceIssued) and issued.entry_ids == ("e1",)


def test_an_invoice_number_is_issued_once() -> None:
    command = issue()
    history = [SUBMITTED, ENTRY, RESOLVED, invoice()]
    assert when(history, command) == []  # a retried issuance stores nothing
    cancelled = ev.InvoiceCancelled(at=LATER, invoice_number="RE-2026-000001",
                                    credit_note_number="GS-2026-000001", reason="wrong rate")
    assert when([*history, cancelled], command) == []  # not even once it is cancelled


def test_cancelled_invoice_frees_its_entries_for_a_new_invoice() -> None:
    history = [SUBMITTED, ENTRY, RESOLVED, invoice()]
    cancel = c.CancelInvoice(at=LATER, invoice_number="RE-2026-000001",
                             credit_note_number="GS-2026-000001", reason="wrong rate")
    cancelled = when(history, cancel)
    state = fold([*history, *cancelled])
    assert state.status == "resolved" and state.uninvoiced_entries == (ENTRY,)
    assert refused([*history, *cancelled], cancel) == "unknown_invoice"
    assert refused(history, c.CancelInvoice(at=LATER, invoice_number="RE-2026-000001",
                                            credit_note_number="x", reason="")) == \
        "reason_required"
    [again] = when([*history, *cancelled], issue("RE-2026-000002"))
    assert isinstance(again, ev.InvoiceIssued)
    assert (again.invoice_number, again.entry_ids) == ("RE-2026-000002", ("e1",))


# -- personal data ---------------------------------------------------------------------------

def test_erasure_is_recorded_once() -> None:
    command = c.RecordErasure(at=LATER, by="dpo", reason="Art. 17")
    erased = when(given(SUBMITTED), command)
    assert erased == [ev.PersonalDataErased(at=LATER, by="dpo", reason="Art. 17")]
    assert fold([SUBMITTED, *erased]).personal_data_erased
    assert when([SUBMITTED, *erased], command) == []


# -- whose time entries --------------------------------------------------------------------

def test_a_technician_voids_only_their_own_entries() -> None:
    """Given anna's entry, when ben voids it, then it is refused; anna may."""
    history = given(SUBMITTED, ENTRY)
    assert refused(history, c.VoidTimeEntry(at=LATER, entry_id="e1", technician="ben")) \
        == "not_your_entry"
    own = when(history, c.VoidTimeEntry(at=LATER, entry_id="e1", technician="anna"))
    assert own == [ev.TimeEntryVoided(at=LATER, entry_id="e1", technician="anna")]


def test_a_lead_voids_anyones_entry_and_the_event_says_so() -> None:
    voided = when(given(SUBMITTED, ENTRY), c.VoidTimeEntry(
        at=LATER, entry_id="e1", technician="lea", reason="double", lead=True))
    assert voided == [ev.TimeEntryVoided(at=LATER, entry_id="e1", technician="lea",
                                         reason="double", as_lead=True)]
    # A lead voiding their own entry acts as its technician, not as lead.
    leas = when(given(SUBMITTED), log(technician="lea", entry_id="e9"))
    own = when(given(SUBMITTED, *leas), c.VoidTimeEntry(
        at=LATER, entry_id="e9", technician="lea", lead=True))
    assert own[0].as_lead is False  # type: ignore[attr-defined]


def test_an_entry_id_of_another_technician_is_refused_not_taken_over() -> None:
    """Given anna's entry e1, when ben logs with id e1, then it is refused (not a no-op
    that would answer with anna's entry and lose ben's time)."""
    assert refused(given(SUBMITTED, ENTRY), log(technician="ben", entry_id="e1")) \
        == "entry_id_taken"
    # anna's own retry stays a no-op
    assert when(given(SUBMITTED, ENTRY), log(entry_id="e1", start_min=0)) == []
