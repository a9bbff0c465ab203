"""The sequence index: the last message of every append names the stream sequences of the
ticket's earlier events, so a load is one get of the last message plus gets by sequence,
instead of a scan of the stream by subject (slow in a long log: the server walks every
message between two of the ticket's events). Beyond MAX_INDEXED_EVENTS events the header
is left out and the load falls back to the scan."""

from __future__ import annotations

from collections import OrderedDict

from nats.aio.msg import Msg

from shared.adapters.eventstore.directget import DirectGets
from shared.adapters.eventstore.records import ticket_subject

HEADER_EARLIER = "Ticketcore-Earlier"
HEADER_APPEND_SIZE = "Ticketcore-Append-Size"
MAX_INDEXED_EVENTS = 2000
SEQUENCE_CACHE = 20_000


class SequenceIndex:
    """Ticket -> stream sequences of its events, as last seen (a hint, never the truth)."""

    def __init__(self, gets: DirectGets) -> None:
        self.gets = gets
        self._sequences: OrderedDict[str, list[int]] = OrderedDict()

    def known(self, ticket_id: str) -> list[int]:
        """The sequences last seen for the ticket (empty: none)."""
        return self._sequences.get(ticket_id, [])

    def remember(self, ticket_id: str, sequences: list[int]) -> None:
        self._sequences[ticket_id] = sequences
        self._sequences.move_to_end(ticket_id)
        while len(self._sequences) > SEQUENCE_CACHE:
            self._sequences.popitem(last=False)

    async def earlier(self, ticket_id: str, version: int) -> list[int] | None:
        """The sequences of the ticket's events up to ``version`` (None: unknown)."""
        if version == 0:
            return []
        known = self._sequences.get(ticket_id)
        if known is None or known[-1] != version:
            last = await self.gets.one({"last_by_subj": ticket_subject(ticket_id)})
            known = sequences_named_by(last) if last is not None else None
        if known is None or known[-1] != version or len(known) >= MAX_INDEXED_EVENTS:
            return None  # the append will conflict, or the ticket is not indexed
        return known


def index_headers(earlier: list[int], appended: int) -> dict[str, str]:
    """The headers of an append's last message that name the ticket's earlier events."""
    return {HEADER_EARLIER: ",".join(map(str, earlier)), HEADER_APPEND_SIZE: str(appended)}


def sequences_named_by(last: Msg) -> list[int] | None:
    """Every sequence of the ticket up to ``last``, from its index headers (None: absent)."""
    headers = last.headers or {}
    if HEADER_EARLIER not in headers or HEADER_APPEND_SIZE not in headers:
        return None
    try:
        earlier = [int(s) for s in headers[HEADER_EARLIER].split(",") if s]
        size = int(headers[HEADER_APPEND_SIZE])
        seq = int(headers["Nats-Sequence"])
    except (ValueError, KeyError):
        return None
    return [*earlier, *range(seq - size + 1, seq + 1)]
