"""``ticketcore oncall deadline``: known answers, computed by hand on the calendar, through
the real command (subprocess, FILE and stdin)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")


def deadline(request: dict, *, via_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    text = json.dumps(request)
    if via_file is not None:
        via_file.write_text(text)
        return subprocess.run([TICKETCORE, "oncall", "deadline", str(via_file)],
                              capture_output=True, text=True, timeout=60)
    return subprocess.run([TICKETCORE, "oncall", "deadline", "-"], input=text,
                          capture_output=True, text=True, timeout=60)


KNOWN = [
    # Fri 17:00: 60 BT minutes left that day, then Mon 09:00 + 480 = 17:00.
    ({"submitted_at": "2026-11-27T17:00:00+01:00", "priority": False},
     "2026-11-30T17:00:00+01:00", "first_response"),
    # The 540th minute ends at 18:00: the deadline is 18:00, not the next morning.
    ({"submitted_at": "2026-11-30T09:00:00+01:00", "priority": False},
     "2026-11-30T18:00:00+01:00", "first_response"),
    ({"submitted_at": "2026-11-30T06:30:00+01:00", "priority": False},
     "2026-11-30T18:00:00+01:00", "first_response"),
    # Wed 15-18 (180), Thu 24 company holiday, Fri 25 public holiday, weekend, Mon + 360.
    ({"submitted_at": "2026-12-23T15:00:00+01:00", "priority": False, "state": "BY",
      "company_holidays": ["2026-12-24"]}, "2026-12-28T15:00:00+01:00", "first_response"),
    # Without the company holiday, 24 December is a business day.
    ({"submitted_at": "2026-12-23T15:00:00+01:00", "priority": False, "state": "BY"},
     "2026-12-24T15:00:00+01:00", "first_response"),
    # Epiphany (Tue 6 January) is a holiday in Bavaria, not nationwide.
    ({"submitted_at": "2026-01-05T17:00:00+01:00", "priority": False, "state": "BY"},
     "2026-01-07T17:00:00+01:00", "first_response"),
    ({"submitted_at": "2026-01-05T17:00:00+01:00", "priority": False},
     "2026-01-06T17:00:00+01:00", "first_response"),
    # Across the spring DST change: Fri 12-18 (360), Mon 09:00 + 180 = 12:00 summer time.
    ({"submitted_at": "2026-03-27T12:00:00+01:00", "priority": False},
     "2026-03-30T12:00:00+02:00", "first_response"),
    # Priority: real minutes. 240 minutes from 01:00 on the night clocks skip 02:00-03:00
    # are 06:00 summer time; on the night they repeat 02:00-03:00, 04:00 winter time.
    ({"submitted_at": "2026-03-29T01:00:00+01:00", "priority": True},
     "2026-03-29T06:00:00+02:00", "reaction"),
    ({"submitted_at": "2026-10-25T01:00:00+02:00", "priority": True},
     "2026-10-25T04:00:00+01:00", "reaction"),
    ({"submitted_at": "2026-11-28T23:30:00+01:00", "priority": True, "reaction_minutes": 90},
     "2026-11-29T01:00:00+01:00", "reaction"),
    # No SLA: the clock starts at acceptance, Mon 10:00 + 480 (to 18:00) + Tue 60.
    ({"submitted_at": "2026-11-27T17:00:00+01:00", "priority": False,
      "accepted_at": "2026-11-30T10:00:00+01:00"}, "2026-12-01T10:00:00+01:00",
     "first_response"),
    # Given in UTC, answered in Berlin time.
    ({"submitted_at": "2026-11-27T16:00:00Z", "priority": False},
     "2026-11-30T17:00:00+01:00", "first_response"),
]


@pytest.mark.parametrize(("request_", "expected", "clock"), KNOWN)
def test_known_deadlines(request_: dict, expected: str, clock: str) -> None:
    result = deadline(request_)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"deadline": expected, "clock": clock}


def test_reads_a_file(tmp_path: Path) -> None:
    result = deadline(KNOWN[0][0], via_file=tmp_path / "request.json")
    assert json.loads(result.stdout)["deadline"] == KNOWN[0][1]


@pytest.mark.parametrize(("request_", "message"), [
    ({"submitted_at": "2026-11-27T17:00:00", "priority": False}, "no UTC offset"),
    ({"submitted_at": "2026-11-27T17:00:00+01:00", "priority": False, "state": "XX"},
     "unknown German federal state"),
    ({"submitted_at": "2026-11-27T17:00:00+01:00", "priority": False,
      "accepted_at": "2026-11-27T16:00:00+01:00"}, "before submitted_at"),
    ({"submitted_at": "2026-11-27T17:00:00+01:00", "priority": True,
      "reaction_minutes": -5}, "must not be negative"),
])
def test_refusals_say_why_and_exit_1(request_: dict, message: str) -> None:
    result = deadline(request_)
    assert result.returncode == 1
    assert message in result.stderr and result.stdout == ""
