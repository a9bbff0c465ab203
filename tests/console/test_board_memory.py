"""The console's read model keeps full states only for tickets that can be in the queue."""

from __future__ import annotations

from decimal import Decimal

from services.oncall.ticketboard import TicketBoard
from shared.adapters.eventstore import EventStore
from shared.domain import events as ev
from tests.factories import NOW, request_submitted


def invoice(number: str) -> ev.InvoiceIssued:
    return ev.InvoiceIssued(
        at=NOW, invoice_number=number, invoice_date=NOW.date(), due_date=NOW.date(),
        service_period_start=NOW.date(), service_period_end=NOW.date(),
        seller=ev.Seller(name="S", street="s", postcode="1", city="c"),
        buyer=ev.ContractParty(name="B", street="s", postcode="1", city="c"), lines=(),
        net=Decimal("0"), vat_rate=Decimal("0.19"), vat=Decimal("0"), gross=Decimal("0"))


async def test_finished_tickets_are_dropped_and_come_back_when_reopened(
        store: EventStore) -> None:
    open_version = await store.append("B1", [request_submitted()], 0)
    version = await store.append("B2", [request_submitted()], 0)
    version = await store.append("B2", [ev.TicketResolved(at=NOW, technician="a"),
                                        invoice("RE-1")], version)
    board = TicketBoard(store)
    await board.start()
    try:
        assert set(board.tickets) == {"B1"} and board.finished == {"B2"}
        # The invoice is cancelled and the ticket reopened: it is back in the queue.
        version = await store.append("B2", [ev.InvoiceCancelled(
            at=NOW, invoice_number="RE-1", credit_note_number="GS-1", reason="x")], version)
        last = await store.append("B2", [ev.TicketReopened(at=NOW, by="a")], version)
        assert await board.caught_up(last)
        assert board.tickets["B2"].status == "in_progress" and "B2" not in board.finished
        last = await store.append("B1", [ev.TicketResolved(at=NOW, technician="a"),
                                          ev.TicketClosed(at=NOW, by="a")], open_version)
        assert await board.caught_up(last)
        assert "B1" not in board.tickets and "B1" in board.finished
    finally:
        await board.stop()
