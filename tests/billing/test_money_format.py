"""The one formatting helper for amounts people read (shared.domain.money)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.domain.money import format_euro, format_number, format_percent


@pytest.mark.parametrize(("amount", "german", "english"), [
    ("130", "130,00 €", "€130.00"),
    ("86.665", "86,67 €", "€86.67"),          # half-up to the cent
    ("1234.5", "1.234,50 €", "€1,234.50"),    # thousands separated
    ("-0.5", "-0,50 €", "€-0.50"),
])
def test_euro_amounts_in_each_language(amount: str, german: str, english: str) -> None:
    assert format_euro(Decimal(amount)) == german
    assert format_euro(Decimal(amount), "en") == english


def test_percentages_drop_needless_places() -> None:
    assert format_percent(Decimal("0.19")) == "19 %"
    assert format_percent(Decimal("0.075")) == "7,5 %"
    assert format_percent(Decimal("0.075"), "en") == "7.5%"
    assert format_percent(Decimal("1.0")) == "100 %"


def test_numbers_group_thousands_the_german_way() -> None:
    assert format_number(Decimal("1234567.891")) == "1.234.567,89"
    assert format_number(Decimal("1234567.891"), "en") == "1,234,567.89"
    assert format_number(Decimal("7.5"), places=1) == "7,5"
