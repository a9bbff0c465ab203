"""The invoice PDF is PDF/A-3 in structure: embedded fonts, sRGB output intent, XMP
identification, the XML as associated file. (No PDF/A validator runs here: these are the
requirements a validator checks first, read back with pypdf.)"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import facturx
import pypdf
from PIL import ImageCms

from services.billing import render
from shared.domain import events as ev

DAY = date(2026, 11, 26)


def invoice(buyer_name: str) -> ev.InvoiceIssued:
    return ev.InvoiceIssued(
        at=datetime(2026, 11, 26, 12, tzinfo=UTC), invoice_number="RE-2026-000042",
        invoice_date=DAY, due_date=DAY, service_period_start=DAY, service_period_end=DAY,
        seller=ev.Seller(name="Muster IT GmbH", street="Weg 1", postcode="10115",
                         city="Berlin", vat_id="DE123456789"),
        buyer=ev.ContractParty(name=buyer_name, street="Hauptstraße 5", postcode="10115",
                               city="Berlin", is_company=True),
        lines=(ev.InvoiceLine(kind="work", multiplier=Decimal("1"), minutes=60,
                              hourly_price=Decimal("65.00"), net=Decimal("65.00")),),
        net=Decimal("65.00"), vat_rate=Decimal("0.19"), vat=Decimal("12.35"),
        gross=Decimal("77.35"))


def pdf_of(buyer_name: str) -> bytes:
    doc = render.document(invoice(buyer_name), "2026112500042")
    return render.embed_xml(render.render_pdf(doc), render.render_xml(doc))


def test_the_invoice_pdf_has_what_pdf_a_3b_requires() -> None:
    pdf = pdf_of("Größer & Söhne GmbH")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert re.match(rb"%PDF-1\.[0-7]\n%[\x80-\xff]{4}", pdf)  # binary comment line
    assert reader.trailer["/ID"] and "/Encrypt" not in reader.trailer
    [intent] = root["/OutputIntents"]
    assert intent["/S"] == "/GTS_PDFA1"
    profile = intent["/DestOutputProfile"].get_object()
    assert profile["/N"] == 3
    ImageCms.ImageCmsProfile(io.BytesIO(profile.get_data()))  # a readable ICC profile
    xmp = root["/Metadata"].get_object().get_data()
    assert b"<pdfaid:part>3</pdfaid:part>" in xmp
    assert b"<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert b"Rechnung RE-2026-000042" in xmp
    [attached] = root["/AF"]
    assert attached.get_object()["/AFRelationship"] == "/Data"
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font.get("/DescendantFonts")
            descriptor = (descendant[0].get_object() if descendant else font)[
                "/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
    assert "Größer & Söhne GmbH" in reader.pages[0].extract_text()
    assert facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)[0] == "factur-x.xml"


def test_letters_beyond_latin_are_printed_and_others_replaced() -> None:
    text = pypdf.PdfReader(io.BytesIO(pdf_of("Ωmega Жилстрой 中文"))).pages[0].extract_text()
    assert "Ωmega Жилстрой ??" in text
