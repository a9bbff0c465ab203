"""Events of logged time and the invoices made of it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import ClassVar, Literal

import msgspec

from shared.domain.events.base import ContractParty, Event, Personal, party_fields

TimeKind = Literal["work", "travel"]


class TimeLogged(Event, tag=True, frozen=True, kw_only=True):
    """A technician logged a time entry. Entries are never edited, only voided."""

    entry_id: str
    technician: str
    start: datetime
    end: datetime
    kind: TimeKind
    note: str = ""


class TimeEntryVoided(Event, tag=True, frozen=True, kw_only=True):
    entry_id: str
    technician: str
    reason: str = ""
    # True when ``technician`` voided another technician's entry with the lead role.
    as_lead: bool = False


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True):
    kind: TimeKind
    multiplier: Decimal
    minutes: int
    hourly_price: Decimal
    net: Decimal


class Seller(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    street: str
    postcode: str
    city: str
    country: str = "DE"
    vat_id: str = ""
    tax_number: str = ""
    email: str = ""
    iban: str = ""


class InvoiceIssued(Event, tag=True, frozen=True, kw_only=True):
    """An invoice was issued. It never changes; a correction cancels it and issues anew."""

    CUSTOMER_VISIBLE: ClassVar[bool] = True
    PERSONAL: ClassVar[tuple[Personal, ...]] = party_fields("buyer")

    invoice_number: str
    invoice_date: date
    due_date: date
    service_period_start: date
    service_period_end: date
    seller: Seller
    buyer: ContractParty
    lines: tuple[InvoiceLine, ...]
    net: Decimal
    vat_rate: Decimal
    vat: Decimal
    gross: Decimal
    currency: str = "EUR"
    entry_ids: tuple[str, ...] = ()
    calendar_version: str = ""
    issued_by: str = ""


class InvoiceCancelled(Event, tag=True, frozen=True, kw_only=True):
    """A credit note cancelling an issued invoice in full."""

    invoice_number: str
    credit_note_number: str
    reason: str
    issued_by: str = ""
