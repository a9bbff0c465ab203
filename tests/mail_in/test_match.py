"""Matching a mail to its ticket: subject tokens after reply prefixes, then references."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake.mail.match import (
    case_tokens,
    match_case,
    receipt_case_numbers,
    strip_reply_prefixes,
)
from shared.domain.casenumber import with_check_digit

CASE = with_check_digit("2026112600042")
OTHER = with_check_digit("2026112600043")
MISTYPED = CASE[:-2] + CASE[-1] + CASE[-2]  # two neighbouring digits swapped


@pytest.mark.parametrize("subject", [
    "Re: Drucker", "RE: Drucker", "AW: Drucker", "Aw: Drucker", "WG: Drucker", "Wg: Drucker",
    "Fwd: Drucker", "FW: Drucker", "Antw: Drucker", "VS: Drucker", "SV: Drucker",
    "Vs: Drucker", "Svar: Drucker", "Ynt: Drucker", "R: Drucker", "RIF: Drucker",
    "Tr: Drucker", "Re[2]: Drucker", "AW: WG: Re: Drucker", "aw:wg:  RE : Drucker",
    "Re(3): AW: Drucker", "SV: VS: Drucker", "  re:   Drucker",
])
def test_reply_and_forward_prefixes_are_stripped_in_any_case_and_nesting(subject: str) -> None:
    assert strip_reply_prefixes(subject) == "Drucker"


def test_words_that_only_begin_like_a_prefix_stay() -> None:
    assert strip_reply_prefixes("Reparatur: Drucker") == "Reparatur: Drucker"
    assert strip_reply_prefixes("Antwort fehlt") == "Antwort fehlt"


def test_the_token_is_found_anywhere_in_the_subject() -> None:
    subject = f"AW: WG: Noch ein Problem mit dem Drucker [SA#{CASE}] Drucker druckt nicht"
    assert match_case(subject, []).case_number == CASE
    assert match_case(f"[sa# {CASE} ] Re: x", []).case_number == CASE


def test_a_mistyped_number_is_not_matched_and_not_looked_up_elsewhere() -> None:
    receipt = f"<receipt.{CASE}@example.com>"
    match = match_case(f"AW: [SA#{MISTYPED}] Drucker", [receipt])
    assert match.case_number is None
    assert match.candidate == MISTYPED
    assert "invalid case number" in match.reason


def test_two_different_valid_numbers_are_ambiguous() -> None:
    match = match_case(f"[SA#{CASE}] und [SA#{OTHER}]", [])
    assert match.case_number is None and "several" in match.reason


def test_the_same_number_twice_is_one_match() -> None:
    assert match_case(f"AW: [SA#{CASE}] WG: [SA#{CASE}]", []).case_number == CASE


def test_references_name_the_ticket_when_the_subject_lost_the_token() -> None:
    match = match_case("AW: Drucker", ["<abc@mail.example>", f"<receipt.{CASE}@example.com>"])
    assert (match.case_number, match.via) == (CASE, "references")


def test_our_answers_and_notifications_name_the_ticket_too() -> None:
    for kind in ("answer", "accepted", "resolved", "notice"):
        reference = f"<{kind}.{CASE}.0123456789abcdef@example.com>"
        match = match_case("AW: Ihre Antwort", [reference])
        assert (match.case_number, match.via) == (CASE, "references")


def test_only_our_own_ids_count_as_references() -> None:
    assert receipt_case_numbers([f"<{CASE}@example.com>", f"<ack.{CASE}@x>",
                                 f"<answer.{CASE}.not-hex@x>"]) == []
    assert match_case("Hallo", ["<foo@bar>"]).case_number is None


def test_no_number_anywhere() -> None:
    match = match_case("Hallo", [])
    assert match.case_number is None and match.candidate is None


@given(st.text(max_size=300))
def test_matching_never_fails_on_any_subject(subject: str) -> None:
    strip_reply_prefixes(subject)
    case_tokens(subject)
    match = match_case(subject, [subject])
    assert match.case_number is None or match.case_number in subject.replace(" ", "")
