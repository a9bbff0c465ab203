"""Case numbers ("Service-Auftragsnummer"): ``YYYYMMDD`` + node digits + counter + check digit.

In the style of the DateChecksum numbers German helpdesks use, e.g. ``20261126000426``.
The check digit is computed with the Damm algorithm, which catches every single wrong digit
and every swap of two neighbouring digits, so a typo read over the phone never lands on
another ticket. The number is digits only: safe to read aloud and a valid NATS subject token.
"""

from __future__ import annotations

import re
from datetime import date

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)
CASE_NUMBER = re.compile(r"^\d{8}\d{6,12}$")
# The day's counter has at least this many digits (more after 99,999 tickets a day).
COUNTER_DIGITS = 5


def check_digit(digits: str) -> str:
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][int(digit)]
    return str(interim)


def with_check_digit(digits: str) -> str:
    return digits + check_digit(digits)


def case_number(day: date, node_id: str, counter: int) -> str:
    """The case number of the ``counter``-th ticket of ``day`` (its date in Berlin) on the
    intake node ``node_id`` (digits, or "" for one node), with its check digit."""
    return with_check_digit(f"{day:%Y%m%d}{node_id}{counter:0{COUNTER_DIGITS}d}")


def is_valid_case_number(number: str) -> bool:
    """True if ``number`` has the case-number shape and its check digit matches."""
    return bool(CASE_NUMBER.match(number)) and check_digit(number) == "0"


def subject_token(number: str) -> str:
    """The token in mail subjects, e.g. ``[SA#20261126000426]``."""
    return f"[SA#{number}]"
