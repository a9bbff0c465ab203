"""The priority path end to end: real nats-server, real SMTP, real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from shared.adapters.eventstore import EventStore, TicketHistory
from shared.domain import events as ev
from shared.runtime.app import running_system
from tests.oncall.conftest import (
    ack_path_in,
    event_types,
    mails_to,
    submit,
    wait_for_event,
    wait_until,
    with_growing_margins,
)
from tests.support import SmtpSink, serve_app

SUNDAY_3AM = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # 03:00 in Berlin (CET)


async def test_priority_request_on_sunday_night_pages_the_person_on_call(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = make_settings()
    async with running_system(settings, ("oncall",)):
        case = await submit(store, priority=True, at=SUNDAY_3AM)
        [escalated] = await wait_for_event(store, case, "PriorityEscalated")
        pages = await smtp_sink.wait_for(1)

    assert isinstance(escalated, ev.PriorityEscalated)
    assert escalated.technician == "carla"  # the weekend override beats the rotation
    assert escalated.level == 1
    assert escalated.reaction_deadline == SUNDAY_3AM + timedelta(minutes=240)
    [page] = pages
    assert page["To"].addresses[0].addr_spec == "carla@example.com"
    assert case in page["Subject"] and "PRIORITÄT" in page["Subject"]
    assert page["Message-ID"] == f"<page-{case}-1-0@example.com>"
    assert "/oncall/ack/" in page.get_content()


async def test_acknowledge_stops_renotification(make_settings, store: EventStore,
                                                 smtp_sink: SmtpSink) -> None:
    settings = make_settings(renotify_after_s=1)
    async with running_system(settings, ("oncall",)) as system:
        service = system.services[0]
        async with serve_app(system.http_app()) as base:
            case = await submit(store, priority=True)
            [page] = await smtp_sink.wait_for(1)
            async with httpx.AsyncClient(base_url=base) as http:
                response = await http.post(ack_path_in(page))
            assert response.status_code == 200, response.text
            assert "Bestätigt" in response.text
            # The first reminder timer fires (about a second later) and must do nothing.
            assert await wait_until(lambda: service.timers.handled >= 1)
            types = await event_types(store, case)

    assert types.count("OnCallAcknowledged") == 1
    assert "OnCallReNotified" not in types
    assert len(smtp_sink.messages) == 1


async def test_unacknowledged_page_renotifies_escalates_then_breaches(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = make_settings(renotify_after_s=1, renotify_count=1)

    async def attempt(margin_s: float) -> bool:
        smtp_sink.messages.clear()
        async with running_system(settings, ("oncall",)) as system:
            service = system.services[0]
            # Reaction time 1 minute, submitted a while ago: the deadline is margin_s away.
            at = datetime.now(UTC) - timedelta(seconds=60 - margin_s)
            case = await submit(store, priority=True, at=at, reaction_minutes=1)
            [breach] = await wait_for_event(store, case, "SlaBreached",
                                            timeout_s=margin_s + 20)
            handled = service.timers.handled
            # Let any timer already due settle, then look at the whole story.
            await wait_until(lambda: service.timers.handled > handled, timeout_s=2.5)
            history = await store.load(case)
        types = [r.type_name for r in history.events]
        if "OnCallEscalated" not in types[:types.index("SlaBreached")]:
            return False  # too slow to page, remind and escalate before the deadline
        check_the_paging_story(history, breach, smtp_sink)
        return True

    await with_growing_margins(attempt)


def check_the_paging_story(history: TicketHistory, breach: ev.Event,
                           smtp_sink: SmtpSink) -> None:
    types = [r.type_name for r in history.events]
    paging = [t for t in types if t in ("PriorityEscalated", "OnCallReNotified",
                                        "OnCallEscalated", "SlaBreached")]
    assert paging[:3] == ["PriorityEscalated", "OnCallReNotified", "OnCallEscalated"]
    assert paging[-1] == "SlaBreached" and paging.count("SlaBreached") == 1
    escalated = next(r.event for r in history.events if r.type_name == "OnCallEscalated")
    assert isinstance(escalated, ev.OnCallEscalated) and escalated.level == 2
    assert isinstance(breach, ev.SlaBreached) and breach.clock == "reaction"
    assert breach.at >= breach.deadline
    # Every page went out once: level 1 person twice (page + reminder), then level 2.
    first = history.events[1].event
    assert isinstance(first, ev.PriorityEscalated)
    ids = [m["Message-ID"] for m in smtp_sink.messages]
    assert len(ids) == len(set(ids)) == paging.count("PriorityEscalated") + paging.count(
        "OnCallReNotified") + paging.count("OnCallEscalated")
    assert len(mails_to(smtp_sink, f"{first.technician}@example.com")) >= 2
    assert mails_to(smtp_sink, f"{escalated.technician}@example.com")


async def test_response_stops_the_reaction_clock(make_settings, store: EventStore,
                                                 smtp_sink: SmtpSink) -> None:
    settings = make_settings()

    async def attempt(margin_s: float) -> bool:
        async with running_system(settings, ("oncall",)) as system:
            service = system.services[0]
            async with serve_app(system.http_app()) as base:
                at = datetime.now(UTC) - timedelta(seconds=60 - margin_s)
                case = await submit(store, priority=True, at=at, reaction_minutes=1)
                [escalated] = await wait_for_event(store, case, "PriorityEscalated")
                assert isinstance(escalated, ev.PriorityEscalated)
                token = {"anna": "tok-anna", "ben": "tok-ben", "carla": "tok-carla"}[
                    escalated.technician]
                async with httpx.AsyncClient(base_url=base) as http:
                    response = await http.post(f"/api/tickets/{case}/respond",
                                               json={"message": "Ich rufe gleich an."},
                                               headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, response.text
                if datetime.now(UTC) >= at + timedelta(minutes=1):
                    return False  # the response came after the deadline: another case
                handled = service.timers.handled
                # The reaction timer fires after the deadline and must record nothing.
                assert await wait_until(lambda: service.timers.handled > handled,
                                        timeout_s=margin_s + 15)
                types = await event_types(store, case)
        assert "TechnicianResponded" in types
        assert "SlaBreached" not in types
        return True

    await with_growing_margins(attempt)
