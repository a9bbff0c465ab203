"""Renderings of an issued invoice (or its credit note): HTML, PDF and EN 16931 XML.

Each is a pure function of the stored events (``InvoiceIssued``, optionally the
``InvoiceCancelled`` that turns it into a credit note) and the case number: replaying the
log gives byte-identical HTML and XML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import OutputIntentSubType
from fpdf.output import PDFICCProfile
from jinja2 import Environment, FileSystemLoader, select_autoescape
from lxml import etree
from PIL import ImageCms

from shared.domain import events as ev
from shared.domain.money import format_amount, format_euro, format_percent
from shared.domain.pricing import NO_SURCHARGE, TRAVEL_SHARE

_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html"]))
KIND_NAMES = {"work": "Arbeitszeit", "travel": "Fahrzeit"}


@dataclass(frozen=True)
class DocumentLine:
    description: str
    minutes: int
    hourly_price: str
    net: str


# The type under another name: inside Document, ``date`` is the field.
Day = date


@dataclass(frozen=True)
class Document:
    """What a reader sees on an invoice or credit note, all values already formatted."""

    title: str
    type_code: str  # UNTDID 1001: 380 invoice, 381 credit note
    number: str
    date: Day
    date_label: str
    case_number: str
    seller: ev.Seller
    buyer: ev.ContractParty
    period_start: Day
    period_end: Day
    due_date: Day
    payment_days: int
    lines: tuple[DocumentLine, ...]
    net: str
    vat_percent: str
    vat: str
    gross: str
    calendar_version: str
    cancels: str = ""
    cancels_date: Day | None = None
    reason: str = ""


def line_description(line: ev.InvoiceLine) -> str:
    """What the line bills, naming the travel share and the surcharge that make its unit
    price: "Fahrzeit (50 % des Satzes, Zuschlag 100 %)"."""
    notes = []
    if line.kind == "travel":
        notes.append(f"{format_percent(TRAVEL_SHARE)} des Satzes")
    if line.multiplier != NO_SURCHARGE:
        notes.append(f"Zuschlag {format_percent(line.multiplier - NO_SURCHARGE)}")
    return KIND_NAMES[line.kind] + (f" ({', '.join(notes)})" if notes else "")


def euro(amount: str) -> str:
    """A document's amount (the e-invoice's plain ``86.67``) as readers see it: ``86,67 €``."""
    return format_euro(Decimal(amount))


def percent(value: str) -> str:
    """A document's VAT percentage (``19.00``) as readers see it: ``19 %``."""
    return format_percent(Decimal(value) / 100)


def document(invoice: ev.InvoiceIssued, case_number: str,
             cancellation: ev.InvoiceCancelled | None = None) -> Document:
    """The document to render: the invoice, or its credit note when ``cancellation`` is given."""
    lines = tuple(DocumentLine(line_description(line), line.minutes,
                               format_amount(line.hourly_price), format_amount(line.net))
                  for line in invoice.lines)
    common = dict(case_number=case_number, seller=invoice.seller, buyer=invoice.buyer,
                  period_start=invoice.service_period_start,
                  period_end=invoice.service_period_end, lines=lines,
                  net=format_amount(invoice.net), vat=format_amount(invoice.vat),
                  vat_percent=_percent(invoice.vat_rate), gross=format_amount(invoice.gross),
                  calendar_version=invoice.calendar_version,
                  payment_days=(invoice.due_date - invoice.invoice_date).days)
    if cancellation is None:
        return Document(title="Rechnung", type_code="380", number=invoice.invoice_number,
                        date=invoice.invoice_date, date_label="Rechnungsdatum",
                        due_date=invoice.due_date, **common)  # type: ignore[arg-type]
    issued = cancellation.at.date()
    return Document(title="Stornorechnung", type_code="381",
                    number=cancellation.credit_note_number, date=issued,
                    date_label="Datum", due_date=issued, cancels=invoice.invoice_number,
                    cancels_date=invoice.invoice_date, reason=cancellation.reason,
                    **common)  # type: ignore[arg-type]


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(Decimal('0.01')):f}"


def render_html(doc: Document) -> str:
    return _TEMPLATES.get_template("invoice.html").render(doc=doc, euro=euro, percent=percent)


# -- PDF ----------------------------------------------------------------------------------

FONTS = Path(__file__).parent / "fonts"
FONT = "DejaVu"


@lru_cache(maxsize=1)
def _glyphs() -> frozenset[int]:
    """The characters both embedded fonts (regular and bold) can draw."""
    regular, bold = (set(TTFont(FONTS / name).getBestCmap())
                     for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
    return frozenset(regular & bold)


def _printable(text: object) -> str:
    # The embedded font covers Latin, Greek and Cyrillic; anything else prints as "?".
    glyphs = _glyphs()
    return "".join(c if ord(c) in glyphs else "?" for c in str(text))


@lru_cache(maxsize=1)
def _srgb_profile() -> bytes:
    """An sRGB ICC profile for the PDF/A output intent (made by Pillow's littlecms)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _pdfa_base(doc: Document) -> FPDF:
    """An A4 page set up for PDF/A-3: embedded fonts, sRGB output intent, language. The
    XMP identification (PDF/A-3B) and the XML attachment are added by :func:`embed_xml`."""
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", FONTS / "DejaVuSans.ttf")
    pdf.add_font(FONT, "B", FONTS / "DejaVuSans-Bold.ttf")
    pdf.add_output_intent(OutputIntentSubType.PDFA, "sRGB", "sRGB IEC61966-2.1",
                          "http://www.color.org",
                          PDFICCProfile(_srgb_profile(), 3, "DeviceRGB"), "sRGB IEC61966-2.1")
    pdf.set_lang("de-DE")
    pdf.set_title(f"{doc.title} {doc.number}")
    pdf.set_author(doc.seller.name)
    # The document date, not the wall clock (the Factur-X library stamps its own time
    # on the finished file when it embeds the XML).
    pdf.set_creation_date(datetime.combine(doc.date, time(), UTC))
    return pdf


def render_pdf(doc: Document) -> bytes:
    """A plain A4 PDF of the document, made to be PDF/A-3 once the XML is embedded."""
    pdf = _pdfa_base(doc)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font(FONT, size=9)
    seller = doc.seller
    pdf.cell(0, 5, _printable(f"{seller.name} - {seller.street} - {seller.postcode} "
                            f"{seller.city}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font(FONT, size=11)
    for text in (doc.buyer.name, doc.buyer.street, f"{doc.buyer.postcode} {doc.buyer.city}",
                 doc.buyer.country, f"USt-IdNr.: {doc.buyer.vat_id}" if doc.buyer.vat_id else ""):
        if text:
            pdf.cell(0, 6, _printable(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.set_font(FONT, "B", 15)
    pdf.cell(0, 9, _printable(f"{doc.title} {doc.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    facts = [f"{doc.date_label}: {doc.date}",
             f"Leistungszeitraum: {doc.period_start} - {doc.period_end}",
             f"Service-Auftragsnummer: {doc.case_number}"]
    if doc.cancels:
        facts.append(f"Storno der Rechnung {doc.cancels} vom {doc.cancels_date}: {doc.reason}")
    for text in facts:
        pdf.cell(0, 6, _printable(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    _pdf_table(pdf, doc)
    pdf.ln(4)
    tax_ids = [f"USt-IdNr.: {seller.vat_id}" if seller.vat_id else "",
               f"Steuernummer: {seller.tax_number}" if seller.tax_number else ""]
    footer = [f"Zahlbar bis {doc.due_date} ({doc.payment_days} Tage) ohne Abzug."
              if not doc.cancels else "", f"IBAN: {seller.iban}" if seller.iban else "",
              *tax_ids, seller.email, f"Kalender: {doc.calendar_version}"]
    pdf.set_font(FONT, size=9)
    for text in footer:
        if text:
            pdf.cell(0, 5, _printable(text), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _pdf_table(pdf: FPDF, doc: Document) -> None:
    widths = (12, 78, 25, 35, 30)
    pdf.set_font(FONT, "B", 10)
    for width, head in zip(widths, ("Pos.", "Leistung", "Minuten", "Preis je Stunde",
                                    "Netto"), strict=True):
        pdf.cell(width, 7, _printable(head), border="B", align="L" if width > 70 else "R")
    pdf.ln()
    pdf.set_font(FONT, size=10)
    for index, line in enumerate(doc.lines, start=1):
        values = (str(index), line.description, str(line.minutes), euro(line.hourly_price),
                  euro(line.net))
        for width, value in zip(widths, values, strict=True):
            pdf.cell(width, 7, _printable(value), align="L" if width > 70 else "R")
        pdf.ln()
    for label, value in (("Summe netto", doc.net), (f"USt. {percent(doc.vat_percent)}", doc.vat),
                         ("Gesamtbetrag", doc.gross)):
        pdf.cell(sum(widths[:4]), 7, _printable(label), align="R")
        pdf.cell(widths[4], 7, _printable(euro(value)), align="R")
        pdf.ln()


# -- EN 16931 XML (Factur-X / ZUGFeRD, profile EN 16931) -----------------------------------

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
EN16931_GUIDELINE = "urn:cen.eu:en16931:2017"
MINUTE = "MIN"  # UN/ECE Rec. 20 unit code


def _el(parent: etree._Element, tag: str, text: str | None = None,
        **attributes: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def _date(parent: etree._Element, tag: str, day: date) -> None:
    _el(_el(parent, tag), "udt:DateTimeString", day.strftime("%Y%m%d"), format="102")


def render_xml(doc: Document) -> bytes:
    """The document as UN/CEFACT CII XML in the Factur-X EN 16931 profile."""
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID",
        EN16931_GUIDELINE)
    header = _el(root, "rsm:ExchangedDocument")
    _el(header, "ram:ID", doc.number)
    _el(header, "ram:TypeCode", doc.type_code)
    _date(header, "ram:IssueDateTime", doc.date)
    _el(_el(header, "ram:IncludedNote"), "ram:Content",
        f"Service-Auftragsnummer {doc.case_number}. Abgerechnet in begonnenen "
        "10-Minuten-Blöcken.")
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    vat_percent = doc.vat_percent
    for index, line in enumerate(doc.lines, start=1):
        _xml_line(transaction, index, line, vat_percent)
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    _el(agreement, "ram:BuyerReference", doc.case_number)
    _xml_party(agreement, "ram:SellerTradeParty", doc.seller.name, doc.seller.street,
               doc.seller.postcode, doc.seller.city, doc.seller.country,
               doc.seller.vat_id, doc.seller.tax_number)
    _xml_party(agreement, "ram:BuyerTradeParty", doc.buyer.name, doc.buyer.street,
               doc.buyer.postcode, doc.buyer.city, doc.buyer.country,
               doc.buyer.vat_id or "", "")
    _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    _xml_settlement(transaction, doc)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _xml_line(transaction: etree._Element, index: int, line: DocumentLine,
              vat_percent: str) -> None:
    item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
    _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(index))
    _el(_el(item, "ram:SpecifiedTradeProduct"), "ram:Name", line.description)
    price = _el(_el(item, "ram:SpecifiedLineTradeAgreement"),
                "ram:NetPriceProductTradePrice")
    _el(price, "ram:ChargeAmount", line.hourly_price)
    _el(price, "ram:BasisQuantity", "60", unitCode=MINUTE)
    _el(_el(item, "ram:SpecifiedLineTradeDelivery"), "ram:BilledQuantity",
        str(line.minutes), unitCode=MINUTE)
    settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:CategoryCode", "S")
    _el(tax, "ram:RateApplicablePercent", vat_percent)
    _el(_el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation"),
        "ram:LineTotalAmount", line.net)


def _xml_party(parent: etree._Element, tag: str, name: str, street: str, postcode: str,
               city: str, country: str, vat_id: str, tax_number: str) -> None:
    party = _el(parent, tag)
    _el(party, "ram:Name", name)
    address = _el(party, "ram:PostalTradeAddress")
    _el(address, "ram:PostcodeCode", postcode)
    _el(address, "ram:LineOne", street)
    _el(address, "ram:CityName", city)
    _el(address, "ram:CountryID", country)
    if vat_id:
        _el(_el(party, "ram:SpecifiedTaxRegistration"), "ram:ID", vat_id, schemeID="VA")
    if tax_number:
        _el(_el(party, "ram:SpecifiedTaxRegistration"), "ram:ID", tax_number, schemeID="FC")


def _xml_settlement(transaction: etree._Element, doc: Document) -> None:
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", "EUR")
    if doc.seller.iban:
        means = _el(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
        _el(means, "ram:TypeCode", "58")  # SEPA credit transfer
        _el(_el(means, "ram:PayeePartyCreditorFinancialAccount"), "ram:IBANID",
            doc.seller.iban)
    tax = _el(settlement, "ram:ApplicableTradeTax")
    _el(tax, "ram:CalculatedAmount", doc.vat)
    _el(tax, "ram:TypeCode", "VAT")
    _el(tax, "ram:BasisAmount", doc.net)
    _el(tax, "ram:CategoryCode", "S")
    _el(tax, "ram:RateApplicablePercent", doc.vat_percent)
    period = _el(settlement, "ram:BillingSpecifiedPeriod")
    _date(period, "ram:StartDateTime", doc.period_start)
    _date(period, "ram:EndDateTime", doc.period_end)
    if not doc.cancels:
        terms = _el(settlement, "ram:SpecifiedTradePaymentTerms")
        _el(terms, "ram:Description",
            f"Zahlbar innerhalb von {doc.payment_days} Tagen ohne Abzug.")
        _date(terms, "ram:DueDateDateTime", doc.due_date)
    totals = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(totals, "ram:LineTotalAmount", doc.net)
    _el(totals, "ram:TaxBasisTotalAmount", doc.net)
    _el(totals, "ram:TaxTotalAmount", doc.vat, currencyID="EUR")
    _el(totals, "ram:GrandTotalAmount", doc.gross)
    _el(totals, "ram:DuePayableAmount", doc.gross)
    if doc.cancels:
        referenced = _el(settlement, "ram:InvoiceReferencedDocument")
        _el(referenced, "ram:IssuerAssignedID", doc.cancels)
        if doc.cancels_date:
            _el(_el(referenced, "ram:FormattedIssueDateTime"), "qdt:DateTimeString",
                doc.cancels_date.strftime("%Y%m%d"), format="102")


def embed_xml(pdf: bytes, xml: bytes) -> bytes:
    """The PDF with the XML embedded as a Factur-X attachment (``factur-x.xml``) and the
    XMP metadata that identifies it as PDF/A-3B (conformance level B)."""
    from facturx import generate_from_binary

    return generate_from_binary(pdf, xml, flavor="factur-x", level="en16931",
                                check_xsd=False, lang="de-DE", pdf_metadata=_metadata(xml))


def _metadata(xml: bytes) -> dict[str, str]:
    """The PDF's title and subject in German (the document's language), from the XML."""
    root = etree.fromstring(xml)
    number = root.findtext("rsm:ExchangedDocument/ram:ID", namespaces=NS) or ""
    credit_note = root.findtext("rsm:ExchangedDocument/ram:TypeCode", namespaces=NS) == "381"
    seller = root.findtext("rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
                           "/ram:SellerTradeParty/ram:Name", namespaces=NS) or ""
    kind = "Gutschrift" if credit_note else "Rechnung"
    return {"author": seller, "title": f"{seller}: {kind} {number}",
            "subject": f"{kind} {number} von {seller}", "keywords": f"{kind}, Factur-X"}
