"""No technician works on two tickets at once: the cross-ticket overlap read model, over
real HTTP against a real nats-server, with two replicas racing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.billing.bootstrap import bootstrap
from services.billing.service import BillingService, TimeEntryIn
from shared.adapters.eventstore import EventStore, PendingEvent
from shared.application.timeentries import TechnicianEntries
from shared.domain import events as ev
from shared.domain.ticket.decide import DomainError
from shared.runtime.accounts import hash_token
from shared.runtime.app import running_system
from shared.runtime.context import connect
from shared.settings import Settings
from tests.factories import request_submitted
from tests.support import serve_app

TOKENS = {"anna": "anna-test-token-0123456789", "ben": "ben-test-token-0123456789"}
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def auth(technician: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[technician]}"}


def entry(start: str, end: str, kind: str = "work", **extra: str) -> dict[str, str]:
    return {"start": f"2026-11-25T{start}:00+01:00", "end": f"2026-11-25T{end}:00+01:00",
            "kind": kind, **extra}


@pytest.fixture
def two_technicians(settings: Settings, tmp_path: Path) -> Settings:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text("".join(
        f'[[technicians]]\nid = "{tech}"\nname = "{tech.title()}"\n'
        f'token_hashes = ["{hash_token(token)}"]\n' for tech, token in TOKENS.items()))
    return settings.model_copy(update={"accounts_file": accounts})


@contextlib.asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, BillingService]]:
    """One billing replica (its own NATS connection and HTTP port)."""
    async with running_system(settings, ("billing",)) as system:
        service = system.services[0]
        assert isinstance(service, BillingService)
        service.clock = lambda: NOW
        async with serve_app(system.http_app()) as base_url, \
                httpx.AsyncClient(base_url=base_url, timeout=20) as client:
            yield client, service


async def new_ticket(store: EventStore, *entries: tuple[str, str, str]) -> str:
    """A priority ticket, optionally with entries ``(entry_id, start, end)`` of anna's."""
    request = request_submitted(priority=True)
    events: list[ev.Event] = [request]
    for entry_id, start, end in entries:
        events.append(ev.TimeLogged(
            at=NOW, entry_id=entry_id, technician="anna", kind="work",
            start=datetime.fromisoformat(f"2026-11-25T{start}:00+01:00"),
            end=datetime.fromisoformat(f"2026-11-25T{end}:00+01:00")))
    await store.append(request.case_number, events, 0)
    return request.case_number


async def time_logged(store: EventStore, *cases: str) -> list[str]:
    found = []
    for case in cases:
        found += [r.event.entry_id for r in (await store.load(case)).events
                  if isinstance(r.event, ev.TimeLogged)]
    return found


async def test_an_overlap_on_another_ticket_is_refused_naming_it(two_technicians: Settings,
                                                                 store: EventStore) -> None:
    async with replica(two_technicians) as (client, service):
        first, second = await new_ticket(store), await new_ticket(store)
        logged = await client.post(f"/api/tickets/{first}/time", headers=auth("anna"),
                                   json=entry("10:00", "11:00", entry_id="a1"))
        assert logged.status_code == 201, logged.text
        refused = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                    json=entry("10:50", "11:30", "travel"))
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert detail["code"] == "overlapping_entry"
        assert f"ticket {first}" in detail["message"] and "a1" in detail["message"]
        assert await time_logged(store, second) == []
        # Touching is not overlapping; another technician may work at the same time.
        after = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                  json=entry("11:00", "11:30"))
        assert after.status_code == 201, after.text
        ben = await client.post(f"/api/tickets/{second}/time", headers=auth("ben"),
                                json=entry("10:00", "11:00"))
        assert ben.status_code == 201, ben.text
        # A voided entry frees its time.
        voided = await client.post(f"/api/tickets/{first}/time/a1/void", headers=auth("anna"),
                                   json={"reason": "wrong ticket"})
        assert voided.status_code == 200
        moved = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                  json=entry("10:00", "11:00"))
        assert moved.status_code == 201, moved.text
        mine = await service.technician_entries.entries_of("anna")
        assert sorted((e.ticket, e.pending_since) for e in mine) == [(second, None)] * 2


async def test_two_replicas_racing_for_one_technician_one_wins(two_technicians: Settings,
                                                               store: EventStore) -> None:
    async with replica(two_technicians) as (one, _), replica(two_technicians) as (two, _):
        for round_ in range(6):
            cases = [await new_ticket(store), await new_ticket(store)]
            start, end = f"{10 + round_:02d}:00", f"{10 + round_:02d}:30"
            answers = await asyncio.gather(*(
                client.post(f"/api/tickets/{case}/time", headers=auth("anna"),
                            json=entry(start, end))
                for client, case in ((one, cases[0]), (two, cases[1]))))
            assert sorted(a.status_code for a in answers) == [201, 422], \
                [a.text for a in answers]
            assert len(await time_logged(store, *cases)) == 1


async def test_a_reservation_left_by_a_crash_is_ignored_after_the_timeout(
        two_technicians: Settings, store: EventStore) -> None:
    settings = two_technicians.model_copy(update={"billing": two_technicians.billing.model_copy(
        update={"entry_reservation_timeout_s": 5.0})})
    now = [1000.0]
    async with replica(settings) as (client, service):
        service.technician_entries.clock = lambda: now[0]
        crashed, other = await new_ticket(store), await new_ticket(store)
        # A replica reserved, then died before appending TimeLogged.
        start, end = (datetime.fromisoformat(f"2026-11-25T{t}:00+01:00")
                      for t in ("10:00", "11:00"))
        await service.technician_entries.reserve("anna", crashed, "lost", start, end)
        body = entry("10:30", "11:30")
        early = await client.post(f"/api/tickets/{other}/time", headers=auth("anna"),
                                  json=body)
        assert early.status_code == 422 and crashed in early.text  # may still be appending
        now[0] += 5.0
        late = await client.post(f"/api/tickets/{other}/time", headers=auth("anna"),
                                 json=body)
        assert late.status_code == 201, late.text
        left = await service.technician_entries.entries_of("anna")
        assert [(e.ticket, e.pending_since) for e in left] == [(other, None)]


async def test_a_stale_reservation_whose_entry_was_logged_still_counts(
        two_technicians: Settings, store: EventStore) -> None:
    runtime = await connect(two_technicians, two_technicians.nats.url or "")
    entries = TechnicianEntries(runtime.js, runtime.store, reservation_timeout_s=5.0,
                                clock=lambda: 1000.0)
    try:
        await entries.ensure()
        logged = await new_ticket(store, ("kept", "10:00", "11:00"))
        start, end = (datetime.fromisoformat(f"2026-11-25T{t}:00+01:00")
                      for t in ("10:00", "11:00"))
        await entries.reserve("anna", logged, "kept", start, end)  # confirm was lost
        assert [e.pending_since for e in await entries.entries_of("anna")] == [1000.0]
        entries.clock = lambda: 2000.0  # stale: checked against the log, found, so it counts
        with pytest.raises(DomainError, match=f"ticket {logged}"):
            await entries.reserve("anna", "20990101000010", "x", start, end)
        # ... and is confirmed (docs/billing.md): no longer pending, never checked again.
        assert [(e.ticket, e.entry_id, e.start, e.end, e.pending_since)
                for e in await entries.entries_of("anna")] == [
            (logged, "kept", start, end, None)]
    finally:
        await runtime.close()


async def test_the_read_model_is_rebuilt_from_the_log_when_missing(
        two_technicians: Settings, store: EventStore) -> None:
    old = await new_ticket(store, ("e1", "09:00", "09:30"), ("e2", "10:00", "10:30"))
    await store.append(old, [PendingEvent(ev.TimeEntryVoided(at=NOW, entry_id="e2",
                                                             technician="anna"),
                                          event_id="void-e2")],
                       (await store.load(old)).version)
    runtime = await connect(two_technicians, two_technicians.nats.url or "")
    service = bootstrap(runtime, clock=lambda: NOW)
    try:
        await service.start()  # no bucket yet: replays the log
        rebuilt = await service.technician_entries.entries_of("anna")
        assert [(e.ticket, e.entry_id, e.pending_since) for e in rebuilt] == [(old, "e1", None)]
        other = await new_ticket(store)
        with pytest.raises(DomainError, match=f"ticket {old}"):
            await service.log_time(other, "anna", TimeEntryIn(
                start=datetime(2026, 11, 25, 8, 15, tzinfo=UTC),
                end=datetime(2026, 11, 25, 8, 45, tzinfo=UTC), kind="work"))
        # 10:00-10:30 was voided: free again.
        await service.log_time(other, "anna", TimeEntryIn(
            start=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
            end=datetime(2026, 11, 25, 9, 30, tzinfo=UTC), kind="work"))
        assert await time_logged(store, other) != []
    finally:
        await runtime.close()


async def test_events_appended_elsewhere_reach_the_read_model(two_technicians: Settings,
                                                              store: EventStore) -> None:
    async with replica(two_technicians) as (_, service):
        case = await new_ticket(store, ("direct", "14:00", "15:00"))
        model = service.technician_entries
        assert await _eventually(model, lambda found: [e.entry_id for e in found] == ["direct"])
        await store.append(case, [PendingEvent(ev.TimeEntryVoided(
            at=NOW, entry_id="direct", technician="ben"), event_id="void-direct")],
            (await store.load(case)).version)
        assert await _eventually(model, lambda found: found == [])


async def _eventually(model: TechnicianEntries, check: object, timeout_s: float = 10.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if check(await model.entries_of("anna")):  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return False


def test_the_model_keeps_only_recent_entries_and_at_most_a_bounded_number() -> None:
    from datetime import timedelta

    from shared.application import timeentries
    from shared.application.timeentries import TechnicianEntry

    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    model = TechnicianEntries(None, None, reservation_timeout_s=10,  # type: ignore[arg-type]
                              clock=now.timestamp)
    old = TechnicianEntry("T1", "old", now - timedelta(days=90), now - timedelta(days=90))
    recent = [TechnicianEntry("T2", f"e{i}", now - timedelta(minutes=10 * i + 5),
                              now - timedelta(minutes=10 * i))
              for i in range(timeentries.MAX_ENTRIES + 10)]
    kept = model._bounded([old, *recent])
    assert old not in kept and len(kept) == timeentries.MAX_ENTRIES
    assert recent[0] in kept and recent[-1] not in kept  # the latest ones stay
