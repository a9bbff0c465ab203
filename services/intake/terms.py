"""The terms printed on the form (the seed's "Auftragsvereinbarung" and "Wie geht es
weiter?"), in German and English, with their figures.

The figures are never written into the texts: the rate, the VAT rate and the payment days
come from the same billing settings the invoices are priced with, the surcharges and the
travel discount from :mod:`shared.domain.pricing`, the hours from the business calendar.
So the form cannot promise other terms than the invoice applies.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

from shared.domain.calendar import BUSINESS_HOURS, SERVICE_HOURS_OFF_DAY, SERVICE_HOURS_WORKDAY
from shared.domain.money import format_euro, format_percent
from shared.domain.pricing import NO_SURCHARGE, SURCHARGE, TRAVEL_SHARE
from shared.settings import Settings

# The keys the form shows as the order agreement, in this order.
AGREEMENT_KEYS = ("terms.contract", "terms.acceptance", "terms.liability", "terms.prices",
                  "terms.surcharges", "terms.travel", "terms.vat", "terms.payment")
HOURS_KEYS = ("terms.hours.bt", "terms.hours.st", "terms.hours.ot")
NEXT_KEYS = ("next.ticket", "next.reply", "next.contact")

TERMS_DE: dict[str, str] = {
    "terms.title": "Auftragsbedingungen",
    "terms.contract": "Zur Durchführung des Supportauftrages wird ein Dienstvertrag vereinbart.",
    "terms.acceptance": "Ohne zugrundeliegende SLA-Vereinbarung bleibt die Annahme des "
                        "Auftrags durch uns vorbehalten.",
    "terms.liability": "Für einen möglichen Datenverlust bei der Auftragsbearbeitung wird, "
                       "außer bei Vorsatz oder grober Fahrlässigkeit, keine Haftung "
                       "übernommen.",
    "terms.prices": "Sofern nicht anderslautend vereinbart, berechnen wir jeweils begonnene "
                    "10 Minuten auf einer Basis von {rate} je Stunde.",
    "terms.surcharges": "Bei Aufträgen mit Priorität entsteht außerhalb der Business Time "
                        "ein Preiszuschlag von {outside_bt}, außerhalb der Service Time ein "
                        "Preisaufschlag von {outside_st}. Ohne Priorität entstehen keine "
                        "Zuschläge.",
    "terms.travel": "Reisezeiten werden mit {travel_discount} Rabatt berechnet.",
    "terms.vat": "Alle Preise verstehen sich zzgl. USt. (derzeit {vat}).",
    "terms.payment": "Rechnungen sind zahlbar innerhalb von {payment_days} ohne Abzug.",
    "terms.days": "{count} Tagen",
    "terms.day": "{count} Tag",
    "terms.hours": "Unsere Bereitschaftszeiten sind wie folgt definiert:",
    "terms.hours.bt": "Business Time (BT): Mo–Fr {bt_from} bis {bt_to} Uhr, nicht an "
                      "Feiertagen oder während Betriebsferien",
    "terms.hours.st": "Service Time (ST): Mo–Fr {st_from} bis {st_to} Uhr und Sa–So, "
                      "feiertags {st_off_from} bis {st_off_to} Uhr",
    "terms.hours.ot": "Operating Time (OT): Mo–So, feiertags 0:00 bis 24:00 Uhr",
    "terms.data": "Die Verarbeitung Ihrer Daten erfolgt ausschließlich zur "
                  "Vertragsdurchführung.",
    "next.title": "Wie geht es weiter?",
    "next.ticket": "Nachdem Sie Ihren Supportauftrag an uns übermittelt haben, wird dieser "
                   "unmittelbar in unser Ticket-System eingestellt, und Sie erhalten innerhalb "
                   "von ca. 10 Minuten Ihre Vorgangsnummer („Service-Auftragsnummer“) per "
                   "E-Mail an Ihre oben angegebene E-Mail-Adresse als Empfangsbestätigung.",
    "next.reply": "Um uns jederzeit weitere Informationen zukommen zu lassen (z. B. "
                  "Bildschirmfotos von Fehlermeldungen oder ergänzende Informationen zu Ihrem "
                  "Auftrag), können Sie jederzeit einfach auf die Empfangsbestätigung "
                  "antworten. Wichtig: Damit Ihre Antwort Ihrem Supportauftrag zugeordnet "
                  "werden kann, müssen die Empfängeradresse ({support_address}) und die "
                  "Betreffzeile unverändert bleiben!",
    "next.contact": "Im Zuge der Auftragsbearbeitung setzen wir uns mit Ihnen über die oben "
                    "gemachten Kontaktangaben in Verbindung. Falls Sie Priorität beauftragt "
                    "haben, wird Ihr Auftrag rund um die Uhr zur sofortigen Prüfung an den "
                    "diensthabenden Techniker weitergeleitet.",
}

TERMS_EN: dict[str, str] = {
    "terms.title": "Terms of the order",
    "terms.contract": "A service contract (Dienstvertrag) is agreed to carry out this support "
                      "request.",
    "terms.acceptance": "Without an underlying SLA agreement we reserve the right to accept "
                        "or decline the order.",
    "terms.liability": "We accept no liability for any loss of data while handling the "
                       "order, except in cases of intent or gross negligence.",
    "terms.prices": "Unless agreed otherwise, we charge each started 10 minutes at a base "
                    "rate of {rate} per hour.",
    "terms.surcharges": "For orders with priority, work outside business time costs a "
                        "surcharge of {outside_bt}, outside service time a surcharge of "
                        "{outside_st}. Without priority there are no surcharges.",
    "terms.travel": "Travel time is charged at a discount of {travel_discount}.",
    "terms.vat": "All prices are plus VAT (currently {vat}).",
    "terms.payment": "Invoices are payable within {payment_days} without deduction.",
    "terms.days": "{count} days",
    "terms.day": "{count} day",
    "terms.hours": "Our service hours are defined as follows (German time):",
    "terms.hours.bt": "Business Time (BT): Mon–Fri {bt_from} to {bt_to}, not on public "
                      "holidays or during company holidays",
    "terms.hours.st": "Service Time (ST): Mon–Fri {st_from} to {st_to}, and Sat–Sun and "
                      "public holidays {st_off_from} to {st_off_to}",
    "terms.hours.ot": "Operating Time (OT): Mon–Sun and public holidays, 0:00 to 24:00",
    "terms.data": "Your data is processed only to perform the contract.",
    "next.title": "What happens next?",
    "next.ticket": "Once you have sent us your support request, it enters our ticket system "
                   "at once, and within about 10 minutes you receive your case number "
                   "(“Service-Auftragsnummer”) by e-mail at the address given above, as a "
                   "receipt.",
    "next.reply": "To send us more information at any time (e.g. screenshots of error "
                  "messages or more details about your request), simply reply to the "
                  "receipt. Important: for your reply to reach your request, keep the "
                  "recipient address ({support_address}) and the subject line unchanged!",
    "next.contact": "While working on your request we contact you using the details given "
                    "above. If you chose priority, your request is passed around the clock "
                    "to the technician on duty for immediate review.",
}


def _surcharge(multiplier: Decimal) -> Decimal:
    return multiplier - NO_SURCHARGE


def _clock(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def terms_figures(settings: Settings, language: str) -> dict[str, str]:
    """The figures the terms' placeholders take, formatted for ``language``."""
    billing = settings.billing
    texts = TERMS_DE if language == "de" else TERMS_EN
    days = texts["terms.day" if billing.payment_days == 1 else "terms.days"]
    hours = {"bt": BUSINESS_HOURS, "st": SERVICE_HOURS_WORKDAY, "st_off": SERVICE_HOURS_OFF_DAY}
    figures = {
        "rate": format_euro(billing.hourly_rate, language),
        "outside_bt": format_percent(_surcharge(SURCHARGE["ST"]), language),
        "outside_st": format_percent(_surcharge(SURCHARGE["OT"]), language),
        "travel_discount": format_percent(1 - TRAVEL_SHARE, language),
        "vat": format_percent(billing.vat_rate, language),
        "payment_days": days.format(count=billing.payment_days),
        "support_address": settings.inbound_mail.support_address,
    }
    for name, (start, end) in hours.items():
        figures[f"{name}_from"], figures[f"{name}_to"] = _clock(start), _clock(end)
    return figures
