"""The base of every event contract: frozen msgspec structs in one tagged union.

Each event class has a stable type name (its class name, also the last token of its
subject ``tickets.<id>.<Type>``) and a schema version (``SCHEMA_VERSION``), which the event
store writes into the message headers. Stored events are never rewritten: an old version is
upcast on read (see :func:`shared.domain.events.codec.register_upcaster`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import msgspec


@dataclass(frozen=True)
class Personal:
    """A personal field of an event (docs/domain.md 7): sealed before it is stored, unreadable
    once the customer is erased. ``path`` is dotted (``contact.email``); ``name[]`` stands
    for every element of a tuple (``attachments[].filename``). ``party``: the field belongs
    to that contract party, personal only when the party is a person (a company's name and
    address stay readable, so invoices to companies stay complete)."""

    path: str
    party: str | None = None

    def applies(self, event: Event) -> bool:
        return self.party is None or not getattr(event, self.party).is_company


def party_fields(party: str) -> tuple[Personal, ...]:
    """A contract party's name and address: personal when the party is a person."""
    return tuple(Personal(f"{party}.{name}", party=party)
                 for name in ("name", "street", "postcode", "city"))


# The names of the files a mail or an answer carries (a name often says whose file it is:
# "Gehaltsabrechnung-Mustermann.pdf"); their content hash stays readable, erasure needs it.
FILE_NAMES = Personal("attachments[].filename")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base class of all ticket events. ``at`` is when the fact happened (UTC)."""

    SCHEMA_VERSION: ClassVar[int] = 1
    # Whether the event belongs to the history a customer sees on the status page.
    CUSTOMER_VISIBLE: ClassVar[bool] = False
    # Its personal fields (technicians' answers, notes, resolutions and reasons to decline
    # are personal too: they greet and quote the customer).
    PERSONAL: ClassVar[tuple[Personal, ...]] = ()

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
