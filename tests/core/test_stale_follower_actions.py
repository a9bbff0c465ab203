"""A page, a notice and an invoice decided by the real services while the node they are
connected to lags behind: no simulation (the technique of test_read_your_writes.py).

The follower's process is stopped (SIGSTOP) while the leader takes a burst of writes and
the ticket's own events; the service's work (a consumer delivery, or the clerk's invoice
request) reaches the follower while it is stopped, and it is let go (SIGCONT). While it
catches up, it answers direct gets from its own store, older than the write. Rounds go on
until the service's own loads met such a stale answer (the event store counts them), so
each test shows what the service did with one.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client as NatsClient

from services.billing.service import BillingService
from shared.adapters.eventstore import ConcurrencyConflict, EventStore
from shared.adapters.natsserver import NatsCluster
from shared.adapters.provision import provision
from shared.domain import events as ev
from shared.runtime.app import RunningSystem, running_system
from shared.settings import Settings, load_settings
from tests.conftest import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET
from tests.factories import request_submitted
from tests.support import SmtpSink, consumers_idle

pytestmark = pytest.mark.slow

ROUNDS = 60
STALE_WANTED = 2
BURST = 300  # writes to other tickets while the follower is stopped: its catch-up
PADDING = b"x" * 1000  # on a subject no service consumes
RAW_READS = 8
# A bound on each test. Known and open: a service starting against a fresh cluster's
# follower sometimes waits long for its consumers' creation to be answered, and nats-py
# turns the cancellation into a timeout that the creation retries; the bound keeps such a
# start from stalling the suite.
TEST_BOUND_S = 100
NOON = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)


@dataclass
class LaggingNode:
    """A cluster whose follower ``follower`` can be stopped while ``writer`` writes."""

    cluster: NatsCluster
    follower: int
    writer: EventStore
    reader: NatsClient  # plain direct gets, answered by the follower
    stale_raw: int = 0

    @property
    def follower_url(self) -> str:
        return self.cluster.urls[self.follower]

    async def round(self, name: str, write: Callable[[str], Awaitable[int]],
                    queue: Callable[[str], object] | None = None) -> str:
        """Stop the follower, pad, ``write`` the ticket, ``queue`` the service's read of
        it (a consumer's delivery queues itself), then let the follower go."""
        process = self.cluster.servers[self.follower].process
        assert process is not None
        process.send_signal(signal.SIGSTOP)
        try:
            for i in range(BURST):  # one by one: many small steps for the follower to take
                await self.writer.js.publish(f"tickets.{name}PAD{i}.Padding", PADDING)
            version = await write(name)
            raw = asyncio.gather(*(self._raw_last_sequence(name) for _ in range(RAW_READS)))
            if queue is not None:
                queue(name)
            await asyncio.sleep(0.05)  # the requests wait in the stopped follower's socket
        finally:
            process.send_signal(signal.SIGCONT)
        self.stale_raw += sum(sequence < version for sequence in await raw)
        return name

    async def rounds(self, prefix: str, service: RunningSystem,
                     write: Callable[[str], Awaitable[int]],
                     queue: Callable[[str], object] | None = None, *,
                     node_stale_is_enough: bool = False) -> list[str]:
        """Rounds until the service's own loads met a replica behind the event they had
        to see often enough (or ROUNDS ran out). ``node_stale_is_enough``: for a service
        that reads late in its handling, stale raw answers of its node at the moment of
        the delivery count as the evidence too."""
        loader = service.runtime.store.loader

        def stale() -> int:
            return loader.behind_replica_reads + (self.stale_raw if node_stale_is_enough
                                                  else 0)

        cases = []
        for index in range(ROUNDS):
            cases.append(await self.round(f"{prefix}{index}", write, queue))
            await asyncio.sleep(0.2)  # the read of this round is done or under way
            if stale() >= STALE_WANTED:
                break
        # The setup must really have produced stale answers, or the test proved nothing.
        assert stale() >= 1, "the service never met a stale replica"
        return cases

    async def _raw_last_sequence(self, case: str) -> int:
        """What a plain direct get on the follower says of the ticket (0: not found)."""
        answer = await self.reader.request(
            "$JS.API.DIRECT.GET.TICKETS", json.dumps({"last_by_subj": f"tickets.{case}.>"}
                                                     ).encode(), timeout=30)
        return int((answer.headers or {}).get("Nats-Sequence", 0))

    async def create(self, case: str, events: list[ev.Event]) -> int:
        """Append a new ticket's events; a retry after an unanswered append finds them
        stored (the acknowledgement was lost, not the write)."""
        for _ in range(5):
            try:
                return await self.writer.append(case, events, 0)
            except ConcurrencyConflict:
                stored = await self.writer.loader.from_leader(case)
                if len(stored.events) == len(events):
                    return stored.version
                raise
            except (TimeoutError, nats.errors.Error):
                await asyncio.sleep(0.2)
        raise AssertionError(f"{case} could not be written")


@pytest.fixture
async def lagging(tmp_path: Path) -> AsyncIterator[LaggingNode]:
    cluster = NatsCluster(tmp_path / "nats", sync_always=True)
    await asyncio.to_thread(cluster.start)
    clients: list[NatsClient] = []
    try:
        admin = await nats.connect(servers=cluster.urls, max_reconnect_attempts=-1)
        clients.append(admin)
        for _ in range(100):  # the meta leader is elected a moment after start
            try:
                await provision(admin.jetstream(timeout=5), replicas=3)
                break
            except Exception:
                await asyncio.sleep(0.2)
        info = await admin.jetstream().stream_info("TICKETS")
        assert info.cluster is not None and info.cluster.leader is not None
        leader = int(info.cluster.leader.removeprefix("n"))
        follower = (leader + 1) % 3
        clients.append(await nats.connect(cluster.urls[leader]))
        # Without data keys: their bucket's leader may be on the node that is stopped.
        writer = EventStore(clients[1], timeout_s=10, protect_personal_data=False)
        clients.append(await nats.connect(cluster.urls[follower]))
        yield LaggingNode(cluster, follower, writer, clients[2])
    finally:
        for client in clients:
            await client.close()
        await asyncio.to_thread(cluster.stop)


def on_follower(lagging: LaggingNode, tmp_path: Path, sink: SmtpSink,
                monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A service's settings: connected to the lagging follower only, R3, mail to ``sink``."""
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    return load_settings(data_dir=tmp_path / "data",
                         nats={"url": lagging.follower_url, "replicas": 3},
                         http={"port": 0}, inbound_mail={"smtp_port": 0},
                         smtp={"host": "127.0.0.1", "port": sink.port, "security": "none"},
                         secret_key=TEST_SECRET_KEY,
                         oncall={"webhook_secret": TEST_WEBHOOK_SECRET})


async def idle(system: RunningSystem, *durables: str) -> None:
    assert await consumers_idle(system.runtime.js, "TICKETS", durables, timeout_s=60)


async def escalated(lagging: LaggingNode, case: str) -> None:
    """Until the leader holds the ticket's escalation (the test's bound stops a hang)."""
    while "PriorityEscalated" not in [
            r.type_name for r in (await lagging.writer.loader.from_leader(case)).events]:
        await asyncio.sleep(0.2)


async def pages_sent(sink: SmtpSink, count: int) -> None:
    while len(sink.messages) < count:
        await asyncio.sleep(0.2)


async def notices_sent(sink: SmtpSink, count: int) -> None:
    while sum(str(m["Message-ID"]).startswith("<notice.") for m in sink.messages) < count:
        await asyncio.sleep(0.2)


async def test_a_priority_request_read_on_a_lagging_follower_pages_once(
        lagging: LaggingNode, tmp_path: Path, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = on_follower(lagging, tmp_path, smtp_sink, monkeypatch)

    async def submit(case: str) -> int:
        return await lagging.create(case, [request_submitted(
            case_number=case, priority=True, at=datetime.now(UTC))])

    async with asyncio.timeout(TEST_BOUND_S), running_system(settings, ("oncall",)) as system:
        # The page is decided from the delivered event; oncall loads the ticket after it
        # (to start the clocks), often when its node has caught up already.
        cases = await lagging.rounds("PG", system, submit, node_stale_is_enough=True)
        # Every ticket escalated (a handling that met a replica still behind is retried
        # after its backoff), then the consumer idle: no later duplicate is possible.
        for case in cases:
            await escalated(lagging, case)
        await idle(system, "oncall-requests")
        for case in cases:
            # Asked of the leader: the test's own reads must not meet a lagging replica.
            history = await lagging.writer.loader.from_leader(case)
            types = [r.type_name for r in history.events]
            assert types.count("PriorityEscalated") == 1, (case, types)
        await pages_sent(smtp_sink, len(cases))
    pages = [str(m["Message-ID"]) for m in smtp_sink.messages]
    assert sorted(pages) == sorted(f"<page-{case}-1-0@example.com>" for case in cases)


async def test_a_redacted_reply_read_on_a_lagging_follower_gets_its_notice(
        lagging: LaggingNode, tmp_path: Path, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = on_follower(lagging, tmp_path, smtp_sink, monkeypatch)

    async def request_and_reply(case: str) -> int:
        now = datetime.now(UTC)
        reply = ev.CustomerReplied(at=now, message_id=f"<r.{case}@kunde.example>",
                                   sender="kunde@example.de", subject="Re: Drucker",
                                   text="Passwort: [entfernt]", redacted=True)
        # One batch: a replica that has not applied it knows nothing of the ticket.
        return await lagging.create(case, [request_submitted(case_number=case, at=now),
                                           reply])

    async with asyncio.timeout(TEST_BOUND_S), running_system(settings, ("ack",)) as system:
        # The notice is decided after its claim, often when the node has caught up: stale
        # answers of the node at the delivery count as the evidence too (as for the page).
        cases = await lagging.rounds("NT", system, request_and_reply,
                                     node_stale_is_enough=True)
        await notices_sent(smtp_sink, len(cases))
        await idle(system, "ack-notices", "ack-receipts")
    notices = [str(m["Message-ID"]) for m in smtp_sink.messages
               if str(m["Message-ID"]).startswith("<notice.")]
    assert len(notices) == len(set(notices)) == len(cases), notices
    assert {n.split(".")[1] for n in notices} == set(cases)


async def test_an_invoice_asked_of_a_lagging_follower_bills_every_entry(
        lagging: LaggingNode, tmp_path: Path, smtp_sink: SmtpSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The clerk resolves and invoices at once; billing is connected to a node that has
    not applied the resolution or the time yet."""
    settings = on_follower(lagging, tmp_path, smtp_sink, monkeypatch)
    invoices: dict[str, asyncio.Future[ev.InvoiceIssued]] = {}

    async def resolved_with_time(case: str) -> int:
        start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
        return await lagging.create(case, [
            request_submitted(case_number=case),
            ev.TimeLogged(at=NOON, entry_id=f"{case}-e", technician="anna", start=start,
                          end=start.replace(hour=10), kind="work"),
            ev.TicketResolved(at=NOON, technician="anna")])

    async with asyncio.timeout(TEST_BOUND_S), running_system(settings, ("billing",)) as system:
        service = system.services[0]
        assert isinstance(service, BillingService)
        service.clock = lambda: NOON

        def issue(case: str) -> None:
            invoices[case] = asyncio.ensure_future(service.issue_invoice(case, "anna"))

        cases = await lagging.rounds("IV", system, resolved_with_time, issue)
        issued = {case: await invoices[case] for case in cases}
    for case, invoice in issued.items():
        assert invoice.entry_ids == (f"{case}-e",), invoice
        assert sum(line.minutes for line in invoice.lines) == 60, invoice
