"""Without an SMTP server: the embedded mail catcher keeps receipts, /outbox shows them."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from shared.adapters.eventstore import EventStore
from shared.adapters.mailcatcher import OutboxMailNotFound, list_outbox, read_outbox
from shared.domain import events as ev
from shared.runtime.app import running_system
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


NASTY_NAMES = ["..", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "x.eml", "%00.eml", "a" * 300,
               "20260101T000000000000Z-" + "0" * 32 + ".eml%2F..", "%C3%A4.eml"]


async def test_bad_mail_names_get_a_clear_404(settings: Settings) -> None:
    async with running_system(settings, ("ack",)) as system, \
            serve_app(system.http_app()) as base, httpx.AsyncClient() as client:
        responses = [await client.get(f"{base}/outbox/{name}") for name in NASTY_NAMES]
    assert [r.status_code for r in responses] == [404] * len(NASTY_NAMES)


@given(st.text(max_size=120))
def test_reading_any_name_finds_a_kept_mail_or_says_none(name: str) -> None:
    outbox = Path(tempfile.gettempdir()) / "ticketcore-test-outbox-never-written"
    try:
        read_outbox(outbox, name)
    except OutboxMailNotFound:
        return
    raise AssertionError(f"{name!r} was read from an empty outbox")
