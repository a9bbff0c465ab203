"""The runtime's NATS connection: what operators see in the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.adapters.natsserver import EmbeddedNats
from shared.runtime.connection import RECONNECT_WAIT_MAX_S, RECONNECT_WAIT_S
from shared.runtime.runtime import connect
from shared.settings import Settings

LOGGER = "shared.runtime.connection"


async def test_a_clean_stop_logs_no_lost_connection(
        settings: Settings, nats_server: EmbeddedNats, caplog: pytest.LogCaptureFixture
        ) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    runtime = await connect(settings, nats_server.url)
    await runtime.close()
    assert "NATS: connection closed" in caplog.text
    assert "lost the connection" not in caplog.text


async def test_a_lost_server_is_one_warning_while_reconnecting_with_backoff(
        settings: Settings, nats_server: EmbeddedNats, caplog: pytest.LogCaptureFixture
        ) -> None:
    """Before: a WARNING for every reconnect attempt (about 7 a second). Now: one when the
    connection is lost, the attempts at DEBUG, at most one more WARNING per 30 s, and the
    wait between attempts grows (up to RECONNECT_WAIT_MAX_S)."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    lost = await connect(settings, nats_server.url)
    nats_server.stop()  # the server goes away: that is worth a warning
    attempts = []
    for _ in range(300):  # until several attempts have failed (a hang guard, not a time)
        attempts = [r for r in caplog.records if "still reconnecting" in r.getMessage()]
        if len(attempts) >= 3:
            break
        await asyncio.sleep(0.1)
    warnings = [r.getMessage() for r in caplog.records
                if r.name == LOGGER and r.levelno >= logging.WARNING]
    wait_s = lost.nc.options["reconnect_time_wait"]
    await lost.nc.close()
    assert len(attempts) >= 3, caplog.text
    assert len(warnings) == 1, warnings
    assert "NATS: lost the connection" in warnings[0]
    assert RECONNECT_WAIT_S < wait_s <= RECONNECT_WAIT_MAX_S
