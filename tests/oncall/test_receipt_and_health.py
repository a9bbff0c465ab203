"""The receipt deadline as a durable timer (flags ReceiptOverdue even with no ack service
running) and the health report of the timer consumer, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.oncall.policy import ReceiptWatch
from services.oncall.timers import timer_for
from shared.adapters.eventstore import EventStore, PendingEvent
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.factories import request_submitted
from tests.oncall.conftest import new_case, oncall_http, submit, wait_for_event, wait_until


def overdue_after(settings: Settings, minutes: float) -> Settings:
    return settings.model_copy(update={"ack": settings.ack.model_copy(
        update={"overdue_after_minutes": minutes})})


async def submit_with_receipt(store: EventStore) -> str:
    """A request whose receipt left at once (as the ack service records it)."""
    case = new_case()
    request = request_submitted(case_number=case, at=datetime.now(UTC))
    sent = ev.AckSent(at=request.at, message_id=f"<receipt.{case}@example.com>",
                      recipient=request.contact.email)
    await store.append(case, [PendingEvent(request, event_id=f"submit-{case}"),
                              PendingEvent(sent, event_id=f"ack-sent-{case}")], 0)
    return case


async def test_receipt_not_sent_in_time_is_flagged_once_without_the_ack_service(
        make_settings, store: EventStore) -> None:
    settings = overdue_after(make_settings(), 0.02)  # 1.2 s after submission
    async with running_system(settings, ("oncall",)) as system:  # no ack service
        service = system.services[0]
        unsent = await submit(store, priority=False)
        sent = await submit_with_receipt(store)
        flagged = await wait_for_event(store, unsent, "ReceiptOverdue")
        # Both receipt timers fired and were handled (the one of `sent` decided nothing).
        assert await wait_until(lambda: service.timers.handled >= 2)
        # A repeated firing (redelivery, a second replica) stores nothing more.
        await service.on_timer(timer_for(unsent, ReceiptWatch(
            datetime.now(UTC) - timedelta(seconds=1))))
    assert len(flagged) == 1
    history = await store.load(unsent)
    overdue = [r for r in history.events if r.type_name == "ReceiptOverdue"]
    assert [r.event_id for r in overdue] == [f"receipt-overdue-{unsent}"]
    assert isinstance(overdue[0].event, ev.ReceiptOverdue)
    assert overdue[0].event.minutes_since_submission == 0
    assert "ReceiptOverdue" not in [r.type_name for r in (await store.load(sent)).events]


async def test_health_reports_the_timer_consumer_and_rota_gaps(
        make_settings, store: EventStore, tmp_path: Path) -> None:
    # Level 1 starts in two weeks: a gap from now until then.
    start = (datetime.now(UTC) + timedelta(days=14)).date()
    rota = tmp_path / "gappy-rota.toml"
    rota.write_text(f"""
[[people]]
id = "anna"
name = "Anna Schmidt"
email = "anna@example.com"

[[rotations]]
level = 1
people = ["anna"]
handover_weekday = "monday"
handover_time = "09:00"
start = {start.isoformat()}
""", encoding="utf-8")
    settings = make_settings(rota_file=rota)
    async with oncall_http(settings) as (system, http):
        # A breach timer that fired before its deadline (by our clock) is handed back
        # and waits: it stays in flight on the consumer, and /health shows it.
        case = new_case()
        deadline = datetime.now(UTC) + timedelta(hours=1)
        await system.runtime.js.publish(f"timers.due.{case}.probe", json.dumps({
            "ticket": case, "kind": "probe", "due": "2026-01-01T00:00:00Z",
            "action": "breach", "clock": "first_response",
            "deadline": deadline.isoformat()}).encode(), stream="TIMERS")
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 30
        while True:
            response = await http.get("/health")
            assert response.status_code == 200, response.text
            report = response.json()
            timers = report["services"]["oncall"]["oncall-timers"]
            # In flight, and handed out a second time (the retry after the nak's delay).
            if timers["redelivered"] >= 1 or loop.time() > give_up:
                break
            await asyncio.sleep(0.05)
        gaps = len(system.services[0].gaps)
    # The one early timer: not pending, in flight, handed out again (counted once).
    assert timers == {"pending": 0, "ack_pending": 1, "redelivered": 1}
    oncall = report["services"]["oncall"]
    assert oncall["rota_gaps"] == gaps == 1
    assert "oncall-requests" in oncall  # the consumer shared.runtime.app runs is still reported
    assert report["status"] == "ok"
