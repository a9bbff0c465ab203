"""Held and quarantined mail in the console over real HTTP: listed, readable (escaped), and
released to its ticket, attached to another ticket or discarded, each once, each naming the
technician, each behind the console's CSRF check."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx

from shared.domain import events as ev
from tests.console.conftest import ConsoleUnderTest

FLASH = re.compile(r'<div class="flash (ok|error)" role="status">(.*?)</div>', re.S)
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
ENTRY = "Q0123456789abcdef"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def held(mail_id: str = "mail-held1", text: str = "Bitte an DE00 1234 überweisen.") -> ev.ReplyHeld:
    return ev.ReplyHeld(at=NOW, mail_id=mail_id, message_id="<h@example.de>",
                        sender="kunde@example.de", envelope_sender="attacker@evil.example",
                        subject="AW: Drucker", reason="the envelope sender is not in the "
                        "From address's domain", text=text)


def quarantined(candidate: str | None = None) -> ev.ReplyQuarantined:
    return ev.ReplyQuarantined(at=NOW, message_id="<q@example.org>", sender="neu@example.org",
                               subject="Drucker kaputt", reason="no case number",
                               text="Mein Drucker <b>streikt</b>.", mail_id="mail-quar1",
                               candidate_case_number=candidate)


async def decide(client: httpx.AsyncClient, ticket: str, mail_id: str, action: str,
                 **fields: str) -> tuple[str, str]:
    """Post a decision as the browser would (from the mail's page); the flash afterwards."""
    page = await client.get(f"/console/mail/{ticket}")
    assert page.status_code == 200, page.text
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    response = await client.post(f"/console/mail/{ticket}/{mail_id}/{action}",
                                 data={"csrf": csrf, **fields})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/console/mail/{ticket}"
    shown = await client.get(response.headers["location"])
    match = FLASH.search(shown.text)
    assert match, shown.text
    return match.group(1), match.group(2)


async def test_held_and_quarantined_mail_is_listed_and_readable_escaped(
        console: ConsoleUnderTest) -> None:
    case = await console.submit(41, extra=(held(text="<script>alert(1)</script>"),))
    await console.store.append(ENTRY, [quarantined()], 0)
    async with console.login() as client:
        listed = await client.get("/console/mail")
        found = await client.get(f"/console/find?case={ENTRY}")
        page = await client.get(f"/console/mail/{case}")
        entry = await client.get(found.headers["location"])
    assert listed.status_code == 200
    rows = re.findall(r'data-ticket="([^"]+)" data-mail="([^"]+)"', listed.text)
    assert sorted(rows) == sorted([(case, "mail-held1"), (ENTRY, "mail-quar1")])
    assert (found.status_code, found.headers["location"]) == (303, f"/console/mail/{ENTRY}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text and "attacker@evil.example" in page.text
    assert "Mein Drucker &lt;b&gt;streikt&lt;/b&gt;." in entry.text


async def test_releasing_a_held_mail_makes_it_the_customers_reply_once(
        console: ConsoleUnderTest) -> None:
    case = await console.submit(42, extra=(held(),))
    async with console.login("anna") as client:
        assert await decide(client, case, "mail-held1", "release") == (
            "ok", "Mail als Antwort des Kunden übernommen.")
        assert await decide(client, case, "mail-held1", "release") == (
            "ok", "Über diese Mail war schon entschieden.")
        assert (await decide(client, case, "mail-held1", "discard"))[0] == "ok"
    stored = (await console.events_of(case))[1:]
    assert [type(e).__name__ for e in stored] == ["ReplyHeld", "MailReleased",
                                                  "CustomerReplied"]
    released, reply = stored[1], stored[2]
    assert isinstance(released, ev.MailReleased) and released.technician == "anna"
    assert isinstance(reply, ev.CustomerReplied)
    assert (reply.released_by, reply.text) == ("anna", "Bitte an DE00 1234 überweisen.")


async def test_a_quarantine_entry_is_attached_to_a_named_ticket_once(
        console: ConsoleUnderTest) -> None:
    case = await console.submit(43)
    await console.store.append(ENTRY, [quarantined(candidate=case)], 0)
    async with console.login("bernd") as client:
        without = await decide(client, ENTRY, "mail-quar1", "release", to_case="")
        assert without[0] == "error"
        for _ in range(2):
            assert (await decide(client, ENTRY, "mail-quar1", "release", to_case=case))[0] == "ok"
    replies = [e for e in await console.events_of(case) if isinstance(e, ev.CustomerReplied)]
    assert len(replies) == 1
    assert (replies[0].sender, replies[0].released_by) == ("neu@example.org", "bernd")
    entry = await console.events_of(ENTRY)
    assert [type(e).__name__ for e in entry] == ["ReplyQuarantined", "MailReleased"]
    assert isinstance(entry[1], ev.MailReleased) and entry[1].case_number == case


async def test_discarding_names_the_technician_once_and_needs_the_csrf_token(
        console: ConsoleUnderTest) -> None:
    case = await console.submit(44, extra=(held(),))
    async with console.login("bernd") as client:
        forged = await client.post(f"/console/mail/{case}/mail-held1/discard",
                                   data={"reason": "Spam"})
        assert forged.status_code == 403
        assert len(await console.events_of(case)) == 2  # nothing stored
        for _ in range(2):
            assert (await decide(client, case, "mail-held1", "discard", reason="Spam"))[0] == "ok"
        listed = await client.get("/console/mail")
    discarded = (await console.events_of(case))[2:]
    assert discarded == [ev.MailDiscarded(at=discarded[0].at, technician="bernd",
                                          mail_id="mail-held1", reason="Spam")]
    assert 'data-mail="mail-held1"' not in listed.text  # no longer waiting
