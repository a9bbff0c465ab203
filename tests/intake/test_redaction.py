"""The credential detector: the corpus with its recall and false-alarm figures, and
properties that must hold for any text."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.redaction import MARKER, redact

CORPUS = Path(__file__).parent / "corpus"
# Token formats are assembled here so no complete token sits in a corpus file (hosting
# services scan pushed files for live-looking tokens).
PLACEHOLDERS = {
    "${GITHUB_TOKEN}": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "${GITHUB_PAT}": "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    "${SLACK_TOKEN}": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "${SLACK_USER_TOKEN}": "xoxp-" + "123456789012-123456789012-123456789012-abcdef0123",
    "${STRIPE_KEY}": "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc",
}


def load(name: str) -> list[str]:
    texts = []
    for line in (CORPUS / name).read_text(encoding="utf-8").splitlines():
        if line.strip():
            text = json.loads(line)["text"]
            for placeholder, value in PLACEHOLDERS.items():
                text = text.replace(placeholder, value)
            texts.append(text)
    return texts


CREDENTIALS = load("credentials.jsonl")
HARMLESS = load("harmless.jsonl")


def test_corpus_is_large_enough() -> None:
    assert len(CREDENTIALS) >= 40
    assert len(HARMLESS) >= 40


def test_recall_on_texts_with_credentials() -> None:
    missed = [text for text in CREDENTIALS if not redact(text).redacted]
    recall = 1 - len(missed) / len(CREDENTIALS)
    print(f"\ncredential corpus: {len(CREDENTIALS) - len(missed)}/{len(CREDENTIALS)} found, "
          f"recall {recall:.1%}; missed: {missed}")
    assert recall >= 0.95


def test_no_false_alarm_on_harmless_support_texts() -> None:
    alarms = [(text, redact(text).findings) for text in HARMLESS if redact(text).redacted]
    print(f"\nharmless corpus: {len(alarms)}/{len(HARMLESS)} false alarms: {alarms}")
    assert alarms == []


@pytest.mark.parametrize("text, secret, kind", [
    ("Das Passwort für den Server lautet Sommer2024!", "Sommer2024", "password"),
    ("https://admin:S3cretPass@192.168.1.10:8443/ui", "S3cretPass", "url_credentials"),
    ("Key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "aws_key"),
    ("Zugangsdaten: mmuster / Winter2023", "Winter2023", "credentials"),
    ("PIN 0815 für das Handy", "0815", "pin"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAK\n-----END RSA PRIVATE KEY-----",
     "MIIEpAIBAAK", "private_key"),
    (PLACEHOLDERS["${GITHUB_TOKEN}"], PLACEHOLDERS["${GITHUB_TOKEN}"], "github_token"),
    (PLACEHOLDERS["${SLACK_TOKEN}"], PLACEHOLDERS["${SLACK_TOKEN}"], "slack_token"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijk", "eyJzdWIiOiIxIn0", "jwt"),
])
def test_the_secret_is_gone_and_its_kind_named(text: str, secret: str, kind: str) -> None:
    result = redact(text)
    assert secret not in result.text
    assert MARKER in result.text
    assert kind in result.findings
    assert all(secret not in finding for finding in result.findings)


def test_the_keyword_stays_so_a_technician_sees_what_was_removed() -> None:
    assert redact("Passwort: Geheim123").text == f"Passwort: {MARKER}"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400) | st.text(alphabet=string.printable + "äöüß„“", max_size=400))
def test_any_text_is_handled_and_redaction_is_stable(text: str) -> None:
    first = redact(text)
    second = redact(first.text)
    assert second.text == first.text
    assert not second.redacted
    assert first.redacted == (first.text != text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["Passwort: ", "password is ", "Kennwort lautet ", "pw=",
                        "Zugangsdaten: admin / "]),
       st.text(alphabet=string.ascii_letters + string.digits + "!#$%&*+-", min_size=4,
               max_size=30).filter(lambda s: any(c.isdigit() for c in s)))
def test_a_keyword_with_a_secret_like_value_is_always_caught(prefix: str, secret: str) -> None:
    result = redact(f"Hallo, {prefix}{secret} danke")
    assert secret not in result.text
    assert result.redacted
