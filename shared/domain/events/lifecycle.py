"""Events of a ticket's own lifecycle that no single service owns."""

from __future__ import annotations

from typing import ClassVar

from shared.domain.events.base import Event, Personal


class TicketResolved(Event, tag=True, frozen=True, kw_only=True):
    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = (Personal("resolution"),)

    technician: str
    resolution: str = ""


class TicketReopened(Event, tag=True, frozen=True, kw_only=True):
    CUSTOMER_VISIBLE: ClassVar[bool] = True

    by: str
    reason: str = ""


class TicketClosed(Event, tag=True, frozen=True, kw_only=True):
    CUSTOMER_VISIBLE: ClassVar[bool] = True

    by: str


class PersonalDataErased(Event, tag=True, frozen=True, kw_only=True):
    """The ticket's data key was destroyed: its personal fields are unreadable from now on."""

    by: str
    reason: str = ""
