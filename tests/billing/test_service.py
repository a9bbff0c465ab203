"""The billing service against a real nats-server, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import facturx
import httpx
import pytest

from services.billing import render
from services.billing.bootstrap import bootstrap
from services.billing.service import BillingService, TimeEntryIn
from shared.adapters.eventstore import EventStore, PendingEvent
from shared.domain import events as ev
from shared.domain.ticket.decide import DomainError
from shared.runtime.accounts import hash_token
from shared.runtime.app import running_system
from shared.runtime.runtime import connect
from shared.settings import Settings
from tests.factories import request_submitted
from tests.support import serve_app

TOKEN = "billing-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def billing_settings(settings: Settings, tmp_path: Path) -> Settings:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[[technicians]]\nid = "anna"\nname = "Anna"\n'
                        f'token_hashes = ["{hash_token(TOKEN)}"]\n')
    return settings.model_copy(update={"accounts_file": accounts})


@pytest.fixture
async def api(billing_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    async with running_system(billing_settings, ("billing",)) as system:
        service = system.services[0]
        assert isinstance(service, BillingService)
        service.clock = lambda: NOW
        async with serve_app(system.http_app()) as base_url, \
                httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=20) as client:
            yield client, system


async def new_ticket(store: EventStore, *, priority: bool = True, resolved: bool = False,
                     entries: tuple[tuple[str, str, str], ...] = ()) -> str:
    request = request_submitted(priority=priority)
    events: list[ev.Event] = [request]
    for index, (start, end, kind) in enumerate(entries):
        events.append(ev.TimeLogged(at=NOW, entry_id=f"e{index}", technician="anna",
                                    start=datetime.fromisoformat(start),
                                    end=datetime.fromisoformat(end), kind=kind))  # type: ignore[arg-type]
    if resolved:
        events.append(ev.TicketResolved(at=NOW, technician="anna"))
    await store.append(request.case_number, events, 0)
    return request.case_number


EXAMPLE = (("2026-11-25T17:50:00+01:00", "2026-11-25T18:20:00+01:00", "work"),)


async def test_time_is_logged_over_http_and_priced_as_a_running_total(api, store) -> None:
    client, _ = api
    case = await new_ticket(store)
    logged = await client.post(f"/api/tickets/{case}/time", json={
        "start": "2026-11-25T17:50:00+01:00", "end": "2026-11-25T18:20:00+01:00",
        "kind": "work", "note": "Drucker", "entry_id": "first"})
    assert logged.status_code == 201, logged.text
    assert logged.json()["technician"] == "anna"
    again = await client.post(f"/api/tickets/{case}/time", json={
        "start": "2026-11-25T17:50:00+01:00", "end": "2026-11-25T18:20:00+01:00",
        "kind": "work", "entry_id": "first"})
    assert again.status_code == 201  # same entry id: no second entry
    total = (await client.get(f"/api/tickets/{case}/billing")).json()
    assert (total["net"], total["vat"], total["gross"]) == ("86.67", "16.47", "103.14")
    assert len(total["entries"]) == 1
    voided = await client.post(f"/api/tickets/{case}/time/first/void", json={"reason": "typo"})
    assert voided.status_code == 200
    assert (await client.get(f"/api/tickets/{case}/billing")).json()["net"] == "0.00"
    history = await store.load(case)
    assert [r.type_name for r in history.events] == [
        "RequestSubmitted", "TimeLogged", "TimeEntryVoided"]


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"start": "2026-11-25T18:20:00+01:00", "end": "2026-11-25T17:50:00+01:00",
      "kind": "work"}, 422, "end must be after start"),
    ({"start": "2026-11-25T17:50:00+01:00", "end": "2026-11-25T18:20:00+01:00",
      "kind": "play"}, 422, "unknown kind"),
    ({"start": "2026-11-27T17:50:00+01:00", "end": "2026-11-27T18:20:00+01:00",
      "kind": "work"}, 422, "future"),
    ({"start": "2026-11-25T18:00:00+01:00", "end": "2026-11-25T18:30:00+01:00",
      "kind": "travel"}, 422, "overlaps"),
    ({"start": "2026-11-25T17:50:00", "end": "2026-11-25T18:20:00+01:00",
      "kind": "work"}, 422, "offset"),
    ({"start": "yesterday", "end": "2026-11-25T18:20:00+01:00", "kind": "work"}, 422, "start"),
])
async def test_bad_time_entries_are_refused_and_store_nothing(api, store, body, status,
                                                              message) -> None:
    client, _ = api
    case = await new_ticket(store, entries=EXAMPLE)
    response = await client.post(f"/api/tickets/{case}/time", json=body)
    assert response.status_code == status
    assert message in response.text
    assert len((await store.load(case)).events) == 2


async def test_time_needs_authentication_and_an_open_ticket(api, store) -> None:
    client, _ = api
    case = await new_ticket(store, entries=EXAMPLE)
    body = {"start": "2026-11-25T10:00:00+01:00", "end": "2026-11-25T10:20:00+01:00",
            "kind": "work"}
    anonymous = await client.post(f"/api/tickets/{case}/time", json=body,
                                  headers={"Authorization": "Bearer wrong"})
    assert anonymous.status_code == 401
    assert (await client.post("/api/tickets/20990101000010/time", json=body)).status_code == 404
    not_resolved = await client.post(f"/api/tickets/{case}/invoice")
    assert not_resolved.status_code == 409
    assert not_resolved.json()["detail"]["code"] == "not_billable"
    assert [r.type_name for r in (await store.load(case)).events] == [
        "RequestSubmitted", "TimeLogged"]  # refused: nothing appended
    logged = await client.post(f"/api/tickets/{case}/time", json=body)  # still open for time
    assert logged.status_code == 201, logged.text
    issued = await new_ticket(store, entries=EXAMPLE, resolved=True)
    assert (await client.post(f"/api/tickets/{issued}/invoice")).status_code == 201
    refused = await client.post(f"/api/tickets/{issued}/time", json=body)
    assert refused.status_code == 409
    assert "invoiced" in refused.text


async def test_an_invoice_is_issued_rendered_and_replayed(api, store) -> None:
    client, _ = api
    case = await new_ticket(store, entries=EXAMPLE, resolved=True)
    not_resolved = await new_ticket(store, entries=EXAMPLE)
    refused = await client.post(f"/api/tickets/{not_resolved}/invoice")
    assert refused.status_code == 409
    response = await client.post(f"/api/tickets/{case}/invoice")
    assert response.status_code == 201, response.text
    invoice = response.json()
    number = invoice["invoice_number"]
    assert number == "RE-2026-000001"  # the refusal took no number
    assert (invoice["invoice_date"], invoice["due_date"]) == ("2026-11-26", "2026-12-06")
    assert (invoice["service_period_start"], invoice["service_period_end"]) == (
        "2026-11-25", "2026-11-25")
    assert (invoice["net"], invoice["vat"], invoice["gross"]) == ("86.67", "16.47", "103.14")
    assert invoice["buyer"]["name"] == "Muster GmbH"
    assert invoice["seller"]["vat_id"] and invoice["calendar_version"].startswith("holidays-")
    second = await client.post(f"/api/tickets/{case}/invoice")
    assert second.status_code == 409  # nothing left to invoice
    html = (await client.get(f"/api/invoices/{number}.html")).text
    assert number in html and "103,14 €" in html and "Muster GmbH" in html
    xml = (await client.get(f"/api/invoices/{number}.xml")).content
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    pdf = (await client.get(f"/api/invoices/{number}.pdf")).content
    assert pdf.startswith(b"%PDF")
    filename, embedded = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)
    assert (filename, embedded) == ("factur-x.xml", xml)
    assert (await client.get("/api/invoices/RE-2026-999999.xml")).status_code == 404
    # Replay: the stored event renders to the same bytes.
    history = await store.load(case)
    stored = next(r.event for r in history.events if isinstance(r.event, ev.InvoiceIssued))
    assert render.render_xml(render.document(stored, case)) == xml
    assert render.render_html(render.document(stored, case)) == html
    assert history.state.status == "invoiced"


async def test_a_cancellation_is_a_credit_note_and_a_new_invoice_follows(api, store) -> None:
    client, _ = api
    case = await new_ticket(store, entries=EXAMPLE, resolved=True)
    first = (await client.post(f"/api/tickets/{case}/invoice")).json()["invoice_number"]
    no_reason = await client.post(f"/api/invoices/{first}/cancel", json={"reason": " "})
    assert no_reason.status_code == 422
    cancelled = await client.post(f"/api/invoices/{first}/cancel",
                                  json={"reason": "falscher Stundensatz"})
    assert cancelled.status_code == 201, cancelled.text
    credit_note = cancelled.json()["credit_note_number"]
    assert credit_note == "GS-2026-000001"
    xml = (await client.get(f"/api/invoices/{credit_note}.xml")).content
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml and first.encode() in xml
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    second = (await client.post(f"/api/tickets/{case}/invoice")).json()["invoice_number"]
    assert second == "RE-2026-000002"
    # The first invoice is still there, unchanged.
    assert (await client.get(f"/api/invoices/{first}")).json()["number"] == first


async def test_two_replicas_number_invoices_uniquely_without_gaps(
        billing_settings: Settings, store: EventStore) -> None:
    replicas = [bootstrap(await connect(billing_settings, billing_settings.nats.url or ""),
                          clock=lambda: NOW) for _ in range(2)]
    for replica in replicas:
        await replica.start()
    try:
        cases = [await new_ticket(store, entries=EXAMPLE, resolved=True) for _ in range(8)]
        # Every ticket is issued by both replicas at once: one invoice each, no gaps.
        results = await asyncio.gather(*(replica.issue_invoice(case, "anna")
                                         for case in cases for replica in replicas))
        numbers = {case: set() for case in cases}
        for (case, _), invoice in zip([(c, r) for c in cases for r in replicas], results,
                                      strict=True):
            numbers[case].add(invoice.invoice_number)
        assert all(len(found) == 1 for found in numbers.values())
        issued = sorted(n for found in numbers.values() for n in found)
        assert issued == [f"RE-2026-{i:06d}" for i in range(1, 9)]
        for case in cases:
            history = await store.load(case)
            assert sum(isinstance(r.event, ev.InvoiceIssued) for r in history.events) == 1
    finally:
        for replica in replicas:
            await replica.runtime.close()


async def test_a_retry_after_an_append_that_never_reached_the_log_reuses_the_number(
        billing_settings: Settings, store: EventStore) -> None:
    runtime = await connect(billing_settings, billing_settings.nats.url or "")
    service = bootstrap(runtime, clock=lambda: NOW)
    await service.start()
    try:
        case = await new_ticket(store, entries=EXAMPLE, resolved=True)
        original = store.append
        failures = iter([True])

        async def failing_append(*args, **kwargs):  # the first append is lost
            if next(failures, False):
                raise ConnectionError("lost")
            return await original(*args, **kwargs)

        store_of_service = service.store
        store_of_service.append = failing_append  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await service.issue_invoice(case, "anna")
        invoice = await service.issue_invoice(case, "anna")
        assert invoice.invoice_number == "RE-2026-000001"
    finally:
        await runtime.close()


async def test_a_retry_after_a_stored_append_whose_answer_was_lost_issues_one_invoice(
        billing_settings: Settings, store: EventStore) -> None:
    """The invoice is in the log, but the answer to the append never came back (a lost
    connection): the retry issues no second invoice (the ticket's time is invoiced: the
    decider refuses, as the API answers 409), and the number series has no gap."""
    runtime = await connect(billing_settings, billing_settings.nats.url or "")
    service = bootstrap(runtime, clock=lambda: NOW)
    await service.start()
    try:
        case = await new_ticket(store, entries=EXAMPLE, resolved=True)
        original = service.store.append
        answers_lost = iter([True])

        async def stored_but_answer_lost(*args, **kwargs):
            version = await original(*args, **kwargs)  # the server stored it
            if next(answers_lost, False):
                raise ConnectionError("the acknowledgement was lost")
            return version

        service.store.append = stored_but_answer_lost  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await service.issue_invoice(case, "anna")
        with pytest.raises(DomainError):
            await service.issue_invoice(case, "anna")
        history = await store.load(case)
        assert [r.event.invoice_number for r in history.events  # type: ignore[attr-defined]
                if isinstance(r.event, ev.InvoiceIssued)] == ["RE-2026-000001"]
        second = await new_ticket(store, entries=EXAMPLE, resolved=True)
        assert (await service.issue_invoice(second, "anna")).invoice_number == "RE-2026-000002"
    finally:
        await runtime.close()


async def test_logging_directly_refuses_entries_on_closed_tickets(
        billing_settings: Settings, store: EventStore) -> None:
    runtime = await connect(billing_settings, billing_settings.nats.url or "")
    service = bootstrap(runtime, clock=lambda: NOW)
    try:
        case = await new_ticket(store, resolved=True)
        await store.append(case, [PendingEvent(ev.TicketClosed(at=NOW, by="anna"),
                                               event_id="close")],
                           (await store.load(case)).version)
        entry = TimeEntryIn(start=datetime(2026, 11, 25, 9, tzinfo=UTC),
                            end=datetime(2026, 11, 25, 10, tzinfo=UTC), kind="work")
        with pytest.raises(DomainError, match="closed"):
            await service.log_time(case, "anna", entry)
    finally:
        await runtime.close()
