"""Technicians' answers, acceptances and resolutions mailed to the customer: built without
I/O, and sent once each by the ack service (real nats-server, real SMTP on loopback), with
two replicas and across restarts."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from services.ack.bootstrap import bootstrap
from services.ack.conversation import (
    File,
    build_customer_mail,
    conversation_key,
    conversation_message_id,
)
from services.ack.receipt import receipt_message_id
from services.ack.service import CONVERSATION_DURABLE, AckService
from shared.adapters.attachments import AttachmentStore
from shared.adapters.claims import ClaimBusy
from shared.adapters.eventstore import (
    STREAM,
    EventStore,
    PendingEvent,
    RecordedEvent,
    TicketHistory,
    with_conflict_retry,
)
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.ack.helpers import RefusingSmtp, events_of, wait_for_event, wait_until, with_smtp
from tests.ack.test_receipt import NOW, SENDER
from tests.factories import request_submitted
from tests.support import SmtpSink, consumers_idle

SUPPORT = SENDER.reply_to


def recorded(case: str, seq: int, event: ev.Event, event_id: str) -> RecordedEvent:
    return RecordedEvent(ticket_id=case, seq=seq, event_id=event_id, event=event)


def answer(message: str = "Bitte starten Sie den Drucker neu.", *, first_name: str = "Anna",
           attachments: tuple[ev.AttachmentRef, ...] = (),
           at: datetime | None = None) -> ev.TechnicianResponded:
    return ev.TechnicianResponded(at=at or datetime.now(UTC), technician="anna.schmidt",
                                  message=message, first_name=first_name,
                                  attachments=attachments)


def a_history(language: str = "de") -> tuple[TicketHistory, RecordedEvent]:
    request = request_submitted(at=NOW, language=language)
    case = request.case_number
    earlier = recorded(case, 3, answer("Wir schauen uns das an.", at=NOW), "respond-1")
    reply = ev.CustomerReplied(at=NOW, message_id="<kunde-1@example.de>",
                               sender="kunde@example.de", subject="AW", text="danke")
    events = [recorded(case, 1, request, "submit"),
              # The receipt as sent: before a change of the secret key, its tag differs.
              recorded(case, 2, ev.AckSent(at=NOW, message_id=receipt_message_id(
                  case, SUPPORT, "the-key-before-the-change-01"), recipient="k"), "ack"),
              earlier, recorded(case, 4, reply, "mail-1"),
              recorded(case, 6, ev.InternalNoteAdded(at=NOW, technician="anna", text="x"),
                       "note-1")]
    current = recorded(case, 5, answer(at=NOW), "respond-2")
    return TicketHistory(case, [*events[:4], current, events[4]]), current


def body(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_an_answer_is_threaded_after_the_receipt_earlier_answers_and_replies() -> None:
    history, current = a_history()
    case = history.ticket_id
    pdf = ev.AttachmentRef(sha256="a" * 64, filename="Anleitung.pdf",
                           content_type="application/pdf", size=4)
    mail = build_customer_mail(current, history, SENDER, NOW, reopen_days=14,
                               files=(File(pdf, b"%PDF"),))
    own_id = conversation_message_id(case, "answer", "respond-2", SUPPORT, SENDER.secret_key)
    earlier = conversation_message_id(case, "answer", "respond-1", SUPPORT, SENDER.secret_key)
    assert mail["Message-ID"] == own_id
    assert own_id.startswith(f"<answer.{case}.") and own_id.endswith("@msp.example>")
    assert mail["Subject"] == f"[SA#{case}] Drucker druckt nicht"
    assert mail["Reply-To"] == SUPPORT
    assert mail["To"].addresses[0].addr_spec == "kunde@example.de"
    assert mail["In-Reply-To"] == "<kunde-1@example.de>"  # the latest mail of the thread
    # The receipt by the id it was sent with (recorded in AckSent), not one made anew.
    receipt = receipt_message_id(case, SUPPORT, "the-key-before-the-change-01")
    assert receipt != receipt_message_id(case, SUPPORT, SENDER.secret_key)
    assert mail["References"].split() == [receipt, earlier, "<kunde-1@example.de>"]
    assert mail["Auto-Submitted"] is None  # a person's answer, not an automatic mail
    assert mail["Content-Language"] == "de"
    text = body(mail)
    assert "Guten Tag Erika Mustermann" in text
    assert "Bitte starten Sie den Drucker neu." in text
    assert "Anna\n" in text and "anna.schmidt" not in text  # the first name only
    [attached] = list(mail.iter_attachments())
    assert attached.get_filename() == "Anleitung.pdf"
    assert attached.get_content() == b"%PDF"


def test_an_english_ticket_gets_english_mails() -> None:
    history, current = a_history("en")
    mail = build_customer_mail(current, history, SENDER, NOW, reopen_days=14)
    assert mail["Content-Language"] == "en"
    assert "Hello Erika Mustermann" in body(mail) and "Kind regards" in body(mail)
    resolved = recorded(history.ticket_id, 7, ev.TicketResolved(at=NOW, technician="anna",
                                                                resolution="Toner getauscht"),
                        "resolve-1")
    notice = build_customer_mail(resolved, history, SENDER, NOW, reopen_days=14)
    assert notice["Subject"] == f"[SA#{history.ticket_id}] Resolved: Drucker druckt nicht"
    assert "within 14 days" in body(notice) and "Toner getauscht" in body(notice)
    assert notice["Auto-Submitted"] == "auto-generated"


def test_the_resolution_mail_says_how_to_reopen() -> None:
    history, _ = a_history()
    resolved = recorded(history.ticket_id, 7, ev.TicketResolved(at=NOW, technician="anna"),
                        "resolve-1")
    mail = build_customer_mail(resolved, history, SENDER, NOW, reopen_days=10)
    assert mail["Subject"] == f"[SA#{history.ticket_id}] Erledigt: Drucker druckt nicht"
    assert "innerhalb von 10 Tagen" in body(mail) and "wieder\ngeöffnet" in body(mail)
    accepted = recorded(history.ticket_id, 8, ev.TicketAccepted(at=NOW, technician="anna"),
                        "accept-1")
    assert "angenommen" in body(build_customer_mail(accepted, history, SENDER, NOW,
                                                    reopen_days=10))


# -- the ack service sends them ------------------------------------------------------------


async def append(store: EventStore, case: str, event: ev.Event, event_id: str) -> None:
    async def attempt() -> int:  # the running service appends too: retry like any writer
        return await store.append(case, [PendingEvent(event, event_id=event_id)],
                                  (await store.load(case)).version)

    await with_conflict_retry(attempt)


async def a_ticket(store: EventStore, **fields: object) -> str:
    request = request_submitted(at=datetime.now(UTC), **fields)  # type: ignore[arg-type]
    await store.append(request.case_number, [request], 0)
    return request.case_number


def conversation(sink: SmtpSink) -> list[EmailMessage]:
    return [m for m in sink.messages if not m["Message-ID"].startswith("<receipt.")]


async def test_every_answer_is_mailed_once_notes_and_empty_answers_never(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)) as system:
        case = await a_ticket(store)
        files = AttachmentStore(system.runtime.js, settings.inbound_mail.attachments_bucket)
        await files.ensure()
        ref = await files.put(b"step 1\n", filename="schritte.txt", content_type="text/plain")
        await append(store, case, answer("Erste Antwort"), "respond-a")
        await append(store, case, ev.InternalNoteAdded(at=datetime.now(UTC), technician="anna",
                                                       text="intern: Kunde ist schwierig"),
                     "note-a")
        await append(store, case, answer(""), "respond-empty")  # only stops the clock
        await append(store, case, answer("Zweite Antwort", attachments=(ref,)), "respond-b")
        mailed = await wait_for_event(store, case, ev.CustomerMailed, 2)
        assert await consumers_idle(system.runtime.js, STREAM, [CONVERSATION_DURABLE])
    mails = conversation(smtp_sink)
    assert [body(m).splitlines()[2] for m in mails] == ["Erste Antwort", "Zweite Antwort"]
    assert not any("intern" in body(m) for m in mails)
    assert [a.get_filename() for a in mails[1].iter_attachments()] == ["schritte.txt"]
    assert mails[1]["In-Reply-To"] == mails[0]["Message-ID"]
    assert [(m.kind, m.source_event_id) for m in mailed] == [("answer", "respond-a"),
                                                            ("answer", "respond-b")]
    assert {m.message_id for m in mailed} == {m["Message-ID"] for m in mails}


async def test_acceptance_and_resolution_are_mailed(settings: Settings, store: EventStore,
                                                    smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)):
        case = await a_ticket(store, has_sla=False, language="en")
        await append(store, case, ev.TicketAccepted(at=datetime.now(UTC), technician="anna"),
                     "accept")
        await append(store, case, ev.TicketResolved(at=datetime.now(UTC), technician="anna"),
                     "resolve")
        await wait_for_event(store, case, ev.CustomerMailed, 2)
    subjects = sorted(m["Subject"] for m in conversation(smtp_sink))
    assert subjects == [f"[SA#{case}] Request accepted: Drucker druckt nicht",
                        f"[SA#{case}] Resolved: Drucker druckt nicht"]


async def test_two_replicas_at_once_send_one_mail(settings: Settings, store: EventStore,
                                                  smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    case = await a_ticket(store)
    await append(store, case, answer(), "respond-1")
    event = (await store.load(case)).events[-1]
    async with running_system(settings, ()) as system:  # no consumers: the test calls
        replicas = [bootstrap(system.runtime), bootstrap(system.runtime)]
        for replica in replicas:
            await replica.start()
        results = await asyncio.gather(*(r.conversation(event) for r in replicas),
                                       return_exceptions=True)
        # The loser found the claim busy: its redelivery finds the mail recorded.
        for replica in replicas:
            await replica.conversation(event)
        for replica in replicas:
            await replica.stop()
    assert all(r is None or isinstance(r, ClaimBusy) for r in results)
    assert len(conversation(smtp_sink)) == 1
    assert len(await events_of(store, case, ev.CustomerMailed)) == 1


async def test_two_running_replicas_mail_each_answer_once(settings: Settings,
                                                          store: EventStore,
                                                          smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)) as first, running_system(settings, ("ack",)):
        cases = [await a_ticket(store) for _ in range(10)]
        for number in range(3):
            for case in cases:
                await append(store, case, answer(f"Antwort {number}"),
                             f"respond-{case}-{number}")  # event ids are unique in the log

        async def all_recorded() -> bool:
            counts = [len(await events_of(store, c, ev.CustomerMailed)) for c in cases]
            return all(count == 3 for count in counts)

        await wait_until(all_recorded, timeout_s=60)
        assert await all_recorded()
        assert await consumers_idle(first.runtime.js, STREAM, [CONVERSATION_DURABLE])
        senders = Counter([(await first.services[0].conversation_claims.get(  # type: ignore[attr-defined]
            conversation_key(c, "answer", f"respond-{c}-{n}"))).replica  # type: ignore[union-attr]
            for c in cases for n in range(3)])
    per_id = Counter(m["Message-ID"] for m in conversation(smtp_sink))
    assert len(per_id) == 30 and set(per_id.values()) == {1}
    for case in cases:
        assert len(await events_of(store, case, ev.CustomerMailed)) == 3
    assert len(senders) == 2  # both replicas sent


async def test_after_a_restart_a_redelivered_answer_is_not_mailed_again(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)):
        case = await a_ticket(store)
        await append(store, case, answer(), "respond-1")
        await wait_for_event(store, case, ev.CustomerMailed)
    event = next(r for r in (await store.load(case)).events
                 if isinstance(r.event, ev.TechnicianResponded))
    async with running_system(settings, ("ack",)) as restarted:
        service = restarted.services[0]
        assert isinstance(service, AckService)
        await service.conversation(event)  # the redelivery of an unacknowledged event
        assert await consumers_idle(restarted.runtime.js, STREAM, [CONVERSATION_DURABLE])
    assert len(conversation(smtp_sink)) == 1


async def test_a_mail_that_left_before_a_crash_is_recorded_not_resent(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    """The replica marked its claim ``sent`` and died before CustomerMailed landed: the
    restarted service records it from the claim and sends nothing."""
    settings = with_smtp(settings, smtp_sink.port)
    case = await a_ticket(store)
    await append(store, case, answer(), "respond-1")
    message_id = conversation_message_id(case, "answer", "respond-1", SUPPORT, SENDER.secret_key)
    async with running_system(settings, ()) as system:
        crashed = bootstrap(system.runtime)
        await crashed.start()
        claim = await crashed.conversation_claims.claim(
            conversation_key(case, "answer", "respond-1"), datetime.now(UTC))
        await crashed.conversation_claims.mark_sent(claim, datetime.now(UTC),
                                                    message_id=message_id)
        await crashed.stop()
    async with running_system(settings, ("ack",)):
        [mailed] = await wait_for_event(store, case, ev.CustomerMailed)
    assert mailed.message_id == message_id
    assert conversation(smtp_sink) == []


async def test_a_replica_that_died_mid_send_is_taken_over(settings: Settings,
                                                         store: EventStore,
                                                         smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port, claim_timeout_s=0.5)
    case = await a_ticket(store)
    await append(store, case, answer(), "respond-1")
    async with running_system(settings, ()) as system:
        crashed = bootstrap(system.runtime)
        await crashed.start()
        await crashed.conversation_claims.claim(conversation_key(case, "answer", "respond-1"),
                                                datetime.now(UTC) - timedelta(seconds=5))
        await crashed.stop()
    async with running_system(settings, ("ack",)):
        await wait_for_event(store, case, ev.CustomerMailed)
    assert len(conversation(smtp_sink)) == 1


async def test_old_answers_on_a_new_consumer_are_not_mailed(settings: Settings,
                                                            store: EventStore,
                                                            smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port, answer_max_age_hours=1.0)
    case = await a_ticket(store)
    await append(store, case, answer(at=datetime.now(UTC) - timedelta(hours=2)), "respond-old")
    async with running_system(settings, ("ack",)) as system:
        assert await consumers_idle(system.runtime.js, STREAM, [CONVERSATION_DURABLE])
    assert conversation(smtp_sink) == []
    assert await events_of(store, case, ev.CustomerMailed) == []


async def test_an_answer_refused_for_good_is_recorded_on_the_ticket_once(
        settings: Settings, store: EventStore) -> None:
    server = RefusingSmtp({"gibtsnicht@example.de": "550 5.1.1 no such user"}).start()
    settings = with_smtp(settings, server.port)
    try:
        async with running_system(settings, ("ack",)) as system:
            case = await a_ticket(store, email="gibtsnicht@example.de")
            await append(store, case, answer("Bitte neu starten."), "respond-x")
            [failed] = await wait_for_event(store, case, ev.CustomerMailFailed)
            assert await consumers_idle(system.runtime.js, STREAM, [CONVERSATION_DURABLE])
    finally:
        server.stop()
    assert (failed.kind, failed.source_event_id) == ("answer", "respond-x")
    assert "550" in failed.error
    assert await events_of(store, case, ev.CustomerMailFailed) == [failed]
    assert await events_of(store, case, ev.CustomerMailed) == []
    # Refused for good: tried once (and the receipt once), never again.
    assert server.rcpt_attempts == ["gibtsnicht@example.de"] * 2
