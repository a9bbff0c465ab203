"""`ticketcore billing quote`: the exact JSON interface and its refusals."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.billing.quote import QuoteInputError, parse_quote_request
from shared.runtime.cli import main

EXAMPLE = {"priority": True, "entries": [
    {"start": "2026-11-25T17:50:00+01:00", "end": "2026-11-25T18:20:00+01:00", "kind": "work"}]}


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        request: object) -> tuple[int, str, str]:
    text = request if isinstance(request, str) else json.dumps(request)
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code = main(["billing", "quote", "-"])
    out, err = capsys.readouterr()
    return code, out, err


def test_worked_example_from_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "q.json"
    path.write_text(json.dumps(EXAMPLE))
    assert main(["billing", "quote", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "lines": [
            {"kind": "work", "multiplier": "1.0", "minutes": 10, "hourly_price": "130.00",
             "net": "21.67"},
            {"kind": "work", "multiplier": "1.5", "minutes": 20, "hourly_price": "195.00",
             "net": "65.00"}],
        "net": "86.67", "vat": "16.47", "gross": "103.14"}


def test_options_state_holidays_rate_and_vat(capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    request = {"priority": True, "state": "BY", "company_holidays": ["2026-12-23"],
               "hourly_rate": "100.00", "vat_rate": "0.07", "entries": [
                   {"start": "2026-01-06T10:00:00+01:00", "end": "2026-01-06T10:10:00+01:00",
                    "kind": "travel"},
                   {"start": "2026-12-23T10:00:00Z", "end": "2026-12-23T10:10:00Z",
                    "kind": "work"}]}
    code, out, _ = run(capsys, monkeypatch, request)
    assert code == 0
    assert json.loads(out) == {
        "lines": [{"kind": "work", "multiplier": "1.5", "minutes": 10,
                   "hourly_price": "150.00", "net": "25.00"},
                  {"kind": "travel", "multiplier": "1.5", "minutes": 10,
                   "hourly_price": "75.00", "net": "12.50"}],
        "net": "37.50", "vat": "2.63", "gross": "40.13"}


@pytest.mark.parametrize(("request_", "message"), [
    ("not json", "not JSON"),
    ([], "JSON object"),
    ({"entries": []}, "priority"),
    ({"priority": "yes", "entries": []}, "priority"),
    ({"priority": True}, "entries"),
    ({"priority": True, "entries": [], "colour": 1}, "unknown field(s): colour"),
    ({"priority": True, "state": "XX", "entries": []}, "state"),
    ({"priority": True, "hourly_rate": "abc", "entries": []}, "hourly_rate"),
    ({"priority": True, "hourly_rate": "-1", "entries": []}, "hourly_rate"),
    ({"priority": True, "hourly_rate": "NaN", "entries": []}, "hourly_rate"),
    ({"priority": True, "vat_rate": "19", "entries": []}, "vat_rate"),
    ({"priority": True, "company_holidays": ["24.12.2026"], "entries": []},
     "company_holidays[0]"),
    ({"priority": True, "entries": [{"start": "2026-11-25T17:50:00", "kind": "work",
                                     "end": "2026-11-25T18:20:00+01:00"}]},
     "entries[0].start: '2026-11-25T17:50:00' has no UTC offset"),
    ({"priority": True, "entries": [{"start": "2026-11-25T18:50:00+01:00", "kind": "work",
                                     "end": "2026-11-25T18:20:00+01:00"}]},
     "entries[0]: end must be after start"),
    ({"priority": True, "entries": [{"start": "2026-11-25T17:50:00+01:00", "kind": "play",
                                     "end": "2026-11-25T18:20:00+01:00"}]},
     "entries[0].kind"),
    ({"priority": True, "entries": [{"start": "2026-01-01T00:00:00Z", "kind": "work",
                                     "end": "2026-12-01T00:00:00Z"}]}, "longer than"),
    ({"priority": True, "entries": ["x"]}, "entries[0]"),
])
def test_bad_input_exits_non_zero_naming_the_problem(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        request_: object, message: str) -> None:
    code, out, err = run(capsys, monkeypatch, request_)
    assert code != 0
    assert out == ""
    assert message in err


def test_a_missing_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["billing", "quote", str(tmp_path / "none.json")]) == 1
    assert "No such file" in capsys.readouterr().err


# A refusal names what is wrong: the whole input or the field, as the docs promise.
REFUSAL = re.compile(r"^input must be a JSON object$|^(input is not JSON|unknown field\(s\)|"
                     r"priority|catholic|state|hourly_rate|vat_rate|company_holidays(\[\d+\])?|"
                     r"entries(\[\d+\](\.(start|end|kind))?)?): ")

_FIELD = r"(priority|catholic|state|hourly_rate|vat_rate|company_holidays|entries)\S*: "
TWO_FIELDS = re.compile(_FIELD + _FIELD)

JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(
                        ["priority", "entries", "start", "end", "kind", "state",
                         "hourly_rate", "vat_rate", "company_holidays"]), inner, max_size=5),
                    max_leaves=20)
INSTANT = st.sampled_from(["2026-11-25T17:50:00+01:00", "2026-11-25T18:20:00+01:00",
                           "2026-11-25T18:20:00", "2026-12-31T23:00:00Z"])
# Requests close to valid: each field valid or junk, so every refusal is reached.
REQUESTS = st.fixed_dictionaries({
    "priority": st.booleans() | st.booleans() | JUNK,
    "entries": st.lists(st.fixed_dictionaries(
        {"start": INSTANT | JUNK, "end": INSTANT | JUNK,
         "kind": st.sampled_from(["work", "travel", "play"])},
        optional={"note": st.text(max_size=5), "colour": JUNK}) | JUNK, max_size=3) | JUNK,
}, optional={
    "catholic": st.booleans() | JUNK,
    "state": st.sampled_from(["BY", "nw", " ", "XX"]) | JUNK,
    "hourly_rate": st.sampled_from(["130.00", "0", "1e3"]) | JUNK,
    "vat_rate": st.sampled_from(["0.19", "0", "1"]) | JUNK,
    "company_holidays": st.lists(st.dates().map(str) | JUNK, max_size=2) | JUNK})


@settings(max_examples=300, deadline=None)
@given(JUNK | REQUESTS)
def test_random_input_is_refused_naming_the_field_or_priced(value: object) -> None:
    try:
        quote = parse_quote_request(json.dumps(value)).quote()
    except QuoteInputError as error:
        assert REFUSAL.match(str(error)), str(error)
        assert not TWO_FIELDS.match(str(error)), str(error)  # names one field, once
        return
    assert isinstance(value, dict) and isinstance(value["priority"], bool)
    assert isinstance(value["entries"], list)
    assert quote.gross == quote.net + quote.vat


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


ENTRY = st.tuples(st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 31),
                               timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)),
                                                          timezone(timedelta(hours=-5))])),
                  st.integers(1, 24 * 60 * 60), st.sampled_from(["work", "travel"]))


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(ENTRY, max_size=6),
       st.sampled_from(["130.00", "99.99", "0.01", "1000"]))
def test_valid_requests_are_priced_by_the_rules(priority: bool,
                                                entries: list[tuple[datetime, int, str]],
                                                rate: str) -> None:
    """Every entry bills its started 10-minute blocks (docs/billing.md); without priority
    at the plain hourly rate (travel half), net rounded half-up to the cent per line."""
    request = {"priority": priority, "hourly_rate": rate, "entries": [
        {"start": start.isoformat(), "end": (start + timedelta(seconds=seconds)).isoformat(),
         "kind": kind} for start, seconds, kind in entries]}
    quote = parse_quote_request(json.dumps(request)).quote()
    for kind in ("work", "travel"):
        blocks = sum(-(-seconds // 600) for _, seconds, k in entries if k == kind)
        assert sum(line.minutes for line in quote.lines if line.kind == kind) == blocks * 10
    if not priority:
        for line in quote.lines:
            unit = cents(Decimal(rate) / (2 if line.kind == "travel" else 1))
            assert (line.multiplier, line.hourly_price) == (Decimal("1.0"), unit)
            assert line.net == cents(line.minutes * unit / 60)
    assert quote.net == sum((line.net for line in quote.lines), Decimal(0))
    assert quote.vat == cents(quote.net * Decimal("0.19"))
    assert quote.gross == quote.net + quote.vat
