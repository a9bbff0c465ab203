"""Events decoded in the last few seconds, by stream sequence: a consumer's handler mostly
loads the ticket whose event it just decoded, which would decrypt it a second time. As
short-lived as the vault's key cache (shared.adapters.pii), and dropped at once on
erasure."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterator

from shared.adapters.eventstore.records import RecordedEvent

RECENT_EVENTS = 4096
RECENT_EVENTS_S = 10.0


class DecodedEvents:
    """Recently decoded events, oldest first; plain personal data among them."""

    def __init__(self) -> None:
        self._recent: OrderedDict[int, tuple[RecordedEvent, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._recent)

    def __iter__(self) -> Iterator[RecordedEvent]:
        return (recorded for recorded, _ in self._recent.values())

    def remember(self, recorded: RecordedEvent) -> None:
        self._recent[recorded.seq] = (recorded, time.monotonic())
        self._recent.move_to_end(recorded.seq)  # oldest first: expiry pops from the front
        while len(self._recent) > RECENT_EVENTS:
            self._recent.popitem(last=False)
        self._expire()

    def get(self, ticket_id: str, seq: int) -> RecordedEvent | None:
        """The ticket's event at ``seq`` if it was decoded recently."""
        self._expire()
        entry = self._recent.get(seq)
        if entry is None or entry[0].ticket_id != ticket_id:
            return None
        return entry[0]

    def forget(self, ticket_id: str) -> None:
        """Drop the ticket's decoded events (on erasure)."""
        for seq in [seq for seq, (r, _) in self._recent.items() if r.ticket_id == ticket_id]:
            del self._recent[seq]

    def clear(self) -> None:
        self._recent.clear()

    def _expire(self) -> None:
        """Drop decoded events older than RECENT_EVENTS_S, whether or not anyone asks for
        them again."""
        oldest = time.monotonic() - RECENT_EVENTS_S
        while self._recent and next(iter(self._recent.values()))[1] < oldest:
            self._recent.popitem(last=False)
