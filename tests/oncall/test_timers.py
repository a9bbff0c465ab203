"""Durable timers: restarts lose none, replicas fire each once, pages go out once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from services.oncall.policy import DeadlineWatch, Escalation, ReceiptWatch, Reminder
from services.oncall.timers import Timer, at_header, timer_for
from shared.adapters.claims import ClaimBusy
from shared.adapters.eventstore import EventStore
from shared.runtime.app import running_system
from tests.oncall.conftest import (
    event_types,
    submit,
    wait_for_event,
    wait_until,
    with_growing_margins,
)
from tests.support import SmtpSink, consumers_idle


def test_timer_time_is_rounded_up_to_the_second() -> None:
    moment = datetime(2026, 11, 29, 2, 59, 59, 1, tzinfo=UTC)
    assert at_header(moment) == "2026-11-29T03:00:00Z"
    assert at_header(moment.replace(microsecond=0)) == "2026-11-29T02:59:59Z"


def test_timer_body_round_trips() -> None:
    timer = Timer("20261126000011", "renotify-1-2",
                  Reminder(1, 2, datetime(2026, 11, 29, 3, tzinfo=UTC)))
    assert Timer.from_body(timer.body()) == timer
    # The message as timers scheduled before the tagged union wrote it reads the same.
    assert Timer.from_body(json.dumps({
        "ticket": "20261126000011", "kind": "renotify-1-2", "due": "2026-11-29T03:00:00Z",
        "action": "renotify", "level": 1, "attempt": 2}).encode()) == timer


def test_the_policys_timers_keep_their_kinds_and_come_back_as_they_went() -> None:
    due = datetime(2026, 11, 29, 3, tzinfo=UTC)
    expected = {Reminder(1, 2, due): "renotify-1-2", Escalation(2, due): "escalate-2",
                DeadlineWatch("reaction", due): "reaction",
                DeadlineWatch("first_response", due): "first-response",
                ReceiptWatch(due): "receipt"}
    for wakeup, kind in expected.items():
        timer = timer_for("20261126000011", wakeup)
        assert timer.kind == kind
        assert Timer.from_body(timer.body()).wakeup == wakeup
    with pytest.raises(ValueError):  # an unknown action is no wake-up
        Timer.from_body(json.dumps({"ticket": "20261126000011", "kind": "x",
                                    "due": "2026-11-29T03:00:00Z", "action": "dance"}).encode())


async def test_deadline_fires_once_after_oncall_was_stopped(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = make_settings()

    async def attempt(margin_s: float) -> bool:
        at = datetime.now(UTC) - timedelta(seconds=60 - margin_s)
        async with running_system(settings, ("oncall",)):
            case = await submit(store, priority=True, at=at, reaction_minutes=1)
            await smtp_sink.wait_for(1)
        deadline = at + timedelta(minutes=1)
        if datetime.now(UTC) >= deadline:
            return False  # oncall was still up at the deadline: not the case under test
        # oncall is down while the deadline passes.
        assert await wait_until(lambda: datetime.now(UTC) > deadline + timedelta(seconds=1.5),
                                timeout_s=margin_s + 5)
        assert "SlaBreached" not in await event_types(store, case)
        async with running_system(settings, ("oncall",)) as system:
            service = system.services[0]
            breaches = await wait_for_event(store, case, "SlaBreached")
            handled = service.timers.handled
            await wait_until(lambda: service.timers.handled > handled, timeout_s=1.5)
        assert len(breaches) == 1
        assert (await event_types(store, case)).count("SlaBreached") == 1
        return True

    await with_growing_margins(attempt)


async def test_two_replicas_page_once_per_ticket(make_settings, store: EventStore,
                                                 smtp_sink: SmtpSink) -> None:
    settings = make_settings()
    async with running_system(settings, ("oncall",)) as one, \
            running_system(settings, ("oncall",)):
        cases = await asyncio.gather(*(submit(store, priority=True) for _ in range(100)))
        await smtp_sink.wait_for(100, timeout_s=60)
        # Once the shared consumer is idle no replica handles a submission again: a
        # duplicate page would be in the sink by now.
        assert await consumers_idle(one.runtime.js, "TICKETS", ["oncall-requests"], 60)
        escalations = [(await event_types(store, case)).count("PriorityEscalated")
                       for case in cases]

    message_ids = [m["Message-ID"] for m in smtp_sink.messages]
    assert len(message_ids) == 100
    assert set(message_ids) == {f"<page-{case}-1-0@example.com>" for case in cases}
    assert escalations == [1] * 100


async def test_concurrent_follow_ups_send_one_page(make_settings, store: EventStore,
                                                   smtp_sink: SmtpSink) -> None:
    """A redelivery racing the first delivery on another replica: one mail per page."""
    settings = make_settings()
    async with running_system(settings, ("oncall",)) as one, \
            running_system(settings, ("oncall",)) as two:
        cases = [await submit(store, priority=True) for _ in range(10)]
        await smtp_sink.wait_for(10)
        for case in cases:
            kv = await one.runtime.js.key_value("oncall_pages")
            await kv.purge(f"{case}.page-1-0")  # forget "sent": both may try again
        results = await asyncio.gather(
            *(s.services[0].follow_up(case) for case in cases for s in (one, two)),
            return_exceptions=True)
    assert all(r is None or isinstance(r, ClaimBusy) for r in results), results
    ids = [m["Message-ID"] for m in smtp_sink.messages]
    assert len(ids) == 20 and len(set(ids)) == 10
