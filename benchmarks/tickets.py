"""Realistic ticket histories for filling a store, as encoded messages ready to publish.

Four kinds of ticket life, mixed as in a support desk: a normal SLA ticket worked to its
invoice, a priority ticket with paging, a customer without SLA who is declined, and a ticket
still in progress. As the event store writes them, personal fields are sealed under a data
key of the ticket (``shared.adapters.pii``), and that key is put into the ``pii_keys`` bucket before
the ticket's first event. Bodies without personal fields or case number are encoded once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.adapters.eventstore import HEADER_APPEND_SIZE, HEADER_EARLIER, ticket_subject
from shared.adapters.pii import PII_BUCKET, encrypt_field, has_personal_fields, transform
from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from shared.domain.events import encode_event
from shared.domain.events.codec import HEADER_EVENT_ID, HEADER_EVENT_TYPE, HEADER_SCHEMA_VERSION

Message = tuple[str, dict[str, str], bytes]

AT = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
PARTY = ev.ContractParty(name="Muster GmbH", street="Hauptstraße 5", postcode="10115",
                         city="Berlin", is_company=True)


def request(case_number: str, *, priority: bool = False, has_sla: bool = True
            ) -> ev.RequestSubmitted:
    return ev.RequestSubmitted(
        at=AT, case_number=case_number,
        contact=ev.Contact(first_name="Erika", last_name="Mustermann",
                           email="erika.mustermann@example.de", phone="+49 30 123456"),
        contract_party=PARTY, short_description="Drucker im 2. OG druckt nicht mehr",
        subject=ev.OrderSubject(description="Netzwerkdrucker", location="Raum 2.14",
                                manufacturer="Kyocera", model="ECOSYS M2540dn"),
        fault=ev.Fault(error_message="Fehler C6000", expected_behaviour="druckt",
                       actual_behaviour="zeigt Fehler und startet neu"),
        backup="backup_done_or_not_needed", priority=priority, has_sla=has_sla,
    )


def _time_logged(index: int) -> ev.TimeLogged:
    start = AT + timedelta(hours=index)
    return ev.TimeLogged(at=start, entry_id=f"entry-{index}", technician="t.schmidt",
                         start=start, end=start + timedelta(minutes=45), kind="work",
                         note="Fixiereinheit geprüft und getauscht")


def _reply(index: int) -> ev.CustomerReplied:
    return ev.CustomerReplied(at=AT + timedelta(hours=index), message_id=f"<r{index}@example.de>",
                              sender="erika.mustermann@example.de",
                              subject="Re: Ihre Anfrage", text="Der Fehler tritt wieder auf.")


INVOICE = ev.InvoiceIssued(
    at=AT, invoice_number="RE-2026-00042", invoice_date=date(2026, 11, 30),
    due_date=date(2026, 12, 14), service_period_start=date(2026, 11, 25),
    service_period_end=date(2026, 11, 25),
    seller=ev.Seller(name="IT-Service Beispiel", street="Weg 1", postcode="10115", city="Berlin"),
    buyer=PARTY,
    lines=(ev.InvoiceLine(kind="work", multiplier=Decimal("1"), minutes=90,
                          hourly_price=Decimal("95.00"), net=Decimal("142.50")),),
    net=Decimal("142.50"), vat_rate=Decimal("0.19"), vat=Decimal("27.08"),
    gross=Decimal("169.58"), entry_ids=("entry-0", "entry-1"), issued_by="t.schmidt",
)
ACK = ev.AckSent(at=AT, message_id="<ack@ticketcore>", recipient="erika.mustermann@example.de")
DEADLINE = ev.ResponseDeadlineSet(at=AT, deadline=AT + timedelta(hours=9))
RESPONDED = ev.TechnicianResponded(at=AT, technician="t.schmidt", message="Bin unterwegs.")
RESOLVED = ev.TicketResolved(at=AT, technician="t.schmidt", resolution="Fixierer getauscht")
CLOSED = ev.TicketClosed(at=AT, by="t.schmidt")

# What happens after the request, per kind of ticket life (the request comes first).
LIVES: tuple[tuple[ev.Event, ...], ...] = (
    (ACK, DEADLINE, RESPONDED, _reply(1), _time_logged(0), _time_logged(1), RESOLVED, INVOICE,
     CLOSED),
    (ACK, ev.PriorityEscalated(at=AT, technician="t.schmidt", reaction_deadline=AT),
     ev.OnCallReNotified(at=AT, technician="t.schmidt", attempt=1),
     ev.OnCallAcknowledged(at=AT, technician="t.schmidt"), RESPONDED, _time_logged(0),
     _time_logged(1), _time_logged(2), RESOLVED, INVOICE, CLOSED),
    (ACK, ev.AwaitingAcceptance(at=AT),
     ev.TicketDeclined(at=AT, technician="t.schmidt", reason="kein Vertrag")),
    (ACK, DEADLINE, RESPONDED, _reply(1)),
)
LONG_LIFE: tuple[ev.Event, ...] = (
    ACK, DEADLINE, RESPONDED,
    *(e for i in range(23) for e in (_reply(i), _time_logged(i))))
assert len(LONG_LIFE) + 1 == 50

_encoded: dict[int, bytes] = {}


def _encode_cached(event: ev.Event) -> bytes:
    body = _encoded.get(id(event))
    if body is None:
        body = _encoded[id(event)] = encode_event(event)
    return body


def message(ticket_id: str, index: int, event: ev.Event, body: bytes | None = None) -> Message:
    """One event as the store writes it (same subject and headers), id ``<ticket>-<index>``."""
    type_name = event.type_name()
    event_id = f"{ticket_id}-{index}"
    headers = {"Nats-Msg-Id": event_id, HEADER_EVENT_ID: event_id,
               HEADER_EVENT_TYPE: type_name, HEADER_SCHEMA_VERSION: str(event.SCHEMA_VERSION)}
    return ticket_subject(ticket_id, type_name), headers, body or _encode_cached(event)


def case_number(serial: int, node: str = "00") -> str:
    return with_check_digit(f"20261125{node}{serial:06d}")


def ticket_messages(ticket_id: str, life: tuple[ev.Event, ...], priority: bool = False,
                    has_sla: bool = True, protect: bool = True) -> list[Message]:
    """The ticket's events; with ``protect`` first its data key, personal fields sealed."""
    events = [request(ticket_id, priority=priority, has_sla=has_sla), *life]
    if not protect:
        return [message(ticket_id, index, event, encode_event(event) if index == 0 else None)
                for index, event in enumerate(events)]
    key = os.urandom(32)

    def seal(event: ev.Event) -> bytes:
        return encode_event(transform(
            event, lambda path, value: encrypt_field(key, ticket_id, path, value)))

    return [(f"$KV.{PII_BUCKET}.{ticket_id}", {}, key), *(
        message(ticket_id, index, event,
                seal(event) if index == 0 or has_personal_fields(event) else None)
        for index, event in enumerate(events))]


def is_event(message: Message) -> bool:
    return message[0].startswith("tickets.")


def with_sequence_index(messages: Iterable[Message]) -> Iterator[Message]:
    """Give each event the index headers the event store writes (the stream sequences of
    the ticket's earlier events), assuming an empty stream and publishes in this order on
    one connection (JetStream stores them in that order)."""
    seq = 0
    earlier: dict[str, list[int]] = {}
    for subject, headers, body in messages:
        if subject.startswith("tickets."):
            seq += 1
            seqs = earlier.setdefault(subject.split(".")[1], [])
            headers = {**headers, HEADER_EARLIER: ",".join(map(str, seqs)),
                       HEADER_APPEND_SIZE: "1"}
            seqs.append(seq)
        yield subject, headers, body


def realistic_stream(total_events: int, *, long_tickets: int = 0,
                     chunk_tickets: int = 500) -> Iterator[Message]:
    """About ``total_events`` events of interleaved tickets (as a busy desk writes them),
    with the store's per-ticket sequence index.

    ``long_tickets`` tickets of 50 events each are spread evenly over the whole stream
    (one of their events every ``total_events / 50`` events): the hard case for loading.
    Their ids are ``long_ticket_ids(long_tickets)``.
    """
    return with_sequence_index(_interleaved(total_events, long_tickets, chunk_tickets))


def _interleaved(total_events: int, long_tickets: int, chunk_tickets: int
                 ) -> Iterator[Message]:
    long = [ticket_messages(t, LONG_LIFE) for t in long_ticket_ids(long_tickets)]
    depth_long = len(long[0]) if long else 0
    every = max(1, total_events // depth_long) if long else 0
    emitted = 0
    long_index = 0
    serial = 0
    while emitted < total_events:
        chunk = []
        for _ in range(chunk_tickets):
            kind = serial % len(LIVES)
            chunk.append(ticket_messages(case_number(serial), LIVES[kind],
                                         priority=kind == 1, has_sla=kind != 2))
            serial += 1
        depth = max(len(t) for t in chunk)
        for position in range(depth):
            for messages in chunk:
                if position < len(messages) and emitted < total_events:
                    if long and emitted >= long_index * every and long_index < depth_long:
                        for messages_of_long in long:
                            yield messages_of_long[long_index]
                        long_index += 1
                    yield messages[position]
                    emitted += is_event(messages[position])
    while long and long_index < depth_long:  # a tiny stream: the rest of the long tickets
        for messages_of_long in long:
            yield messages_of_long[long_index]
        long_index += 1


def long_ticket_ids(count: int) -> list[str]:
    return [case_number(serial, node="99") for serial in range(count)]
