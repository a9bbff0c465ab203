"""While NATS does not answer (the server frozen with SIGSTOP, as a node that is lost or a
log without a leader looks to a client), intake answers 503 with Retry-After within its
store deadline (the health report answering within about a second meanwhile: its own
tests are tests/core/test_health.py). Before, intake held each submission for the store's
10 s timeout and its 503 had no Retry-After. The times are printed; the tests guard only
against hangs (the whole failover: tests/test_cluster_system.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator

import httpx

from shared.adapters.natsserver import EmbeddedNats
from shared.runtime.app import running_system
from shared.runtime.health import report
from shared.settings import Settings
from tests.support import serve_app

HANG_GUARD_S = 30.0
REQUEST = {"company": "Muster GmbH", "first_name": "Erika", "last_name": "Mustermann",
           "email": "erika@kunde.example", "phone": "+49 30 123456",
           "street": "Hauptstraße 5", "postcode": "10115", "city": "Berlin",
           "short_description": "Drucker druckt nicht", "additional_backup": False,
           "backup_acknowledged": True, "priority": False, "priority_acknowledged": True,
           "commercial_customer": True}


@contextlib.contextmanager
def frozen(server: EmbeddedNats) -> Iterator[None]:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


async def test_intake_answers_503_with_retry_after_and_health_answers_in_time(
        settings: Settings, nats_server: EmbeddedNats) -> None:
    async with running_system(settings, ("intake", "ack")) as system, \
            serve_app(system.http_app()) as url, \
            httpx.AsyncClient(base_url=url, timeout=HANG_GUARD_S) as client:
        stored = await client.post("/api/requests", json=REQUEST)
        assert stored.status_code == 201, stored.text
        with frozen(nats_server):
            started = time.monotonic()
            refused = await client.post("/api/requests", json=REQUEST,
                                        headers={"Idempotency-Key": "while-frozen"})
            refused_s = time.monotonic() - started
            started = time.monotonic()
            async with asyncio.timeout(HANG_GUARD_S):
                found = await report(system)
            health_s = time.monotonic() - started
    print(f"\nNATS frozen: intake answered {refused.status_code} after {refused_s:.2f} s "
          f"(store deadline {settings.intake.store_timeout_s:g} s); /health after "
          f"{health_s:.2f} s")
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "2"
    ack = found["services"]["ack"]
    assert ack["ack-receipts"] == {"error": "no answer within 1 s"}, ack
