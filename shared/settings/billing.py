"""Settings of pricing, the calendar and invoices."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.domain.calendar import BusinessCalendar
from shared.domain.events import Seller
from shared.domain.pricing import InvoiceTerms, Tariff


class SellerSettings(BaseModel):
    name: str = Field("Example IT-Service GmbH", description="Seller's name on invoices.")
    street: str = Field("Musterstraße 1", description="Seller's street and number.")
    postcode: str = Field("10115", description="Seller's postcode.")
    city: str = Field("Berlin", description="Seller's city.")
    country: str = Field("DE", pattern=r"^[A-Z]{2}$",
                         description="Seller's country (ISO 3166-1 alpha-2).")
    vat_id: str = Field("DE123456789", description="USt-IdNr. printed on invoices.")
    tax_number: str = Field("", description="Steuernummer (when no VAT id is used).")
    email: str = Field("rechnung@example.com", description="Seller's billing e-mail address.")
    iban: str = Field("", description="IBAN printed on invoices and put into the e-invoice "
                      "(SEPA credit transfer).")


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
    catholic_holidays: bool = Field(
        False, description="Also treat holidays of predominantly Catholic communities of the "
        "state (e.g. Assumption Day in Bavaria) as public holidays.")
    customer_rates: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Hourly rate per customer id (RequestSubmitted.customer_id); others pay "
        "hourly_rate.")
    invoice_prefix: str = Field("RE", pattern=r"^[A-Z]{1,8}$",
                                description="Invoice numbers read <prefix>-<year>-<counter>.")
    credit_note_prefix: str = Field("GS", pattern=r"^[A-Z]{1,8}$",
                                    description="Credit note numbers (Gutschrift/Storno).")
    entry_reservation_timeout_s: float = Field(
        10.0, gt=0, description="A time entry reserved for the cross-ticket overlap check "
        "but not found in its ticket's log after this many seconds (a crash between "
        "reserving and appending) is ignored.")
    seller: SellerSettings = SellerSettings()

    # The values the rules work with (the domain never reads settings).

    def calendar(self) -> BusinessCalendar:
        """The business calendar these settings configure."""
        return BusinessCalendar(federal_state=self.federal_state,
                                company_holidays=self.company_holidays,
                                catholic=self.catholic_holidays)

    def tariff(self) -> Tariff:
        return Tariff(hourly_rate=self.hourly_rate, vat_rate=self.vat_rate,
                      customer_rates=dict(self.customer_rates))

    def invoice_terms(self, calendar: BusinessCalendar) -> InvoiceTerms:
        return InvoiceTerms(tariff=self.tariff(), calendar=calendar,
                            seller=Seller(**self.seller.model_dump()),
                            payment_days=self.payment_days)
