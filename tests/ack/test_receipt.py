"""The receipt mail's headers and content, built without I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from services.ack.receipt import (
    ReceiptSender,
    build_receipt,
    receipt_message_id,
    subject_text,
)
from shared.runtime.links import status_path, verify_status_token
from tests.factories import request_submitted

SECRET = "test-secret-0123456789abcdef"
SENDER = ReceiptSender(address="service@msp.example", name="Muster IT Support",
                       reply_to="auftrag@msp.example", public_url="https://support.example/",
                       secret_key=SECRET)
NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def roundtrip(message: EmailMessage) -> EmailMessage:
    """What a receiving mail client parses (bytes on the wire)."""
    return message_from_bytes(message.as_bytes(), policy=policy.default)  # type: ignore[return-value]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()  # type: ignore[attr-defined]


def test_german_receipt_headers_and_body() -> None:
    request = request_submitted(case_number="202611260000427")
    mail = roundtrip(build_receipt(request, SENDER, NOW))
    assert mail["Subject"] == "[SA#202611260000427] Drucker druckt nicht"
    assert mail["To"].addresses[0].addr_spec == "kunde@example.de"
    assert mail["To"].addresses[0].display_name == "Erika Mustermann"
    assert mail["From"].addresses[0].addr_spec == "service@msp.example"
    assert mail["From"].addresses[0].display_name == "Muster IT Support"
    assert mail["Reply-To"] == "auftrag@msp.example"
    assert re.fullmatch(r"<receipt\.202611260000427\.[0-9a-f]{24}@msp\.example>",
                        mail["Message-ID"])
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Content-Language"] == "de"
    assert mail["Date"].datetime == NOW
    text, html = parts(mail)
    assert "Guten Tag Erika Mustermann" in text and "202611260000427" in text
    assert "innerhalb eines Werktags" in text
    assert "keine Passwörter" in text and "keine Passwörter" in html
    assert "Betreffzeile mit [SA#202611260000427]" in text
    link = "https://support.example" + status_path(SECRET, "202611260000427")
    assert link in text and f'href="{link.replace("&", "&amp;")}"' in html


def test_english_receipt() -> None:
    request = request_submitted(language="en", case_number="202611260000427")
    mail = roundtrip(build_receipt(request, SENDER, NOW))
    assert mail["Content-Language"] == "en"
    text, html = parts(mail)
    assert text.startswith("Hello Erika Mustermann")
    assert "within one business day" in text and "do not send us passwords" in html
    assert "Guten Tag" not in text + html


def test_status_link_carries_a_valid_token_for_the_case() -> None:
    request = request_submitted(case_number="202611260000427")
    text, _ = parts(build_receipt(request, SENDER, NOW))
    url = next(line for line in text.splitlines() if "/status/" in line).strip()
    parsed = urlsplit(url)
    assert parsed.path == "/status/202611260000427"
    assert verify_status_token(SECRET, "202611260000427", parse_qs(parsed.query)["t"][0])
    assert not verify_status_token(SECRET, "202611260000428", parse_qs(parsed.query)["t"][0])


def test_what_happens_next_follows_priority_and_sla() -> None:
    urgent = replace(request_submitted(priority=True), reaction_minutes=120)
    no_sla = request_submitted(has_sla=False, priority=True)
    urgent_text, _ = parts(build_receipt(urgent, SENDER, NOW))
    no_sla_text, no_sla_html = parts(build_receipt(no_sla, SENDER, NOW))
    assert "Bereitschaftstechniker" in urgent_text and "120 Minuten" in urgent_text
    assert "Werktags" not in urgent_text
    assert "ob wir den Auftrag annehmen" in no_sla_text and "ob wir den Auftrag" in no_sla_html
    assert "Bereitschaftstechniker" not in no_sla_text


def test_customer_is_told_when_credentials_were_removed() -> None:
    plain = request_submitted()
    redacted = replace(plain, redacted_fields=("fault.error_message",))
    assert "Zugangsdaten. Wir haben sie" not in parts(build_receipt(plain, SENDER, NOW))[0]
    assert "Zugangsdaten. Wir haben sie" in parts(build_receipt(redacted, SENDER, NOW))[0]


def test_html_part_escapes_customer_text() -> None:
    request = replace(request_submitted(), short_description='<script>alert("x")</script>')
    text, html = parts(build_receipt(request, SENDER, NOW))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<script>alert("x")</script>' in text  # plain text stays as typed


def test_message_id_depends_only_on_the_ticket() -> None:
    request = request_submitted(case_number="202611260000427")
    first = build_receipt(request, SENDER, NOW)
    again = build_receipt(request, SENDER, datetime(2026, 11, 27, tzinfo=UTC))
    assert first["Message-ID"] == again["Message-ID"] == receipt_message_id(
        "202611260000427", "auftrag@msp.example", SECRET)
    other = build_receipt(request_submitted(case_number="202611260000435"), SENDER, NOW)
    assert other["Message-ID"] != first["Message-ID"]


def test_message_id_is_unguessable_without_the_secret_key() -> None:
    # A reply naming it is evidence that its writer got the receipt (docs/mail-in.md).
    mine = receipt_message_id("202611260000427", "auftrag@msp.example", SECRET)
    other_key = receipt_message_id("202611260000427", "auftrag@msp.example", "another key")
    tag = hmac.new(SECRET.encode(), b"message-id:receipt:202611260000427",
                   hashlib.sha256).digest()[:12].hex()
    assert mine == f"<receipt.202611260000427.{tag}@msp.example>" != other_key


@given(st.text(min_size=1, max_size=120))
def test_any_short_description_gives_a_one_line_subject_with_the_token(text: str) -> None:
    request = replace(request_submitted(case_number="202611260000427"), short_description=text)
    mail = roundtrip(build_receipt(request, SENDER, NOW))
    subject = str(mail["Subject"])
    assert subject.startswith("[SA#202611260000427]")
    assert "\n" not in subject and "\r" not in subject


@given(st.text(max_size=160))
def test_subject_text_is_one_line_of_at_most_80_characters(text: str) -> None:
    # Events written before the cut after redaction existed may hold longer descriptions.
    request = replace(request_submitted(case_number="202611260000427"), short_description=text)
    mail = roundtrip(build_receipt(request, SENDER, NOW))
    subject = str(mail["Subject"])
    assert subject.startswith("[SA#202611260000427] ") or subject == "[SA#202611260000427]"
    shown = subject.removeprefix("[SA#202611260000427]").removeprefix(" ")
    assert len(shown) <= 80
    assert not any(ch in shown for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    # The stdlib's header folding may drop a space between two encoded words.
    assert shown.replace(" ", "") == subject_text(text).replace(" ", "")


def test_a_long_redacted_description_is_shortened_with_an_ellipsis() -> None:
    text = " ".join(["PIN [REDACTED]"] * 7)
    request = replace(request_submitted(case_number="202611260000427"), short_description=text)
    subject = str(roundtrip(build_receipt(request, SENDER, NOW))["Subject"])
    assert subject == "[SA#202611260000427] " + "PIN [REDACTED] " * 5 + "PIN…"


def test_receipt_goes_out_as_seven_bit_lines_with_crlf() -> None:
    from services.ack.receipt import receipt_mail
    from shared.adapters.mailer import OutgoingMail

    request = replace(request_submitted(case_number="202611260000427"),
                      short_description="Drucker überhitzt — Lüfter laut")
    wire = receipt_mail(request, SENDER, NOW)
    assert isinstance(wire, OutgoingMail) and wire.recipients == ("kunde@example.de",)
    assert wire.data.isascii() and b"\n" not in wire.data.replace(b"\r\n", b"")
    assert max(len(line) for line in wire.data.split(b"\r\n")) <= 998
    assert str(roundtrip(build_receipt(request, SENDER, NOW))["Subject"]) == (
        "[SA#202611260000427] Drucker überhitzt — Lüfter laut")


# Names with control characters never pass the intake form; they are not generated here.
@given(st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60))
def test_any_contact_name_reaches_the_to_header_unchanged_or_safely(name: str) -> None:
    contact = replace(request_submitted().contact, first_name=name, last_name="")
    request = replace(request_submitted(case_number="202611260000427"), contact=contact)
    mail = roundtrip(build_receipt(request, SENDER, NOW))
    assert mail["To"].addresses[0].addr_spec == "kunde@example.de"
    assert mail["Subject"].startswith("[SA#202611260000427]")
    shown = name.strip()
    if shown.isprintable() and "  " not in shown:
        # As with the subject, the stdlib's parser may add a space between encoded words.
        assert mail["To"].addresses[0].display_name.replace(" ", "") == shown.replace(" ", "")


LONG = "Drucker im zweiten Stock druckt seit Montag nur noch leere Seiten aus, bitte helfen"


@pytest.mark.parametrize(("description", "subject"), [
    ("Drucker druckt nicht", "[SA#202611260000427] Drucker druckt nicht"),
    ("Drucker\r\ndruckt\tnicht ", "[SA#202611260000427] Drucker druckt nicht"),
    ("Bildschirm\x00flackert\u2028stark", "[SA#202611260000427] Bildschirm flackert stark"),
    ("Überweisung hängt – bitte prüfen",
     "[SA#202611260000427] Überweisung hängt – bitte prüfen"),
    ("=?utf-8?b?SGFsbG8=?=", "[SA#202611260000427] =?utf-8?b?SGFsbG8=?="),
    (" \t\n", "[SA#202611260000427]"),
    # 83 characters: the first 79 and an ellipsis make the 80 a subject shows.
    (LONG, "[SA#202611260000427] Drucker im zweiten Stock druckt seit Montag nur noch leere "
           "Seiten aus, bitte he…"),
])
def test_subject_known_answers(description: str, subject: str) -> None:
    """Literal subjects, written by hand (not derived from the code's own functions)."""
    request = replace(request_submitted(case_number="202611260000427"),
                      short_description=description)
    assert str(roundtrip(build_receipt(request, SENDER, NOW))["Subject"]) == subject
