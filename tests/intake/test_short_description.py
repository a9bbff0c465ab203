"""The short description stays within 80 characters after redaction (the marker is longer
than a short secret), and cutting never leaves half a marker."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from shared.domain.redaction import ELLIPSIS, MARKER, redact, shorten
from shared.domain.requestform import SupportRequest, request_event, validate
from shared.settings.intake import IntakeSettings
from tests.intake.conftest import valid_json

TODAY = date(2026, 11, 26)
# Pieces a customer might type: words, and short credentials that grow when redacted.
PIECES = st.sampled_from(["Drucker", "druckt", "nicht", "Server", "VPN", "PIN 4711",
                          "PIN 0000", "pw=ab1", "Passwort: x9!", "Kennwort lautet a1", "ü",
                          "https://u:p@h.de", "ß"])


def stored_short_description(text: str) -> str | None:
    """What ``RequestSubmitted`` keeps for ``text``; None when the form refuses it."""
    request = validate(valid_json(short_description=text), "json", TODAY)
    if not isinstance(request, SupportRequest):
        return None
    event = request_event(request, case_number="202611260000427", language="de",
                          channel="api", terms=IntakeSettings().service_terms(),
                          at=datetime(2026, 11, 26, 9, tzinfo=UTC))
    return event.short_description


def test_many_short_secrets_are_cut_to_80_characters_with_an_ellipsis() -> None:
    text = " ".join(["PIN 1234"] * 8) + " Drucker!"  # 80 characters, 8 secrets
    assert len(text) == 80
    stored = stored_short_description(text)
    assert stored is not None
    assert len(stored) <= 80 and stored.endswith(ELLIPSIS)
    assert "1234" not in stored
    assert stored.startswith("PIN [REDACTED] PIN [REDACTED]")
    assert "[REDAC" not in stored.replace(MARKER, "")  # no half marker


def test_a_short_description_that_fits_is_kept_as_typed() -> None:
    assert stored_short_description("Drucker druckt nicht, PIN 4711") == \
        "Drucker druckt nicht, PIN [REDACTED]"
    assert stored_short_description("ä" * 80) == "ä" * 80


@given(st.lists(PIECES, min_size=1, max_size=20).map(" ".join))
def test_any_stored_short_description_has_at_most_80_characters(text: str) -> None:
    stored = stored_short_description(text)
    if stored is None:  # outside 4..80 characters before redaction: refused, nothing stored
        assert not 4 <= len(text) <= 80
        return
    assert len(stored) <= 80
    assert "[REDAC" not in stored.replace(MARKER, "")
    for secret in ("4711", "0000", "ab1", "x9!", "a1 ", ":p@"):
        assert secret not in stored + " "


@given(st.text(max_size=200), st.integers(min_value=1, max_value=120))
def test_shorten_never_exceeds_the_limit_nor_splits_a_marker(text: str, limit: int) -> None:
    redacted = redact(text).text
    short = shorten(redacted, limit)
    assert len(short) <= limit
    if len(redacted) <= limit:
        assert short == redacted
    else:
        assert short.endswith(ELLIPSIS)
        assert short[:-1].rstrip() == short[:-1]
        assert redacted.startswith(short[:-1])
        # Every marker in the result is whole (markers are never cut in half).
        assert short[:-1].count("[REDAC") == short[:-1].count(MARKER)
