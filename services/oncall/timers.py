"""Durable timers: JetStream scheduled messages on the stream ``TIMERS``.

A timer is a message on ``timers.schedule.<ticket>.<kind>`` with the headers
``Nats-Schedule: @at <UTC time>`` and ``Nats-Schedule-Target: timers.due.<ticket>.<kind>``.
At that time the server publishes the body onto the target subject, once; the durable
consumer ``oncall-timers`` (shared by all replicas) hands it to the service. Nothing is
kept in process memory, so a stopped service finds its due timers waiting when it starts.

A newer message on the same schedule subject replaces the older schedule, and the
``Nats-Msg-Id`` (ticket + kind) makes a repeated schedule within the duplicate window a
no-op. A timer may still fire for a ticket that no longer needs it: the decider then
decides nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.oncall.policy import (
    DeadlineWatch,
    Escalation,
    Reminder,
    Wakeup,
)
from shared.adapters.consumer import ConsumerSpec, record_for_operators
from shared.adapters.provision import TIMERS_STREAM

log = logging.getLogger(__name__)

DURABLE = "oncall-timers"
DUE_FILTER = "timers.due.>"
KIND = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class Timer:
    """A ticket's timer: its ``kind`` (a newer timer of the same kind replaces it) and the
    wake-up of the policy it stands for."""

    ticket: str
    kind: str
    wakeup: Wakeup

    @property
    def due(self) -> datetime:
        return self.wakeup.due

    def body(self) -> bytes:
        """``{"ticket", "kind", "due", "action", ...}``: the wake-up's fields, tagged by
        ``action``, and when it is due (as scheduled, rounded up to the second)."""
        return json.dumps({"ticket": self.ticket, "kind": self.kind,
                           **msgspec.to_builtins(self.wakeup),
                           "due": at_header(self.due)}).encode()

    @classmethod
    def from_body(cls, body: bytes) -> Timer:
        """The timer of a message; ValueError (with what is wrong) for anything else, an
        unknown ``action`` too."""
        data = json.loads(body)
        return cls(ticket=data["ticket"], kind=data["kind"],
                   wakeup=msgspec.convert(data, Wakeup))


def at_header(moment: datetime) -> str:
    """RFC 3339 UTC with seconds precision, rounded up: a timer never fires early."""
    utc = moment.astimezone(UTC)
    whole = utc.replace(microsecond=0)
    if utc != whole:
        whole += timedelta(seconds=1)
    return whole.strftime("%Y-%m-%dT%H:%M:%SZ")


async def schedule(js: JetStreamContext, timer: Timer) -> None:
    """Schedule ``timer`` (idempotent per ticket and kind)."""
    if not KIND.match(timer.kind) or not KIND.match(timer.ticket):
        raise ValueError(f"timer {timer.ticket}.{timer.kind}: not a subject token")
    headers = {
        "Nats-Schedule": f"@at {at_header(timer.due)}",
        "Nats-Schedule-Target": f"timers.due.{timer.ticket}.{timer.kind}",
        "Nats-Msg-Id": f"timer-{timer.ticket}-{timer.kind}",
    }
    await js.publish(f"timers.schedule.{timer.ticket}.{timer.kind}", timer.body(),
                     headers=headers, stream=TIMERS_STREAM)


def timer_for(case: str, wakeup: Wakeup) -> Timer:
    """The timer of one of the policy's wake-ups (kinds as documented in docs/oncall.md: a
    schedule is replaced by kind, so the kinds must stay stable)."""
    if isinstance(wakeup, Reminder):
        kind = f"renotify-{wakeup.level}-{wakeup.attempt}"
    elif isinstance(wakeup, Escalation):
        kind = f"escalate-{wakeup.level}"
    elif isinstance(wakeup, DeadlineWatch):
        kind = wakeup.clock.replace("_", "-")
    else:
        kind = "receipt"
    return Timer(case, kind, wakeup)


TimerHandler = Callable[[Timer], Awaitable[None]]


class TimerConsumer:
    """Fired timers through the shared durable consumer (stream ``TIMERS``, durable
    ``oncall-timers``): a failing handler gets the timer again later; timers of one ticket
    are handled in firing order, different tickets concurrently; replicas share the work."""

    def __init__(self, js: JetStreamContext, handler: TimerHandler) -> None:
        self.js = js
        self.handler = handler
        self.handled = 0

    def spec(self) -> ConsumerSpec:
        return ConsumerSpec(DURABLE, [DUE_FILTER], self._handle, stream=TIMERS_STREAM,
                            decode=self._decode, order_key=lambda subject: subject.split(".")[2],
                            backoff_s=BACKOFF_S)

    async def _decode(self, msg: Msg) -> Timer | None:
        try:
            return Timer.from_body(msg.data)
        except (ValueError, KeyError, TypeError, AttributeError) as error:  # an unknown action too
            log.error("unreadable timer on %s: %s", msg.subject, error)
            await record_for_operators(self.js, f"timer-{msg.metadata.sequence.stream}",
                                       f"{msg.subject}: unreadable timer: {error}")
            return None

    async def _handle(self, timer: Timer) -> None:
        await self.handler(timer)
        self.handled += 1
