"""What a reader sees on an invoice: lines that name their travel share and surcharge, and
German amounts (``130,00 €``) in the HTML and the PDF, while the e-invoice XML keeps its
machine format."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
import pypdf

from services.billing import render
from shared.domain import events as ev
from shared.domain.calendar import BusinessCalendar
from shared.domain.pricing import Entry, price
from tests.billing.test_pdf import invoice


def at(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("Europe/Berlin"))


def travel_and_work_invoice() -> ev.InvoiceIssued:
    """A priority ticket: work in BT, travel after 20:00 (outside ST), Wed 2026-11-25."""
    quote = price([Entry(at("2026-11-25T10:00"), at("2026-11-25T11:00"), "work"),
                   Entry(at("2026-11-25T20:00"), at("2026-11-25T20:30"), "travel")],
                  BusinessCalendar(), priority=True, hourly_rate=Decimal("130.00"),
                  vat_rate=Decimal("0.19"))
    return msgspec.structs.replace(invoice("Muster GmbH"), lines=quote.lines, net=quote.net,
                                   vat=quote.vat, gross=quote.gross)


def test_the_travel_line_names_its_share_and_surcharge() -> None:
    doc = render.document(travel_and_work_invoice(), "2026112500042")
    lines = [(line.description, line.hourly_price) for line in doc.lines]
    assert lines == [("Arbeitszeit", "130.00"),
                     ("Fahrzeit (50 % des Satzes, Zuschlag 100 %)", "130.00")]
    surcharged_work = ev.InvoiceLine(kind="work", multiplier=Decimal("1.5"), minutes=10,
                                     hourly_price=Decimal("195.00"), net=Decimal("32.50"))
    assert render.line_description(surcharged_work) == "Arbeitszeit (Zuschlag 50 %)"
    travel = ev.InvoiceLine(kind="travel", multiplier=Decimal("1.0"), minutes=10,
                            hourly_price=Decimal("65.00"), net=Decimal("10.83"))
    assert render.line_description(travel) == "Fahrzeit (50 % des Satzes)"


def test_html_and_pdf_show_german_amounts_and_the_xml_plain_ones() -> None:
    doc = render.document(travel_and_work_invoice(), "2026112500042")
    html = render.render_html(doc)
    assert "<td class=\"num\">130,00 €</td>" in html
    assert "USt. 19 %" in html and "195,00 €" in html  # net 130 + 65
    assert "EUR" not in html and "130.00" not in html
    pdf_text = pypdf.PdfReader(io.BytesIO(render.render_pdf(doc))).pages[0].extract_text()
    assert "130,00 €" in pdf_text and "USt. 19 %" in pdf_text
    assert "Fahrzeit (50 % des Satzes, Zuschlag 100 %)" in pdf_text
    xml = render.render_xml(doc).decode()
    assert "<ram:ChargeAmount>130.00</ram:ChargeAmount>" in xml
