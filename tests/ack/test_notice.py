"""The notice that credentials were removed from a customer reply: built without I/O, and
sent once per redacted reply by the ack service (real nats-server, real SMTP on loopback)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from services.ack.bootstrap import bootstrap
from services.ack.notice import NOTICE_BUCKET, NoticeSendFailed, build_notice, notice_key
from services.ack.service import DURABLE, NOTICES_DURABLE, AckService
from shared.adapters.claims import ClaimBusy
from shared.adapters.eventstore import STREAM, EventStore, PendingEvent, with_conflict_retry
from shared.adapters.natsserver import free_port
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.runtime.links import status_path
from shared.settings import Settings
from tests.ack.helpers import wait_until, with_smtp
from tests.ack.test_receipt import NOW, SENDER
from tests.factories import request_submitted
from tests.support import SmtpSink, consumers_idle


def customer_reply(*, redacted: bool, at: datetime | None = None, sender: str = "kunde@example.de",
                   message_id: str = "<reply-1@example.de>") -> ev.CustomerReplied:
    return ev.CustomerReplied(
        at=at or datetime.now(UTC), message_id=message_id, sender=sender,
        subject="AW: [SA#202611260000427] Drucker druckt nicht",
        text="Das Passwort lautet [REDACTED]" if redacted else "Fehler 49", redacted=redacted)


async def submit_with_replies(store: EventStore, *events: ev.Event) -> str:
    request = request_submitted(at=datetime.now(UTC))
    case = request.case_number
    await store.append(case, [PendingEvent(request, event_id=f"submit-{case}")], 0)
    for number, event in enumerate(events):
        pending = [PendingEvent(event, event_id=f"mail-{case}-{number}")]

        async def append(pending: list[PendingEvent] = pending) -> int:
            # The running ack service appends to the same ticket (AckSent): retry like any writer.
            return await store.append(case, pending, (await store.load(case)).version)

        await with_conflict_retry(append)
    return case


def notices(sink: SmtpSink) -> list[EmailMessage]:
    return [m for m in sink.messages if m["Message-ID"].startswith("<notice.")]


def test_notice_headers_and_text_in_the_tickets_language() -> None:
    request = request_submitted(case_number="202611260000427")
    reply = customer_reply(redacted=True)
    key = notice_key("202611260000427", "mail-1")
    german = build_notice(reply, request, key, SENDER, NOW)
    assert german["Subject"] == "[SA#202611260000427] Zugangsdaten aus Ihrer Nachricht entfernt"
    assert german["Auto-Submitted"] == "auto-replied"
    assert german["In-Reply-To"] == german["References"] == "<reply-1@example.de>"
    assert german["Message-ID"] == f"<notice.{key}@msp.example>"
    assert german["To"] == "Erika Mustermann <kunde@example.de>"
    assert german["Reply-To"] == "auftrag@msp.example"
    assert german["Content-Language"] == "de"
    text = german.get_content()
    assert text.startswith("Guten Tag Erika Mustermann,") and "entfernt" in text
    assert "https://support.example" + status_path(SENDER.secret_key, "202611260000427") in text

    english = build_notice(customer_reply(redacted=True, sender="kollege@example.de"),
                           request_submitted(case_number="202611260000427", language="en"),
                           key, SENDER, NOW)
    assert english["Subject"] == "[SA#202611260000427] Credentials removed from your message"
    assert english["To"] == "kollege@example.de"  # not the contact: no name guessed
    assert english.get_content().startswith("Hello,\n") and "removed" in english.get_content()
    assert notice_key("202611260000427", "mail-2") != key


async def test_one_notice_per_redacted_reply_none_for_clean_old_or_automatic_mail(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    now = datetime.now(UTC)
    async with running_system(settings, ("ack",)) as system:
        case = await submit_with_replies(
            store,
            customer_reply(redacted=False, message_id="<clean@example.de>"),
            customer_reply(redacted=True, at=now - timedelta(days=3),
                           message_id="<old@example.de>"),
            ev.AutoReplyRecorded(at=now, message_id="<ooo@example.de>",
                                 sender="kunde@example.de", subject="Abwesend", reason="ooo"),
            ev.ReplyQuarantined(at=now, message_id="<q@example.de>", sender="x@example.net",
                                subject="Passwort [REDACTED]", reason="unknown sender"),
            customer_reply(redacted=True, message_id="<first@example.de>"),
            customer_reply(redacted=True, message_id="<second@example.de>"))
        # Receipt + two notices. Replies of one ticket are handled in order, so once the
        # last reply's notice is out, every earlier reply has been decided.
        await wait_until(lambda: len(notices(smtp_sink)) >= 2 and len(smtp_sink.messages) >= 3)
        # The sink has the mail before the claim says so: wait until both are settled.
        assert await consumers_idle(system.runtime.js, STREAM, [NOTICES_DURABLE, DURABLE])
        service = system.services[0]
        assert isinstance(service, AckService)
        for recorded in (await store.load(case)).events:  # redelivery of everything
            await service.notices(recorded)
    assert [m["In-Reply-To"] for m in notices(smtp_sink)] == [
        "<first@example.de>", "<second@example.de>"]
    assert len(smtp_sink.messages) == 3
    assert all(m["Subject"] == f"[SA#{case}] Zugangsdaten aus Ihrer Nachricht entfernt"
               for m in notices(smtp_sink))


async def test_two_replicas_send_one_notice_per_reply(settings: Settings, store: EventStore,
                                                      smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    case = await submit_with_replies(store, customer_reply(redacted=True))
    recorded = (await store.load(case)).events[1]
    async with running_system(settings, ()) as system:
        replicas = [bootstrap(system.runtime), bootstrap(system.runtime)]
        for replica in replicas:
            await replica.start()
        results = await asyncio.gather(*(r.notices(recorded) for r in replicas),
                                       return_exceptions=True)
        kv = await system.runtime.js.key_value(NOTICE_BUCKET)
        assert (await kv.get(notice_key(case, recorded.event_id))).value is not None
    assert len(notices(smtp_sink)) == 1
    assert all(r is None or isinstance(r, ClaimBusy) for r in results)

    async with running_system(settings, ("ack",)) as first, running_system(settings, ("ack",)):
        cases = [await submit_with_replies(store, customer_reply(redacted=True))
                 for _ in range(20)]
        await wait_until(lambda: len(notices(smtp_sink)) >= 21, timeout_s=30)
        # Every reply handled and acknowledged by one replica or the other: no second
        # notice can come after this point.
        assert await consumers_idle(first.runtime.js, STREAM, [NOTICES_DURABLE, DURABLE])
    per_id = Counter(m["Message-ID"] for m in notices(smtp_sink))
    assert len(per_id) == 21 and set(per_id.values()) == {1}
    assert {m["Subject"].split("]")[0].removeprefix("[SA#") for m in notices(smtp_sink)} == {
        case, *cases}


async def test_a_notice_is_retried_after_a_temporary_failure(settings: Settings,
                                                             store: EventStore) -> None:
    port = free_port()  # nothing listens yet
    settings = with_smtp(settings, port)
    case = await submit_with_replies(store, customer_reply(redacted=True))
    recorded = (await store.load(case)).events[1]
    sink = SmtpSink(port=port)
    async with running_system(settings, ()) as system:
        service = bootstrap(system.runtime)
        await service.start()
        try:
            await service.notices(recorded)
        except NoticeSendFailed:
            pass
        else:
            raise AssertionError("the send should have failed")
        assert await service.notice_claims.get(notice_key(case, recorded.event_id)) is None
        sink.start()
        try:
            await service.notices(recorded)
            await service.notices(recorded)
        finally:
            sink.stop()
        claim = await service.notice_claims.get(notice_key(case, recorded.event_id))
    assert len(sink.messages) == 1
    assert claim is not None and claim.state == "sent" and claim.recipient == ""
