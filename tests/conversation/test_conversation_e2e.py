"""The whole conversation in the running system: a technician answers in the console (real
HTTP, a file uploaded), the mail arrives threaded at a real SMTP server, the customer's
reply with a file comes back over real SMTP into the inbound listener and lands on the
ticket, and the status page shows both in order. Then: resolved, the customer replies,
the ticket reopens; after the reopen period a reply is held instead."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest

from services.ack.receipt import receipt_message_id
from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import free_port
from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from shared.runtime.accounts import AccountStore, hash_password
from shared.runtime.app import running_system
from shared.runtime.links import status_path
from shared.settings import Settings
from tests.ack.helpers import events_of, wait_for_event, wait_until, with_smtp
from tests.factories import request_submitted
from tests.mail_in.mails import PDF, PNG, SUPPORT, reply
from tests.support import SmtpSink, serve_app

CUSTOMER = "kunde@example.de"
PASSWORD = "anna-secret-pw"
ACCOUNTS = {"technicians": [{"id": "a.schmidt", "name": "Anna Schmidt",
                             "email": "anna.schmidt@msp.example",
                             "password_hash": hash_password(PASSWORD)}]}
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
REQUEST_ID = re.compile(r'name="request_id" value="([0-9a-f]{32})"')


@dataclass
class Desk:
    """The running system as customer and technician meet it."""

    http: httpx.AsyncClient
    base_url: str
    store: EventStore
    sink: SmtpSink
    inbound_port: int
    secret: str

    async def login(self) -> None:
        form = await self.http.get("/console/login")
        match = CSRF.search(form.text)
        assert match, form.text
        response = await self.http.post("/console/login", data={
            "technician": "a.schmidt", "password": PASSWORD, "csrf": match.group(1)})
        assert response.status_code == 303, response.text

    async def act(self, case: str, action: str, data: dict[str, str],
                  files: list[tuple[str, tuple[str, bytes, str]]] | None = None) -> str:
        """Post an action form of the ticket page as the browser does; the flash text."""
        page = await self.http.get(f"/console/tickets/{case}")
        csrf, request_id = CSRF.search(page.text), REQUEST_ID.search(page.text)
        assert csrf and request_id, page.text
        fields = {"csrf": csrf.group(1), "request_id": request_id.group(1), **data}
        response = await self.http.post(f"/console/tickets/{case}/{action}", data=fields,
                                        files=files)
        assert response.status_code == 303, response.text
        after = await self.http.get(f"/console/tickets/{case}")
        flash = re.search(r'class="flash[^"]*"[^>]*>([^<]*)<', after.text)
        return flash.group(1) if flash else ""

    async def mails_to_customer(self, count: int) -> list[EmailMessage]:
        async def arrived() -> bool:
            return len(self._conversation()) >= count

        await wait_until(arrived)
        return self._conversation()

    def _conversation(self) -> list[EmailMessage]:
        return [m for m in self.sink.messages
                if not m["Message-ID"].startswith("<receipt.")
                and m["To"].addresses[0].addr_spec == CUSTOMER]

    async def customer_replies(self, mail: EmailMessage) -> None:
        await aiosmtplib.send(mail, sender=CUSTOMER, recipients=[SUPPORT],
                              hostname="127.0.0.1", port=self.inbound_port, start_tls=False,
                              timeout=10)

    async def status_url(self, case: str) -> str:
        return status_path(self.secret, case)

    async def status_page(self, case: str, language: str = "de") -> str:
        page = await self.http.get(status_path(self.secret, case) + f"&lang={language}")
        assert page.status_code == 200, page.text
        return page.text


@pytest.fixture
async def desk(settings: Settings, smtp_sink: SmtpSink, request: Any) -> AsyncIterator[Desk]:
    reopen_days = getattr(request, "param", 14.0)
    inbound = settings.inbound_mail.model_copy(update={
        "smtp_port": free_port(), "support_address": SUPPORT, "reopen_days": reopen_days})
    settings = with_smtp(settings.model_copy(update={"inbound_mail": inbound}), smtp_sink.port)
    async with running_system(settings, ("intake", "oncall", "ack")) as system:
        system.runtime.accounts = AccountStore.from_dict(ACCOUNTS)
        async with (serve_app(system.http_app()) as base_url,
                    httpx.AsyncClient(base_url=base_url, timeout=10) as http):
            desk = Desk(http, base_url, system.runtime.store, smtp_sink, inbound.smtp_port,
                        settings.secret_key)
            await desk.login()
            yield desk


async def a_ticket(desk: Desk, number: int) -> str:
    case = with_check_digit(f"20261127{number:06d}")
    await desk.store.append(case, [request_submitted(case_number=case, email=CUSTOMER)], 0)
    await wait_for_event(desk.store, case, ev.AckSent)  # the receipt went out first
    return case


def plain(mail: EmailMessage) -> str:
    return mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def test_answer_by_mail_reply_with_a_file_and_both_on_the_status_page(
        desk: Desk) -> None:
    case = await a_ticket(desk, 1)
    noted = await desk.act(case, "note", {"text": "Intern: Kunde hat Altgerät"})
    assert "Interne Notiz erfasst" in noted
    done = await desk.act(case, "respond", {"message": "Bitte Treiber <neu> installieren."},
                          files=[("files", ("Treiber-Anleitung.pdf", PDF, "application/pdf"))])
    assert "Antwort erfasst" in done

    [answer] = await desk.mails_to_customer(1)
    receipt_id = receipt_message_id(case, SUPPORT, desk.secret)
    assert answer["Subject"] == f"[SA#{case}] Drucker druckt nicht"
    assert answer["In-Reply-To"] == receipt_id and answer["References"] == receipt_id
    assert answer["Reply-To"] == SUPPORT
    assert "Bitte Treiber <neu> installieren." in plain(answer)
    assert "Intern" not in plain(answer)
    [pdf] = list(answer.iter_attachments())
    assert (pdf.get_filename(), pdf.get_content()) == ("Treiber-Anleitung.pdf", PDF)
    await wait_for_event(desk.store, case, ev.CustomerMailed)

    # The customer's client drops the tag and names only the answer it replies to: the
    # answer's Message-ID alone must bring the reply to the ticket.
    await desk.customer_replies(reply("AW: Ihre Antwort", text="Treiber installiert, Foto anbei.",
                                      files=(("foto.png", "image/png", PNG),),
                                      In_Reply_To=answer["Message-ID"],
                                      References=answer["Message-ID"]))
    [replied] = await wait_for_event(desk.store, case, ev.CustomerReplied)
    assert replied.text.startswith("Treiber installiert")

    page = await desk.status_page(case)
    answer_at = page.index("Antwort von Anna")
    reply_at = page.index("Treiber installiert, Foto anbei.")
    assert page.index("Supportauftrag eingegangen") < answer_at < reply_at
    assert "Bitte Treiber &lt;neu&gt; installieren." in page  # escaped
    assert "Treiber-Anleitung.pdf</a>" in page and "foto.png</a>" in page
    assert page.index("Treiber-Anleitung.pdf") < reply_at < page.index("foto.png")
    for private in ("Schmidt", "a.schmidt", "anna.schmidt@", "Intern: Kunde hat Altgerät"):
        assert private not in page
    english = await desk.status_page(case, "en")
    assert "Answer from Anna" in english
    download = re.search(r'href="([^"]+)" download>Treiber-Anleitung.pdf', page)
    assert download
    got = await desk.http.get(download.group(1).replace("&amp;", "&"))
    assert got.status_code == 200 and got.content == PDF
    assert len(await desk.mails_to_customer(1)) == 1  # the note was never mailed


async def test_a_reply_within_the_period_reopens_the_resolved_ticket(desk: Desk) -> None:
    case = await a_ticket(desk, 2)
    await desk.act(case, "respond", {"message": "Toner getauscht."})
    assert "gelöst" in await desk.act(case, "resolve", {"resolution": "Toner getauscht"})
    mails = await desk.mails_to_customer(2)
    resolved = next(m for m in mails if "Erledigt" in m["Subject"])
    assert "innerhalb von 14 Tagen" in plain(resolved)
    # Recorded as sent: a reply naming the mail is then evidence of the customer.
    await wait_for_event(desk.store, case, ev.CustomerMailed, 2)
    await desk.customer_replies(reply(f"AW: {resolved['Subject']}",
                                      text="Leider druckt er wieder nicht.",
                                      In_Reply_To=resolved["Message-ID"]))
    [reopened] = await wait_for_event(desk.store, case, ev.TicketReopened)
    assert reopened.by == "customer"
    assert (await desk.store.load(case)).state.status == "in_progress"
    page = await desk.status_page(case)
    assert page.index("Gelöst") < page.index("Leider druckt er wieder nicht.") < \
        page.index("Wieder geöffnet")
    assert ">in Bearbeitung<" in page


@pytest.mark.parametrize("desk", [0.0], indirect=True)
async def test_a_reply_after_the_period_is_held_and_reopens_nothing(desk: Desk) -> None:
    case = await a_ticket(desk, 3)
    await desk.act(case, "resolve", {"resolution": ""})
    [resolved] = await desk.mails_to_customer(1)
    await wait_for_event(desk.store, case, ev.CustomerMailed)
    await desk.customer_replies(reply(f"AW: [SA#{case}] Drucker druckt nicht",
                                      text="Noch eine Frage zu etwas anderem.",
                                      In_Reply_To=resolved["Message-ID"]))
    [held] = await wait_for_event(desk.store, case, ev.ReplyQuarantined)
    assert held.reason == "the ticket was resolved too long ago to be reopened by a reply"
    assert await events_of(desk.store, case, ev.TicketReopened) == []
    assert (await desk.store.load(case)).state.status == "resolved"
    assert "Noch eine Frage" not in await desk.status_page(case)
