"""The suite's own fixtures run the way production runs."""

from __future__ import annotations

from shared.adapters.natsserver import EmbeddedNats
from shared.settings.core import NatsSettings


def test_the_test_nats_server_fsyncs_before_it_acknowledges(nats_server: EmbeddedNats) -> None:
    """Production (``nats.sync_always``, on by default) fsyncs every write before the
    server acknowledges it; the suite's server must do the same."""
    assert NatsSettings().sync_always is True
    config = (nats_server.data_dir / "nats-server.conf").read_text()
    assert "sync_interval: always" in [line.strip() for line in config.splitlines()]
