"""The ``ticketcore`` commands as a user runs them (subprocesses): they find the system through
the services' own settings, give up with one clear line, and print one JSON document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import EmbeddedNats, free_port
from shared.domain.events import AckSent
from tests.factories import request_submitted

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")
CASE = "20261126000011"


def ticketcore(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    environment.update(env)
    return subprocess.run([TICKETCORE, *args], env=environment, capture_output=True,
                          text=True, timeout=60)


def test_without_a_server_a_command_gives_up_after_the_timeout_with_one_line() -> None:
    result = ticketcore("ticket", "show", CASE, TICKETCORE_NATS__EMBEDDED_PORT=str(free_port()),
                        TICKETCORE_NATS__CONNECT_TIMEOUT_S="1")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ticketcore: cannot connect to NATS at nats://127.0.0.1:")
    assert "connection refused" in lines[0] and "is `ticketcore up` running?" in lines[0]
    assert result.stdout == ""


async def test_ticket_show_prints_one_document_and_the_past_from_the_log(
        store: EventStore, nats_server: EmbeddedNats) -> None:
    first = await store.append(CASE, [request_submitted(case_number=CASE)], 0)
    await store.append(CASE, [AckSent(at=request_submitted().at, message_id="<m@x>",
                                      recipient="erika@kunde.example")], first)
    history = await store.load(CASE)
    submitted_at = history.events[0].recorded_at
    assert submitted_at is not None and history.events[1].recorded_at > submitted_at
    port = nats_server.url.rsplit(":", 1)[1]

    now = ticketcore("ticket", "show", CASE, TICKETCORE_NATS__EMBEDDED_PORT=port)
    then = ticketcore("ticket", "show", CASE, "--as-of", submitted_at.isoformat(),
                      TICKETCORE_NATS__EMBEDDED_PORT=port)

    assert now.returncode == 0, now.stderr
    assert now.stderr == ""  # a command prints its result, not the connection's progress
    document = json.loads(now.stdout)  # the whole output is one JSON document
    assert [e["type"] for e in document["events"]] == ["RequestSubmitted", "AckSent"]
    assert document["version"] == history.version and document["ticket"] == CASE
    assert then.returncode == 0, then.stderr
    past = json.loads(then.stdout)
    assert [e["type"] for e in past["events"]] == ["RequestSubmitted"]
    assert past["version"] == first and past["as_of"] == submitted_at.isoformat()


def test_time_log_calls_where_up_serves_and_api_variables_are_real_settings() -> None:
    http_port = str(free_port())  # nothing listens: the error names the address tried
    by_port = ticketcore("time", "log", CASE, "--start", "2026-11-25T17:50:00+01:00",
                         "--end", "2026-11-25T18:20:00+01:00", "--kind", "work",
                         TICKETCORE_HTTP__PORT=http_port, TICKETCORE_API_TOKEN="t0ken",
                         TICKETCORE_NATS__CONNECT_TIMEOUT_S="1")
    assert by_port.returncode == 1
    assert f"cannot reach http://127.0.0.1:{http_port}" in by_port.stderr
    api_url = f"http://127.0.0.1:{free_port()}"
    by_url = ticketcore("billing", "invoice", CASE, TICKETCORE_API_URL=api_url,
                        TICKETCORE_API_TOKEN="t0ken")
    assert by_url.returncode == 1 and f"cannot reach {api_url}" in by_url.stderr
    # Every other command accepts them too: they are settings, not unknown variables.
    listed = ticketcore("settings", TICKETCORE_API_URL=api_url, TICKETCORE_API_TOKEN="t")
    assert listed.returncode == 0, listed.stderr
    assert "TICKETCORE_API_URL" in listed.stdout


def test_help_speaks_to_users() -> None:
    result = ticketcore("--help")
    assert result.returncode == 0
    assert "ticketcore up" in result.stdout
    assert "register(subparsers)" not in result.stdout
