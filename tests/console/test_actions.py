"""The ticket page and its actions: each stores the right event, a refusal stores nothing."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx

from shared.adapters.provision import ensure_object_store
from shared.domain import events as ev
from tests.console.conftest import ConsoleUnderTest, paged

FLASH = re.compile(r'<div class="flash (ok|error)" role="status">(.*?)</div>', re.S)
FRESH_ID = re.compile(r'name="(?:entry_id|request_id)" value="([0-9a-f]{32})"')


async def act(client: httpx.AsyncClient, case: str, action: str,
              **fields: str) -> tuple[str, str]:
    """Post one action form as the browser would; returns the flash shown afterwards."""
    page = await client.get(f"/console/tickets/{case}")
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    # A form not offered on the page can still be posted (a stale page): use a fresh id.
    fresh = FRESH_ID.search(page.text)
    fresh_id = fresh.group(1) if fresh else uuid.uuid4().hex
    defaults = {"entry_id": fresh_id, "request_id": fresh_id}
    response = await client.post(f"/console/tickets/{case}/{action}",
                                 data={"csrf": csrf, **defaults, **fields})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/tickets/{case}"
    shown = await client.get(response.headers["location"])
    assert shown.status_code == 200
    match = FLASH.search(shown.text)
    assert match, shown.text
    return match.group(1), match.group(2)


async def test_paged_technician_works_a_priority_ticket(console: ConsoleUnderTest) -> None:
    case = await console.submit(11, priority=True,
                                extra=(paged("anna", datetime.now(UTC) + timedelta(hours=4)),))
    async with console.login("anna") as client:
        assert await act(client, case, "acknowledge") == ("ok", "Alarm übernommen.")
        assert (await act(client, case, "respond", message="Ich rufe Sie an."))[0] == "ok"
        flash = await act(client, case, "log-time", start="2026-11-25T17:50",
                          end="2026-11-25T18:20", kind="work", note="Treiber neu")
        assert flash == ("ok", "30 min erfasst.")
        assert (await act(client, case, "resolve", resolution="Treiber getauscht"))[0] == "ok"
        page = await client.get(f"/console/tickets/{case}")
    stored = (await console.events_of(case))[2:]
    assert [type(e).__name__ for e in stored] == [
        "OnCallAcknowledged", "TechnicianResponded", "TimeLogged", "TicketResolved"]
    acknowledged, responded, logged, resolved = stored
    assert isinstance(acknowledged, ev.OnCallAcknowledged) and acknowledged.technician == "anna"
    assert isinstance(responded, ev.TechnicianResponded)
    assert (responded.technician, responded.message) == ("anna", "Ich rufe Sie an.")
    assert isinstance(logged, ev.TimeLogged)
    # Form times are Berlin wall-clock time (UTC+1 in November).
    assert logged.start == datetime(2026, 11, 25, 16, 50, tzinfo=UTC)
    assert logged.end == datetime(2026, 11, 25, 17, 20, tzinfo=UTC)
    assert (logged.technician, logged.kind, logged.note) == ("anna", "work", "Treiber neu")
    assert isinstance(resolved, ev.TicketResolved) and resolved.resolution == "Treiber getauscht"
    # The history shows every event with its Berlin time and who did it.
    assert page.text.count('class="event"') == 6
    assert "Zeit erfasst" in page.text and "25.11.2026 17:50" in page.text
    assert "Alarm übernommen" in page.text and "Treiber getauscht" in page.text


async def test_accept_and_decline_a_ticket_without_sla(console: ConsoleUnderTest) -> None:
    accepted = await console.submit(12, has_sla=False)
    declined = await console.submit(13, has_sla=False)
    async with console.login("bernd") as client:
        assert await act(client, accepted, "accept") == ("ok", "Ticket angenommen.")
        assert await act(client, declined, "decline", reason="  ") == (
            "error", "Bitte einen Grund angeben.")
        assert (await act(client, declined, "decline", reason="Kein Vertrag"))[0] == "ok"
    last_accepted = (await console.events_of(accepted))[-1]
    assert isinstance(last_accepted, ev.TicketAccepted) and last_accepted.technician == "bernd"
    decline_events = (await console.events_of(declined))[2:]
    assert len(decline_events) == 1
    assert isinstance(decline_events[0], ev.TicketDeclined)
    assert (decline_events[0].technician, decline_events[0].reason) == ("bernd", "Kein Vertrag")


async def test_refused_actions_show_why_and_store_nothing(console: ConsoleUnderTest) -> None:
    waiting = await console.submit(14, has_sla=False)
    priority = await console.submit(15, priority=True,
                                    extra=(paged("anna", datetime.now(UTC)),))
    versions = {case: (await console.store.load(case)).version for case in (waiting, priority)}
    async with console.login("bernd") as client:
        refusals = [
            (waiting, "respond", {"message": "Hallo"}, "Bitte das Ticket zuerst annehmen."),
            (priority, "acknowledge", {},
             "Nur der alarmierte Techniker kann den Alarm übernehmen."),
            (priority, "accept", {}, "Das Ticket wartet nicht (mehr) auf Annahme."),
            (priority, "respond", {"message": "  "}, "Nachricht: bitte eine Antwort eingeben."),
            (priority, "log-time", {"start": "2026-11-25T18:20", "end": "2026-11-25T17:50",
                                    "kind": "work"}, "Das Ende muss nach dem Beginn liegen."),
            (priority, "log-time", {"start": "gestern", "end": "2026-11-25T17:50",
                                    "kind": "work"}, "Beginn: bitte Datum und Uhrzeit angeben"),
            (priority, "log-time", {"start": "2026-11-25T17:00", "end": "2026-11-25T17:50",
                                    "kind": "lunch"}, "Art: bitte Arbeit oder Anfahrt wählen."),
            (priority, "log-time", {"start": "2026-03-29T02:10", "end": "2026-03-29T02:40",
                                    "kind": "work"}, "gibt es in Berlin nicht"),
        ]
        for case, action, fields, message in refusals:
            kind, text = await act(client, case, action, **fields)
            assert kind == "error", (action, text)
            assert message in text, (action, text)
    for case, version in versions.items():
        assert (await console.store.load(case)).version == version


async def test_a_form_sent_twice_is_stored_once(console: ConsoleUnderTest) -> None:
    case = await console.submit(16)
    async with console.login("anna") as client:
        page = await client.get(f"/console/tickets/{case}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
        fresh = FRESH_ID.search(page.text).group(1)  # type: ignore[union-attr]
        for _ in range(2):
            await client.post(f"/console/tickets/{case}/respond",
                              data={"csrf": csrf, "request_id": fresh, "message": "Hallo"})
            await client.post(f"/console/tickets/{case}/log-time",
                              data={"csrf": csrf, "entry_id": fresh, "kind": "travel",
                                    "start": "2026-11-25T08:00", "end": "2026-11-25T08:25"})
    names = [type(e).__name__ for e in await console.events_of(case)]
    assert names == ["RequestSubmitted", "TechnicianResponded", "TimeLogged"]


async def test_actions_need_a_valid_csrf_token(console: ConsoleUnderTest) -> None:
    case = await console.submit(17)
    async with console.login("bernd") as other:
        foreign_token = await console.csrf(other)
    async with console.login("anna") as client:
        for data in ({}, {"csrf": ""}, {"csrf": foreign_token}):
            response = await client.post(f"/console/tickets/{case}/resolve", data=data)
            assert response.status_code == 403
    async with console.client() as anonymous:
        response = await anonymous.post(f"/console/tickets/{case}/resolve",
                                        data={"csrf": foreign_token})
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login"
    assert len(await console.events_of(case)) == 1


async def test_unknown_tickets_and_actions_are_not_found(console: ConsoleUnderTest) -> None:
    case = await console.submit(18)
    async with console.login() as client:
        csrf = await console.csrf(client)
        for path in ("/console/tickets/123", "/console/tickets/202611259999990",
                     "/console/tickets/%3Cscript%3E", "/console/find?case=12345"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert "Nicht gefunden" in response.text
        response = await client.post(f"/console/tickets/{case}/delete", data={"csrf": csrf})
        assert response.status_code == 404
        found = await client.get(f"/console/find?case={case}")
        assert found.status_code == 303
        assert found.headers["location"] == f"/console/tickets/{case}"


async def test_attachments_of_a_ticket_can_be_downloaded(console: ConsoleUnderTest) -> None:
    bucket_name = console.runtime.settings.inbound_mail.attachments_bucket
    await ensure_object_store(console.runtime.js, bucket_name)
    bucket = await console.runtime.js.object_store(bucket_name)
    screenshot, unreferenced = b"\x89PNG screenshot bytes", b"stored but on no ticket"
    for data in (screenshot, unreferenced):
        await bucket.put(hashlib.sha256(data).hexdigest(), data)
    ref = ev.AttachmentRef(sha256=hashlib.sha256(screenshot).hexdigest(),
                           filename="Fehler Bildschirm ü.png", content_type="image/png",
                           size=len(screenshot))
    case = await console.submit(19, extra=(ev.CustomerReplied(
        at=datetime.now(UTC), message_id="<m2@example.de>", sender="kunde@example.de",
        subject="Re: Drucker", text="Anbei ein Bild", attachments=(ref,)),))
    async with console.login() as client:
        page = await client.get(f"/console/tickets/{case}")
        assert f'href="/console/attachments/{ref.sha256}"' in page.text
        download = await client.get(f"/console/attachments/{ref.sha256}")
        assert download.status_code == 200
        assert download.content == screenshot
        assert download.headers["content-type"] == "image/png"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert "filename*=UTF-8''Fehler%20Bildschirm%20%C3%BC.png" in (
            download.headers["content-disposition"])
        for answer in (page, download):  # the headers every ticketcore page carries
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
        for sha in (hashlib.sha256(unreferenced).hexdigest(), "0" * 64, "not-a-hash"):
            assert (await client.get(f"/console/attachments/{sha}")).status_code == 404


async def test_time_overlapping_another_ticket_is_refused_in_the_console(
        console: ConsoleUnderTest) -> None:
    first = await console.submit(31)
    second = await console.submit(32)
    async with console.login("anna") as client:
        assert await act(client, first, "log-time", start="2026-11-25T10:00",
                         end="2026-11-25T11:00", kind="work") == ("ok", "60 min erfasst.")
        level, message = await act(client, second, "log-time", start="2026-11-25T10:30",
                                   end="2026-11-25T11:30", kind="work")
    assert level == "error" and first in message
    assert not [e for e in await console.events_of(second) if isinstance(e, ev.TimeLogged)]


async def test_entries_months_old_are_checked_across_tickets_in_the_console(
        console: ConsoleUnderTest) -> None:
    """The console shares the overlap check: an entry from May overlapping May's entry on
    another ticket is refused, as for entries of today."""
    first = await console.submit(33)
    second = await console.submit(34)
    async with console.login("anna") as client:
        assert await act(client, first, "log-time", start="2026-05-12T09:00",
                         end="2026-05-12T11:00", kind="work") == ("ok", "120 min erfasst.")
        level, message = await act(client, second, "log-time", start="2026-05-12T10:30",
                                   end="2026-05-12T12:00", kind="work")
        assert level == "error" and first in message
        assert await act(client, second, "log-time", start="2026-05-12T11:00",
                         end="2026-05-12T12:00", kind="work") == ("ok", "60 min erfasst.")
    assert not [e for e in await console.events_of(second)
                if isinstance(e, ev.TimeLogged) and e.start.hour == 8]
