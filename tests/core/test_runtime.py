"""The runtime's NATS connection: what operators see in the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.adapters.natsserver import EmbeddedNats
from shared.runtime.runtime import connect
from shared.settings import Settings


async def test_a_clean_stop_logs_no_lost_connection(
        settings: Settings, nats_server: EmbeddedNats, caplog: pytest.LogCaptureFixture
        ) -> None:
    caplog.set_level(logging.INFO, logger="shared.runtime.runtime")
    runtime = await connect(settings, nats_server.url)
    await runtime.close()
    assert "NATS: connection closed" in caplog.text
    assert "disconnected, reconnecting" not in caplog.text
    caplog.clear()
    lost = await connect(settings, nats_server.url)
    nats_server.stop()  # the server goes away: that is worth a warning
    for _ in range(50):
        if "disconnected, reconnecting" in caplog.text:
            break
        await asyncio.sleep(0.1)
    await lost.nc.close()
    assert "disconnected, reconnecting" in caplog.text
