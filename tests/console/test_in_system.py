"""The console as the oncall service serves it in the running system."""

from __future__ import annotations

import httpx

from services.oncall.service import OncallService
from shared.adapters.eventstore import EventStore
from shared.domain.casenumber import with_check_digit
from shared.runtime.accounts import AccountStore
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.console.conftest import ACCOUNTS, PASSWORDS, post_login
from tests.factories import request_submitted
from tests.support import serve_app


async def test_the_oncall_service_serves_the_console(settings: Settings,
                                                     store: EventStore) -> None:
    case = with_check_digit("20261125000901")
    await store.append(case, [request_submitted(case_number=case)], 0)
    async with running_system(settings, ("oncall",)) as system:
        service = system.services[0]
        assert isinstance(service, OncallService)
        board = service.board
        # The service replayed the log at start: the first page view does not wait for it.
        assert board.started and case in board.tickets
        system.runtime.accounts = AccountStore.from_dict(ACCOUNTS)
        async with serve_app(system.http_app()) as base_url, httpx.AsyncClient(
                base_url=base_url, follow_redirects=False, timeout=10) as client:
            assert (await client.get("/console")).status_code == 303
            login = await post_login(client, "anna", PASSWORDS["anna"])
            assert login.status_code == 303
            queue = await client.get("/console")
            assert queue.status_code == 200
            assert "Offene Tickets (1)" in queue.text and case in queue.text
    assert not board.started  # stopped with the service
