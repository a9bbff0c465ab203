"""The signing helper: known answers computed here with hmac directly, domain separation,
constant-time checks, expiry; and the web helpers built on it (CSRF, downloads)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from services.oncall.paging import ack_path, check_ack_link
from services.oncall.webhook import verify_webhook_signature, webhook_signature
from shared.runtime import signing
from shared.runtime.csrf import csrf_token, csrf_valid
from shared.runtime.links import status_token, verify_status_token
from shared.runtime.responses import content_disposition, download_media_type
from shared.runtime.signing import (
    ACKNOWLEDGE_LINK,
    CONSOLE_CSRF,
    FORM_CSRF,
    LOGIN_CSRF,
    PURPOSES,
    SESSION,
    STATUS_LINK,
    WEBHOOK,
    check_expiring,
    sign,
    sign_expiring,
    verify,
)

SECRET = "test-secret-0123456789"


def hmac_sha256(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


def b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


# -- known answers: tokens already handed out keep verifying --------------------------------


def test_status_link_token_is_the_one_in_mailed_receipts() -> None:
    case = "2026-11-25-00042-7"
    expected = b64url(hmac_sha256(SECRET, f"status:{case}".encode())[:18])
    assert status_token(SECRET, case) == expected == sign(SECRET, STATUS_LINK, case)
    assert len(expected) == 24
    assert verify_status_token(SECRET, case, expected)
    assert not verify_status_token(SECRET, "2026-11-25-00043-5", expected)


def test_webhook_signature_known_answer_covers_timestamp_event_id_and_body() -> None:
    # The v2 scheme receivers verify (docs/webhooks.md), computed with hmac directly.
    body, timestamp, event_id = b'{"case":"x","\xc3\xa4":1}', "1764000000", "page-42-1-0"
    expected = "v2=" + hmac.new(SECRET.encode(), b"v2.1764000000.page-42-1-0." + body,
                                hashlib.sha256).hexdigest()
    assert webhook_signature(SECRET, timestamp, event_id, body) == expected
    assert verify_webhook_signature(SECRET, timestamp, event_id, body, expected,
                                    now=1764000010)
    for changed in ((timestamp, event_id, body + b" "), (timestamp, "page-42-1-1", body),
                    ("1764000001", event_id, body)):
        assert not verify_webhook_signature(SECRET, *changed, expected, now=1764000010)
    assert not verify_webhook_signature(SECRET, timestamp, event_id, body, expected[3:],
                                        now=1764000010)
    old_scheme = "sha256=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body,
                                      hashlib.sha256).hexdigest()
    assert not verify_webhook_signature(SECRET, timestamp, event_id, body, old_scheme,
                                        now=1764000010)


def test_acknowledge_links_in_sent_page_mails_keep_working() -> None:
    expected = hmac.new(SECRET.encode(), b"oncall-ack:2026-11-25-00042-7:anna:1764003600",
                        hashlib.sha256).hexdigest()
    path = ack_path(SECRET, "2026-11-25-00042-7", "anna", 1764003600)
    assert path.endswith(f"?exp=1764003600&sig={expected}")
    assert check_ack_link(SECRET, "2026-11-25-00042-7", "anna", "1764003600", expected,
                          now=1764000000) == "ok"


def test_csrf_tokens_keep_their_derivation() -> None:
    form = b64url(hmac_sha256(SECRET, b"csrf:cookie-value:form-value"))
    assert csrf_token(SECRET, FORM_CSRF, "cookie-value", "form-value") == form
    console = hmac_sha256(SECRET, b"console-csrf:anna.1764.sig").hex()
    assert csrf_token(SECRET, CONSOLE_CSRF, "anna.1764.sig") == console
    login = hmac_sha256(SECRET, b"console-login-csrf:nonce").hex()
    assert csrf_token(SECRET, LOGIN_CSRF, "nonce") == login


def test_a_session_is_signed_for_sessions_only() -> None:
    expected = hmac_sha256(SECRET, b"session:anna:1764003600").hex()
    assert sign_expiring(SECRET, SESSION, 1764003600, "anna") == expected


# -- the helper's own rules -------------------------------------------------------------------


def test_a_signature_for_one_purpose_never_verifies_for_another() -> None:
    signatures = {purpose: sign(SECRET, purpose, "same", "parts") for purpose in PURPOSES}
    for purpose in PURPOSES:
        for other, signature in signatures.items():
            assert verify(SECRET, purpose, signature, "same", "parts") == (purpose == other)


def test_labels_are_distinct_and_none_starts_another() -> None:
    labels = [f"{p.label}:" for p in PURPOSES if p.label is not None]
    assert len(set(labels)) == len(labels)
    assert not [(a, b) for a in labels for b in labels if a != b and b.startswith(a)]


def test_verify_refuses_other_keys_parts_and_hostile_text() -> None:
    signature = sign(SECRET, CONSOLE_CSRF, "value")
    assert verify(SECRET, CONSOLE_CSRF, signature, "value")
    assert not verify("another-secret-0123456789", CONSOLE_CSRF, signature, "value")
    assert not verify(SECRET, CONSOLE_CSRF, signature, "value2")
    for hostile in ("", signature[:-1], signature.upper(), "ü" * 64, "\x00" * 64,
                    "\ud800" + signature[1:]):
        assert not verify(SECRET, CONSOLE_CSRF, hostile, "value")


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    assert verify(SECRET, SESSION, sign(SECRET, SESSION, "x"), "x")
    assert len(calls) == 1


def test_an_expiring_signature_is_checked_for_both_signature_and_time() -> None:
    signature = sign_expiring(SECRET, ACKNOWLEDGE_LINK, 2000, "case", "anna")
    assert check_expiring(SECRET, ACKNOWLEDGE_LINK, signature, "2000", "case", "anna",
                          now=1999) == "ok"
    assert check_expiring(SECRET, ACKNOWLEDGE_LINK, signature, 2000, "case", "anna",
                          now=2001) == "expired"
    assert check_expiring(SECRET, ACKNOWLEDGE_LINK, signature, "2001", "case", "anna",
                          now=1999) == "bad_signature"
    assert check_expiring(SECRET, ACKNOWLEDGE_LINK, signature, "soon", "case", "anna",
                          now=1999) == "bad_signature"


def test_webhook_purpose_signs_the_versioned_format() -> None:
    assert WEBHOOK.message([b"1", b"id", b"{}"]) == b"v2.1.id.{}"
    assert SESSION.message(["anna", "17"]) == b"session:anna:17"


def test_csrf_needs_every_binding_and_a_token() -> None:
    token = csrf_token(SECRET, FORM_CSRF, "cookie", "form")
    assert csrf_valid(SECRET, FORM_CSRF, token, "cookie", "form")
    assert not csrf_valid(SECRET, FORM_CSRF, token, None, "form")
    assert not csrf_valid(SECRET, FORM_CSRF, token, "cookie", "")
    assert not csrf_valid(SECRET, FORM_CSRF, "", "cookie", "form")
    assert not csrf_valid(SECRET, CONSOLE_CSRF, token, "cookie", "form")


# -- downloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("filename", "fallback", "exact"), [
    ("Fehler 49.pdf", "Fehler 49.pdf", "Fehler%2049.pdf"),
    ('a"b.txt', "a_b.txt", "a%22b.txt"),
    ("evil\r\nSet-Cookie: x=1.txt", "evilSet-Cookie: x=1.txt", "evilSet-Cookie%3A%20x%3D1.txt"),
    ("../../etc/passwd", "passwd", "passwd"),
    ("C:\\Users\\anna\\bild.png", "bild.png", "bild.png"),
    ("Übersicht; größe=1%.pdf", "_bersicht_ gr__e=1_.pdf",
     "%C3%9Cbersicht%3B%20gr%C3%B6%C3%9Fe%3D1%25.pdf"),
    ("日本.txt", "__.txt", "%E6%97%A5%E6%9C%AC.txt"),
    (".htaccess", "htaccess", "htaccess"),
    ("", "attachment", "attachment"),
    ("../", "attachment", "attachment"),
    ("\u202egnp.exe", "gnp.exe", "gnp.exe"),
])
def test_content_disposition_survives_hostile_names(filename: str, fallback: str,
                                                    exact: str) -> None:
    header = content_disposition(filename)
    assert header == f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"
    assert header.isascii() and "\r" not in header and "\n" not in header


def test_content_disposition_keeps_long_names_bounded() -> None:
    assert len(content_disposition("x" * 10_000)) < 500


def test_only_inert_types_keep_their_content_type() -> None:
    assert download_media_type("Image/PNG") == "image/png"
    assert download_media_type("application/pdf") == "application/pdf"
    for hostile in ("text/html", "image/svg+xml", "application/xhtml+xml",
                    "text/plain; charset=utf-7", "", "text/javascript"):
        assert download_media_type(hostile) == "application/octet-stream"
