"""The shapes of billing's JSON answers, for the OpenAPI document (the routes answer the
events themselves, as msgspec turns them into JSON: the same fields)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TimeEntryOut(BaseModel):
    """The ``TimeLogged`` event stored for the entry."""

    type: Literal["TimeLogged"]
    at: datetime
    entry_id: str
    technician: str
    start: datetime
    end: datetime
    kind: Literal["work", "travel"]
    note: str


class Voided(BaseModel):
    voided: str = Field(description="The entry id.")


class QuoteLine(BaseModel):
    kind: Literal["work", "travel"]
    multiplier: str = Field(description="Decimal, e.g. `1.5`.")
    minutes: int
    hourly_price: str = Field(description="Decimal amount in EUR, e.g. `95.00`.")
    net: str


class RunningTotal(BaseModel):
    """What the ticket's uninvoiced entries would cost now."""

    lines: list[QuoteLine]
    net: str
    vat: str
    gross: str
    priority: bool
    calendar_version: str
    entries: list[TimeEntryOut]


class Party(BaseModel):
    model_config = ConfigDict(extra="allow")  # address and tax fields

    name: str
    street: str
    postcode: str
    city: str
    country: str


class InvoiceLineOut(BaseModel):
    kind: Literal["work", "travel"]
    multiplier: str
    minutes: int
    hourly_price: str
    net: str


class InvoiceOut(BaseModel):
    """The ``InvoiceIssued`` event (amounts as decimal strings)."""

    type: Literal["InvoiceIssued"]
    at: datetime
    invoice_number: str
    invoice_date: dt.date
    due_date: dt.date
    service_period_start: dt.date
    service_period_end: dt.date
    seller: Party
    buyer: Party
    lines: list[InvoiceLineOut]
    net: str
    vat_rate: str
    vat: str
    gross: str
    currency: str
    entry_ids: list[str]
    calendar_version: str
    issued_by: str


class CreditNoteOut(BaseModel):
    """The ``InvoiceCancelled`` event: the credit note that cancels an invoice."""

    type: Literal["InvoiceCancelled"]
    at: datetime
    invoice_number: str
    credit_note_number: str
    reason: str
    issued_by: str


class DocumentLineOut(BaseModel):
    description: str
    minutes: int
    hourly_price: str
    net: str


class InvoiceDocument(BaseModel):
    """An invoice or credit note as its reader sees it, values already formatted
    (``GET /api/invoices/{number}``; ``.html``, ``.pdf`` and ``.xml`` render it)."""

    title: str
    type_code: str = Field(description="UNTDID 1001: 380 invoice, 381 credit note.")
    number: str
    date: dt.date
    date_label: str
    case_number: str
    seller: Party
    buyer: Party
    period_start: dt.date
    period_end: dt.date
    due_date: dt.date
    payment_days: int
    lines: list[DocumentLineOut]
    net: str
    vat_percent: str
    vat: str
    gross: str
    calendar_version: str
    cancels: str = Field("", description="For a credit note: the invoice it cancels.")
    cancels_date: dt.date | None = None
    reason: str = ""
