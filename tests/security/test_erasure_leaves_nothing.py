"""Erasure leaves nothing (issue 13, item 11): the whole system runs (all services, real
SMTP in and out, real HTTP, a real nats-server). A customer submits a request, replies by
mail with a file, a technician answers and notes; then `ticketcore customer erase`. Then
every message of every stream the server lists (the log, KV buckets, object stores,
queues, caches) is read raw, subject, headers and body, and none of the person's strings,
nor their base64 forms, may be there."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import pytest
from nats.aio.client import Client as NatsClient

from services.oncall.ticketboard import TicketBoard
from shared.adapters.eventstore import EventStore
from shared.adapters.natsserver import free_port
from shared.adapters.snapshots import SNAPSHOTS_STREAM
from shared.domain import events as ev
from shared.runtime.accounts import AccountStore, hash_password, new_token
from shared.runtime.app import running_system
from shared.runtime.cli import main
from shared.settings import Settings
from tests.ack.helpers import wait_for_event, wait_until, with_smtp
from tests.support import SmtpSink, serve_app

SUPPORT = "auftrag@msp.example"
FIRST, LAST = "Quirinella", "Zybrowskaja"
EMAIL = "qz-7781@kundenpost.example"
PHONE = "+49 30 97531864"
STREET = "Xylophonweg 77"
FILE_NAME = "Gehaltsabrechnung-Quokkafeld.pdf"
FILE_CONTENT = b"%PDF-1.4\nGEHEIMINHALT Walrossbucht 4711 Kontostand\n%%EOF\n"
# What must be gone (the file's content as the bytes the customer sent).
SECRETS: dict[str, bytes] = {
    "first name": FIRST.encode(), "last name": LAST.encode(), "e-mail": EMAIL.encode(),
    "phone": PHONE.encode(), "phone digits": b"97531864", "street": STREET.encode(),
    "file name": FILE_NAME.encode(), "file content": b"GEHEIMINHALT Walrossbucht",
}
REQUEST = {
    "company": None, "first_name": FIRST, "last_name": LAST, "email": EMAIL, "phone": PHONE,
    "street": STREET, "postcode": "10115", "city": "Berlin",
    "short_description": "Server startet nicht", "error_message": "Kein Bootmedium gefunden",
    "additional_backup": False, "backup_acknowledged": True, "priority": True,
    "commercial_customer": True, "language": "de",
}


def base64_forms(secret: bytes) -> Iterator[bytes]:
    """The base64 characters that encode ``secret`` at each of the three byte alignments
    (standard and URL-safe): only characters whose six bits all come from ``secret``."""
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret)
        first = -(-8 * shift // 6)                       # first char made of secret bits only
        last = (8 * (shift + len(secret)) - 6) // 6      # last such char
        core = encoded[first:last + 1]
        yield core
        yield core.replace(b"+", b"-").replace(b"/", b"_")


def forms(secret: bytes) -> list[bytes]:
    return [secret, secret.lower(), *base64_forms(secret), *base64_forms(secret.lower())]


@dataclass(frozen=True)
class Stored:
    stream: str
    seq: int
    subject: str
    raw: bytes  # subject, headers and body as the server returns them


async def stored_messages(nc: NatsClient) -> list[Stored]:
    """Every message of every stream the server lists, read raw by sequence through the
    JetStream API (no client decoding: headers come as the server keeps them)."""
    found: list[Stored] = []
    js = nc.jetstream()
    for info in await js.streams_info():
        name, state = info.config.name, info.state
        for seq in range(state.first_seq, state.last_seq + 1):
            answer = await nc.request(f"$JS.API.STREAM.MSG.GET.{name}",
                                      json.dumps({"seq": seq}).encode(), timeout=10)
            message = json.loads(answer.data).get("message")
            if message is None:  # deleted, or purged
                continue
            raw = b"\n".join([message["subject"].encode(),
                              base64.b64decode(message.get("hdrs") or ""),
                              base64.b64decode(message.get("data") or "")])
            found.append(Stored(name, seq, message["subject"], raw))
    return found


def leaks(messages: list[Stored]) -> list[str]:
    """Where any secret (or its base64 form) is still readable."""
    return sorted({f"{label} in {m.stream} #{m.seq} ({m.subject})"
                   for m in messages for label, secret in SECRETS.items()
                   if any(form in m.raw for form in forms(secret))})


def customer_reply(receipt: EmailMessage, case: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"{FIRST} {LAST} <{EMAIL}>"
    mail["To"] = SUPPORT
    mail["Subject"] = f"AW: [SA#{case}] Server startet nicht"
    mail["Message-ID"] = "<reply-1@kundenpost.example>"
    mail["In-Reply-To"] = receipt["Message-ID"]
    mail.set_content(f"Anbei die Abrechnung.\n\n{FIRST} {LAST}\n{STREET}\nTel. {PHONE}\n")
    mail.add_attachment(FILE_CONTENT, maintype="application", subtype="pdf",
                        filename=FILE_NAME)
    return mail


async def snapshot_taken(http: httpx.AsyncClient, auth: dict[str, str], store: EventStore,
                         case: str) -> None:
    """Make the ticket long enough for a snapshot (they copy its sealed messages), and wait
    until one is stored."""
    for number in range(4):
        noted = await http.post(f"/api/tickets/{case}/note", headers=auth,
                                json={"text": f"Notiz {number}: {LAST}, {STREET}"})
        assert noted.status_code == 200, noted.text
    js = store.js

    async def stored() -> bool:
        store.forget(case)  # a load from the log, which writes the snapshot
        await store.load(case)
        return (await js.stream_info(SNAPSHOTS_STREAM)).state.messages > 0

    await wait_until(stored)


@pytest.fixture
def system_settings(settings: Settings, smtp_sink: SmtpSink, tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Settings:
    rota = tmp_path / "rota.toml"
    rota.write_text('[[people]]\nid = "anna"\nname = "Anna"\nemail = "anna@msp.example"\n'
                    '[[rotations]]\nlevel = 1\npeople = ["anna"]\nhandover_weekday = "monday"'
                    '\nhandover_time = "09:00"\nstart = 2026-01-05\n')
    inbound = settings.inbound_mail.model_copy(update={"smtp_port": free_port(),
                                                       "support_address": SUPPORT})
    settings = settings.model_copy(update={
        "inbound_mail": inbound,
        "oncall": settings.oncall.model_copy(update={"rota_file": rota})})
    # The erase command reads its settings from the environment, as in production.
    monkeypatch.setenv("TICKETCORE_NATS__URL", str(settings.nats.url))
    monkeypatch.setenv("TICKETCORE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TICKETCORE_SECRET_KEY", settings.secret_key)
    return with_smtp(settings, smtp_sink.port)


async def test_after_erasure_no_stream_bucket_or_object_holds_the_person(
        system_settings: Settings, smtp_sink: SmtpSink) -> None:
    token, token_hash = new_token()
    accounts = AccountStore.from_dict({"technicians": [
        {"id": "anna", "name": "Anna", "password_hash": hash_password("pw-anna-123"),
         "token_hashes": [token_hash]}]})
    async with running_system(system_settings) as system:
        for runtime in system.connections:
            runtime.accounts = accounts
        store = system.runtime.store
        async with (serve_app(system.http_app()) as url,
                    httpx.AsyncClient(base_url=url, timeout=20) as http):
            auth = {"Authorization": f"Bearer {token}"}
            answer = await http.post("/api/requests", json=REQUEST,
                                     headers={"Idempotency-Key": "erase-test-1"})
            assert answer.status_code == 201, answer.text
            case = answer.json()["case_number"]
            [receipt] = [m for m in await smtp_sink.wait_for(2, timeout_s=20)
                         if m["To"].addresses[0].addr_spec == EMAIL]

            await aiosmtplib.send(customer_reply(receipt, case), sender=EMAIL,
                                  recipients=[SUPPORT], hostname="127.0.0.1",
                                  port=system_settings.inbound_mail.smtp_port,
                                  start_tls=False, timeout=10)
            [replied] = await wait_for_event(store, case, ev.CustomerReplied)
            assert [f.filename for f in replied.attachments] == [FILE_NAME]

            for step, body in (
                    ("respond", {"message": f"Guten Tag Frau {LAST}, wir melden uns."}),
                    ("note", {"text": f"{FIRST} {LAST} ruft von {PHONE} an"})):
                done = await http.post(f"/api/tickets/{case}/{step}", json=body,
                                       headers=auth)
                assert done.status_code == 200, (step, done.text)
            await wait_for_event(store, case, ev.CustomerMailed)
            await snapshot_taken(http, auth, store, case)
            before = await stored_messages(system.runtime.nc)
            assert any("file content" in leak for leak in leaks(before))  # the scan sees
            assert any(m.stream == SNAPSHOTS_STREAM for m in before)

            board = TicketBoard(store)  # the console's board, as a running console has it
            await board.start()
            sha256 = replied.attachments[0].sha256
            assert board.attachment(sha256) == case
            code = await asyncio.to_thread(main, ["customer", "erase", "--email", EMAIL,
                                                  "--by", "dsb@msp.example"])
            assert code == 0
            await wait_for_event(store, case, ev.PersonalDataErased)
            history = await store.load(case)
            assert await board.caught_up(history.version)
            in_memory = repr((board.tickets, board.attachments))
            assert board.attachment(sha256) is None
            await board.stop()

        found = leaks(await stored_messages(system.runtime.nc))
        assert found == [], "\n".join(found)
        # The console's board learns of the erasure from the log and holds nothing readable.
        assert [label for label, secret in SECRETS.items()
                if secret.decode(errors="replace") in in_memory] == []


async def test_the_scan_finds_a_secret_in_every_form(nc: NatsClient) -> None:
    js = nc.jetstream()
    await js.add_stream(name="PROBE", subjects=["probe.>"])
    await js.publish("probe.a", b"x" + base64.b64encode(b"..." + STREET.encode()))
    await js.publish("probe.b", b"y", headers={"X-Name": LAST})
    await js.publish(f"probe.{FIRST}", b"z")
    await js.publish("probe.c", FILE_NAME.lower().encode())
    await js.publish("probe.d", b"nothing of hers")
    found = leaks([m for m in await stored_messages(nc) if m.stream == "PROBE"])
    assert found == ["file name in PROBE #4 (probe.c)", f"first name in PROBE #3 (probe.{FIRST})",
                     "last name in PROBE #2 (probe.b)", "street in PROBE #1 (probe.a)"]

