"""X-Forwarded-For counts only from a trusted proxy: behind nginx on the same machine the
development outbox (shown only to a browser on this machine) must not open to everyone
the proxy forwards, and nobody may pose as another client by sending the header."""

from __future__ import annotations

import httpx

from shared.runtime.app import running_system
from shared.settings import Settings
from tests.support import serve_app

FORWARDED = {"X-Forwarded-For": "203.0.113.7"}


async def test_the_client_is_the_one_a_trusted_proxy_names_and_no_one_else(
        settings: Settings) -> None:
    async with running_system(settings, ("ack",)) as system:  # no SMTP: the mail catcher
        app = system.http_app()
        async with serve_app(app, trusted_proxies=("127.0.0.1",)) as behind_proxy, \
                serve_app(app) as direct, httpx.AsyncClient(timeout=20) as http:
            local = await http.get(f"{behind_proxy}/outbox")
            forwarded = await http.get(f"{behind_proxy}/outbox", headers=FORWARDED)
            claimed = await http.get(f"{direct}/outbox", headers=FORWARDED)
    assert local.status_code == 200  # the browser on this machine, through the proxy
    assert forwarded.status_code == 403  # a client from outside, named by the proxy
    assert claimed.status_code == 200  # the header from an untrusted peer counts for nothing
