"""The ack service against a real nats-server and real SMTP servers on loopback."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.ack.bootstrap import bootstrap
from services.ack.handler import RECEIPT_BUCKET, ReceiptSendFailed
from services.ack.service import DURABLE, AckService
from shared.adapters.claims import ClaimBusy
from shared.adapters.eventstore import STREAM, EventStore, TicketHistory
from shared.adapters.natsserver import free_port
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.runtime.links import status_path
from shared.settings import Settings
from tests.ack.helpers import (
    RefusingSmtp,
    events_of,
    wait_for_event,
    wait_until,
    with_smtp,
)
from tests.factories import request_submitted
from tests.support import SmtpSink, consumers_idle


async def submit(store: EventStore, **fields: object) -> ev.RequestSubmitted:
    request = request_submitted(at=datetime.now(UTC), **fields)  # type: ignore[arg-type]
    await store.append(request.case_number, [request], 0)
    return request


async def test_receipt_is_sent_and_recorded(settings: Settings, store: EventStore,
                                            smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)) as system:
        german = await submit(store)
        english = await submit(store, language="en", email="customer@example.com")
        sent = {r.case_number: await wait_for_event(store, r.case_number, ev.AckSent)
                for r in (german, english)}
        public_url = system.runtime.public_url
    mails = {m["Message-ID"]: m for m in smtp_sink.messages}
    assert len(smtp_sink.messages) == 2
    for request, language in ((german, "de"), (english, "en")):
        [ack] = sent[request.case_number]
        mail = mails[ack.message_id]
        assert ack.recipient == request.contact.email
        assert mail["To"].addresses[0].addr_spec == request.contact.email
        assert mail["Subject"] == f"[SA#{request.case_number}] {request.short_description}"
        assert mail["Reply-To"] == settings.inbound_mail.support_address
        assert mail["Auto-Submitted"] == "auto-replied"
        assert mail["Content-Language"] == language
        body = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert public_url + status_path(settings.secret_key, request.case_number) in body


async def test_redelivered_event_sends_no_second_mail(settings: Settings, store: EventStore,
                                                      smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)) as system:
        request = await submit(store)
        await wait_for_event(store, request.case_number, ev.AckSent)
        service = system.services[0]
        assert isinstance(service, AckService)
        recorded = (await store.load(request.case_number)).events[0]
        await service.handler(recorded)  # a redelivery, e.g. after a lost ack
        await service.handler(recorded)
    assert len(smtp_sink.messages) == 1
    assert len(await events_of(store, request.case_number, ev.AckSent)) == 1


async def test_a_stale_read_after_a_replica_died_sends_no_second_mail(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica recorded AckSent and died before acknowledging; its claim still says
    ``sending``. The redelivery's load is answered by a replica of the stream that lags
    (simulated: the history without AckSent). Taking the stale claim over, the service
    asks the stream's leader and sends nothing."""
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)) as system:
        request = await submit(store)
        assert len(await wait_for_event(store, request.case_number, ev.AckSent)) == 1
        service = system.services[0]
        assert isinstance(service, AckService)
        claim = await service.claims.get(request.case_number)
        assert claim is not None and claim.state == "sending"  # AckSent landed at once
        history = await store.load(request.case_number)
        lagging = replace(history, events=history.events[:1])
        handler = service.handler

        async def load_from_a_lagging_replica(case: str, *, min_seq: int = 0) -> TicketHistory:
            return lagging

        monkeypatch.setattr(handler.store, "load", load_from_a_lagging_replica)
        # The dead replica's claim goes stale: the send's clock is past the claim timeout.
        later = claim.at + timedelta(seconds=settings.ack.claim_timeout_s + 1)
        monkeypatch.setattr(handler.once, "clock", lambda: later)
        await handler(history.events[0])
        taken_over = await service.claims.get(request.case_number)
    assert len(smtp_sink.messages) == 1
    # The stale claim was taken over (so the lagging load was believed), yet nothing was sent.
    assert taken_over is not None and (taken_over.state, taken_over.at) == ("sending", later)


async def test_two_replicas_handling_the_same_event_at_once_send_one_mail(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    request = await submit(store)
    recorded = (await store.load(request.case_number)).events[0]
    # The services are started without their consumers: the test is the only caller.
    async with running_system(settings, ()) as system:
        replicas = [bootstrap(system.runtime), bootstrap(system.runtime)]
        for replica in replicas:
            await replica.start()
        results = await asyncio.gather(*(r.handler(recorded) for r in replicas),
                                       return_exceptions=True)
    assert len(smtp_sink.messages) == 1
    # The loser found the winner's claim: either busy (retry later) or already done.
    assert all(r is None or isinstance(r, ClaimBusy) for r in results)
    assert len(await events_of(store, request.case_number, ev.AckSent)) == 1


async def test_two_replicas_send_one_mail_per_ticket(settings: Settings, store: EventStore,
                                                     smtp_sink: SmtpSink) -> None:
    settings = with_smtp(settings, smtp_sink.port)
    async with running_system(settings, ("ack",)) as first, \
            running_system(settings, ("ack",)):
        requests = [await submit(store) for _ in range(200)]
        await smtp_sink.wait_for(200, timeout_s=60)

        async def all_recorded() -> bool:
            sent = [await events_of(store, r.case_number, ev.AckSent) for r in requests]
            return all(sent)

        await wait_until(all_recorded, timeout_s=30)
        # Every AckSent is in the log and no receipt is in flight or left to deliver:
        # from here on no replica can send a second mail.
        assert await consumers_idle(first.runtime.js, STREAM, [DURABLE])
        claims = [await first.services[0].claims.get(r.case_number)  # type: ignore[attr-defined]
                  for r in requests]
    per_message_id = Counter(m["Message-ID"] for m in smtp_sink.messages)
    assert len(per_message_id) == 200 and set(per_message_id.values()) == {1}
    for request in requests:
        assert len(await events_of(store, request.case_number, ev.AckSent)) == 1
    senders = Counter(claim.replica for claim in claims if claim is not None)
    assert len(senders) == 2 and sum(senders.values()) == 200  # both replicas sent mail


async def test_mails_go_out_after_an_smtp_outage(settings: Settings, store: EventStore) -> None:
    port = free_port()  # nothing listens here yet: the SMTP server is down
    settings = with_smtp(settings, port, overdue_after_minutes=8.0)
    sink = SmtpSink(port=port)
    async with running_system(settings, ("ack",)) as system:
        fresh = await submit(store)
        late = request_submitted(at=datetime.now(UTC) - timedelta(hours=1))
        await store.append(late.case_number, [late], 0)
        failures = await wait_for_event(store, late.case_number, ev.AckFailed, count=3)
        await wait_for_event(store, fresh.case_number, ev.AckFailed, count=2)
        assert await events_of(store, late.case_number, ev.AckSent) == []
        sink.start()
        try:
            assert len(await sink.wait_for(2)) == 2
            for request in (fresh, late):
                [sent] = await wait_for_event(store, request.case_number, ev.AckSent)
                assert sent.message_id.startswith(f"<receipt.{request.case_number}.")
            assert await consumers_idle(system.runtime.js, STREAM, [DURABLE])
        finally:
            sink.stop()
    assert sorted(m["Message-ID"].split("@")[0].rsplit(".", 1)[0] for m in sink.messages
                  ) == sorted(f"<receipt.{r.case_number}" for r in (fresh, late))
    assert [f.attempt for f in failures[:3]] == [1, 2, 3]
    assert not any(f.permanent for f in failures)
    # The promise was at risk for the hour-old request only, and is flagged once.
    [overdue] = await events_of(store, late.case_number, ev.ReceiptOverdue)
    assert overdue.minutes_since_submission >= 60
    assert await events_of(store, fresh.case_number, ev.ReceiptOverdue) == []


async def test_refused_address_is_recorded_as_permanent_and_not_retried(
        settings: Settings, store: EventStore) -> None:
    server = RefusingSmtp({"gibtsnicht@example.de": "550 5.1.1 no such user"}).start()
    settings = with_smtp(settings, server.port)
    try:
        async with running_system(settings, ("ack",)) as system:
            bad = await submit(store, email="gibtsnicht@example.de")
            good = await submit(store)
            [failure] = await wait_for_event(store, bad.case_number, ev.AckFailed)
            assert len(await wait_for_event(store, good.case_number, ev.AckSent)) == 1
            # Both events acknowledged, none waiting for a retry: a retry cannot come now.
            assert await consumers_idle(system.runtime.js, STREAM, [DURABLE])
    finally:
        server.stop()
    assert failure.permanent and "550" in failure.error
    assert server.rcpt_attempts.count("gibtsnicht@example.de") == 1
    assert len(await events_of(store, bad.case_number, ev.AckFailed)) == 1
    assert await events_of(store, bad.case_number, ev.AckSent) == []


async def test_temporary_failure_releases_the_claim(settings: Settings, store: EventStore
                                                    ) -> None:
    settings = with_smtp(settings, free_port())
    request = await submit(store)
    recorded = (await store.load(request.case_number)).events[0]
    async with running_system(settings, ()) as system:
        service = bootstrap(system.runtime)
        await service.start()
        with pytest.raises(ReceiptSendFailed):
            await service.handler(recorded)
        with pytest.raises(ReceiptSendFailed):  # not "busy": the next attempt may send
            await service.handler(recorded)
        kv = await system.runtime.js.key_value(RECEIPT_BUCKET)
        assert await service.claims.get(request.case_number) is None
        # Released, not never taken: two claims (revisions 1, 3), each deleted (2, 4).
        [last] = await kv.history(request.case_number)
        assert (last.operation, last.revision) == ("DEL", 4)
    failures = await events_of(store, request.case_number, ev.AckFailed)
    assert [f.attempt for f in failures] == [1, 2]
