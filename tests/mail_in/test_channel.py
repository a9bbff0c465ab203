"""The mail channel end to end: real SMTP/LMTP sessions on loopback into the listener, real
nats-server behind it (event store and object store)."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import AsyncIterator
from email.message import EmailMessage

import aiosmtplib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient

from services.intake.mail import InboundMailChannel
from services.intake.mail.handler import InboundMailHandler
from shared.adapters.attachments import AttachmentNotFound, read_attachment
from shared.adapters.eventstore import EventStore, RecordedEvent
from shared.adapters.natsserver import free_port
from shared.domain import events as ev
from shared.domain.casenumber import with_check_digit
from shared.domain.ticket.state import fold
from shared.runtime.accounts import AccountStore
from shared.runtime.runtime import Runtime
from shared.settings import Settings as TicketcoreSettings
from tests.mail_in.mails import (
    CASE,
    CUSTOMER,
    PDF,
    PNG,
    RECEIPT_ID,
    SUPPORT,
    reply,
    ticket_with_receipt,
)

MAX_BYTES = 300_000


@pytest.fixture
async def channel(settings: TicketcoreSettings, nc: NatsClient, store: EventStore
                  ) -> AsyncIterator[InboundMailChannel]:
    inbound = settings.inbound_mail.model_copy(update={
        "smtp_port": free_port(), "lmtp_port": free_port(), "support_address": SUPPORT,
        "max_message_bytes": MAX_BYTES, "max_header_bytes": 20_000, "max_mime_parts": 20})
    runtime = Runtime(settings=settings.model_copy(update={"inbound_mail": inbound}), nc=nc,
                      js=nc.jetstream(), store=store, accounts=AccountStore(),
                      nats_url="unused")
    channel = InboundMailChannel(runtime)
    await channel.start()
    await store.append(CASE, ticket_with_receipt(), 0)
    try:
        yield channel
    finally:
        await channel.stop()


async def send(channel: InboundMailChannel, message: EmailMessage | bytes, *,
               sender: str = CUSTOMER, recipient: str = SUPPORT) -> str:
    """Deliver by SMTP; return the server's final reply ("250 ..." or the refusal)."""
    try:
        _, response = await aiosmtplib.send(
            message, sender=sender, recipients=[recipient], hostname="127.0.0.1",
            port=channel.settings.smtp_port, start_tls=False, timeout=10)
    except aiosmtplib.SMTPRecipientsRefused as refused:
        error = refused.recipients[0]
        return f"{error.code} {error.message}"
    except aiosmtplib.SMTPResponseException as error:
        return f"{error.code} {error.message}"
    return f"250 {response}"


async def events_of(store: EventStore, ticket: str) -> list[ev.Event]:
    return [recorded.event for recorded in (await store.load(ticket)).events]


async def all_events(store: EventStore) -> list[RecordedEvent]:
    return [recorded async for recorded in store.replay()]


async def test_reply_with_pdf_and_png_lands_on_its_ticket_with_identical_files(
        channel: InboundMailChannel, store: EventStore, nc: NatsClient) -> None:
    message = reply(f"AW: [SA#{CASE}] Drucker druckt nicht",
                    text="Anbei die Fotos.\n\nAm 25.11.2026 um 10:00 schrieb Support "
                         f"<{SUPPORT}>:\n> Ihre Anfrage ist eingegangen.\n",
                    files=(("Fehler.pdf", "application/pdf", PDF),
                           ("screen.png", "image/png", PNG)))
    assert (await send(channel, message)).startswith("250")

    replies = [e for e in await events_of(store, CASE) if isinstance(e, ev.CustomerReplied)]
    assert len(replies) == 1
    assert replies[0].text == "Anbei die Fotos."  # quoted history trimmed
    assert replies[0].sender == CUSTOMER and not replies[0].redacted
    files = {ref.filename: ref for ref in replies[0].attachments}
    assert set(files) == {"Fehler.pdf", "screen.png"}
    assert files["Fehler.pdf"].content_type == "application/pdf"
    assert files["screen.png"].size == len(PNG)
    assert await read_attachment(nc.jetstream(), files["Fehler.pdf"].sha256) == PDF
    assert await read_attachment(nc.jetstream(), files["screen.png"].sha256) == PNG


async def test_redelivered_mail_is_recorded_once_and_files_stored_once(
        channel: InboundMailChannel, store: EventStore, nc: NatsClient) -> None:
    message = reply(files=(("Fehler.pdf", "application/pdf", PDF),))
    assert (await send(channel, message)).startswith("250")
    assert (await send(channel, message)).startswith("250")
    second = reply(message_id="<other@example.de>", files=(("kopie.pdf", "application/pdf", PDF),))
    assert (await send(channel, second)).startswith("250")

    replies = [e for e in await events_of(store, CASE) if isinstance(e, ev.CustomerReplied)]
    assert len(replies) == 2
    assert replies[0].attachments[0].sha256 == replies[1].attachments[0].sha256
    objects = await (await nc.jetstream().object_store("attachments")).list()
    assert len(objects) == 1


async def test_long_umlaut_subject_refolded_by_the_client_still_matches(
        channel: InboundMailChannel, store: EventStore) -> None:
    # The client re-encoded the subject and split the token across encoded words and lines.
    raw = (f"From: Erika <{CUSTOMER.upper()}>\r\nTo: {SUPPORT}\r\n"
           "Message-ID: <folded@example.de>\r\n"
           f"In-Reply-To: {RECEIPT_ID}\r\n"
           "Subject: =?UTF-8?Q?AW:_WG:_Der_Dr=C3=BCcker_im_B=C3=BCro_gr=C3=BC?=\r\n"
           " =?UTF-8?Q?n_druckt_=C3=BCberhaupt_nicht_mehr_[SA#" + CASE[:7] + "?=\r\n"
           "\t=?UTF-8?Q?" + CASE[7:] + "]_Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
           "Content-Type: text/plain; charset=iso-8859-15\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + "Grüße\r\n".encode("iso-8859-15")
    assert (await send(channel, raw)).startswith("250")
    replies = [e for e in await events_of(store, CASE) if isinstance(e, ev.CustomerReplied)]
    assert len(replies) == 1
    assert replies[0].subject.startswith("AW: WG: Der Drücker im Büro grün druckt")
    assert replies[0].text == "Grüße"


async def test_reply_found_by_references_when_the_token_is_gone(
        channel: InboundMailChannel, store: EventStore) -> None:
    message = reply("AW: Drucker", In_Reply_To=RECEIPT_ID)
    assert (await send(channel, message)).startswith("250")
    assert fold(await events_of(store, CASE)).reply_count == 1


async def test_stranger_with_a_valid_number_is_quarantined_on_the_ticket(
        channel: InboundMailChannel, store: EventStore) -> None:
    message = reply(sender="fremder@evil.example", text="Überweisen Sie bitte.")
    assert (await send(channel, message, sender="fremder@evil.example")).startswith("250")
    events = await events_of(store, CASE)
    assert not any(isinstance(e, ev.CustomerReplied) for e in events)
    quarantined = [e for e in events if isinstance(e, ev.ReplyQuarantined)]
    assert len(quarantined) == 1
    assert quarantined[0].sender == "fremder@evil.example"
    assert quarantined[0].candidate_case_number == CASE
    assert "sender" in quarantined[0].reason and "Überweisen" in quarantined[0].text


@pytest.mark.parametrize("number", [
    CASE[:-2] + CASE[-1] + CASE[-2],            # mistyped: neighbouring digits swapped
    with_check_digit("2026112600099"),          # valid, but no such ticket
])
async def test_mistyped_or_unknown_number_is_quarantined_apart(
        channel: InboundMailChannel, store: EventStore, number: str) -> None:
    message = reply(f"AW: [SA#{number}] Drucker",
                    files=(("Fehler.pdf", "application/pdf", PDF),))
    assert (await send(channel, message)).startswith("250")
    assert (await send(channel, message)).startswith("250")  # redelivered: still once
    assert not any(isinstance(e, ev.CustomerReplied) for e in await events_of(store, CASE))
    quarantined = [r for r in await all_events(store)
                   if isinstance(r.event, ev.ReplyQuarantined)]
    assert len(quarantined) == 1
    assert quarantined[0].ticket_id.startswith("Q") and quarantined[0].ticket_id != CASE
    event = quarantined[0].event
    assert isinstance(event, ev.ReplyQuarantined)
    assert event.candidate_case_number == number
    assert [ref.filename for ref in event.attachments] == ["Fehler.pdf"]


async def test_out_of_office_reply_is_recorded_but_is_no_customer_reply(
        channel: InboundMailChannel, store: EventStore) -> None:
    message = reply(f"Automatische Antwort: AW: [SA#{CASE}] Drucker druckt nicht",
                    text="Ich bin bis 30.11. nicht im Büro.", Auto_Submitted="auto-replied")
    assert (await send(channel, message)).startswith("250")
    events = await events_of(store, CASE)
    auto = [e for e in events if isinstance(e, ev.AutoReplyRecorded)]
    assert len(auto) == 1 and "auto-replied" in auto[0].reason
    assert fold(events).reply_count == 0
    assert not any(isinstance(e, ev.CustomerReplied | ev.ReplyQuarantined) for e in events)


async def test_bounce_of_the_receipt_is_recorded_on_its_ticket(
        channel: InboundMailChannel, store: EventStore) -> None:
    bounce = reply("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@mx.example.de",
                   text="The mail could not be delivered.")
    bounce.add_attachment(f"Message-ID: <receipt.{CASE}@example.com>\r\n".encode(),
                          maintype="text", subtype="rfc822-headers")
    bounce.replace_header("Content-Type", str(bounce["Content-Type"]).replace(
        "multipart/mixed", "multipart/report; report-type=delivery-status"))
    assert (await send(channel, bounce, sender="")).startswith("250")
    auto = [e for e in await events_of(store, CASE) if isinstance(e, ev.AutoReplyRecorded)]
    assert len(auto) == 1 and "delivery-status" in auto[0].reason


async def test_a_password_in_a_reply_is_redacted_before_it_is_stored(
        channel: InboundMailChannel, store: EventStore) -> None:
    message = reply(text="Der Zugang zum NAS: Benutzer admin, Passwort: Sommer2026!x\nDanke")
    assert (await send(channel, message)).startswith("250")
    [replied] = [e for e in await events_of(store, CASE) if isinstance(e, ev.CustomerReplied)]
    assert "Sommer2026!x" not in replied.text
    assert replied.redacted and "Danke" in replied.text


async def test_lmtp_delivery_behind_an_mta(channel: InboundMailChannel,
                                           store: EventStore) -> None:
    message = reply(text="per LMTP")

    def deliver() -> dict[str, tuple[int, bytes]]:
        with smtplib.LMTP("127.0.0.1", channel.settings.lmtp_port, timeout=10) as client:
            return client.send_message(message, from_addr=CUSTOMER, to_addrs=[SUPPORT])

    assert await asyncio.to_thread(deliver) == {}
    replies = [e for e in await events_of(store, CASE) if isinstance(e, ev.CustomerReplied)]
    assert [r.text for r in replies] == ["per LMTP"]


async def test_unknown_recipient_is_refused(channel: InboundMailChannel) -> None:
    assert (await send(channel, reply(), recipient="sonstwer@example.com")).startswith("550")


async def test_hostile_mail_gets_clean_smtp_errors_and_the_listener_keeps_working(
        channel: InboundMailChannel, store: EventStore) -> None:
    port = channel.settings.smtp_port
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) as client:
        # A zip bomb announced by its size is refused before any data is sent.
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:
            await client.mail(CUSTOMER, options=[f"SIZE={10**12}"])
        assert declared.value.code == 552
    too_big = reply(files=(("big.bin", "application/octet-stream", b"\0" * MAX_BYTES),))
    assert (await send(channel, too_big)).startswith("552")
    huge_headers = reply(**{f"X_Filler_{i}": "x" * 900 for i in range(40)})
    assert (await send(channel, huge_headers)).startswith("552")
    many_parts = reply(files=tuple((f"{i}.txt", "application/octet-stream", b"x")
                                   for i in range(30)))
    assert (await send(channel, many_parts)).startswith("554")
    # Broken MIME and invalid charsets: the text is salvaged, nothing is lost or crashes.
    broken = (f"From: {CUSTOMER}\r\nSubject: =?x-invalid?q?[SA#{CASE}]?=\r\n"
              f"In-Reply-To: {RECEIPT_ID}\r\n"
              "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
              "--nope\r\nContent-Type: text/plain; charset=\"bogus\"\r\n\r\nGr\xfc\xdfe\r\n"
              ).encode("latin-1")
    assert (await send(channel, broken)).startswith("250")
    [salvaged] = [e for e in await events_of(store, CASE) if isinstance(e, ev.CustomerReplied)]
    assert "Grüße" in salvaged.text
    garbage = b"From: \xff\xfe\r\nSubject: \x00\x01=?utf-8?b?!!?=\r\n\r\n\x80\x81\r\n"
    assert (await send(channel, garbage)).startswith("250")
    quarantined = [r for r in await all_events(store) if isinstance(r.event, ev.ReplyQuarantined)]
    assert len(quarantined) == 1 and quarantined[0].ticket_id.startswith("Q")

    assert (await send(channel, reply(text="noch da?"))).startswith("250")
    assert fold(await events_of(store, CASE)).reply_count == 2


async def test_log_unreachable_answers_temporary_failure(channel: InboundMailChannel,
                                                         nc: NatsClient) -> None:
    await nc.close()
    assert (await send(channel, reply())).startswith("451")


async def test_read_attachment_refuses_unknown_and_malformed_hashes(
        channel: InboundMailChannel, nc: NatsClient) -> None:
    with pytest.raises(AttachmentNotFound):
        await read_attachment(nc.jetstream(), "0" * 64)
    with pytest.raises(AttachmentNotFound):
        await read_attachment(nc.jetstream(), "../etc/passwd")


_mail_lines = st.lists(st.sampled_from([
    f"From: {CUSTOMER}".encode(), b"From: \xff@\xfe", f"Subject: AW: [SA#{CASE}]".encode(),
    b"Subject: =?utf-8?q?=C3?= [SA#1]", b"Content-Type: multipart/mixed; boundary=x",
    b"--x", b"--x--", b"Content-Type: text/html; charset=bogus", b"Message-ID: <m@x>",
    b"Content-Transfer-Encoding: base64", b"Content-Disposition: attachment; filename=a",
    f"In-Reply-To: <receipt.{CASE}@example.com>".encode(), b"", b"<p>\xe4</p>", b"+2D0-",
    b"Auto-Submitted: auto-replied",
]), max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=_mail_lines, tail=st.binary(max_size=100))
async def test_any_mail_gets_a_final_answer_never_a_temporary_error(
        channel: InboundMailChannel, store: EventStore, lines: list[bytes], tail: bytes) -> None:
    handler = InboundMailHandler(store, channel.attachments, channel.settings)
    status = await handler.receive(b"\r\n".join(lines) + b"\r\n" + tail, CUSTOMER)
    # 451 would mean the mail could not be stored: with the log up, that is a bug.
    assert status[:3] in ("250", "552", "554"), status


# -- trust: the customer's words need evidence (docs/mail-in.md, "Trust") -------------------


async def test_forged_from_of_the_customer_with_a_foreign_envelope_is_held(
        channel: InboundMailChannel, store: EventStore) -> None:
    # The measured attack: MAIL FROM attacker@evil.example, From: the real customer; it
    # even names the receipt. Answered 250 (nothing tells the attacker), held, not a reply.
    forged = reply(text="Bitte überweisen Sie an DE00 1234.")
    assert (await send(channel, forged, sender="attacker@evil.example")).startswith("250")
    events = await events_of(store, CASE)
    assert not any(isinstance(e, ev.CustomerReplied) for e in events)
    [held] = [e for e in events if isinstance(e, ev.ReplyHeld)]
    assert (held.sender, held.envelope_sender) == (CUSTOMER, "attacker@evil.example")
    assert held.reason == "the envelope sender is not in the From address's domain"
    assert held.text == "Bitte überweisen Sie an DE00 1234."
    assert fold(events).pending_mails == (held,)


async def test_a_reply_naming_no_mail_of_ours_is_held_without_a_trusted_relay(
        channel: InboundMailChannel, store: EventStore) -> None:
    forged_verdict = "mx.msp.example; dmarc=pass header.from=example.de"
    message = reply(In_Reply_To="<guessed@example.com>", Authentication_Results=forged_verdict)
    assert (await send(channel, message)).startswith("250")
    events = await events_of(store, CASE)
    assert [type(e) for e in events][2:] == [ev.ReplyHeld]


@pytest.fixture
async def relayed(settings: TicketcoreSettings, nc: NatsClient, store: EventStore
                  ) -> AsyncIterator[InboundMailChannel]:
    """The listener behind a mail server on 127.0.0.1 whose verdicts it trusts."""
    inbound = settings.inbound_mail.model_copy(update={
        "smtp_port": free_port(), "support_address": SUPPORT,
        "trusted_relays": ["127.0.0.1/32"], "trusted_authserv_ids": ["mx.msp.example"]})
    runtime = Runtime(settings=settings.model_copy(update={"inbound_mail": inbound}), nc=nc,
                      js=nc.jetstream(), store=store, accounts=AccountStore(),
                      nats_url="unused")
    channel = InboundMailChannel(runtime)
    await channel.start()
    await store.append(CASE, ticket_with_receipt(), 0)
    try:
        yield channel
    finally:
        await channel.stop()


@pytest.mark.parametrize(("verdicts", "attached"), [
    (["mx.msp.example; dkim=pass header.d=example.de; dmarc=pass header.from=example.de"],
     True),
    (["mx.msp.example 1; dmarc=pass (p=reject) header.from=example.de"], True),
    (["mx.msp.example; dmarc=fail header.from=example.de"], False),
    (["mx.msp.example; spf=pass smtp.mailfrom=kunde@example.de"], False),
    (["other.example; dmarc=pass header.from=example.de"], False),  # not our relay's
    # Only the topmost field is the relay's own: one further down was in the mail already.
    (["mx.msp.example; dmarc=fail header.from=example.de",
      "mx.msp.example; dmarc=pass header.from=example.de"], False),
])
async def test_a_trusted_relays_dmarc_pass_authenticates_a_reply(
        relayed: InboundMailChannel, store: EventStore, verdicts: list[str],
        attached: bool) -> None:
    message = reply(In_Reply_To="<elsewhere@example.de>")
    for verdict in verdicts:
        message["Authentication-Results"] = verdict
    assert (await send(relayed, message)).startswith("250")
    events = await events_of(store, CASE)
    assert [type(e) for e in events][2:] == [ev.CustomerReplied if attached else ev.ReplyHeld]
