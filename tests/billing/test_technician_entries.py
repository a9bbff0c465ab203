"""No technician works on two tickets at once: the cross-ticket overlap read model, over
real HTTP against a real nats-server, with two replicas racing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.billing.bootstrap import bootstrap
from services.billing.service import BillingService, TimeEntryIn
from shared.adapters import technicianentries as timeentries
from shared.adapters.eventstore import EventStore, PendingEvent
from shared.adapters.provision import ensure_kv
from shared.adapters.technicianentries import TechnicianEntries
from shared.domain import events as ev
from shared.domain.ticket.decide import DomainError
from shared.runtime.accounts import hash_token
from shared.runtime.app import running_system
from shared.runtime.runtime import connect
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


def at(day: str, time: str) -> dict[str, str]:
    """Start and end of an entry on ``day`` (Berlin summer time), ``time`` as "HH:MM-HH:MM"."""
    start, end = time.split("-")
    return {"start": f"{day}T{start}:00+02:00", "end": f"{day}T{end}:00+02:00",
            "kind": "work"}


async def test_entries_of_any_age_are_checked(two_technicians: Settings,
                                              store: EventStore) -> None:
    """Six months back (May 2026, the service's clock in late November): overlaps are
    refused as for yesterday's entries, also across a month boundary."""
    async with replica(two_technicians) as (client, service):
        first, second = await new_ticket(store), await new_ticket(store)
        may = await client.post(f"/api/tickets/{first}/time", headers=auth("anna"),
                                json={**at("2026-05-12", "09:00-11:00"), "entry_id": "may"})
        assert may.status_code == 201, may.text
        refused = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                    json=at("2026-05-12", "10:30-12:00"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"]["code"] == "overlapping_entry"
        assert f"ticket {first}" in refused.text and "may" in refused.text
        # An entry over midnight at the end of May is in May's and June's keys.
        night = await client.post(f"/api/tickets/{first}/time", headers=auth("anna"),
                                  json={"start": "2026-05-31T23:00:00+00:00",
                                        "end": "2026-06-01T01:00:00+00:00", "kind": "work",
                                        "entry_id": "night"})
        assert night.status_code == 201, night.text
        june = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                 json={"start": "2026-06-01T00:30:00+00:00",
                                       "end": "2026-06-01T02:00:00+00:00", "kind": "work"})
        assert june.status_code == 422 and "night" in june.text, june.text
        assert await time_logged(store, second) == []
        # A year back, a whole year before the first entry: nothing in the way.
        old = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                json=at("2025-05-12", "09:00-11:00"))
        assert old.status_code == 201, old.text
        mine = await service.technician_entries.entries_of("anna")
        assert sorted(e.entry_id for e in mine if e.ticket == first) == ["may", "night"]
        # Voiding the May entry frees its time, months later as well.
        voided = await client.post(f"/api/tickets/{first}/time/may/void",
                                   headers=auth("anna"), json={"reason": "wrong ticket"})
        assert voided.status_code == 200, voided.text
        moved = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                  json=at("2026-05-12", "10:30-12:00"))
        assert moved.status_code == 201, moved.text


async def test_a_refusal_in_a_later_month_releases_the_earlier_ones(
        two_technicians: Settings, store: EventStore) -> None:
    async with replica(two_technicians) as (client, service):
        first, second = await new_ticket(store), await new_ticket(store)
        june = await client.post(f"/api/tickets/{first}/time", headers=auth("anna"),
                                 json=at("2026-06-01", "08:00-09:00"))
        assert june.status_code == 201, june.text
        across = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                   json={"start": "2026-05-31T20:00:00+00:00",
                                         "end": "2026-06-01T06:30:00+00:00", "kind": "work"})
        assert across.status_code == 422, across.text
        # May keeps nothing of the refused entry: a May entry at that time is accepted.
        may = await client.post(f"/api/tickets/{second}/time", headers=auth("anna"),
                                json={"start": "2026-05-31T21:00:00+00:00",
                                      "end": "2026-05-31T22:00:00+00:00", "kind": "work"})
        assert may.status_code == 201, may.text
        assert len(await service.technician_entries.entries_of("anna")) == 2


async def test_a_full_month_is_refused_clearly(two_technicians: Settings, store: EventStore,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.adapters import technicianentries as timeentries

    monkeypatch.setattr(timeentries, "MAX_ENTRIES_PER_MONTH", 2)
    async with replica(two_technicians) as (client, _):
        case = await new_ticket(store)
        for hour in ("08", "09"):
            logged = await client.post(f"/api/tickets/{case}/time", headers=auth("anna"),
                                       json=at("2026-05-04", f"{hour}:00-{hour}:30"))
            assert logged.status_code == 201, logged.text
        full = await client.post(f"/api/tickets/{case}/time", headers=auth("anna"),
                                 json=at("2026-05-04", "10:00-10:30"))
        assert full.status_code == 409, full.text
        assert full.json()["detail"]["code"] == "too_many_entries"
        assert "2026-05" in full.text
        assert len(await time_logged(store, case)) == 2
        june = await client.post(f"/api/tickets/{case}/time", headers=auth("anna"),
                                 json=at("2026-06-04", "10:00-10:30"))
        assert june.status_code == 201, june.text


async def test_the_older_layout_is_rebuilt_at_start(two_technicians: Settings,
                                                    store: EventStore) -> None:
    """A bucket written before month keys (one key per technician, last 62 days only) is
    rebuilt from the log at start-up, so entries of any age count from then on."""
    may = datetime(2026, 5, 12, 9, 0, tzinfo=UTC)
    request = request_submitted(priority=True)
    await store.append(request.case_number, [request, ev.TimeLogged(
        at=NOW, entry_id="old", technician="anna", kind="work", start=may,
        end=may.replace(hour=10))], 0)
    runtime = await connect(two_technicians, two_technicians.nats.url or "")
    try:
        await ensure_kv(runtime.js, timeentries.BUCKET, history=1)
        bucket = await runtime.js.key_value(timeentries.BUCKET)
        await bucket.put("t.anna", b"[]")  # the older layout: May was already pruned
        model = TechnicianEntries(runtime.js, runtime.store, reservation_timeout_s=5.0)
        await model.ensure()
        assert [e.entry_id for e in await model.entries_of("anna")] == ["old"]
        assert await bucket.keys() == ["layout", "t.anna.2026-05"] or \
            sorted(await bucket.keys()) == ["layout", "t.anna.2026-05"]
        with pytest.raises(DomainError, match=request.case_number):
            await model.reserve("anna", "20990101000010", "x", may, may.replace(hour=11))
    finally:
        await runtime.close()


def test_an_entry_is_kept_under_each_month_it_touches() -> None:
    def keys(start: str, end: str, technician: str = "anna") -> list[str]:
        return timeentries.month_keys(technician, datetime.fromisoformat(start),
                                      datetime.fromisoformat(end))

    assert keys("2026-05-12T09:00+02:00", "2026-05-12T10:00+02:00") == ["t.anna.2026-05"]
    # Months are UTC months; the end is exclusive.
    assert keys("2026-06-01T01:00+02:00", "2026-06-01T03:00+02:00") == [
        "t.anna.2026-05", "t.anna.2026-06"]
    assert keys("2026-05-31T23:00+00:00", "2026-06-01T00:00+00:00") == ["t.anna.2026-05"]
    assert keys("2025-12-31T23:00+00:00", "2026-02-01T00:30+00:00") == [
        "t.anna.2025-12", "t.anna.2026-01", "t.anna.2026-02"]
    assert keys("2026-05-01T00:00+00:00", "2026-05-01T01:00+00:00", "a.b") == [
        f"x.{b'a.b'.hex()}.2026-05"]


def test_a_value_never_grows_past_the_month_limit() -> None:
    """Reserving refuses beyond the limit; a log written past the check (the benchmarks'
    made-up data) still gives values below the message size limit, keeping the latest."""
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    many = [timeentries.TechnicianEntry("T", f"e{i}", now - timedelta(minutes=i + 5),
                                        now - timedelta(minutes=i))
            for i in range(timeentries.MAX_ENTRIES_PER_MONTH + 10)]
    kept = timeentries._capped(many)
    assert len(kept) == timeentries.MAX_ENTRIES_PER_MONTH
    assert many[0] in kept and many[-1] not in kept
