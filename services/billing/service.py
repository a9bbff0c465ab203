"""The billing service: time logging, the running total, invoices and credit notes.

Every action goes through the ticket's decider (``LogTime``, ``VoidTimeEntry``,
``IssueInvoice``, ``CancelInvoice``) and is appended to the ticket's log; renderings are
pure functions of the stored events. See docs/billing.md.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from services.billing import render
from services.billing.api_models import (
    CreditNoteOut,
    InvoiceDocument,
    InvoiceOut,
    RunningTotal,
    TimeEntryOut,
    Voided,
)
from services.billing.invoicing import (
    RESERVATIONS_BUCKET,
    DocumentNumbers,
    Reservation,
    build_invoice,
    invoice_event_id,
    issuance_key,
    local_date,
)
from shared.adapters.consumer import ConsumerSpec
from shared.adapters.eventstore import TicketHistory
from shared.adapters.kvbuckets import kv_bucket
from shared.application.handling import execute
from shared.application.timeentries import TechnicianEntries, log_time
from shared.domain import events as ev
from shared.domain.calendar import BusinessCalendar
from shared.domain.pricing import Quote, running_total
from shared.domain.ticket import commands as c
from shared.domain.ticket import decide
from shared.domain.ticket.decide import DomainError
from shared.domain.ticket.state import TicketState
from shared.runtime.apidocs import RefusalDetail, technician_errors
from shared.runtime.auth import CurrentTechnician, technician_router
from shared.runtime.context import Runtime

ENTRY_ERRORS = {
    404: "No such ticket.",
    409: "The ticket is closed or invoiced, `too_many_entries` in the entry's month, or "
         "`entry_id_taken` by another technician.",
    422: "The body does not fit the schema, or a rule refused it: `end_not_after_start`, "
         "`unknown_kind`, `entry_in_future`, `overlapping_entry` (naming the other ticket), "
         "`naive_timestamp`."}
# Refusals caused by what the caller sent (422) rather than by the ticket's state (409).
INPUT_ERRORS = frozenset({"end_not_after_start", "unknown_kind", "entry_in_future",
                          "overlapping_entry", "reason_required"})
ENTRY_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class TimeEntryIn(BaseModel):
    start: datetime
    end: datetime
    kind: str
    note: str = Field("", max_length=2000)
    entry_id: str | None = Field(None, pattern=ENTRY_ID_PATTERN,
                                 description="Optional client id: a retry with it is a no-op.")


class ReasonIn(BaseModel):
    reason: str = Field("", max_length=500)


def _json(value: Any) -> Any:
    return msgspec.to_builtins(value)


def quote_json(quote: Quote, state: TicketState) -> dict[str, Any]:
    return {**quote.to_json(), "priority": state.priority,
            "calendar_version": quote.calendar_version,
            "entries": [_json(e) for e in state.uninvoiced_entries]}


class BillingService:
    name = "billing"

    def __init__(self, runtime: Runtime, *, calendar: BusinessCalendar,
                 numbers: DocumentNumbers, technician_entries: TechnicianEntries,
                 clock: Callable[[], datetime]) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.store = runtime.store
        self.calendar = calendar
        self.numbers = numbers
        self.clock = clock
        self.technician_entries = technician_entries

    def consumers(self) -> list[ConsumerSpec]:
        # Keeps the overlap read model in line with the log, whoever appended the event.
        return [ConsumerSpec("billing-technician-entries",
                             ["tickets.*.TimeLogged", "tickets.*.TimeEntryVoided"],
                             self.technician_entries.handle)]

    async def start(self) -> None:
        await self.numbers.ensure()
        await self.technician_entries.ensure()

    async def stop(self) -> None:
        return None

    async def health(self) -> dict[str, object]:
        """Nothing beyond its consumer's lag."""
        return {}

    def announce(self) -> list[str]:
        return [f"billing: calendar {self.calendar.version}"]

    # -- handlers ------------------------------------------------------------------------

    async def _load(self, ticket_id: str) -> tuple[TicketHistory, TicketState]:
        try:
            # A clerk's request carries no event sequence to wait for: the stream's leader
            # says how far the ticket is, so a lagging replica of a replicated log never
            # refuses or prices an invoice on an older history (one request to the leader).
            latest = await self.store.leader_version(ticket_id)
            history = await self.store.load(ticket_id, min_seq=latest)
        except ValueError as error:
            raise DomainError("unknown_ticket", str(error)) from None
        state = history.state
        if state.status == "new":
            raise DomainError("unknown_ticket", f"there is no ticket {ticket_id}")
        return history, state

    async def log_time(self, ticket_id: str, technician: str, entry: TimeEntryIn
                       ) -> ev.TimeLogged:
        """Log a time entry (idempotent per entry id).

        The ticket's rules are checked first; then the interval is reserved in the
        technician's entries across all tickets, so an overlap with another ticket is
        refused too; a failed append releases the reservation.
        """
        for name, value in (("start", entry.start), ("end", entry.end)):
            if value.tzinfo is None:
                raise DomainError("naive_timestamp", f"{name}: give a UTC offset, e.g. +01:00")
        entry_id = entry.entry_id or uuid.uuid4().hex
        command = c.LogTime(at=self.clock(), entry_id=entry_id, technician=technician,
                            start=entry.start.astimezone(UTC), end=entry.end.astimezone(UTC),
                            kind=entry.kind, note=entry.note)
        await log_time(self.store, self.technician_entries, ticket_id, command)
        _, state = await self._load(ticket_id)
        logged = state.entry(entry_id)
        if logged is None:  # voided in between: report what was logged
            raise DomainError("unknown_entry", f"entry {entry_id} is no longer active")
        return logged

    async def void_time(self, ticket_id: str, technician: str, entry_id: str,
                        reason: str, *, lead: bool = False) -> None:
        """Void an entry: one's own, or as a lead anyone's (the event records it)."""
        command = c.VoidTimeEntry(at=self.clock(), entry_id=entry_id, technician=technician,
                                  reason=reason, lead=lead)
        handled = await execute(self.store, ticket_id, lambda state: command,
                                lambda e: f"void-{entry_id}")
        # At once for the caller; the consumer does the same if this is lost.
        await self.technician_entries.sync(ticket_id, entry_id, min_seq=handled.version)

    async def running_total(self, ticket_id: str) -> tuple[Quote, TicketState]:
        _, state = await self._load(ticket_id)
        return running_total(state, self.settings, self.calendar), state

    async def issue_invoice(self, ticket_id: str, technician: str) -> ev.InvoiceIssued:
        """Issue the invoice of the ticket's uninvoiced time; retries never take a new number."""
        history, state = await self._load(ticket_id)
        now = self.clock()
        # Check every rule with a draft before a number is taken: refusals burn no number.
        decide(c.IssueInvoice(at=now, invoice=self._invoice(state, Reservation("", now.date()),
                                                            now, technician)), state)
        issued_before = sum(isinstance(r.event, ev.InvoiceIssued) for r in history.events)
        reservation = await self.numbers.reserve(
            issuance_key(ticket_id, issued_before), self.settings.billing.invoice_prefix,
            local_date(now))
        await self._index_number(reservation.number, ticket_id)
        event_id = invoice_event_id(reservation.number)
        handled = await execute(
            self.store, ticket_id,
            lambda state: c.IssueInvoice(
                at=now, invoice=self._invoice(state, reservation, now, technician)),
            lambda event: event_id, history=history)
        # Nothing new: a retry whose invoice is in the log already.
        issued = next((e for e in handled.events if isinstance(e, ev.InvoiceIssued)),
                      None) or _invoice_in(handled.history, reservation.number)
        assert issued is not None, "the decider stores nothing only for an issued number"
        return issued

    def _invoice(self, state: TicketState, reservation: Reservation, now: datetime,
                 technician: str) -> ev.InvoiceIssued:
        return build_invoice(state, self.settings, self.calendar, reservation=reservation,
                             at=now, issued_by=technician)

    async def cancel_invoice(self, number: str, technician: str,
                             reason: str) -> ev.InvoiceCancelled:
        """Cancel an issued invoice with a credit note (its own number series)."""
        ticket_id = await self.ticket_of(number)
        history, state = await self._load(ticket_id)
        now = self.clock()
        decide(c.CancelInvoice(at=now, invoice_number=number, credit_note_number="",
                               reason=reason, by=technician), state)
        reservation = await self.numbers.reserve(
            f"{ticket_id}.cancel.{number}", self.settings.billing.credit_note_prefix,
            local_date(now))
        await self._index_number(reservation.number, ticket_id)
        command = c.CancelInvoice(at=now, invoice_number=number,
                                  credit_note_number=reservation.number, reason=reason,
                                  by=technician)
        handled = await execute(self.store, ticket_id, lambda state: command,
                                lambda e: f"cancel-{number}", history=history)
        # The decider never answers "already done" here: a second cancel is refused.
        return next(e for e in handled.events if isinstance(e, ev.InvoiceCancelled))

    async def _index_number(self, number: str, ticket_id: str) -> None:
        # A lookup from document number to ticket; the log stays the truth (see find_document).
        bucket = await kv_bucket(self.runtime.js, RESERVATIONS_BUCKET)
        await bucket.put(f"number.{number}", ticket_id.encode())

    async def ticket_of(self, number: str) -> str:
        from nats.js.errors import InvalidKeyError, KeyNotFoundError

        bucket = await kv_bucket(self.runtime.js, RESERVATIONS_BUCKET)
        try:
            entry = await bucket.get(f"number.{number}")
        except (KeyNotFoundError, InvalidKeyError):
            raise DomainError("unknown_invoice", f"there is no invoice {number}") from None
        return (entry.value or b"").decode()

    async def find_document(self, number: str) -> render.Document:
        """The invoice or credit note with ``number``, rendered from the ticket's log."""
        ticket_id = await self.ticket_of(number)
        history, _ = await self._load(ticket_id)
        invoices = {r.event.invoice_number: r.event for r in history.events
                    if isinstance(r.event, ev.InvoiceIssued)}
        if number in invoices:
            return render.document(invoices[number], ticket_id)
        for recorded in history.events:
            cancelled = recorded.event
            if isinstance(cancelled, ev.InvoiceCancelled) and \
                    cancelled.credit_note_number == number:
                return render.document(invoices[cancelled.invoice_number], ticket_id, cancelled)
        raise DomainError("unknown_invoice", f"there is no invoice {number}")

    # -- HTTP ----------------------------------------------------------------------------

    def router(self) -> APIRouter:
        return build_router(self)


def _invoice_in(history: TicketHistory, number: str) -> ev.InvoiceIssued | None:
    return next((r.event for r in history.events if isinstance(r.event, ev.InvoiceIssued)
                 and r.event.invoice_number == number), None)


def _http_error(error: DomainError) -> HTTPException:
    if error.code in ("unknown_ticket", "unknown_invoice"):
        status = 404
    elif error.code == "not_your_entry":
        status = 403
    elif error.code in INPUT_ERRORS or error.code == "naive_timestamp":
        status = 422
    else:
        status = 409
    return HTTPException(status_code=status, detail={"code": error.code,
                                                     "message": error.message})


def build_router(service: BillingService) -> APIRouter:
    router = technician_router(service.runtime.authenticator, tags=["billing"])

    async def run(coroutine: Any) -> Any:
        try:
            return await coroutine
        except DomainError as error:
            raise _http_error(error) from None

    @router.post("/api/tickets/{case}/time", status_code=201,
                 response_model=None, responses={
                     201: {"model": TimeEntryOut, "description": "The entry, as stored."},
                     **technician_errors(RefusalDetail, 404, 409, described=ENTRY_ERRORS)})
    async def log_time(case: str, body: TimeEntryIn, tech: CurrentTechnician) -> Any:
        """Log a time entry on a ticket (a retry with the same `entry_id` is a no-op)."""
        logged = await run(service.log_time(case, tech.id, body))
        return _json(logged)

    @router.post("/api/tickets/{case}/time/{entry_id}/void",
                 response_model=None, responses={
                     200: {"model": Voided},
                     **technician_errors(RefusalDetail, 403, 404, 409, described={
                         403: "`not_your_entry`: only its technician or a lead voids it.",
                         404: "No such ticket.",
                         409: "No such active entry, or it is invoiced."})})
    async def void_time(case: str, entry_id: str, body: ReasonIn,
                        tech: CurrentTechnician) -> Any:
        """Void a time entry (a correction is a void plus a new entry)."""
        await run(service.void_time(case, tech.id, entry_id, body.reason, lead=tech.is_lead))
        return {"voided": entry_id}

    @router.get("/api/tickets/{case}/billing", response_model=None,
                responses={200: {"model": RunningTotal},
                           **technician_errors(RefusalDetail, 404)})
    async def billing(case: str) -> Any:
        """The running total of the ticket's uninvoiced entries."""
        quote, state = await run(service.running_total(case))
        return quote_json(quote, state)

    @router.post("/api/tickets/{case}/invoice", status_code=201,
                 response_model=None, responses={
                     201: {"model": InvoiceOut, "description": "The invoice, as stored."},
                     **technician_errors(RefusalDetail, 404, 409, described={
                         409: "Nothing to invoice, or the ticket is not ready for it."})})
    async def issue(case: str, tech: CurrentTechnician) -> Any:
        """Issue the invoice of the ticket's uninvoiced entries."""
        return _json(await run(service.issue_invoice(case, tech.id)))

    @router.post("/api/invoices/{number}/cancel", status_code=201,
                 response_model=None, responses={
                     201: {"model": CreditNoteOut, "description": "The credit note."},
                     **technician_errors(RefusalDetail, 404, 409, described={
                         404: "No such invoice.", 409: "The invoice is already cancelled."})})
    async def cancel(number: str, body: ReasonIn, tech: CurrentTechnician) -> Any:
        """Cancel an invoice with a credit note; its entries can be invoiced again."""
        return _json(await run(service.cancel_invoice(number, tech.id, body.reason)))

    @router.get("/api/invoices/{name}", response_model=None,
                responses={200: {"model": InvoiceDocument, "description":
                                 "`<number>`: JSON; `<number>.html`, `.pdf` (with the XML "
                                 "embedded) or `.xml` (XRechnung): the rendering.",
                                 "content": {
                                     "text/html": {"schema": {"type": "string"}},
                                     "application/pdf": {"schema": {"type": "string",
                                                                    "format": "binary"}},
                                     "application/xml": {"schema": {"type": "string"}}}},
                           **technician_errors(RefusalDetail, 404, described={
                               404: "No such invoice or credit note, or no such "
                                    "rendering."})})
    async def invoice(name: str) -> Response:
        """An invoice or credit note: JSON, or rendered by the name's suffix."""
        number, _, suffix = name.partition(".")
        doc = await run(service.find_document(number))
        if suffix == "html":
            return HTMLResponse(render.render_html(doc))
        if suffix == "xml":
            return Response(render.render_xml(doc), media_type="application/xml")
        if suffix == "pdf":
            pdf = render.embed_xml(render.render_pdf(doc), render.render_xml(doc))
            return Response(pdf, media_type="application/pdf")
        if suffix:
            raise HTTPException(404, detail=f"no rendering .{suffix}: use html, pdf or xml")
        return Response(msgspec.json.encode(doc), media_type="application/json")

    return router
