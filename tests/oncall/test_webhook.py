"""Webhook pages: signed, verifiable by a real receiver, retried, never blocking mail."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from hypothesis import given
from hypothesis import strategies as st

from services.oncall.webhook import (
    WEBHOOKS_STREAM,
    verify_webhook_signature,
    webhook_signature,
    webhook_signatures,
)
from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import free_port
from shared.adapters.provision import OPS_BUCKET
from shared.runtime.app import running_system
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.oncall.conftest import submit, wait_until
from tests.support import SmtpSink

SECRET = "webhook-secret-for-tests"


def test_signature_verifies_and_refuses_tampering() -> None:
    body, now, event = b'{"ticket": "1"}', 1_800_000_000, "page-1-1-0"
    signature = webhook_signature(SECRET, str(now), event, body)
    assert verify_webhook_signature(SECRET, str(now), event, body, signature, now=now + 10)
    assert not verify_webhook_signature(SECRET, str(now), event, body + b" ", signature,
                                        now=now)
    assert not verify_webhook_signature(SECRET, str(now), "page-1-1-1", body, signature,
                                        now=now)
    assert not verify_webhook_signature("other-secret", str(now), event, body, signature,
                                        now=now)
    assert not verify_webhook_signature(SECRET, str(now + 1), event, body, signature, now=now)
    assert not verify_webhook_signature(SECRET, str(now), event, body, signature,
                                        now=now + 301)
    assert not verify_webhook_signature(SECRET, "yesterday", event, body, signature, now=now)


@given(body=st.binary(max_size=200), timestamp=st.text(max_size=20),
       event=st.text(max_size=20), signature=st.text(max_size=80))
def test_random_signatures_are_refused(body: bytes, timestamp: str, event: str,
                                       signature: str) -> None:
    assert not verify_webhook_signature(SECRET, timestamp, event, body, signature,
                                        now=time.time()) or (
        signature == webhook_signature(SECRET, timestamp, event, body))


@dataclass
class Receiver:
    """A webhook receiver that checks signatures like an integrator would."""

    secret: str
    fail_first: int = 0
    calls: list[dict[str, object]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            valid = verify_webhook_signature(
                self.secret, request.headers.get("x-ticketcore-timestamp", ""),
                request.headers.get("x-ticketcore-event-id", ""), body,
                request.headers.get("x-ticketcore-signature", ""), tolerance_s=300)
            self.calls.append({"valid": valid, "body": json.loads(body),
                               "event_id": request.headers.get("x-ticketcore-event-id")})
            if not valid:
                return Response(status_code=401)
            if len(self.calls) <= self.fail_first:
                return Response(status_code=503)
            return Response(status_code=204)

        return app


@contextlib.asynccontextmanager
async def serve_on(app: FastAPI, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


async def test_webhook_is_signed_and_retried_until_the_receiver_takes_it(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    port = free_port()
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook")
    receiver = Receiver(settings.oncall.webhook_secret, fail_first=2)
    async with serve_on(receiver.app(), port), running_system(settings, ("oncall",)):
        case = await submit(store, priority=True)
        await smtp_sink.wait_for(1)
        assert await wait_until(lambda: len(receiver.calls) >= 3)
        await asyncio.sleep(0.3)  # a fourth call would be a duplicate delivery

    assert len(receiver.calls) == 3
    assert all(call["valid"] for call in receiver.calls)
    assert {call["event_id"] for call in receiver.calls} == {f"page-{case}-1-0"}
    body = receiver.calls[-1]["body"]
    assert isinstance(body, dict)
    assert body["type"] == "PriorityEscalated" and body["case_number"] == case
    assert body["event_id"] == f"page-{case}-1-0" and body["deadline"]
    assert body["technician"] in ("anna", "ben", "carla")


async def test_a_down_webhook_does_not_hold_up_the_mail_and_is_retried(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook",
                             webhook_attempts=8, webhook_backoff_s=0.1)
    receiver = Receiver(settings.oncall.webhook_secret)
    async with running_system(settings, ("oncall",)):
        await submit(store, priority=True)
        [page] = await smtp_sink.wait_for(1)
        assert "PRIORITÄT" in page["Subject"]
        assert receiver.calls == []
        # The endpoint comes up later; a retry reaches it.
        async with serve_on(receiver.app(), port):
            assert await wait_until(lambda: len(receiver.calls) >= 1, timeout_s=20)

    assert len(receiver.calls) == 1 and receiver.calls[0]["valid"]


async def test_webhook_retries_survive_a_restart_of_the_oncall_service(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    """The receiver is down while oncall pages and stops; after the restart the queued
    call reaches it, once."""
    port = free_port()
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook",
                             webhook_attempts=20, webhook_backoff_s=0.2)
    receiver = Receiver(settings.oncall.webhook_secret)
    async with running_system(settings, ("oncall",)) as system:
        case = await submit(store, priority=True)
        await smtp_sink.wait_for(1)
        js = system.runtime.js
        info = await js.consumer_info(WEBHOOKS_STREAM, "oncall-webhooks")
        assert info.num_ack_pending + info.num_pending == 1  # queued, not yet delivered
    assert receiver.calls == []
    async with serve_on(receiver.app(), port), running_system(settings, ("oncall",)) as system:
        assert await wait_until(lambda: len(receiver.calls) >= 1, timeout_s=20)
        await asyncio.sleep(0.5)  # a second call would be a duplicate delivery
        queued = (await system.runtime.js.stream_info(WEBHOOKS_STREAM)).state.messages
    assert len(receiver.calls) == 1 and receiver.calls[0]["valid"]
    assert receiver.calls[0]["event_id"] == f"page-{case}-1-0"
    assert queued == 0  # delivered jobs leave the work queue
    assert len(smtp_sink.messages) == 1  # the restart did not page again


async def test_a_webhook_that_cannot_be_queued_does_not_hold_up_the_mail(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    port = free_port()
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook")
    async with running_system(settings, ("oncall",)) as system:
        await system.runtime.js.delete_stream(WEBHOOKS_STREAM)  # queueing fails now
        await submit(store, priority=True)
        [page] = await smtp_sink.wait_for(1)
    assert "PRIORITÄT" in page["Subject"]


async def test_a_webhook_given_up_is_recorded_for_operators(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    port = free_port()
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook",
                             webhook_attempts=2, webhook_backoff_s=0.05)
    receiver = Receiver(settings.oncall.webhook_secret, fail_first=100)
    async with serve_on(receiver.app(), port), \
            running_system(settings, ("oncall",)) as system:
        case = await submit(store, priority=True)
        js = system.runtime.js
        ops = await js.key_value(OPS_BUCKET)

        async def recorded() -> bool:
            try:
                await ops.get(f"webhook-page-{case}-1-0")
            except Exception:
                return False
            return True

        found = False
        for _ in range(100):
            found = await recorded()
            if found:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # a third call would show up now
        queued = (await js.stream_info(WEBHOOKS_STREAM)).state.messages
    assert found
    assert len(receiver.calls) == 2  # the two tries, then no more
    assert queued == 0  # the give-up removed the job from the queue


@pytest.mark.parametrize("job", [b"not json", b'{"url": 5}', b"{}"])
async def test_an_unreadable_webhook_job_is_recorded_and_leaves_the_queue(
        make_settings, store: EventStore, smtp_sink: SmtpSink, job: bytes) -> None:
    settings = make_settings()
    async with running_system(settings, ("oncall",)) as system:
        js = system.runtime.js
        ack = await js.publish("webhooks.broken", job, stream=WEBHOOKS_STREAM)
        ops = await js.key_value(OPS_BUCKET)
        entry = None
        for _ in range(100):
            with contextlib.suppress(Exception):
                entry = await ops.get(f"webhook-unreadable-{ack.seq}")
            if entry is not None:
                break
            await asyncio.sleep(0.1)
        queued = (await js.stream_info(WEBHOOKS_STREAM)).state.messages
    assert entry is not None and b"unreadable webhook job" in (entry.value or b"")
    assert queued == 0  # terminated, not redelivered in a loop


def example_receiver_module() -> ModuleType:
    """examples/webhook_receiver.py, loaded as an integrator would run it."""
    path = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class ExampleReceiver:
    """examples/webhook_receiver.py serving on a port, recording what it was sent."""

    receiver: Any
    handled: list[dict[str, object]]
    deliveries: list[tuple[dict[str, str], bytes]]


@contextlib.contextmanager
def example_receiver_on(port: int, secret: str) -> Iterator[ExampleReceiver]:
    example = example_receiver_module()
    handled: list[dict[str, object]] = []
    deliveries: list[tuple[dict[str, str], bytes]] = []

    class Recording(example.Receiver):  # type: ignore[name-defined, misc]
        def check(self, headers: Any, body: bytes) -> tuple[int, str]:
            deliveries.append((dict(headers.items()), body))
            return super().check(headers, body)  # type: ignore[no-any-return]

    receiver = Recording(secret, handled.append)
    server = receiver.server("127.0.0.1", port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ExampleReceiver(receiver, handled, deliveries)
    finally:
        server.shutdown()
        server.server_close()


async def test_the_example_receiver_takes_real_deliveries_and_refuses_replays_and_tampering(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    port = free_port()
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook")
    with example_receiver_on(port, settings.oncall.webhook_secret) as example:
        receiver, handled = example.receiver, example.handled
        async with running_system(settings, ("oncall",)):
            case = await submit(store, priority=True)
            assert await wait_until(lambda: len(handled) >= 1)
        [(headers, body)] = example.deliveries
        url = f"http://127.0.0.1:{port}/hook"
        async with httpx.AsyncClient(timeout=10) as http:
            replayed = await http.post(url, content=body, headers=headers)
            tampered = await http.post(url, content=body.replace(b'"level": 1', b'"level": 2'),
                                       headers=headers)
            other_id = await http.post(url, content=body, headers={
                **headers, "X-Ticketcore-Event-Id": f"page-{case}-1-9"})
            receiver.clock = lambda: time.time() + 301  # the same call, too late
            late = await http.post(url, content=body, headers={
                **headers, "X-Ticketcore-Event-Id": f"page-{case}-1-0"})
    assert [h["case_number"] for h in handled] == [case]  # acted on once
    assert (replayed.status_code, replayed.json()["result"]) == (200, "duplicate, ignored")
    assert (tampered.status_code, tampered.json()["result"]) == (401, "bad signature")
    assert (other_id.status_code, other_id.json()["result"]) == (401, "bad signature")
    assert (late.status_code, late.json()["result"]) == (401, "outside the replay window")


def test_during_a_change_of_secret_the_header_carries_both_signatures() -> None:
    body, now, event = b'{"ticket": "1"}', 1_800_000_000, "page-1-1-0"
    new, old = "webhook-secret-new-0123456789", SECRET
    header = webhook_signatures((new, old), str(now), event, body)
    assert header == ",".join([webhook_signature(new, str(now), event, body),
                               webhook_signature(old, str(now), event, body)])
    for secret in (new, old):  # a receiver holding either secret accepts the call
        assert verify_webhook_signature(secret, str(now), event, body, header, now=now)
    assert not verify_webhook_signature("a-third-secret-012345", str(now), event, body,
                                        header, now=now)
    assert webhook_signatures((new, ""), str(now), event, body) == webhook_signature(
        new, str(now), event, body)  # no change going on: one signature, as before


async def test_receivers_keep_working_while_the_webhook_secret_changes(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    """The rollover of docs/webhooks.md with real deliveries: the service signs with the
    new and the old secret; the example receiver (old secret) and a receiver that already
    has the new one both take the call."""
    port = free_port()
    new_secret = "webhook-secret-after-the-change-42"
    settings = make_settings(webhook=f"http://127.0.0.1:{port}/hook",
                             webhook_secret=new_secret,
                             previous_webhook_secret=TEST_WEBHOOK_SECRET)
    with example_receiver_on(port, TEST_WEBHOOK_SECRET) as old_receiver:
        handled = old_receiver.handled
        async with running_system(settings, ("oncall",)):
            case = await submit(store, priority=True)
            assert await wait_until(lambda: len(handled) >= 1)
    [(headers, body)] = old_receiver.deliveries
    example = example_receiver_module()
    assert [h["case_number"] for h in handled] == [case]  # taken with the old secret
    signature = headers["X-Ticketcore-Signature"]
    assert signature.count("v2=") == 2
    updated = example.Receiver(new_secret, handled.append)
    assert updated.check(headers, body) == (200, "accepted")  # and with the new one
    stranger = example.Receiver("not-the-webhook-secret-9", handled.append)
    assert stranger.check(headers, body) == (401, "bad signature")
