"""Which time entries each technician has, across all tickets: the overlap read model
(the rule itself is the domain's: ``shared/domain/ticket/decide/billing.py``).

A technician cannot work on two tickets at once (docs/domain.md 6.1), but the decider sees one
ticket. So the billing service keeps, in the KV bucket ``billing_technician_entries``, one
key per technician and calendar month (UTC) whose value lists that technician's active
entries touching the month as ``[ticket, entry_id, start, end, pending_since]`` (ISO-8601
UTC instants; ``pending_since`` is the Unix time of the reservation while the append is not
yet confirmed, else null). Every entry, of any age, is kept: an entry is in the key of each
month its interval touches, so two overlapping entries always share a key, and the
compare-and-set on that key decides between them. A month's value stays small (at most
``MAX_ENTRIES_PER_MONTH`` entries) however long the log grows.

The time-logging path *reserves* the interval in each of its months (compare-and-set,
retried on a concurrent write, in month order) before it appends ``TimeLogged``, confirms
it afterwards and releases it if the append fails. A reservation that is still pending
after ``reservation_timeout_s`` was left by a crash between reserving and appending: it is
checked against its ticket's log and kept (confirmed) if the entry is there, otherwise
ignored and removed. A consumer on ``TimeLogged``/``TimeEntryVoided`` brings each entry in
line with its ticket's log, and :meth:`TechnicianEntries.rebuild` rewrites the bucket from
the whole log (also when start-up finds the older layout without ``LAYOUT_KEY``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from shared.adapters.eventstore import EventStore, RecordedEvent
from shared.adapters.kvbuckets import kv_bucket
from shared.adapters.provision import ensure_kv
from shared.domain import events as ev
from shared.domain.ticket.decide import overlaps, require_no_overlap, require_room

BUCKET = "billing_technician_entries"
# At about 120 bytes an entry, a month's value stays below half of NATS's default 1 MB
# message limit; a technician logs a few hundred entries a month.
MAX_ENTRIES_PER_MONTH = 4000
# The key that says the bucket holds month keys (an older layout kept one key per
# technician with only the last 62 days): without it, start-up rebuilds from the log.
LAYOUT_KEY = "layout"
LAYOUT = b"months-1"
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


@dataclass(frozen=True)
class TechnicianEntry:
    """One active (or reserved) entry of a technician."""

    ticket: str
    entry_id: str
    start: datetime
    end: datetime
    pending_since: float | None = None

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return overlaps(self.start, self.end, start, end)

    def same(self, ticket: str, entry_id: str) -> bool:
        return (self.ticket, self.entry_id) == (ticket, entry_id)

    def to_json(self) -> list[object]:
        return [self.ticket, self.entry_id, self.start.isoformat(), self.end.isoformat(),
                self.pending_since]


def technician_key(technician: str) -> str:
    """The KV key of a technician: the id itself when it is a valid key, else hex."""
    if _SAFE_ID.match(technician):
        return f"t.{technician}"
    return f"x.{technician.encode().hex()}"


def month_keys(technician: str, start: datetime, end: datetime) -> list[str]:
    """The keys of the months (UTC) that ``[start, end)`` touches, in order."""
    first = start.astimezone(UTC)
    last = max(first, (end - timedelta(microseconds=1)).astimezone(UTC))
    prefix = technician_key(technician)
    keys = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        keys.append(f"{prefix}.{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def _decode(value: bytes | None) -> list[TechnicianEntry]:
    return [TechnicianEntry(ticket, entry_id, datetime.fromisoformat(start),
                            datetime.fromisoformat(end), pending)
            for ticket, entry_id, start, end, pending in json.loads(value or b"[]")]


def _encode(entries: list[TechnicianEntry]) -> bytes:
    ordered = sorted(entries, key=lambda e: (e.start, e.ticket, e.entry_id))
    return json.dumps([e.to_json() for e in ordered], separators=(",", ":")).encode()


Change = Callable[[list[TechnicianEntry]], list[TechnicianEntry]]


class TechnicianEntries:
    """The read model: reserve, confirm, release and sync entries; rebuild from the log."""

    def __init__(self, js: JetStreamContext, store: EventStore, *,
                 reservation_timeout_s: float, clock: Callable[[], float] = time.time) -> None:
        self.js = js
        self.store = store
        self.reservation_timeout_s = reservation_timeout_s
        self.clock = clock

    async def ensure(self) -> None:
        """Create the bucket; when it did not exist, or holds the older layout, fill it
        from the log first."""
        await ensure_kv(self.js, BUCKET, history=1)
        bucket = await kv_bucket(self.js, BUCKET)
        try:
            if (await bucket.get(LAYOUT_KEY)).value == LAYOUT:
                return
        except KeyNotFoundError:
            pass
        await self.rebuild()
        for key in await self._keys(">"):
            if key != LAYOUT_KEY and key.count(".") == 1:  # older layout: t.<id> only
                await bucket.purge(key)
        await bucket.put(LAYOUT_KEY, LAYOUT)

    async def _keys(self, pattern: str) -> list[str]:
        """The keys matching a subject pattern, from the stream's per-subject counts (a
        purged key may be among them; it reads as empty)."""
        prefix = f"$KV.{BUCKET}."
        info = await self.js.stream_info(f"KV_{BUCKET}", subjects_filter=prefix + pattern)
        return sorted(subject.removeprefix(prefix) for subject in info.state.subjects or {})

    async def _read(self, key: str) -> tuple[list[TechnicianEntry], int | None]:
        bucket = await kv_bucket(self.js, BUCKET)
        try:
            entry = await bucket.get(key)
        except KeyNotFoundError:
            return [], None
        return _decode(entry.value), entry.revision

    async def _write(self, key: str, entries: list[TechnicianEntry],
                     revision: int | None) -> None:
        """Compare-and-set; raises KeyWrongLastSequenceError when someone wrote first."""
        bucket = await kv_bucket(self.js, BUCKET)
        if revision is None:
            await bucket.create(key, _encode(entries))
        else:
            await bucket.update(key, _encode(entries), last=revision)

    async def _modify(self, key: str, change: Change) -> None:
        while True:
            entries, revision = await self._read(key)
            changed = _capped(change(entries))
            if _encode(changed) == _encode(entries):
                return
            try:
                await self._write(key, changed, revision)
                return
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0)  # another replica wrote: read again

    async def entries_of(self, technician: str) -> list[TechnicianEntry]:
        """All of a technician's entries (each once, however many months it touches)."""
        found: dict[tuple[str, str], TechnicianEntry] = {}
        for key in sorted(await self._keys(f"{technician_key(technician)}.*")):
            for entry in (await self._read(key))[0]:
                found.setdefault((entry.ticket, entry.entry_id), entry)
        return sorted(found.values(), key=lambda e: (e.start, e.ticket, e.entry_id))

    async def reserve(self, technician: str, ticket: str, entry_id: str, start: datetime,
                      end: datetime) -> None:
        """Reserve ``[start, end)`` for the entry, or raise ``overlapping_entry`` naming the
        other ticket (``too_many_entries`` when a month is full). Safe with several
        replicas: each month's write is a compare-and-set, and two overlapping entries
        share a month. A refusal in a later month releases the earlier months."""
        reserved: list[str] = []
        try:
            for key in month_keys(technician, start, end):
                await self._reserve_in(key, technician, ticket, entry_id, start, end)
                reserved.append(key)
        except BaseException:
            for key in reserved:
                await self._modify(key, _without(ticket, entry_id, pending_only=True))
            raise

    async def _reserve_in(self, key: str, technician: str, ticket: str, entry_id: str,
                          start: datetime, end: datetime) -> None:
        while True:
            entries, revision = await self._read(key)
            if any(e.same(ticket, entry_id) for e in entries):
                return  # a retry of the same entry
            kept = []
            for other in entries:
                if other.overlaps(start, end):
                    checked = await self._check_stale(technician, other)
                    if checked is None:
                        continue  # left by a crash before its append: ignored
                    if checked.pending_since is None and other.pending_since is not None:
                        # Stale, but its entry is in the log: it counts, and is confirmed.
                        await self.confirm(technician, checked.ticket, checked.entry_id,
                                           checked.start, checked.end,
                                           reserved=(other.start, other.end))
                    require_no_overlap(start, end, [checked])
                kept.append(other)
            require_room(len(kept), MAX_ENTRIES_PER_MONTH, key.rsplit(".", 1)[1])
            mine = TechnicianEntry(ticket, entry_id, start, end, self.clock())
            try:
                await self._write(key, [*kept, mine], revision)
                return
            except KeyWrongLastSequenceError:
                await asyncio.sleep(0)

    async def _check_stale(self, technician: str,
                           entry: TechnicianEntry) -> TechnicianEntry | None:
        """A pending reservation past the timeout: the logged entry, or None if the log does
        not have it (the replica crashed before appending)."""
        if entry.pending_since is None or \
                self.clock() - entry.pending_since < self.reservation_timeout_s:
            return entry
        logged = await self._logged(entry.ticket, entry.entry_id)
        if logged is None or logged.technician != technician:
            return None
        return TechnicianEntry(entry.ticket, entry.entry_id, logged.start, logged.end)

    async def _logged(self, ticket: str, entry_id: str) -> ev.TimeLogged | None:
        try:
            # "Not logged" frees the time for another entry: ask how far the leader is, so
            # a lagging replica's older history cannot say so wrongly.
            latest = await self.store.leader_version(ticket)
            history = await self.store.load(ticket, min_seq=latest)
        except ValueError:
            return None
        return history.state.entry(entry_id)

    async def confirm(self, technician: str, ticket: str, entry_id: str, start: datetime,
                      end: datetime, *, reserved: tuple[datetime, datetime] | None = None
                      ) -> None:
        """The entry is in the ticket's log: keep it (with the logged times) for good, in
        each month it touches. ``reserved``: other times it may be recorded under."""
        confirmed = TechnicianEntry(ticket, entry_id, start, end)
        keys = month_keys(technician, start, end)

        def change(entries: list[TechnicianEntry]) -> list[TechnicianEntry]:
            return [*(e for e in entries if not e.same(ticket, entry_id)), confirmed]

        for key in keys:
            await self._modify(key, change)
        if reserved is not None:
            for key in month_keys(technician, *reserved):
                if key not in keys:
                    await self._modify(key, _without(ticket, entry_id, pending_only=False))

    async def release(self, technician: str, ticket: str, entry_id: str, start: datetime,
                      end: datetime, *, pending_only: bool = False) -> None:
        """Remove the entry of ``[start, end)`` (after a failed append or a void)."""
        for key in month_keys(technician, start, end):
            await self._modify(key, _without(ticket, entry_id, pending_only=pending_only))

    async def sync(self, ticket: str, entry_id: str, *, min_seq: int = 0) -> None:
        """Bring one entry in line with its ticket's log (idempotent): present and confirmed
        while active, absent once voided. Pending reservations of a void entry are left to
        the request that made them. ``min_seq``: the sequence of the event that asks for
        the sync (an older history would drop an entry just logged)."""
        try:
            history = await self.store.load(ticket, min_seq=min_seq)
        except ValueError:
            return
        logged = [r.event for r in history.events
                  if isinstance(r.event, ev.TimeLogged) and r.event.entry_id == entry_id]
        active = history.state.entry(entry_id)
        for event in logged:
            if active is not None and active.technician == event.technician:
                await self.confirm(event.technician, ticket, entry_id, active.start,
                                   active.end, reserved=(event.start, event.end))
                continue
            for key in month_keys(event.technician, event.start, event.end):
                await self._modify(key, _without(ticket, entry_id, pending_only=False,
                                                 confirmed_only=True))

    async def handle(self, recorded: RecordedEvent) -> None:
        """Consumer handler for ``TimeLogged`` and ``TimeEntryVoided``."""
        event = recorded.event
        if isinstance(event, ev.TimeLogged | ev.TimeEntryVoided):
            await self.sync(recorded.ticket_id, event.entry_id, min_seq=recorded.seq)

    async def rebuild(self) -> int:
        """Replay ``TimeLogged``/``TimeEntryVoided`` from the whole log and rewrite the
        bucket (reservations written meanwhile are kept). Returns the active entries."""
        active: dict[tuple[str, str], tuple[str, TechnicianEntry]] = {}
        async for recorded in self.store.replay(1, reveal_personal_data=False):
            event = recorded.event
            if isinstance(event, ev.TimeLogged):
                active[(recorded.ticket_id, event.entry_id)] = (event.technician, TechnicianEntry(
                    recorded.ticket_id, event.entry_id, event.start, event.end))
            elif isinstance(event, ev.TimeEntryVoided):
                active.pop((recorded.ticket_id, event.entry_id), None)
        by_month: dict[str, list[TechnicianEntry]] = {}
        for technician, entry in active.values():
            for key in month_keys(technician, entry.start, entry.end):
                by_month.setdefault(key, []).append(entry)
        for key, entries in by_month.items():
            def merge(current: list[TechnicianEntry],
                      rebuilt: list[TechnicianEntry] = entries) -> list[TechnicianEntry]:
                known = {(e.ticket, e.entry_id) for e in rebuilt}
                return [*rebuilt, *(e for e in current if (e.ticket, e.entry_id) not in known)]

            await self._modify(key, merge)
        return len(active)


def _capped(entries: list[TechnicianEntry]) -> list[TechnicianEntry]:
    """At most MAX_ENTRIES_PER_MONTH in a value (the latest ones). Reserving refuses an entry
    beyond it; only a log written past that check (a replay of made-up data) has more, and
    the value must stay below the message size limit."""
    if len(entries) <= MAX_ENTRIES_PER_MONTH:
        return entries
    return sorted(entries, key=lambda e: (e.end, e.ticket, e.entry_id))[-MAX_ENTRIES_PER_MONTH:]


def _without(ticket: str, entry_id: str, *, pending_only: bool,
             confirmed_only: bool = False) -> Change:
    """A change that removes the entry (only while pending, or only once confirmed)."""
    def change(entries: list[TechnicianEntry]) -> list[TechnicianEntry]:
        return [e for e in entries if not (
            e.same(ticket, entry_id)
            and (e.pending_since is not None or not pending_only)
            and (e.pending_since is None or not confirmed_only))]

    return change
