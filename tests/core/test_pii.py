"""Crypto-shredding: personal data is unreadable in the log, and gone after erasure."""

from __future__ import annotations

from decimal import Decimal

from msgspec.structs import replace
from nats.aio.client import Client as NatsClient

from shared.adapters.eventstore import EventStore
from shared.adapters.pii import ERASED
from shared.application.erasure import erase_ticket, tickets_of_customer
from shared.domain import events as ev
from tests.factories import NOW, request_submitted


async def raw_bodies(nc: NatsClient, ticket: str) -> bytes:
    js = nc.jetstream()
    bodies = b""
    seq = 0
    while True:
        try:
            msg = await js.get_msg("TICKETS", seq=seq + 1, next=True,
                                   subject=f"tickets.{ticket}.>")
        except Exception:
            return bodies
        bodies += msg.data or b""
        seq = msg.seq


async def test_personal_fields_are_encrypted_in_the_log_but_read_plain(
        nc: NatsClient, store: EventStore) -> None:
    submitted = request_submitted(case_number="P1", email="erika@kunde.de", company=None)
    version = await store.append("P1", [submitted], 0)
    await store.append("P1", [ev.AckSent(at=NOW, message_id="<m>",
                                         recipient="erika@kunde.de")], version)
    stored = await raw_bodies(nc, "P1")
    for personal in (b"erika@kunde.de", b"Mustermann", b"+49 30 123456", b"Hauptstra"):
        assert personal not in stored
    assert b"Drucker druckt nicht" in stored and b"P1" in stored  # not personal
    history = await store.load("P1")
    assert history.events[0].event == submitted
    assert history.events[1].event.recipient == "erika@kunde.de"  # type: ignore[attr-defined]


async def test_a_companys_address_stays_readable(nc: NatsClient, store: EventStore) -> None:
    await store.append("P2", [request_submitted(case_number="P2", company="Muster GmbH")], 0)
    stored = await raw_bodies(nc, "P2")
    assert b"Muster GmbH" in stored and b"Mustermann" not in stored


async def test_erasure_makes_personal_data_unreadable_and_keeps_the_amounts(
        nc: NatsClient, store: EventStore) -> None:
    submitted = request_submitted(case_number="P3", email="weg@kunde.de", company=None)
    version = await store.append("P3", [submitted], 0)
    invoice = ev.InvoiceIssued(
        at=NOW, invoice_number="RE-2026-000001", invoice_date=NOW.date(),
        due_date=NOW.date(), service_period_start=NOW.date(),
        service_period_end=NOW.date(),
        seller=ev.Seller(name="S", street="s", postcode="1", city="c"),
        buyer=submitted.contract_party, lines=(), net=Decimal("65.00"),
        vat_rate=Decimal("0.19"), vat=Decimal("12.35"), gross=Decimal("77.35"))
    await store.append("P3", [invoice], version)
    await store.append("P4", [request_submitted(case_number="P4", email="bleibt@kunde.de")], 0)

    assert await tickets_of_customer(store, "WEG@kunde.de") == ["P3"]
    assert await erase_ticket(store, "P3", by="dpo", reason="Art. 17 request 42")
    assert await erase_ticket(store, "P3", by="dpo")  # twice is harmless

    # A fresh store (another process) sees the erasure too.
    other = EventStore(nc)
    for reader in (store, other):
        history = await reader.load("P3")
        request, issued = history.events[0].event, history.events[1].event
        assert request.contact.email == ERASED  # type: ignore[attr-defined]
        assert request.contact.last_name == ERASED  # type: ignore[attr-defined]
        assert request.case_number == "P3" and request.short_description  # type: ignore[attr-defined]
        assert issued.buyer.name == ERASED  # type: ignore[attr-defined]
        assert issued.gross == Decimal("77.35")  # type: ignore[attr-defined]
        erased = [r.event for r in history.events if isinstance(r.event,
                                                                ev.PersonalDataErased)]
        assert len(erased) == 1 and erased[0].by == "dpo"
    untouched = await other.load("P4")
    assert untouched.events[0].event.contact.email == "bleibt@kunde.de"  # type: ignore[attr-defined]
    assert not await erase_ticket(store, "P9", by="dpo")


async def test_replay_reads_every_key_at_once_and_honours_erasure(
        nc: NatsClient, store: EventStore) -> None:
    for case in ("R1", "R2", "R3"):
        await store.append(case, [request_submitted(case_number=case,
                                                    email=f"{case.lower()}@kunde.de")], 0)
    await erase_ticket(store, "R2", by="dpo")
    reader = EventStore(nc)
    fetched: list[str] = []
    original = reader.vault.key_for_reading  # type: ignore[union-attr]

    async def counting(ticket_id: str) -> bytes | None:
        fetched.append(ticket_id)
        return await original(ticket_id)

    reader.vault.key_for_reading = counting  # type: ignore[method-assign,union-attr]
    emails = {r.ticket_id: r.event.contact.email async for r in reader.replay(1)  # type: ignore[attr-defined]
              if isinstance(r.event, ev.RequestSubmitted)}
    assert emails == {"R1": "r1@kunde.de", "R2": ERASED, "R3": "r3@kunde.de"}
    assert fetched == []  # no key fetched one by one


async def test_a_replay_may_leave_personal_data_sealed(store: EventStore) -> None:
    await store.append("S1", [request_submitted(case_number="S1", email="s1@kunde.de")], 0)
    sealed = [r.event async for r in store.replay(1, reveal_personal_data=False)]
    assert sealed[0].contact.email.startswith("pii:v1:")  # type: ignore[attr-defined]
    assert sealed[0].short_description == "Drucker druckt nicht"  # type: ignore[attr-defined]


async def test_file_names_answers_and_notes_are_sealed_each_bound_to_its_place(
        nc: NatsClient, store: EventStore) -> None:
    files = tuple(ev.AttachmentRef(sha256=c * 64, filename=f"Lohn-Zybrowski-{c}.pdf",
                                   content_type="application/pdf", size=3) for c in "ab")
    events: list[ev.Event] = [
        request_submitted(case_number="P9"),
        ev.CustomerReplied(at=NOW, message_id="<r>", sender="k@kunde.de", subject="AW",
                           text="Anbei", attachments=files),
        ev.TechnicianResponded(at=NOW, technician="anna", message="Hallo Frau Zybrowski",
                               attachments=files[:1]),
        ev.InternalNoteAdded(at=NOW, technician="anna", text="Zybrowski ruft an"),
        ev.TicketResolved(at=NOW, technician="anna", resolution="Danke, Frau Zybrowski")]
    await store.append("P9", events, 0)
    stored = await raw_bodies(nc, "P9")
    assert b"Zybrowski" not in stored and b"a" * 64 in stored  # the hash stays for erasure
    assert [r.event for r in (await store.load("P9")).events] == events

    # Each name is bound to its own element: swapped ciphertexts read as erased.
    sealed = await store.vault.protect("P9", events[1], existing=True)  # type: ignore[union-attr]
    swapped = replace(sealed, attachments=tuple(reversed(sealed.attachments)))
    revealed = await store.vault.reveal("P9", swapped)  # type: ignore[union-attr]
    assert [f.filename for f in revealed.attachments] == [ERASED, ERASED]

    await erase_ticket(store, "P9", by="dsb", attachments_bucket=None)
    after = (await store.load("P9")).events
    assert after[1].event.attachments[0].filename == ERASED  # type: ignore[attr-defined]
    assert after[2].event.message == ERASED  # type: ignore[attr-defined]
