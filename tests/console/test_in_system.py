"""The console as the oncall service serves it in the running system."""

from __future__ import annotations

import httpx

from shared.accounts import AccountStore
from shared.app import running_system
from shared.settings import Settings
from tests.console.conftest import ACCOUNTS, PASSWORDS
from tests.support import serve_app


async def test_the_oncall_service_serves_the_console(settings: Settings) -> None:
    async with running_system(settings, ("oncall",)) as system:
        system.runtime.accounts = AccountStore.from_dict(ACCOUNTS)
        async with serve_app(system.http_app()) as base_url, httpx.AsyncClient(
                base_url=base_url, follow_redirects=False, timeout=10) as client:
            assert (await client.get("/console")).status_code == 303
            login = await client.post("/console/login", data={
                "technician": "anna", "password": PASSWORDS["anna"]})
            assert login.status_code == 303
            queue = await client.get("/console")
            assert queue.status_code == 200
            assert "Offene Tickets (0)" in queue.text
