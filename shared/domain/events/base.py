"""The base of every event contract: frozen msgspec structs in one tagged union.

Each event class has a stable type name (its class name, also the last token of its
subject ``tickets.<id>.<Type>``) and a schema version (``SCHEMA_VERSION``), which the event
store writes into the message headers. Stored events are never rewritten: an old version is
upcast on read (see :func:`shared.domain.events.codec.register_upcaster`).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base class of all ticket events. ``at`` is when the fact happened (UTC)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    # Whether the event belongs to the history a customer sees on the status page.
    CUSTOMER_VISIBLE: ClassVar[bool] = False

    at: datetime

    @classmethod
    def type_name(cls) -> str:
        return cls.__name__


class ContractParty(msgspec.Struct, frozen=True, kw_only=True):
    """Who the contract (and so every invoice) is with: the company if one was named,
    otherwise the person (docs/domain.md 2.1)."""

    name: str
    street: str
    postcode: str
    city: str
    country: str = "DE"
    is_company: bool = False
    vat_id: str | None = None


class Contact(msgspec.Struct, frozen=True, kw_only=True):
    first_name: str
    last_name: str
    email: str
    phone: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
