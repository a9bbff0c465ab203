"""A new ticket opened from a quarantined mail, in the running system: a stranger's mail
naming no ticket arrives over real SMTP and waits as a ``Q...`` entry; the technician
opens the prefilled form (real HTTP), completes it by the customer's rules, sends it twice;
one ticket exists, its receipt goes out once (real SMTP sink), the mail's text and file
are its first reply, and the entry shows as handled."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import aiosmtplib
import httpx
import pytest
from nats.js import JetStreamContext

from shared.adapters.eventstore import STREAM, EventStore
from shared.adapters.natsserver import free_port
from shared.domain import events as ev
from shared.domain.requestform import name_parts
from shared.runtime.accounts import AccountStore
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.ack.helpers import events_of, wait_for_event, wait_until, with_smtp
from tests.console.conftest import ACCOUNTS, PASSWORDS, post_login
from tests.mail_in.mails import PDF, SUPPORT, reply
from tests.support import SmtpSink, consumers_idle, serve_app

STRANGER = "neu@example.org"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
ENTRY_ROW = re.compile(r'data-ticket="(Q[0-9a-f]{16})" data-mail="([^"]+)"')
COMPLETION = {"phone": "+49 30 1234567", "street": "Hauptstr. 1", "postcode": "10115",
              "city": "Berlin", "company": "Neu GmbH", "additional_backup": "nein",
              "backup_acknowledged": "ja", "priority": "nein", "priority_acknowledged": "ja",
              "commercial_customer": "ja", "language": "de"}


@dataclass
class Desk:
    http: httpx.AsyncClient
    store: EventStore
    js: JetStreamContext
    sink: SmtpSink
    inbound_port: int


@pytest.fixture
async def desk(settings: Settings, smtp_sink: SmtpSink) -> AsyncIterator[Desk]:
    inbound = settings.inbound_mail.model_copy(update={
        "smtp_port": free_port(), "support_address": SUPPORT})
    settings = with_smtp(settings.model_copy(update={"inbound_mail": inbound}), smtp_sink.port)
    async with running_system(settings, ("intake", "oncall", "ack")) as system:
        system.runtime.accounts = AccountStore.from_dict(ACCOUNTS)
        async with (serve_app(system.http_app()) as base_url,
                    httpx.AsyncClient(base_url=base_url, follow_redirects=False,
                                      timeout=10) as http):
            login = await post_login(http, "anna", PASSWORDS["anna"])
            assert login.status_code == 303, login.text
            yield Desk(http, system.runtime.store, system.runtime.js, smtp_sink,
                       inbound.smtp_port)


async def quarantined_entry(desk: Desk) -> tuple[str, str]:
    """A stranger's mail without a case number, sent over SMTP; its (entry, mail id)."""
    mail = reply("Drucker im Lager druckt nicht", sender=STRANGER, In_Reply_To="",
                 text="Seit heute früh kommt Fehler 49.",
                 files=(("fehler.pdf", "application/pdf", PDF),))
    mail.replace_header("From", f"Anna Maria Müller <{STRANGER}>")
    del mail["In-Reply-To"]
    await aiosmtplib.send(mail, sender=STRANGER, recipients=[SUPPORT], hostname="127.0.0.1",
                          port=desk.inbound_port, start_tls=False, timeout=10)
    rows: list[tuple[str, str]] = []

    async def listed() -> bool:
        rows[:] = ENTRY_ROW.findall((await desk.http.get("/console/mail")).text)
        return bool(rows)

    await wait_until(listed)
    assert len(rows) == 1, rows
    return rows[0]


def receipts_to(sink: SmtpSink, address: str) -> list[object]:
    return [m for m in sink.messages if m["Message-ID"].startswith("<receipt.")
            and m["To"].addresses[0].addr_spec == address]


async def test_a_quarantined_mail_becomes_a_ticket_once_with_its_receipt(desk: Desk) -> None:
    entry, mail_id = await quarantined_entry(desk)
    form_path = f"/console/mail/{entry}/{quote(mail_id, safe='')}/new-ticket"
    held = await desk.http.get(f"/console/mail/{entry}")
    assert form_path.replace("%40", "@") in held.text or form_path in held.text
    form = await desk.http.get(form_path)
    assert form.status_code == 200, form.text
    # Prefilled from the mail: address, display name split, subject, text.
    for name, value in (("email", STRANGER), ("first_name", "Anna Maria"),
                        ("last_name", "Müller"),
                        ("short_description", "Drucker im Lager druckt nicht")):
        assert f'name="{name}" type="' in form.text and f'value="{value}"' in form.text, name
    assert "Seit heute früh kommt Fehler 49." in form.text
    csrf = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    prefilled = {"email": STRANGER, "first_name": "Anna Maria", "last_name": "Müller",
                 "short_description": "Drucker im Lager druckt nicht",
                 "actual_behaviour": "Seit heute früh kommt Fehler 49."}

    # The customer's rules: missing fields are named, nothing is stored.
    incomplete = await desk.http.post(form_path, data={"csrf": csrf, **prefilled})
    assert incomplete.status_code == 422
    assert set(re.findall(r'data-field="(\w+)"', incomplete.text)) >= {
        "phone", "street", "postcode", "city", "additional_backup"}
    assert [type(e).__name__ for e in await all_events(desk.store, entry)] == [
        "ReplyQuarantined"]

    # Sent twice (a double click): one ticket.
    answers = [await desk.http.post(form_path, data={"csrf": csrf, **prefilled, **COMPLETION})
               for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]
    locations = {a.headers["location"] for a in answers}
    assert len(locations) == 1, locations
    case = locations.pop().rsplit("/", 1)[1]

    [request] = await events_of(desk.store, case, ev.RequestSubmitted)
    assert (request.contact.email, request.contact.full_name, request.channel) == (
        STRANGER, "Anna Maria Müller", "mail")
    assert request.contract_party.name == "Neu GmbH"
    [first_reply] = await events_of(desk.store, case, ev.CustomerReplied)
    assert (first_reply.released_by, first_reply.sender) == ("anna", STRANGER)
    assert "Fehler 49" in first_reply.text
    assert [f.filename for f in first_reply.attachments] == ["fehler.pdf"]

    await wait_for_event(desk.store, case, ev.AckSent)
    assert await consumers_idle(desk.js, STREAM, ["ack-receipts"])
    [receipt] = receipts_to(desk.sink, STRANGER)
    assert case in str(receipt["Subject"])

    # The entry: handled, naming the technician and the new ticket; no longer waiting.
    entry_events = await all_events(desk.store, entry)
    assert [type(e).__name__ for e in entry_events] == ["ReplyQuarantined",
                                                        "MailOpenedAsTicket"]
    opened = entry_events[1]
    assert isinstance(opened, ev.MailOpenedAsTicket)
    assert (opened.technician, opened.case_number, opened.mail_id) == ("anna", case, mail_id)
    page = await desk.http.get(f"/console/mail/{entry}")
    assert "Keine Mail wartet hier" in page.text
    assert f'href="/console/tickets/{case}">{case}</a> angelegt' in page.text
    assert f'data-ticket="{entry}"' not in (await desk.http.get("/console/mail")).text
    ticket_page = await desk.http.get(f"/console/tickets/{case}")
    assert "Anna Maria" in ticket_page.text and "Fehler 49" in ticket_page.text


async def all_events(store: EventStore, ticket: str) -> list[ev.Event]:
    return [r.event for r in (await store.load(ticket)).events]


@pytest.mark.parametrize(("display", "parts"), [
    ("Anna Maria Müller", ("Anna Maria", "Müller")),
    ("Müller, Anna", ("Anna", "Müller")),
    ('"Müller"', ("", "Müller")),
    ("", ("", "")),
])
def test_a_display_name_splits_into_first_and_last_name(
        display: str, parts: tuple[str, str]) -> None:
    assert name_parts(display) == parts
