"""The backup drill: a busy system is backed up with ``ticketcore backup`` while requests
keep coming; the backup is restored with ``ticketcore restore`` into a new empty cluster
of three nodes (R3) and into a new single server (R1); both hold every ticket, invoice,
file, technician account and session of the backup.

What is checked: the log is the same message for message (subject, headers, body,
sequence, time: whatever a reader verifies on a stored event still holds), every stream
of the two restores is the same as the other's (with its replica count), and the system
started on the restored cluster shows it: the invoices render the same documents, the
files of the answers read back the same bytes, a technician's session from before the
backup is still logged in and the account logs in anew, and it goes on where the backup
stopped (a new ticket and a new invoice take numbers never given)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from shared.adapters.attachments import read_attachment
from shared.adapters.eventstore import STREAM, EventStore
from shared.adapters.natsserver import EmbeddedNats, NatsCluster
from shared.adapters.streambackup import stream_names
from shared.domain import events as ev
from shared.runtime.accounts import hash_password, new_token
from shared.runtime.app import RunningSystem, running_system
from shared.runtime.auth import SESSION_COOKIE
from shared.runtime.backupcli import read_manifest
from shared.settings import Settings
from tests.console.conftest import CSRF_FIELD, post_login
from tests.processes import run
from tests.support import SmtpSink, serve_app

pytestmark = pytest.mark.slow

PASSWORD = "anna-drill-password"
SETTLED_TICKETS = 6
INVOICED = 3
REQUEST_ID = re.compile(r'name="request_id" value="([0-9a-f]{32})"')


def request(serial: int) -> dict[str, object]:
    return {"company": "Muster GmbH", "first_name": "Erika", "last_name": "Mustermann",
            "email": f"erika.{serial}@kunde.example", "phone": "+49 30 123456",
            "street": "Hauptstraße 5", "postcode": "10115", "city": "Berlin",
            "short_description": f"Drucker {serial} druckt nicht",
            "additional_backup": False, "backup_acknowledged": True,
            "priority": serial % 2 == 0, "priority_acknowledged": True,
            "commercial_customer": True}


def drill_settings(settings: Settings, sink: SmtpSink, tmp_path: Path, token_hash: str
                   ) -> Settings:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(f'[[technicians]]\nid = "anna"\nname = "Anna"\n'
                        f'email = "anna@msp.example"\n'
                        f'password_hash = "{hash_password(PASSWORD)}"\n'
                        f'token_hashes = ["{token_hash}"]\n')
    return settings.model_copy(update={
        "accounts_file": accounts,
        "intake": settings.intake.model_copy(update={"rate_limit_per_minute": 1_000_000}),
        "smtp": settings.smtp.model_copy(update={"host": "127.0.0.1", "port": sink.port,
                                                 "security": "none"})})


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[RunningSystem, httpx.AsyncClient]]:
    async with running_system(settings) as system, serve_app(system.http_app()) as url:
        for runtime in system.connections:
            runtime.http_port = int(url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield system, client


async def submit(client: httpx.AsyncClient, serial: int) -> str:
    for _ in range(50):
        response = await client.post("/api/requests", json=request(serial),
                                     headers={"Idempotency-Key": f"drill-{serial}"})
        if response.status_code == 201:
            return str(response.json()["case_number"])
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"request {serial} never stored")


async def answer_with_a_file(client: httpx.AsyncClient, case: str, content: bytes) -> None:
    """The console's answer form with a file (the file goes to the object store)."""
    page = await client.get(f"/console/tickets/{case}")
    assert page.status_code == 200, page.text
    csrf = CSRF_FIELD.search(page.text)
    fresh = REQUEST_ID.search(page.text)
    assert csrf and fresh, page.text
    response = await client.post(
        f"/console/tickets/{case}/respond",
        files=[("files", (f"log-{case}.txt", content, "text/plain"))],
        data={"csrf": csrf.group(1), "request_id": fresh.group(1), "message": "Siehe Anhang"})
    assert response.status_code == 303, response.text


async def invoice(client: httpx.AsyncClient, case: str, auth: dict[str, str], day: int
                  ) -> str:
    """Time logged (one technician: a day of its own per ticket), resolved, invoiced."""
    logged = await client.post(f"/api/tickets/{case}/time", headers=auth, json={
        "start": f"2026-11-{day:02d}T17:50:00+01:00",
        "end": f"2026-11-{day:02d}T18:20:00+01:00", "kind": "work",
        "note": "Drucker repariert"})
    assert logged.status_code == 201, logged.text
    resolved = await client.post(f"/api/tickets/{case}/resolve", headers=auth,
                                 json={"resolution": "druckt wieder"})
    assert resolved.status_code == 200, resolved.text
    issued = await client.post(f"/api/tickets/{case}/invoice", headers=auth)
    assert issued.status_code == 201, issued.text
    return str(issued.json()["invoice_number"])


async def keep_submitting(client: httpx.AsyncClient, stop: asyncio.Event) -> int:
    """The busy part: new requests until the backup is done."""
    serial = 1000
    while not stop.is_set():
        await submit(client, serial)
        serial += 1
        await asyncio.sleep(0.05)  # about 20 a second at most
    return serial - 1000


async def messages(nc: NatsClient, stream: str) -> list[tuple[Any, ...]]:
    """Every message of a stream as stored, deleted sequences as gaps."""
    js = nc.jetstream(timeout=10)
    info = await js.stream_info(stream)
    found: list[tuple[Any, ...]] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            found.append((seq, None))
            continue
        found.append((seq, msg.subject, msg.hdrs, msg.data, msg.time))
    return found


async def everything(nc: NatsClient) -> dict[str, list[tuple[Any, ...]]]:
    return {name: await messages(nc, name) for name in sorted(await stream_names(nc))}


async def files_of(store: EventStore) -> dict[str, str]:
    """sha256 -> case of every file an event of the log refers to."""
    refs: dict[str, str] = {}
    async for recorded in store.replay(until_end=True):
        if isinstance(recorded.event, ev.TechnicianResponded):
            refs.update({a.sha256: recorded.ticket_id for a in recorded.event.attachments})
    return refs


@contextlib.asynccontextmanager
async def new_target(kind: str, folder: Path) -> AsyncIterator[list[str]]:
    """An empty single server or three-node cluster; its client URLs."""
    if kind == "R1":
        single = EmbeddedNats(folder / "single")
        await asyncio.to_thread(single.start)
        try:
            yield [single.url]
        finally:
            await asyncio.to_thread(single.stop)
        return
    cluster = NatsCluster(folder / "cluster")
    await asyncio.to_thread(cluster.start)
    try:
        yield cluster.urls
    finally:
        await asyncio.to_thread(cluster.stop)


async def test_a_busy_system_backed_up_restores_on_three_nodes_and_on_one(
        settings: Settings, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    token, token_hash = new_token()
    auth = {"Authorization": f"Bearer {token}"}
    settings = drill_settings(settings, smtp_sink, tmp_path, token_hash)
    backup = tmp_path / "backup"
    async with serving(settings) as (system, client):
        cases = [await submit(client, serial) for serial in range(SETTLED_TICKETS)]
        assert (await post_login(client, "anna", PASSWORD)).status_code == 303
        session = client.cookies[SESSION_COOKIE]
        for case in cases[:INVOICED]:
            await answer_with_a_file(client, case, f"Protokoll {case}\n".encode())
        numbers = [await invoice(client, case, auth, day=10 + index)
                   for index, case in enumerate(cases[:INVOICED])]
        documents = {n: (await client.get(f"/api/invoices/{n}.xml", headers=auth)).content
                     for n in numbers}
        stop = asyncio.Event()
        load = asyncio.create_task(keep_submitting(client, stop))
        made, seconds = await asyncio.to_thread(
            run, "backup", str(backup), TICKETCORE_NATS__URL=settings.nats.url or "",
            TICKETCORE_DATA_DIR=str(tmp_path / "cli"))
        stop.set()
        submitted_meanwhile = await load
        assert made.returncode == 0, made.stderr
        source = system.runtime.nc
        source_log = await messages(source, STREAM)
        source_files = {sha: await read_attachment(source.jetstream(), sha)
                        for sha in await files_of(system.runtime.store)}
    copies = {copy.name: copy for copy in read_manifest(backup)}
    print(f"\nbackup of {len(copies)} streams ({copies[STREAM].messages} events) took "
          f"{seconds:.2f} s while {submitted_meanwhile} requests came in")
    restored: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
    for kind, replicas in (("R3", 3), ("R1", 1)):
        async with new_target(kind, tmp_path / kind) as urls:
            url = ",".join(urls)
            loaded, seconds = await asyncio.to_thread(
                run, "restore", str(backup), "--replicas", str(replicas),
                TICKETCORE_NATS__URL=url, TICKETCORE_DATA_DIR=str(tmp_path / "cli"))
            assert loaded.returncode == 0, loaded.stderr
            print(f"restore into {kind} took {seconds:.2f} s")
            # As restored, before any service writes to it.
            reader = await nats.connect(servers=urls)
            restored[kind] = await everything(reader)
            infos = [await reader.jetstream().stream_info(name) for name in restored[kind]]
            await reader.close()
            assert {info.config.num_replicas for info in infos} == {replicas}
            if kind == "R1":
                continue  # the same as R3 in every stream (below), where the system runs
            target = settings.model_copy(update={"nats": settings.nats.model_copy(
                update={"url": url, "replicas": replicas})})
            async with serving(target) as (system, client):
                await check_restored(system, client, copies[STREAM].last_seq,
                                     source_log, source_files, documents, session, auth)
    # Every stream, bucket and object store, message for message (so what the system on
    # R3 showed holds on R1 too), and each stream with the replicas asked for.
    assert restored["R3"] == restored["R1"]


async def check_restored(system: RunningSystem, client: httpx.AsyncClient,
                         last_seq: int, source_log: list[tuple[Any, ...]],
                         source_files: dict[str, bytes], documents: dict[str, bytes],
                         session: str, auth: dict[str, str]) -> None:
    nc = system.runtime.nc
    # The log, message for message, as far as the backup reached.
    assert (await messages(nc, STREAM))[:last_seq] == source_log[:last_seq]
    # Every file an answer refers to.
    for sha, case in (await files_of(system.runtime.store)).items():
        assert await read_attachment(nc.jetstream(), sha) == source_files[sha], case
    # Every invoice renders the same document.
    for number, document in documents.items():
        shown = await client.get(f"/api/invoices/{number}.xml", headers=auth)
        assert shown.status_code == 200 and shown.content == document, number
    # The session from before the backup, and the account itself.
    client.cookies.set(SESSION_COOKIE, session)
    console = await client.get("/console")
    assert console.status_code == 200 and "anna" in console.text.lower(), console.text
    client.cookies.clear()
    assert (await post_login(client, "anna", PASSWORD)).status_code == 303
    # It goes on where the backup stopped: numbers never given before.
    known = {m[1].split(".")[1] for m in source_log[:last_seq] if m[1] is not None}
    case = await submit(client, 5000)
    assert case not in known
    issued = await invoice(client, case, auth, day=25)
    assert issued not in documents
