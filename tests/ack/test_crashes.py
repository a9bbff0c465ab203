"""Exactly one receipt when the ack service is killed in the middle of a send.

The service runs in a child process that ``os._exit``s at a chosen step; then a fresh
service (the restart) picks the unacknowledged event up again."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from services.ack.receipt import receipt_message_id
from services.ack.service import DURABLE
from shared.adapters.eventstore import STREAM, EventStore
from shared.domain import events as ev
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.ack.crashing_ack import CRASH_EXIT_CODE
from tests.ack.helpers import events_of, wait_for_event, wait_until, with_smtp
from tests.factories import request_submitted
from tests.support import SmtpSink, consumers_idle

ROOT = Path(__file__).resolve().parents[2]
OnAccepted = Callable[[str, int], Awaitable[None]]


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKETCORE_")}
    return env | {
        "PYTHONPATH": str(ROOT),
        "TICKETCORE_NATS__URL": str(settings.nats.url),
        "TICKETCORE_DATA_DIR": str(settings.data_dir),
        "TICKETCORE_SECRET_KEY": settings.secret_key,
        "TICKETCORE_HTTP__PORT": "0",
        "TICKETCORE_SMTP__HOST": str(settings.smtp.host),
        "TICKETCORE_SMTP__PORT": str(settings.smtp.port),
        "TICKETCORE_SMTP__SECURITY": settings.smtp.security,
        "TICKETCORE_ACK__ACK_WAIT_S": str(settings.ack.ack_wait_s),
        "TICKETCORE_ACK__CLAIM_TIMEOUT_S": str(settings.ack.claim_timeout_s),
        "TICKETCORE_ACK__RETRY_BACKOFF_S": "[0.2]",
    }


async def crash_during_send(settings: Settings, store: EventStore, step: str,
                            tmp_path: Path, *, while_sending: OnAccepted | None = None) -> str:
    """Run the service in a child, submit one request, let the child die at ``step``.
    ``while_sending`` runs once the SMTP server has the mail, while the child waits."""
    pause = ["2.0"] if while_sending is not None else []
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ack.crashing_ack", step, *pause, cwd=tmp_path,
        env=environment(settings), stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 30)
        assert line.strip() == b"ready"
        request = request_submitted(at=datetime.now(UTC))
        version = await store.append(request.case_number, [request], 0)
        if while_sending is not None:
            await while_sending(request.case_number, version)
        assert await asyncio.wait_for(child.wait(), 30) == CRASH_EXIT_CODE
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    return request.case_number


def crash_settings(settings: Settings, sink: SmtpSink) -> Settings:
    return with_smtp(settings, sink.port, ack_wait_s=1.0, claim_timeout_s=2.0)


async def test_killed_after_marking_the_claim_before_append_sends_one_mail(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    """The ticket changed while the mail was being sent, so AckSent did not land at once:
    the claim is marked sent, and the replica dies before AckSent is appended."""
    settings = crash_settings(settings, smtp_sink)

    async def another_writer_appends(case: str, version: int) -> None:
        await wait_until(lambda: len(smtp_sink.messages) == 1)
        await store.append(case, [ev.TechnicianResponded(at=datetime.now(UTC),
                                                         technician="anna")], version)

    case = await crash_during_send(settings, store, "marked", tmp_path,
                                   while_sending=another_writer_appends)
    assert len(smtp_sink.messages) == 1  # the mail left ...
    assert await events_of(store, case, ev.AckSent) == []  # ... but was not recorded
    async with running_system(settings, ("ack",)) as system:  # the restart
        [sent] = await wait_for_event(store, case, ev.AckSent)
        assert await consumers_idle(system.runtime.js, STREAM, [DURABLE])
    assert len(smtp_sink.messages) == 1
    assert sent.message_id == smtp_sink.messages[0]["Message-ID"]


def expected_id(settings: Settings, case: str) -> str:
    return receipt_message_id(case, settings.inbound_mail.support_address, settings.secret_key)


async def test_killed_before_the_server_took_the_mail_sends_it_after_restart(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    settings = crash_settings(settings, smtp_sink)
    case = await crash_during_send(settings, store, "claimed", tmp_path)
    assert smtp_sink.messages == []
    async with running_system(settings, ("ack",)) as system:
        # The dead replica's claim must go stale (claim timeout) before anyone resends.
        [sent] = await wait_for_event(store, case, ev.AckSent)
        assert await consumers_idle(system.runtime.js, STREAM, [DURABLE])
    assert len(smtp_sink.messages) == 1
    assert sent.message_id == expected_id(settings, case)


async def test_killed_inside_the_acceptance_window_resends_with_the_same_message_id(
        settings: Settings, store: EventStore, smtp_sink: SmtpSink, tmp_path: Path) -> None:
    """The one documented window (docs/ack.md): the server took the mail but the claim
    was not yet marked. The resend carries the same Message-ID, so receivers and our own
    reply matching see one mail."""
    settings = crash_settings(settings, smtp_sink)
    case = await crash_during_send(settings, store, "accepted", tmp_path)
    async with running_system(settings, ("ack",)) as system:
        [sent] = await wait_for_event(store, case, ev.AckSent)
        assert await consumers_idle(system.runtime.js, STREAM, [DURABLE])
    ids = {m["Message-ID"] for m in smtp_sink.messages}
    assert len(smtp_sink.messages) == 2 and ids == {expected_id(settings, case)}
    assert sent.message_id == expected_id(settings, case)
    assert len(await events_of(store, case, ev.AckSent)) == 1
