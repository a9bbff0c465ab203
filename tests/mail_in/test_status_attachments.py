"""Reply attachments on the status page, end to end: a reply sent over real SMTP to the
inbound listener, the status page and the download over real HTTP, a real nats-server."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiosmtplib
import httpx
import pytest
from nats.js import JetStreamContext

from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import free_port
from shared.application.erasure import erase_ticket
from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from shared.runtime.app import running_system
from shared.runtime.links import status_path
from shared.settings import Settings
from tests.mail_in.mails import (
    CASE,
    CUSTOMER,
    PDF,
    PNG,
    SUPPORT,
    receipt_id,
    reply,
    ticket_with_receipt,
)
from tests.support import serve_app

OTHER_CASE = with_check_digit("2026112600043")


@dataclass
class Door:
    http: httpx.AsyncClient
    smtp_port: int
    store: EventStore
    secret: str

    def status(self, case: str = CASE) -> str:
        return status_path(self.secret, case)


@pytest.fixture
async def door(settings: Settings) -> AsyncIterator[Door]:
    inbound = settings.inbound_mail.model_copy(update={"smtp_port": free_port(),
                                                       "support_address": SUPPORT})
    settings = settings.model_copy(update={"inbound_mail": inbound})
    async with (running_system(settings, ("intake",)) as system,
                serve_app(system.http_app()) as base_url,
                httpx.AsyncClient(base_url=base_url, timeout=10) as http):
        store = system.runtime.store
        await store.append(CASE, ticket_with_receipt(), 0)
        await store.append(OTHER_CASE, ticket_with_receipt(OTHER_CASE, "andere@example.org"),
                           0)
        yield Door(http, inbound.smtp_port, store, settings.secret_key)


async def send(door: Door, subject: str, sender: str, *files: tuple[str, str, bytes],
               text: str = "Anbei die Datei.") -> None:
    case = OTHER_CASE if OTHER_CASE in subject else CASE
    await aiosmtplib.send(reply(subject, sender=sender, text=text, files=files,
                                In_Reply_To=receipt_id(case)),
                          sender=sender, recipients=[SUPPORT], hostname="127.0.0.1",
                          port=door.smtp_port, start_tls=False, timeout=10)


def links(page: str) -> dict[str, str]:
    """Download links of the status page: file name -> URL (HTML-unescaped)."""
    return {name: url.replace("&amp;", "&") for url, name in
            re.findall(r'<a href="(/status/[^"]+/attachments/[^"]+)" download>([^<]+)</a>', page)}


async def test_reply_attachment_is_listed_and_downloads_byte_identical(door: Door) -> None:
    await send(door, f"AW: [SA#{CASE}] Drucker", CUSTOMER, ("Fehler 49.pdf", "application/pdf",
                                                            PDF), ("screen.png", "image/png", PNG))
    page = await door.http.get(door.status())
    assert page.status_code == 200
    found = links(page.text)
    assert set(found) == {"Fehler 49.pdf", "screen.png"}
    assert f"({len(PDF) / 1000:.1f} KB)".replace(".", ",") in page.text  # German page
    english = await door.http.get(door.status() + "&lang=en")
    assert f"({len(PDF) / 1000:.1f} KB)" in english.text

    download = await door.http.get(found["Fehler 49.pdf"])
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"Fehler 49.pdf\"; filename*=UTF-8''Fehler%2049.pdf")
    png = await door.http.get(found["screen.png"])
    assert png.content == PNG


async def test_a_file_that_could_run_in_the_browser_comes_as_opaque_bytes(door: Door) -> None:
    page = b"<script>alert(1)</script>"
    await send(door, f"AW: [SA#{CASE}] Drucker", CUSTOMER,
               ('..\\"evil".html', "text/html", page))
    found = links((await door.http.get(door.status())).text)
    download = await door.http.get(next(iter(found.values())))
    assert download.content == page
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith(
        "attachment; filename=\"_evil_.html\"; filename*=UTF-8''%22evil%22.html")


async def test_wrong_token_and_foreign_files_answer_404(door: Door) -> None:
    await send(door, f"AW: [SA#{CASE}] Drucker", CUSTOMER, ("Fehler.pdf", "application/pdf",
                                                            PDF))
    # A file of another ticket, and a file quarantined on this ticket (unknown sender).
    await send(door, f"AW: [SA#{OTHER_CASE}] Server", "andere@example.org",
               ("fremd.png", "image/png", PNG))
    await send(door, f"AW: [SA#{CASE}] Drucker", "fremder@example.net",
               ("quarantaene.bin", "application/octet-stream", b"not for the customer"))
    history = (await door.store.load(CASE)).events
    assert [type(r.event) for r in history][2:] == [ev.CustomerReplied, ev.ReplyQuarantined]
    url = links((await door.http.get(door.status())).text)["Fehler.pdf"]
    assert (await door.http.get(url)).content == PDF

    pdf_sha = hashlib.sha256(PDF).hexdigest()
    other_token = door.status(OTHER_CASE).split("?t=")[1]
    quarantined = hashlib.sha256(b"not for the customer").hexdigest()
    refused = [
        url.replace("?t=", "?t=x"),                                     # wrong token
        url.split("?")[0],                                              # no token
        url.replace(pdf_sha, hashlib.sha256(PNG).hexdigest()),          # other ticket's file
        url.replace(pdf_sha, quarantined),                              # quarantined file
        url.replace(pdf_sha, "0" * 64),                                 # no such file
        url.replace(pdf_sha, "../../outbox"),                           # not a hash
        f"/status/{OTHER_CASE}/attachments/{pdf_sha}?t={other_token}",  # file not on it
        url.replace(CASE, OTHER_CASE),                                  # token of another
    ]
    for target in refused:
        answer = await door.http.get(target)
        assert answer.status_code == 404, target
        assert "content-disposition" not in answer.headers
    # The other ticket's owner does get their own file.
    other = links((await door.http.get(door.status(OTHER_CASE))).text)
    assert (await door.http.get(other["fremd.png"])).content == PNG


async def test_redacted_reply_says_so_on_the_status_page(door: Door) -> None:
    await send(door, f"AW: [SA#{CASE}] Drucker", CUSTOMER, text="Das Passwort lautet Xy9!abc")
    page = await door.http.get(door.status())
    assert "Zugangsdaten (z. B. ein Passwort) wurden vor dem Speichern entfernt" in page.text
    assert "Xy9!abc" not in page.text


async def raw_bytes(js: JetStreamContext, stream: str) -> bytes:
    """Every message body a stream still holds, as stored (chunks of deleted objects are
    purged, not merely marked)."""
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return b""
    sub = await js.subscribe(">", stream=stream, ordered_consumer=True)
    found = b""
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            found += msg.data or b""
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


async def test_after_erasure_the_files_are_gone_and_no_longer_listed(door: Door) -> None:
    secret_file = b"Kontoauszug Erika Mustermann, IBAN DE02 1203 0000 0000 2020 51"
    await send(door, f"AW: [SA#{CASE}] Drucker", CUSTOMER,
               ("kontoauszug-mustermann.pdf", "application/pdf", secret_file),
               ("Fehler.pdf", "application/pdf", PDF))
    # The other customer sent the same PDF bytes: their copy must survive.
    await send(door, f"AW: [SA#{OTHER_CASE}] Server", "andere@example.org",
               ("auch.pdf", "application/pdf", PDF))
    before = links((await door.http.get(door.status())).text)
    assert set(before) == {"kontoauszug-mustermann.pdf", "Fehler.pdf"}

    assert await erase_ticket(door.store, CASE, by="dsb@msp.example")

    page = await door.http.get(door.status())
    assert page.status_code == 200
    assert links(page.text) == {} and "kontoauszug" not in page.text
    for url in before.values():
        assert (await door.http.get(url)).status_code == 404
    objects = await door.store.js.object_store("attachments")
    names = {info.name for info in await objects.list(ignore_deletes=True)}
    assert hashlib.sha256(secret_file).hexdigest() not in names
    assert secret_file not in await raw_bytes(door.store.js, "OBJ_attachments")
    other = links((await door.http.get(door.status(OTHER_CASE))).text)
    assert (await door.http.get(other["auch.pdf"])).content == PDF
