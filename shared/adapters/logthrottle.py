"""At most one WARNING per kind and interval: a fault that repeats (a lost connection, a
store that does not answer during a failover) is one line for operators, not a flood; the
repeats go to DEBUG and the next warning says how many there were."""

from __future__ import annotations

import logging
import time

WARN_EVERY_S = 30.0


class WarningThrottle:
    def __init__(self, log: logging.Logger, every_s: float = WARN_EVERY_S) -> None:
        self.log = log
        self.every_s = every_s
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.last.get(kind, -self.every_s) < self.every_s:
            self.suppressed[kind] = self.suppressed.get(kind, 0) + 1
            self.log.debug(message, *args)
            return
        self.last[kind] = now
        skipped = self.suppressed.pop(kind, 0)
        suffix = f" ({skipped} more like it since the last warning)" if skipped else ""
        self.log.warning(message + suffix, *args)
