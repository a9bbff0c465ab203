"""The seed's terms on the form, complete in German and English, over real HTTP; the
figures follow the billing settings the invoices are priced with."""

from __future__ import annotations

import html
from decimal import Decimal

import httpx
import pytest

from shared.runtime.app import running_system
from shared.settings import Settings
from tests.intake.conftest import generous
from tests.support import serve_app

# Written from the seed, not copied from the catalogue: each must be on the form.
GERMAN_TERMS = (
    "wird diese unser Vertragspartner",                       # contract party rule
    "Ansprechpartner",
    "Business Time (BT): Mo–Fr 9:00 bis 18:00 Uhr, nicht an Feiertagen oder während "
    "Betriebsferien",
    "Service Time (ST): Mo–Fr 7:30 bis 20:00 Uhr und Sa–So, feiertags 9:00 bis 18:00 Uhr",
    "Operating Time (OT): Mo–So, feiertags 0:00 bis 24:00 Uhr",
    "jeweils begonnene 10 Minuten auf einer Basis von 130,00 € je Stunde",
    "außerhalb der Business Time ein Preiszuschlag von 50 %",
    "außerhalb der Service Time ein Preisaufschlag von 100 %",
    "Reisezeiten werden mit 50 % Rabatt berechnet",
    "Alle Preise verstehen sich zzgl. USt. (derzeit 19 %)",
    "zahlbar innerhalb von 10 Tagen ohne Abzug",
    "außer bei Vorsatz oder grober Fahrlässigkeit, keine Haftung",
    "Ohne zugrundeliegende SLA-Vereinbarung bleibt die Annahme des Auftrags",
    "ausschließlich zur Vertragsdurchführung",
    "Dienstvertrag",
    "Wie geht es weiter?",
    "unmittelbar in unser Ticket-System eingestellt",
    "(„Service-Auftragsnummer“)",
    "auf die Empfangsbestätigung antworten",
    "die Empfängeradresse (support@example.com) und die Betreffzeile unverändert",
    "rund um die Uhr zur sofortigen Prüfung an den diensthabenden Techniker",
)
ENGLISH_TERMS = (
    "it becomes our contract party",
    "Business Time (BT): Mon–Fri 9:00 to 18:00, not on public holidays or during company "
    "holidays",
    "Service Time (ST): Mon–Fri 7:30 to 20:00, and Sat–Sun and public holidays 9:00 to 18:00",
    "Operating Time (OT): Mon–Sun and public holidays, 0:00 to 24:00",
    "each started 10 minutes at a base rate of €130.00 per hour",
    "outside business time costs a surcharge of 50%",
    "outside service time a surcharge of 100%",
    "Travel time is charged at a discount of 50%",
    "All prices are plus VAT (currently 19%)",
    "payable within 10 days without deduction",
    "no liability for any loss of data",
    "except in cases of intent or gross negligence",
    "Without an underlying SLA agreement we reserve the right to accept",
    "processed only to perform the contract",
    "service contract",
    "What happens next?",
    "enters our ticket system at once",
    "simply reply to the receipt",
    "keep the recipient address (support@example.com) and the subject line unchanged",
    "around the clock to the technician on duty",
)


def _with_support_address(settings: Settings, **billing: object) -> Settings:
    return generous(settings.model_copy(update={
        "billing": settings.billing.model_copy(update=billing),
        "inbound_mail": settings.inbound_mail.model_copy(
            update={"support_address": "support@example.com"})}))


async def _form_text(settings: Settings, language: str) -> str:
    async with (running_system(settings, ("intake",)) as system,
                serve_app(system.http_app()) as base,
                httpx.AsyncClient(base_url=base, timeout=10) as http):
        page = await http.get("/", params={"lang": language})
    assert page.status_code == 200
    return html.unescape(page.text)


@pytest.mark.parametrize(("language", "terms"), [("de", GERMAN_TERMS), ("en", ENGLISH_TERMS)])
async def test_the_form_shows_every_term_of_the_seed(settings: Settings, language: str,
                                                    terms: tuple[str, ...]) -> None:
    page = await _form_text(_with_support_address(settings), language)
    missing = [term for term in terms if term not in page]
    assert not missing


async def test_the_terms_follow_the_billing_settings(settings: Settings) -> None:
    changed = _with_support_address(settings, hourly_rate=Decimal("142.5"),
                                    vat_rate=Decimal("0.07"), payment_days=14)
    german = await _form_text(changed, "de")
    assert "auf einer Basis von 142,50 € je Stunde" in german
    assert "zzgl. USt. (derzeit 7 %)" in german
    assert "zahlbar innerhalb von 14 Tagen ohne Abzug" in german
    assert "130,00" not in german and "19 %" not in german
    english = await _form_text(changed, "en")
    assert "base rate of €142.50 per hour" in english
    assert "(currently 7%)" in english and "within 14 days without" in english
