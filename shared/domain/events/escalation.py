"""Events of priority escalation and the SLA clocks: the on-call page, its reminders and
levels, its acknowledgement, the first-response deadline and a breach."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from shared.domain.events.base import Event

SlaClock = Literal["reaction", "first_response"]


class PriorityEscalated(Event, tag=True, frozen=True, kw_only=True):
    """A priority request was handed to the on-call technician, with its reaction deadline."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True

    technician: str
    level: int = 1
    reaction_deadline: datetime


class ResponseDeadlineSet(Event, tag=True, frozen=True, kw_only=True):
    """The first-response deadline of a normal-priority ticket (9 Business-Time hours)."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True

    deadline: datetime
    calendar_version: str = ""


class OnCallReNotified(Event, tag=True, frozen=True, kw_only=True):
    technician: str
    attempt: int


class OnCallEscalated(Event, tag=True, frozen=True, kw_only=True):
    """Nobody acknowledged: the page went to the next escalation level."""

    technician: str
    level: int


class OnCallAcknowledged(Event, tag=True, frozen=True, kw_only=True):
    """The paged technician took the page."""

    technician: str


class SlaBreached(Event, tag=True, frozen=True, kw_only=True):
    """A deadline passed without the response it demanded."""

    clock: SlaClock
    deadline: datetime
