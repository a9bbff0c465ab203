"""The event loop every ticketcore process runs on.

uvloop (libuv) where it is installed: it costs less per socket operation than the standard
loop, and a ticket is mostly socket operations (HTTP, one JetStream write after another,
SMTP). The standard loop is the fallback on platforms without uvloop (Windows); behaviour is
the same, only slower. Tests run on the standard loop (pytest-asyncio); the subprocess tests
of ``ticketcore up`` run on this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when installed, else None (asyncio's default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def loop_name() -> str:
    return "uvloop" if loop_factory() else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Like ``asyncio.run``, on the loop described above."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
