"""Fixtures of the oncall tests: a rota, technician accounts, settings with a real SMTP
sink, and helpers to submit tickets and wait for their events."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from msgspec.structs import replace

from shared.adapters.eventstore import EventStore, PendingEvent
from shared.adapters.natsserver import EmbeddedNats
from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from shared.runtime.accounts import hash_password, hash_token
from shared.runtime.app import RunningSystem, running_system
from shared.settings import Settings, load_settings
from tests.conftest import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET
from tests.factories import request_submitted
from tests.support import SmtpSink, serve_app

ROTA = """
[[people]]
id = "anna"
name = "Anna Schmidt"
email = "anna@example.com"
{webhook}

[[people]]
id = "ben"
name = "Ben Weber"
email = "ben@example.com"
{webhook}

[[people]]
id = "carla"
name = "Carla Roth"
email = "carla@example.com"
{webhook}

[[rotations]]
level = 1
people = ["anna", "ben"]
handover_weekday = "monday"
handover_time = "09:00"
start = 2026-01-05

[[rotations]]
level = 2
people = ["carla"]
handover_weekday = "monday"
handover_time = "09:00"
start = 2026-01-05

[[overrides]]
person = "carla"
from = 2026-11-28T18:00:00
to = 2026-11-30T09:00:00
reason = "weekend swap"
"""

TOKENS = {"anna": "tok-anna", "ben": "tok-ben", "carla": "tok-carla"}
_numbers = itertools.count(1)


def new_case() -> str:
    return with_check_digit(f"20261126{next(_numbers):06d}")


def write_rota(path: Path, webhook: str | None = None) -> Path:
    line = f'webhook_url = "{webhook}"' if webhook else ""
    path.write_text(ROTA.format(webhook=line), encoding="utf-8")
    return path


@functools.cache
def _accounts_toml() -> str:
    """Hashed once per test run: argon2 is slow on purpose."""
    lines = []
    for tech, token in TOKENS.items():
        lines += ["[[technicians]]", f'id = "{tech}"', f'name = "{tech.title()}"',
                  f'email = "{tech}@example.com"',
                  f'password_hash = "{hash_password("pw-" + tech)}"',
                  f'token_hashes = ["{hash_token(token)}"]', ""]
    return "\n".join(lines)


def write_accounts(path: Path) -> Path:
    path.write_text(_accounts_toml(), encoding="utf-8")
    return path


@pytest.fixture
def make_settings(tmp_path: Path, nats_server: EmbeddedNats, smtp_sink: SmtpSink,
                  monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings for an oncall test; ``oncall=`` overrides, ``webhook=`` everybody's URL."""
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    accounts = write_accounts(tmp_path / "accounts.toml")

    def build(webhook: str | None = None, **oncall: Any) -> Settings:
        rota = write_rota(tmp_path / "rota.toml", webhook)
        return load_settings(
            data_dir=tmp_path / "data", nats={"url": nats_server.url}, http={"port": 0},
            smtp={"host": "127.0.0.1", "port": smtp_sink.port, "security": "none"},
            accounts_file=accounts, secret_key=TEST_SECRET_KEY,
            oncall={"rota_file": rota, "webhook_secret": TEST_WEBHOOK_SECRET,
                    "renotify_after_s": 600, "webhook_backoff_s": 0.05, "webhook_attempts": 4,
                    "webhook_timeout_s": 2, **oncall})

    return build


async def submit(store: EventStore, *, priority: bool, at: datetime | None = None,
                 reaction_minutes: int = 240, has_sla: bool = True,
                 email: str = "kunde@example.de") -> str:
    """Append a RequestSubmitted as intake would; return the case number."""
    case = new_case()
    request = request_submitted(priority=priority, has_sla=has_sla, case_number=case,
                                email=email, at=at or datetime.now(UTC))
    request = replace(request, reaction_minutes=reaction_minutes)
    events: list[ev.Event | PendingEvent] = [PendingEvent(request, event_id=f"submit-{case}")]
    if not has_sla:
        events.append(PendingEvent(ev.AwaitingAcceptance(at=request.at),
                                   event_id=f"await-{case}"))
    await store.append(case, events, 0)
    return case


async def event_types(store: EventStore, case: str) -> list[str]:
    history = await store.load(case)
    return [r.type_name for r in history.events]


async def wait_for_event(store: EventStore, case: str, type_name: str, count: int = 1,
                         timeout_s: float = 15.0) -> list[ev.Event]:
    """Poll the ticket until ``count`` events of ``type_name`` are stored."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        history = await store.load(case)
        found = [r.event for r in history.events if r.type_name == type_name]
        if len(found) >= count or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


ACK_LINK = re.compile(r"http://[^\s/]+(/oncall/ack/\S+)")


def ack_path_in(mail: Any) -> str:
    """The acknowledge link's path (and query) from a page mail."""
    match = ACK_LINK.search(mail.get_content())
    assert match, mail.get_content()
    return match.group(1)


def mails_to(sink: SmtpSink, address: str) -> list[Any]:
    return [m for m in sink.messages if address in str(m["To"])]


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def oncall_http(settings: Settings
                      ) -> AsyncIterator[tuple[RunningSystem, httpx.AsyncClient]]:
    """The oncall service running, served over real HTTP, with a client for it."""
    async with running_system(settings, ("oncall",)) as system, \
            serve_app(system.http_app()) as base, httpx.AsyncClient(base_url=base) as http:
        yield system, http


# Seconds from now until a test's SLA deadline: the first is quick; a machine too busy to
# finish the steps that must come before the deadline gets the next, wider one.
MARGINS_S = (8.0, 25.0, 55.0)


async def with_growing_margins(attempt: Callable[[float], Awaitable[bool]]) -> float:
    """Run ``attempt(margin_s)`` until it reports that the steps meant to come before the
    deadline did (True); return that margin. Outcomes are asserted inside the attempt;
    only the premise is retried, never a wrong outcome."""
    for margin in MARGINS_S:
        if await attempt(margin):
            return margin
    raise AssertionError(f"the deadline passed too early even {MARGINS_S[-1]} s ahead")
