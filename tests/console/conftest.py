"""The console served over real HTTP on its own FastAPI app, against a real nats-server."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import msgspec
import pytest
from fastapi import FastAPI

from services.oncall.console import console_router
from services.oncall.ticketboard import TicketBoard
from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import provision
from shared.adapters.technicianentries import TechnicianEntries
from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from shared.runtime.accounts import AccountStore, hash_password
from shared.runtime.runtime import Runtime, connect
from shared.settings import Settings
from tests.factories import request_submitted
from tests.support import serve_app

PASSWORDS = {"anna": "anna-secret-pw", "bernd": "bernd-secret-pw"}
# Hashed once per test run: argon2 is slow on purpose.
ACCOUNTS = {"technicians": [
    {"id": tech, "name": tech.title(), "password_hash": hash_password(password)}
    for tech, password in PASSWORDS.items()
]}
CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')


async def post_login(client: httpx.AsyncClient, tech: str, password: str) -> httpx.Response:
    """Log in as a browser does: show the login form (its CSRF cookie and token), post it."""
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text
    match = CSRF_FIELD.search(form.text)
    assert match, form.text
    return await client.post("/console/login", data={
        "technician": tech, "password": password, "csrf": match.group(1)})


@dataclass
class ConsoleUnderTest:
    base_url: str
    runtime: Runtime
    board: TicketBoard

    @property
    def store(self) -> EventStore:
        return self.runtime.store

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, follow_redirects=False, timeout=10)

    @contextlib.asynccontextmanager
    async def login(self, tech: str = "anna") -> AsyncIterator[httpx.AsyncClient]:
        """A client with a session of ``tech``."""
        async with self.client() as client:
            response = await post_login(client, tech, PASSWORDS[tech])
            assert response.status_code == 303, response.text
            yield client

    async def csrf(self, client: httpx.AsyncClient) -> str:
        page = await client.get("/console")
        match = CSRF_FIELD.search(page.text)
        assert match, page.text
        return match.group(1)

    async def submit(self, number: int, *, priority: bool = False, has_sla: bool = True,
                     short_description: str = "Drucker druckt nicht",
                     extra: tuple[ev.Event, ...] = ()) -> str:
        """Store a ticket (its request plus ``extra`` events); returns the case number."""
        case = with_check_digit(f"20261125{number:06d}")
        request = msgspec.structs.replace(
            request_submitted(priority=priority, has_sla=has_sla, case_number=case),
            short_description=short_description)
        events: list[ev.Event] = [request]
        if not has_sla:
            events.append(ev.AwaitingAcceptance(at=request.at))
        await self.store.append(case, [*events, *extra], 0)
        return case

    async def events_of(self, case: str) -> list[ev.Event]:
        return [r.event for r in (await self.store.load(case)).events]


@pytest.fixture
async def console(settings: Settings, nats_server: EmbeddedNats
                  ) -> AsyncIterator[ConsoleUnderTest]:
    runtime = await connect(settings, nats_server.url)
    await provision(runtime.js)
    runtime.accounts = AccountStore.from_dict(ACCOUNTS)
    board = TicketBoard(runtime.store)
    entries = TechnicianEntries(runtime.js, runtime.store, reservation_timeout_s=60)
    await entries.ensure()
    app = FastAPI()
    app.include_router(console_router(runtime, board, entries))
    try:
        async with serve_app(app) as base_url:
            yield ConsoleUnderTest(base_url, runtime, board)
    finally:
        await board.stop()
        await runtime.close()


def paged(technician: str, deadline: datetime) -> ev.PriorityEscalated:
    """The on-call page of a priority ticket with its reaction deadline."""
    return ev.PriorityEscalated(at=deadline - timedelta(hours=4), technician=technician,
                                reaction_deadline=deadline)
