"""`ticketcore time log`, `time void` and `billing invoice` as subprocesses against a
running billing service (real HTTP port, real nats-server)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.billing.service import BillingService
from shared.adapters.eventstore import EventStore, PendingEvent
from shared.domain import events as ev
from shared.runtime.accounts import ensure_first_account, hash_token
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.factories import request_submitted
from tests.support import serve_app

TOKEN = "cli-test-token-0123456789"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
async def api_url(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[[technicians]]\nid = "anna"\nname = "Anna"\n'
                        f'token_hashes = ["{hash_token(TOKEN)}"]\n')
    configured = settings.model_copy(update={"accounts_file": accounts})
    async with running_system(configured, ("billing",)) as system:
        service = system.services[0]
        assert isinstance(service, BillingService)
        service.clock = lambda: NOW
        async with serve_app(system.http_app()) as base_url:
            yield base_url


async def ticketcore(url: str, *args: str, token: str | None = TOKEN,
                     data_dir: Path | None = None) -> Result:
    """Run the real command in a child process (the server keeps running in this loop);
    ``data_dir``: the data folder it sees (default: one without `up`'s token file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    env.update(TICKETCORE_API_URL=url,
               TICKETCORE_DATA_DIR=str(data_dir or ROOT / "tests" / "no-such-data-dir"))
    if token is not None:
        env["TICKETCORE_API_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.runtime.cli", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return Result(process.returncode or 0, out.decode(), err.decode())


async def new_ticket(store: EventStore) -> str:
    request = request_submitted(priority=True)
    await store.append(request.case_number, [request], 0)
    return request.case_number


async def types_of(store: EventStore, case: str) -> list[str]:
    return [r.type_name for r in (await store.load(case)).events]


async def test_log_void_and_invoice_from_the_command_line(api_url: str,
                                                          store: EventStore) -> None:
    case = await new_ticket(store)
    logged = await ticketcore(api_url, "time", "log", case, "--start",
                              "2026-11-25T17:50:00+01:00", "--end", "2026-11-25T18:20:00+01:00",
                              "--kind", "work", "--note", "Drucker", "--entry-id", "first")
    assert logged.code == 0, logged.err
    assert json.loads(logged.out)["entry_id"] == "first"
    mistaken = await ticketcore(api_url, "time", "log", case, "--start",
                                "2026-11-25T08:00:00+01:00", "--end", "2026-11-25T08:10:00+01:00",
                                "--kind", "travel", "--entry-id", "second")
    assert mistaken.code == 0, mistaken.err
    voided = await ticketcore(api_url, "time", "void", case, "second", "--reason", "typo")
    assert (voided.code, json.loads(voided.out)) == (0, {"voided": "second"})
    history = await store.load(case)
    assert [r.type_name for r in history.events] == [
        "RequestSubmitted", "TimeLogged", "TimeLogged", "TimeEntryVoided"]
    first = history.events[1].event
    assert isinstance(first, ev.TimeLogged)
    assert (first.technician, first.note, first.start) == (
        "anna", "Drucker", datetime(2026, 11, 25, 16, 50, tzinfo=UTC))
    await store.append(case, [PendingEvent(ev.TicketResolved(at=NOW, technician="anna"),
                                           event_id="resolve")], history.version)
    invoiced = await ticketcore(api_url, "billing", "invoice", case)
    assert invoiced.code == 0, invoiced.err
    invoice = json.loads(invoiced.out)
    assert (invoice["invoice_number"], invoice["gross"], invoice["entry_ids"]) == (
        "RE-2026-000001", "103.14", ["first"])
    assert (await types_of(store, case))[-1] == "InvoiceIssued"


@pytest.mark.parametrize(("args", "message"), [
    (("--start", "yesterday", "--end", "2026-11-25T18:20:00+01:00", "--kind", "work"),
     "refused (422): start: Input should be a valid datetime"),
    (("--start", "2026-11-25T18:20:00+01:00", "--end", "2026-11-25T17:50:00+01:00",
      "--kind", "work"), "end must be after start"),
    (("--start", "2026-11-25T17:50:00", "--end", "2026-11-25T18:20:00+01:00",
      "--kind", "work"), "UTC offset"),
    (("--start", "2026-11-25T17:50:00+01:00", "--end", "2026-11-25T18:20:00+01:00",
      "--kind", "play"), "invalid choice: 'play'"),
])
async def test_bad_time_input_exits_non_zero_and_stores_nothing(
        api_url: str, store: EventStore, args: tuple[str, ...], message: str) -> None:
    case = await new_ticket(store)
    result = await ticketcore(api_url, "time", "log", case, *args)
    assert result.code != 0
    assert message in result.err and result.out == ""
    assert await types_of(store, case) == ["RequestSubmitted"]


async def test_refusals_name_the_problem(api_url: str, store: EventStore) -> None:
    case = await new_ticket(store)
    body = ("--start", "2026-11-25T10:00:00+01:00", "--end", "2026-11-25T10:30:00+01:00",
            "--kind", "work")
    wrong_token = await ticketcore(api_url, "time", "log", case, *body, token="wrong")
    assert wrong_token.code == 1 and "refused (401)" in wrong_token.err
    no_token = await ticketcore(api_url, "time", "log", case, *body, token="")
    assert no_token.code == 2 and "API token" in no_token.err
    not_resolved = await ticketcore(api_url, "billing", "invoice", case)
    assert not_resolved.code == 1 and "refused (409)" in not_resolved.err
    unknown_entry = await ticketcore(api_url, "time", "void", case, "nope")
    assert unknown_entry.code == 1 and "no active time entry nope" in unknown_entry.err
    unknown_ticket = await ticketcore(api_url, "billing", "invoice", "20990101000010")
    assert unknown_ticket.code == 1 and "refused (404)" in unknown_ticket.err
    assert await types_of(store, case) == ["RequestSubmitted"]


async def test_time_log_takes_the_token_up_wrote(settings: Settings, tmp_path: Path,
                                                 store: EventStore) -> None:
    """`ticketcore up` creates the first account and writes its API token into the data
    folder; the CLI, run with the same settings, finds it without --token."""
    data = tmp_path / "data"
    ensure_first_account(data / "accounts.toml")  # what `up` does on its first start
    configured = settings.model_copy(update={"data_dir": data,
                                             "accounts_file": data / "accounts.toml"})
    case = await new_ticket(store)
    async with running_system(configured, ("billing",)) as system, \
            serve_app(system.http_app()) as url:
        logged = await ticketcore(url, "time", "log", case, "--start",
                                  "2026-11-25T10:00:00+01:00", "--end",
                                  "2026-11-25T10:30:00+01:00", "--kind", "work",
                                  token=None, data_dir=data)
    assert logged.code == 0, logged.err
    assert (await types_of(store, case))[-1] == "TimeLogged"
    logged_by = (await store.load(case)).events[-1].event
    assert isinstance(logged_by, ev.TimeLogged) and logged_by.technician == "admin"


async def test_time_log_at_a_service_without_the_route_names_the_wrong_address(
        settings: Settings, store: EventStore) -> None:
    """Pointed at intake (which has no time entries), the command says that the address is
    wrong, not just `refused (404)`."""
    case = await new_ticket(store)
    async with running_system(settings, ("intake",)) as system, \
            serve_app(system.http_app()) as intake_url:
        result = await ticketcore(intake_url, "time", "log", case, "--start",
                                  "2026-11-25T10:00:00+01:00", "--end",
                                  "2026-11-25T10:30:00+01:00", "--kind", "work")
    assert result.code == 1
    assert f"{intake_url} has no POST /api/tickets/{case}/time" in result.err
    assert "not the address of the billing service or of the public origin" in result.err
    assert await types_of(store, case) == ["RequestSubmitted"]
