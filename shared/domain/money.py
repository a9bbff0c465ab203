"""Money: ``Decimal`` amounts in EUR, rounded half-up to the cent (the one rounding rule)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half-up to the cent (0.005 -> 0.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(text: str | int | Decimal, name: str) -> Decimal:
    """A decimal amount from text; ValueError naming ``name`` when it is not a finite number."""
    try:
        value = Decimal(str(text).strip())
    except ArithmeticError:
        raise ValueError(f"{name}: {text!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{name}: {text!r} is not a finite number")
    return value


def format_amount(amount: Decimal) -> str:
    """An amount as a plain decimal string with two places, e.g. ``"86.67"``."""
    return f"{to_cents(amount):f}"
