"""Without an SMTP server: the embedded mail catcher keeps receipts, /outbox shows them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from shared.adapters.eventstore import EventStore
from shared.adapters.mailcatcher import OutboxMailNotFound, list_outbox, read_outbox
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.runtime.cli import main
from shared.settings import Settings
from tests.ack.helpers import wait_for_event
from tests.factories import request_submitted
from tests.support import serve_app


async def test_receipt_lands_in_the_outbox_and_is_shown(settings: Settings,
                                                        store: EventStore) -> None:
    assert settings.smtp.host is None
    request = request_submitted(at=datetime.now(UTC))
    request = replace(request, short_description="Drucker <b>kaputt</b>")
    async with running_system(settings, ("ack",)) as system:
        [service] = system.services
        assert any("/outbox" in line for line in service.announce())  # type: ignore[attr-defined]
        await store.append(request.case_number, [request], 0)
        [sent] = await wait_for_event(store, request.case_number, ev.AckSent)
        async with serve_app(system.http_app()) as base, httpx.AsyncClient() as client:
            listing = await client.get(f"{base}/outbox")
            [entry] = list_outbox(settings.data_dir / "outbox")
            shown = await client.get(f"{base}/outbox/{entry.name}")
            missing = await client.get(f"{base}/outbox/20260101T000000000000Z-{'0' * 32}.eml")
            sneaky = await client.get(f"{base}/outbox/..%2F..%2Fsecret.eml")
    eml_files = list(Path(settings.data_dir / "outbox").glob("*.eml"))
    assert len(eml_files) == 1 and sent.message_id.encode() in eml_files[0].read_bytes()
    assert listing.status_code == 200 and f"[SA#{request.case_number}]" in listing.text
    assert "kunde@example.de" in listing.text and entry.name in listing.text
    assert "<b>kaputt</b>" not in listing.text and "&lt;b&gt;kaputt&lt;/b&gt;" in listing.text
    assert shown.status_code == 200 and "Guten Tag Erika Mustermann" in shown.text
    assert '<iframe sandbox=""' in shown.text and "<b>kaputt</b>" not in shown.text
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert missing.status_code == 404 and "no kept mail named" in missing.json()["detail"]
    assert sneaky.status_code == 404


async def test_outbox_is_off_when_real_smtp_is_configured(settings: Settings) -> None:
    settings = settings.model_copy(update={"smtp": settings.smtp.model_copy(
        update={"host": "127.0.0.1", "port": 1, "security": "none"})})
    async with running_system(settings, ("ack",)) as system, \
            serve_app(system.http_app()) as base, httpx.AsyncClient() as client:
        response = await client.get(f"{base}/outbox")
    assert response.status_code == 404 and "TICKETCORE_SMTP__HOST" in response.json()["detail"]
    assert not (settings.data_dir / "outbox").exists()


SECRET = b"Subject: secret\r\n\r\nTOP-SECRET-MARKER must never be served\r\n"
KEPT = "20260101T000000000000Z-" + "a" * 32 + ".eml"
# Names that reach a file outside the outbox folder when joined to its path as they are.
TRAVERSALS = ["../secret.eml", "../../secret.eml", "../" + KEPT, "./../secret.eml"]
NASTY_NAMES = ["..", "%2e%2e%2fsecret.eml", "..%2Fsecret.eml", "%2e%2e%2f" + KEPT,
               "%2e%2e%2f%2e%2e%2fsecret.eml", "x.eml", "%00.eml", "a" * 300,
               KEPT + "%2F..", "%C3%A4.eml", "secret.eml", "..%5Csecret.eml"]


def plant_secrets(data_dir: Path) -> Path:
    """A kept mail in the outbox, and secrets (one with a valid mail name) where a
    traversal out of the outbox would land. Returns the outbox folder."""
    outbox = data_dir / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    (outbox / KEPT).write_bytes(b"Subject: kept\r\n\r\nthe kept mail\r\n")
    for folder in (data_dir, data_dir.parent):
        (folder / "secret.eml").write_bytes(SECRET)
    (data_dir / KEPT).write_bytes(SECRET)
    return outbox


async def test_bad_mail_names_get_a_clear_404_and_never_a_file_outside(
        settings: Settings) -> None:
    plant_secrets(settings.data_dir)
    async with running_system(settings, ("ack",)) as system, \
            serve_app(system.http_app()) as base, httpx.AsyncClient() as client:
        kept = await client.get(f"{base}/outbox/{KEPT}")
        responses = [await client.get(f"{base}/outbox/{name}") for name in NASTY_NAMES]
    assert kept.status_code == 200 and "the kept mail" in kept.text  # the folder is served
    assert [r.status_code for r in responses] == [404] * len(NASTY_NAMES)
    assert not any("TOP-SECRET-MARKER" in r.text for r in responses)


def test_traversal_names_never_read_a_file_outside_the_outbox(tmp_path: Path) -> None:
    outbox = plant_secrets(tmp_path / "data")
    assert read_outbox(outbox, KEPT)["Subject"] == "kept"
    for name in [*TRAVERSALS, str(tmp_path / "data" / "secret.eml")]:
        assert (outbox / name).exists()  # the secret is really there ...
        try:
            read_outbox(outbox, name)
        except OutboxMailNotFound:
            continue  # ... and not read
        raise AssertionError(f"{name!r} was read from outside the outbox")


@given(st.one_of(st.text(max_size=120),
                 st.builds(lambda prefix, name: prefix + name,
                           st.sampled_from(["", "../", "../../", "./", "/", "..\\"]),
                           st.sampled_from(["secret.eml", KEPT, KEPT.upper(), KEPT + "\n",
                                            KEPT[:-4], " " + KEPT]))))
def test_reading_any_name_finds_the_kept_mail_or_says_none(
        tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    outbox = plant_secrets(tmp_path_factory.getbasetemp() / "outbox-property" / "data")
    try:
        message = read_outbox(outbox, name)
    except OutboxMailNotFound:
        assert name != KEPT
        return
    assert name == KEPT and message["Subject"] == "kept", f"{name!r} read {message['Subject']}"


async def test_erasing_the_customer_deletes_their_mails_from_the_outbox(
        settings: Settings, store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = request_submitted(at=datetime.now(UTC), case_number="20261127000015",
                             email="weg@kunde.example")
    other = request_submitted(at=datetime.now(UTC), case_number="20261127000023",
                              email="bleibt@kunde.example")
    async with running_system(settings, ("ack",)):
        for request in (mine, other):
            await store.append(request.case_number, [request], 0)
            await wait_for_event(store, request.case_number, ev.AckSent)
    assert len(list_outbox(settings.data_dir / "outbox")) == 2
    monkeypatch.setenv("TICKETCORE_NATS__URL", str(settings.nats.url))
    monkeypatch.setenv("TICKETCORE_DATA_DIR", str(settings.data_dir))
    code = await asyncio.to_thread(main, ["customer", "erase", "--email", "weg@kunde.example",
                                          "--by", "dsb@msp.example"])
    assert code == 0
    [kept] = list_outbox(settings.data_dir / "outbox")
    assert "bleibt@kunde.example" in kept.recipients
