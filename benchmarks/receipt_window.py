"""How many receipts a crashed ack replica doubles, and how late their resend comes.

A slow SMTP server (it keeps each mail, then answers 250 only after ``--smtp-delay-s``),
one nats-server (``sync_interval: always``), two ``ticketcore serve ack`` processes, and
``--tickets`` requests appended at ``--rate`` per second. While mails are being sent, one
ack replica is killed with SIGKILL. Printed: the mails the server held at the kill without
having answered them, the receipts that arrived twice (same Message-ID), and how long after
the kill each second copy arrived (the claim timeout's delay).

    python -m benchmarks.receipt_window --claim-timeout-s 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from nats.js import JetStreamContext

from benchmarks.system import child, common_env
from benchmarks.tickets import request
from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import EmbeddedNats, free_port
from shared.adapters.provision import provision


@dataclass
class SlowSink:
    """Keeps each mail as soon as its data arrived, answers 250 after ``delay_s``."""

    delay_s: float
    arrivals: list[tuple[float, str]] = field(default_factory=list)  # (when, Message-ID)
    unanswered: int = 0

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.arrivals.append((time.monotonic(), message_id(content)))
        self.unanswered += 1
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.unanswered -= 1
        return "250 Message accepted for delivery"


def message_id(content: bytes) -> str:
    for line in content.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


async def run(tickets: int, rate: float, kill_after: int, claim_timeout_s: float,
              smtp_delay_s: float, folder: Path) -> dict[str, Any]:
    sink = SlowSink(smtp_delay_s)
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    server = EmbeddedNats(folder / "nats", sync_always=True)
    url = await asyncio.to_thread(server.start)
    try:
        client = await nats.connect(url)
        await provision(client.jetstream())
        store = EventStore(client, protect_personal_data=False)
        async with contextlib.AsyncExitStack() as stack:
            pids = []
            for index in range(2):
                port = free_port()
                (folder / f"ack-{index}").mkdir()
                env = common_env(folder / f"ack-{index}", controller.port) | {
                    "TICKETCORE_NATS__URL": url, "TICKETCORE_HTTP__PORT": str(port),
                    "TICKETCORE_ACK__CLAIM_TIMEOUT_S": str(claim_timeout_s)}
                pids.append(await stack.enter_async_context(child(
                    ["serve", "ack"], env, folder / f"ack-{index}" / "service.log", port)))
            killed_at, held = await submit_and_kill(store, sink, tickets, rate, kill_after,
                                                    pids[0])
            await wait_for_all(sink, client.jetstream(), tickets, claim_timeout_s)
        await client.close()
    finally:
        controller.stop()
        await server.astop()
    return summary(sink, killed_at, held, claim_timeout_s, smtp_delay_s)


async def submit_and_kill(store: EventStore, sink: SlowSink, tickets: int, rate: float,
                          kill_after: int, victim: int) -> tuple[float, int]:
    killed_at, held = 0.0, 0
    start = time.monotonic()
    for serial in range(tickets):
        await asyncio.sleep(max(0.0, start + serial / rate - time.monotonic()))
        case = f"W{serial:05d}"
        await store.append(case, [request(case)], 0)
        if not killed_at and len(sink.arrivals) >= kill_after and sink.unanswered:
            held = sink.unanswered  # mails of either replica waiting for their 250
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
    return killed_at, held


async def wait_for_all(sink: SlowSink, js: JetStreamContext, tickets: int,
                       claim_timeout_s: float) -> None:
    """Every ticket's receipt arrived, and the receipts consumer has nothing pending and
    nothing unacknowledged (a receipt waiting for its resend is unacknowledged)."""
    deadline = time.monotonic() + claim_timeout_s * 3 + 900
    while time.monotonic() < deadline:
        info = await js.consumer_info("TICKETS", "ack-receipts")
        arrived = len({m for _, m in sink.arrivals})
        if arrived >= tickets and not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(1.0)
    raise RuntimeError("the receipts never settled")


def summary(sink: SlowSink, killed_at: float, held: int, claim_timeout_s: float,
            smtp_delay_s: float) -> dict[str, Any]:
    counts = Counter(m for _, m in sink.arrivals)
    doubled = sorted(m for m, n in counts.items() if n > 1)
    last_copy = {m: at for at, m in sink.arrivals}
    delays = sorted(round(last_copy[m] - killed_at, 1) for m in doubled)
    return {"claim_timeout_s": claim_timeout_s, "smtp_delay_s": smtp_delay_s,
            "receipts": len(counts), "mails": len(sink.arrivals),
            "held_unanswered_at_kill": held, "doubled": len(doubled),
            "resend_after_kill_s": delays}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--kill-after", type=int, default=50)
    parser.add_argument("--claim-timeout-s", type=float, default=60.0)
    parser.add_argument("--smtp-delay-s", type=float, default=0.3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(args.tickets, args.rate, args.kill_after,
                                 args.claim_timeout_s, args.smtp_delay_s, Path(folder)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
