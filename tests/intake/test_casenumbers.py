"""Case-number allocation from the shared KV counter: format, day change, and two
replicas reserving blocks concurrently without the event store's guard."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient

from shared.adapters.casenumbers import COUNTER_BUCKET, CaseNumberAllocator
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import ensure_kv
from shared.domain.casenumber import check_digit, is_valid_case_number, with_check_digit


async def test_numbers_carry_the_berlin_date_node_digits_counter_and_check_digit(
        nc: NatsClient) -> None:
    await ensure_kv(nc.jetstream(), COUNTER_BUCKET)
    moments = [datetime(2026, 11, 25, 22, 59, tzinfo=UTC), datetime(2026, 11, 25, 23, 0,
                                                                     tzinfo=UTC)]
    allocator = CaseNumberAllocator(nc.jetstream(), node_id="07", block_size=2,
                                    clock=lambda: moments[0])
    first, second, third = [await allocator.next_number() for _ in range(3)]
    assert first[:-1] == "20261125" + "07" + "00001"
    assert [second[:-1], third[:-1]] == ["202611250700002", "202611250700003"]
    assert all(is_valid_case_number(n) for n in (first, second, third))
    moments[0] = moments[1]  # midnight in Berlin: a new day starts at 1
    assert (await allocator.next_number())[:-1] == "202611260700001"


async def test_two_replicas_reserve_disjoint_blocks(nats_server: EmbeddedNats) -> None:
    clients = [await nats.connect(nats_server.url) for _ in range(2)]
    try:
        await ensure_kv(clients[0].jetstream(), COUNTER_BUCKET)
        allocators = [CaseNumberAllocator(c.jetstream(), block_size=3) for c in clients]
        numbers = await asyncio.gather(*(allocator.next_number()
                                         for _ in range(60) for allocator in allocators))
    finally:
        for client in clients:
            await client.close()
    assert len(set(numbers)) == 120

ROOT = Path(__file__).resolve().parents[2]

# The Damm operation table as published (H. M. Damm, "Total anti-symmetrische Quasigruppen",
# 2004; the table on Wikipedia's "Damm algorithm" page), typed in here independently of
# shared/domain/casenumber.py.
PUBLISHED_DAMM = [
    "0317598642",
    "7092154863",
    "4206871359",
    "1750983426",
    "6123045978",
    "3674209581",
    "5869720134",
    "8945362017",
    "9438617205",
    "2581436790",
]


def damm(digits: str) -> str:
    interim = 0
    for digit in digits:
        interim = int(PUBLISHED_DAMM[interim][int(digit)])
    return str(interim)


# Known answers. "572" -> 4 is the published worked example. "2026112600042" traced by hand
# through the table (row, column -> next row): 0,2->1  1,0->7  7,2->4  4,6->5  5,1->6  6,1->8
# 8,2->3  3,6->3  3,0->1  1,0->7  7,0->8  8,4->6  6,2->6: check digit 6.
KNOWN_CHECK_DIGITS = [("572", "4"), ("2026112600042", "6"), ("", "0"), ("0", "0"),
                      ("202611250700001", "1")]


@pytest.mark.parametrize(("digits", "expected"), KNOWN_CHECK_DIGITS)
def test_check_digit_known_answers(digits: str, expected: str) -> None:
    assert check_digit(digits) == expected
    assert with_check_digit(digits) == digits + expected


def test_the_hand_traced_case_number() -> None:
    assert with_check_digit("2026112600042") == "20261126000426"
    assert is_valid_case_number("20261126000426")
    assert not is_valid_case_number("20261126000427")  # the digit the old docs gave


@given(st.text(alphabet="0123456789", max_size=24))
def test_check_digit_equals_the_published_damm_table(digits: str) -> None:
    assert check_digit(digits) == damm(digits)


@given(st.text(alphabet="0123456789", min_size=5, max_size=11), st.data())
def test_every_single_wrong_digit_and_neighbour_swap_is_caught(counter: str,
                                                               data: st.DataObject) -> None:
    """What a Damm digit promises (and why the case number has one), checked without the
    code's table: one mistyped digit or two swapped neighbours never give a valid number."""
    number = with_check_digit("20261126" + counter)
    assert is_valid_case_number(number)
    where = data.draw(st.integers(0, len(number) - 1))
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != number[where]]))
    assert not is_valid_case_number(number[:where] + wrong + number[where + 1:])
    if where + 1 < len(number) and number[where] != number[where + 1]:
        swapped = (number[:where] + number[where + 1] + number[where] + number[where + 2:])
        assert not is_valid_case_number(swapped)


def test_the_documented_examples_carry_the_right_check_digit() -> None:
    from shared.domain import casenumber
    texts = [casenumber.__doc__ or "", casenumber.subject_token.__doc__ or "",
             *(path.read_text() for path in sorted((ROOT / "docs").glob("*.md")))]
    text = "\n".join(texts)
    split = re.findall(r"`(2026\d{9,})` \+ `(\d)`", text)  # "`2026112600042` + `6`"
    whole = re.findall(r"[`#](2026\d{10,})[`\]]", text)  # "``20261126000426``", "[SA#...]"
    assert split and whole
    for digits, digit in split:
        assert damm(digits) == digit, f"{digits} + {digit}"
    for number in whole:
        assert damm(number) == "0", number
