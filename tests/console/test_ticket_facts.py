"""What the ticket page and the queue must tell a technician: the running total of the
time not yet invoiced, receipts that did not reach the customer, the SLA clocks."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shared.domain import events as ev
from tests.console.conftest import ConsoleUnderTest, paged
from tests.console.test_queue import rows
from tests.factories import request_submitted

CARD = re.compile(r'<div class="card ([a-z-]+)">(.*?)</div>\s*(?=<div|<h2)', re.S)
CLOCK = re.compile(r'<tr class="clock" data-clock="([a-z_]+)">(.*?)</tr>', re.S)
NOTICE = re.compile(r'<div class="flash error receipt-problem" role="alert">(.*?)</div>', re.S)


def card(html: str, name: str) -> str:
    found = dict(CARD.findall(html))
    assert name in found, html
    return found[name]


def logged(entry_id: str, start: datetime, minutes: int, kind: str = "work") -> ev.TimeLogged:
    return ev.TimeLogged(at=start + timedelta(minutes=minutes), entry_id=entry_id,
                         technician="anna", start=start, end=start + timedelta(minutes=minutes),
                         kind=kind)  # type: ignore[arg-type]


def invoice_for(entry_ids: tuple[str, ...]) -> ev.InvoiceIssued:
    buyer = request_submitted().contract_party
    line = ev.InvoiceLine(kind="work", multiplier=Decimal("1.0"), minutes=60,
                          hourly_price=Decimal("130.00"), net=Decimal("130.00"))
    return ev.InvoiceIssued(
        at=datetime(2026, 11, 25, 12, tzinfo=UTC), invoice_number="RE-2026-0001",
        invoice_date=date(2026, 11, 25), due_date=date(2026, 12, 9),
        service_period_start=date(2026, 11, 25), service_period_end=date(2026, 11, 25),
        seller=ev.Seller(name="IT GmbH", street="Weg 1", postcode="10115", city="Berlin"),
        buyer=buyer, lines=(line,), net=Decimal("130.00"), vat_rate=Decimal("0.19"),
        vat=Decimal("24.70"), gross=Decimal("154.70"), entry_ids=entry_ids)


async def test_ticket_page_shows_the_running_total_of_uninvoiced_time(
        console: ConsoleUnderTest) -> None:
    morning = datetime(2026, 11, 25, 9, tzinfo=UTC)  # a Wednesday, business time
    case = await console.submit(31, extra=(
        logged("e1", morning, 60),                    # invoiced below: not in the total
        invoice_for(("e1",)),
        ev.TicketReopened(at=morning + timedelta(hours=3), by="anna", reason="mehr"),
        logged("e2", morning + timedelta(hours=4), 30),              # 3 blocks: 65.00
        logged("e3", morning + timedelta(hours=5), 15, "travel"),    # 2 blocks: 21.67
        logged("e4", morning + timedelta(hours=6), 50),
        ev.TimeEntryVoided(at=morning + timedelta(hours=7), entry_id="e4", technician="anna"),
    ))
    empty = await console.submit(32)
    async with console.login() as client:
        page = await client.get(f"/console/tickets/{case}")
        nothing = await client.get(f"/console/tickets/{empty}")
    assert page.status_code == 200
    total = card(page.text, "running-total")
    lines = re.findall(r'<tr class="line">(.*?)</tr>', total, re.S)
    assert [re.findall(r"<td>(.*?)</td>", line) for line in lines] == [
        ["Arbeit", "×1", "30", "130,00 €", "65,00 €"],
        ["Anfahrt", "×1", "20", "65,00 €", "21,67 €"],
    ]
    assert '<dd class="net">86,67 €</dd>' in total
    assert '<dd class="vat">16,47 €</dd>' in total
    assert "<strong>103,14 €</strong>" in total
    assert "Keine offene Zeit." in card(nothing.text, "running-total")


async def test_receipt_problems_are_marked_in_the_queue_and_explained(
        console: ConsoleUnderTest) -> None:
    now = datetime.now(UTC)
    error = "550 5.1.1 <kunde@example.de>: Recipient address rejected"
    refused = await console.submit(41, extra=(
        ev.AckFailed(at=now, attempt=1, error=error, permanent=True),))
    overdue = await console.submit(42, extra=(
        ev.AckFailed(at=now, attempt=1, error="421 try later"),
        ev.ReceiptOverdue(at=now, minutes_since_submission=8)))
    sent_late = await console.submit(43, extra=(
        ev.ReceiptOverdue(at=now, minutes_since_submission=8),
        ev.AckSent(at=now, message_id="<receipt.1@example.com>", recipient="k@example.de")))
    fine = await console.submit(44, extra=(
        ev.AckSent(at=now, message_id="<receipt.2@example.com>", recipient="k@example.de"),))
    async with console.login() as client:
        queue = await client.get("/console")
        pages = {case: await client.get(f"/console/tickets/{case}")
                 for case in (refused, overdue, sent_late, fine)}
    cells = dict(rows(queue.text))
    assert "Bestätigung nicht zustellbar" in cells[refused]
    assert "Bestätigung überfällig" in cells[overdue]
    assert "receipt-problem" not in cells[sent_late] + cells[fine]
    notice = NOTICE.search(pages[refused].text)
    assert notice and notice.group(1) == ("Empfangsbestätigung nicht zustellbar: 550 5.1.1 "
                                          "&lt;kunde@example.de&gt;: Recipient address rejected")
    notice = NOTICE.search(pages[overdue].text)
    assert notice and notice.group(1).startswith("Empfangsbestätigung überfällig")
    assert "1 Versuche fehlgeschlagen" in notice.group(1)
    assert not NOTICE.search(pages[sent_late].text) and not NOTICE.search(pages[fine].text)


async def test_ticket_page_shows_sla_deadlines_and_breaches(console: ConsoleUnderTest) -> None:
    now = datetime.now(UTC)
    past = now - timedelta(minutes=30)
    breached = await console.submit(51, priority=True, extra=(
        paged("anna", past), ev.SlaBreached(at=past, clock="reaction", deadline=past)))
    running = await console.submit(52, extra=(
        ev.ResponseDeadlineSet(at=now, deadline=now + timedelta(hours=3, minutes=10)),))
    kept = await console.submit(53, extra=(
        ev.ResponseDeadlineSet(at=now, deadline=now + timedelta(hours=1)),
        ev.TechnicianResponded(at=now, technician="anna", message="Bin dran")))
    passed = await console.submit(54, extra=(ev.ResponseDeadlineSet(at=past, deadline=past),))
    waiting = await console.submit(55, has_sla=False)
    async with console.login() as client:
        pages = {case: (await client.get(f"/console/tickets/{case}")).text
                 for case in (breached, running, kept, passed, waiting)}
    clocks = {case: dict(CLOCK.findall(card(html, "sla"))) for case, html in pages.items()}
    assert list(clocks[breached]) == ["reaction"]
    assert "Reaktion" in clocks[breached]["reaction"]
    assert '<span class="overdue">verletzt</span>' in clocks[breached]["reaction"]
    assert re.search(r"<span class=\"\">noch 3 h (09|10) min</span>",
                     clocks[running]["first_response"]), clocks[running]
    assert "Erstantwort" in clocks[running]["first_response"]
    assert "eingehalten" in clocks[kept]["first_response"]
    # Passed but no breach recorded yet (the timer fires a moment later): overdue, not
    # "verletzt", which only a recorded SlaBreached says.
    assert '<span class="overdue">überfällig seit' in clocks[passed]["first_response"]
    assert "verletzt" not in clocks[passed]["first_response"]
    assert clocks[waiting] == {}
    assert "die Fristen beginnen mit der Annahme" in card(pages[waiting], "sla")


async def test_an_answer_the_mail_server_refused_for_good_is_shown_in_red(
        console: ConsoleUnderTest) -> None:
    failed = ev.CustomerMailFailed(at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC),
                                   kind="answer", source_event_id="respond-1",
                                   error="550 5.1.1 <k@example.de>: Recipient address rejected")
    case = await console.submit(71, extra=(failed,))
    fine = await console.submit(72)
    async with console.login() as client:
        page = (await client.get(f"/console/tickets/{case}")).text
        other = (await client.get(f"/console/tickets/{fine}")).text
    notices = re.findall(r'<div class="flash error mail-failure" role="alert">(.*?)</div>',
                         page, re.S)
    assert notices == [
        "Mail an den Kunden nicht zustellbar (Antwort, 25.11.2026 10:30): 550 5.1.1 "
        "&lt;k@example.de&gt;: Recipient address rejected. Bitte den Kunden anrufen und die "
        "Adresse prüfen."]
    assert "mail-failure" not in other
    assert "Mail an den Kunden nicht zustellbar" in page  # in the history too
