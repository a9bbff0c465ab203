"""The queue page: open tickets by nearest deadline, followed live from the log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from shared.domain import events as ev
from tests.console.conftest import ConsoleUnderTest, paged

ROW = re.compile(r'<tr class="ticket" data-case="(\d+)">(.*?)</tr>', re.S)


def rows(html: str) -> list[tuple[str, str]]:
    return ROW.findall(html)


async def test_queue_lists_open_tickets_by_nearest_deadline(console: ConsoleUnderTest) -> None:
    now = datetime.now(UTC)
    later = await console.submit(1, extra=(ev.ResponseDeadlineSet(at=now, deadline=now
                                                                  + timedelta(hours=5)),))
    overdue = await console.submit(2, priority=True,
                                   extra=(paged("bernd", now - timedelta(minutes=10)),))
    waiting = await console.submit(3, has_sla=False)
    responded = await console.submit(4, priority=True, extra=(
        paged("anna", now + timedelta(hours=1)),
        ev.TechnicianResponded(at=now, technician="anna", message="Bin dran")))
    await console.submit(5, extra=(ev.TicketResolved(at=now, technician="anna"),))
    sooner = await console.submit(6, extra=(ev.ResponseDeadlineSet(at=now, deadline=now
                                                                   + timedelta(hours=2)),))
    async with console.login() as client:
        page = await client.get("/console")
    assert page.status_code == 200
    listed = rows(page.text)
    assert [case for case, _ in listed] == [waiting, overdue, sooner, later, responded]
    cells = dict(listed)
    assert 'class="overdue"' in cells[overdue] and "überfällig seit" in cells[overdue]
    assert "bernd" in cells[overdue] and "Priorität" in cells[overdue]
    assert "noch 1 h" in cells[sooner] or "noch 2 h" in cells[sooner]
    assert "overdue" not in cells[sooner]
    assert "wartet auf Annahme" in cells[waiting]
    assert "keine laufende Frist" in cells[responded]


async def test_queue_follows_new_events_live(console: ConsoleUnderTest) -> None:
    async with console.login() as client:
        first = await client.get("/console")
        assert rows(first.text) == []
        case = await console.submit(7)
        version = (await console.store.load(case)).version
        assert await console.board.caught_up(version)
        assert [c for c, _ in rows((await client.get("/console")).text)] == [case]
        await console.store.append(case, [ev.TicketResolved(at=datetime.now(UTC),
                                                            technician="anna")], version)
        assert await console.board.caught_up(version + 1)
        assert rows((await client.get("/console")).text) == []


async def test_customer_text_is_shown_escaped(console: ConsoleUnderTest) -> None:
    attack = "<script>alert('x')</script>"
    case = await console.submit(8, short_description=attack, extra=(
        ev.CustomerReplied(at=datetime.now(UTC), message_id="<m1@example.de>",
                           sender="kunde@example.de", subject="Re: [SA#1]",
                           text='<img src=x onerror="alert(1)">'),))
    async with console.login() as client:
        queue = await client.get("/console")
        ticket = await client.get(f"/console/tickets/{case}")
    for page in (queue, ticket):
        assert page.status_code == 200
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "<img src=x" not in ticket.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in ticket.text
