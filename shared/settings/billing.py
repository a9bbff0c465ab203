"""Settings of pricing, the calendar and invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class SellerSettings(BaseModel):
    name: str = "Example IT-Service GmbH"
    street: str = "Musterstraße 1"
    postcode: str = "10115"
    city: str = "Berlin"
    country: str = "DE"
    vat_id: str = Field("DE123456789", description="USt-IdNr. printed on invoices.")
    tax_number: str = Field("", description="Steuernummer (when no VAT id is used).")
    email: str = "rechnung@example.com"
    iban: str = ""


class BillingSettings(BaseModel):
    hourly_rate: Decimal = Field(Decimal("130.00"), gt=0, description="Base rate in EUR per hour.")
    vat_rate: Decimal = Field(Decimal("0.19"), ge=0, lt=1, description="USt. rate.")
    payment_days: int = Field(10, ge=0, description="Due date = invoice date + this many days.")
    federal_state: str | None = Field(
        None, pattern=r"^(BW|BY|BE|BB|HB|HH|HE|MV|NI|NW|RP|SL|SN|ST|SH|TH)$",
        description="German federal state whose public holidays apply (unset: nationwide).",
    )
    company_holidays: list[date] = Field(default_factory=list,
                                         description="Company holidays (Betriebsferien).")
    seller: SellerSettings = SellerSettings()
