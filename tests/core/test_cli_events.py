"""`ticketcore events tail` and `ticket show` against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import EmbeddedNats
from shared.domain import events as ev
from tests.factories import NOW, request_submitted

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")


async def run(*args: str, url: str) -> tuple[int, str, str]:
    env = {**os.environ, "TICKETCORE_NATS__URL": url}
    process = await asyncio.create_subprocess_exec(
        TICKETCORE, *args, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_tail_prints_history_and_live_events_filtered_by_type(
        nats_server: EmbeddedNats, store: EventStore) -> None:
    version = await store.append("C1", [request_submitted(case_number="C1")], 0)
    env = {**os.environ, "TICKETCORE_NATS__URL": nats_server.url}
    process = await asyncio.create_subprocess_exec(
        TICKETCORE, "events", "tail", "--from-start", "--type", "AckSent",
        "--type", "RequestSubmitted", env=env, stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        first = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert first["type"] == "RequestSubmitted" and first["ticket"] == "C1"
        version = await store.append("C1", [ev.TechnicianResponded(at=NOW, technician="a")],
                                     version)  # filtered out
        await store.append("C1", [ev.AckSent(at=NOW, message_id="<m>", recipient="k@x")],
                           version)
        live = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        assert live["type"] == "AckSent" and live["event"]["recipient"] == "k@x"
        assert live["seq"] == 3
    finally:
        process.terminate()
        await process.wait()


async def test_ticket_show_prints_state_and_history(nats_server: EmbeddedNats,
                                                    store: EventStore) -> None:
    version = await store.append("C2", [request_submitted(case_number="C2", priority=True)],
                                 0)
    # Wednesday 2026-11-25 17:50-18:20 Berlin: the worked example of docs/domain.md 6.5.
    start = datetime(2026, 11, 25, 16, 50, tzinfo=UTC)
    await store.append("C2", [ev.TimeLogged(at=NOW, entry_id="e1", technician="anna",
                                            start=start, end=start + timedelta(minutes=30),
                                            kind="work")], version)
    code, out, _ = await run("ticket", "show", "C2", url=nats_server.url)
    assert code == 0
    assert '"status": "open"' in out and '"type": "RequestSubmitted"' in out
    shown = json.loads(out[:out.index("\n}\n") + 2])
    assert shown["running_total"]["gross"] == "103.14"
    code, _, err = await run("ticket", "show", "nope", url=nats_server.url)
    assert code == 1 and "no ticket nope" in err
    code, _, err = await run("ticket", "show", "a.b", url=nats_server.url)
    assert code == 1 and "not a valid ticket id" in err
