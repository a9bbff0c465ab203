"""Helpers of the ack tests: settings pointing at a test SMTP server, waiting on the log,
and an SMTP server that refuses chosen recipients."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from shared.adapters.eventstore import EventStore
from shared.domain import events as ev
from shared.settings import Settings
from tests.support import SmtpSink


def with_smtp(settings: Settings, port: int, **ack: Any) -> Settings:
    """``settings`` sending plain SMTP to 127.0.0.1:``port``, short retry timings."""
    smtp = settings.smtp.model_copy(update={"host": "127.0.0.1", "port": port,
                                            "security": "none", "timeout_s": 5.0})
    timings = {"retry_backoff_s": (0.2,), "ack_wait_s": 5.0, "claim_timeout_s": 10.0} | ack
    return settings.model_copy(update={"smtp": smtp,
                                       "ack": settings.ack.model_copy(update=timings)})


async def wait_until(condition: Callable[[], Any], timeout_s: float = 20.0) -> None:
    """Poll ``condition`` (sync or async) until true or the time is up; tests assert after."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)


async def events_of(store: EventStore, case: str, kind: type[ev.Event]) -> list[Any]:
    history = await store.load(case)
    return [r.event for r in history.events if isinstance(r.event, kind)]


async def wait_for_event(store: EventStore, case: str, kind: type[ev.Event], count: int = 1,
                         timeout_s: float = 20.0) -> list[Any]:
    found: list[Any] = []

    async def enough() -> bool:
        found[:] = await events_of(store, case, kind)
        return len(found) >= count

    await wait_until(enough, timeout_s)
    return found


class RefusingSmtp(SmtpSink):
    """A real SMTP server that answers RCPT TO with the given code for the addresses in
    ``refused`` and accepts everything else (the sink keeps what it accepted)."""

    def __init__(self, refused: dict[str, str]) -> None:
        super().__init__()
        self.refused = refused
        self.rcpt_attempts: list[str] = []

    @property
    def delivered(self) -> list[Envelope]:
        return self.envelopes

    async def handle_RCPT(self, server: object, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.rcpt_attempts.append(address)
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"
