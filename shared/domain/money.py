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


def format_number(value: Decimal, language: str = "de", places: int = 2) -> str:
    """A number as people of ``language`` read it: ``1.234,50`` (de), ``1,234.50`` (en).

    The one formatting helper of every page, mail and invoice a person reads; machine
    formats (JSON, the e-invoice XML) keep :func:`format_amount`.
    """
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    english = f"{rounded:,.{places}f}"
    if language == "en":
        return english
    return english.replace(",", "\0").replace(".", ",").replace("\0", ".")


def format_euro(amount: Decimal, language: str = "de") -> str:
    """An amount in euros: ``130,00 €`` (de, DIN 5008), ``€130.00`` (en).

    A plain space, not a no-break one: what people search for and paste into mails."""
    number = format_number(to_cents(amount), language)
    return f"€{number}" if language == "en" else f"{number} €"


def format_percent(fraction: Decimal, language: str = "de") -> str:
    """A fraction as a percentage without needless places: ``0.19`` -> ``19 %``,
    ``0.075`` -> ``7,5 %`` (de) / ``7.5%`` (en)."""
    percent = (fraction * 100).normalize()
    places = max(0, -percent.as_tuple().exponent)  # type: ignore[operator]
    number = format_number(percent, language, places)
    return f"{number}%" if language == "en" else f"{number} %"
