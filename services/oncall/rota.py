"""The on-call rota: who is on call at an instant, per escalation level.

The rota is a TOML file (``TICKETCORE_ONCALL__ROTA_FILE``)::

    [[people]]
    id = "anna"
    name = "Anna Schmidt"
    email = "anna@example.com"
    webhook_url = "https://hooks.example.com/pager"    # optional
    language = "en"                # optional: English pages (default: German)

    [[rotations]]
    level = 1                      # escalation level, 1 = paged first
    people = ["anna", "ben"]       # takes turns in this order
    handover_weekday = "monday"    # hand-over day and time, Europe/Berlin local time
    handover_time = "09:00"
    start = 2026-01-05             # first hand-over on or after this day: people[0] starts
    # length_days = 7              # optional: length of one shift (default one week)

    [[overrides]]                  # holidays and swaps: beats the rotation
    person = "ben"
    level = 1                      # optional, default 1
    from = 2026-12-24T18:00:00     # local time (Europe/Berlin) unless an offset is given
    to = 2026-12-27T09:00:00
    reason = "swap with Anna"      # optional

Hand-overs happen at local wall-clock time, so a DST change moves no hand-over. An override
covers ``[from, to)``; when several overlap, the last one in the file wins.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared.runtime.accounts import AccountStore

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RotaError(ValueError):
    """The rota file is wrong; the message names the entry and the field."""


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str
    webhook_url: str | None = None
    language: str | None = None  # "en" for English pages; otherwise they are German


@dataclass(frozen=True)
class Rotation:
    level: int
    people: tuple[str, ...]
    first_handover: datetime  # local wall-clock time, naive (Europe/Berlin)
    length_days: int = 7

    def person_at(self, at: datetime) -> str | None:
        local = at.astimezone(BERLIN).replace(tzinfo=None)
        if local < self.first_handover:
            return None
        shifts = (local - self.first_handover) // timedelta(days=self.length_days)
        return self.people[shifts % len(self.people)]

    @property
    def starts_at(self) -> datetime:
        return self.first_handover.replace(tzinfo=BERLIN).astimezone(UTC)


@dataclass(frozen=True)
class Override:
    person: str
    level: int
    start: datetime  # aware
    end: datetime    # aware, exclusive
    reason: str = ""

    def covers(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class Gap:
    """A time in which a level has nobody on call."""

    level: int
    start: datetime
    end: datetime

    def describe(self) -> str:
        start = self.start.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
        end = self.end.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")
        return f"level {self.level}: nobody on call from {start} to {end} (Europe/Berlin)"


@dataclass(frozen=True)
class Rota:
    people: dict[str, Person]
    rotations: dict[int, Rotation] = field(default_factory=dict)
    overrides: tuple[Override, ...] = ()
    is_default: bool = False

    @property
    def levels(self) -> tuple[int, ...]:
        found = set(self.rotations) | {o.level for o in self.overrides}
        return tuple(sorted(found))

    @property
    def top_level(self) -> int:
        return max(self.levels, default=1)

    def who_is_on_call(self, at: datetime, level: int = 1) -> Person | None:
        """The person on call at ``at`` (aware) on ``level``, or None (a gap)."""
        for override in reversed(self.overrides):
            if override.level == level and override.covers(at):
                return self.people[override.person]
        rotation = self.rotations.get(level)
        person_id = rotation.person_at(at) if rotation else None
        return self.people[person_id] if person_id else None

    def gaps(self, start: datetime, end: datetime) -> list[Gap]:
        """Every interval in ``[start, end)`` where level 1 .. top level has nobody."""
        found: list[Gap] = []
        for level in range(1, self.top_level + 1):
            covered = [(o.start, o.end) for o in self.overrides if o.level == level]
            rotation = self.rotations.get(level)
            if rotation is not None:
                covered.append((rotation.starts_at, datetime.max.replace(tzinfo=UTC)))
            found.extend(Gap(level, a, b) for a, b in _uncovered(start, end, covered))
        return found


def _uncovered(start: datetime, end: datetime,
               covered: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    holes: list[tuple[datetime, datetime]] = []
    cursor = start
    for a, b in sorted(covered):
        if b <= cursor:
            continue
        if a > cursor:
            holes.append((cursor, min(a, end)))
        cursor = max(cursor, b)
        if cursor >= end:
            break
    if cursor < end:
        holes.append((cursor, end))
    return [(a, b) for a, b in holes if a < b]


def default_rota(email: str, person: Person | None = None) -> Rota:
    """Without a rota file: ``person`` is on call around the clock; without one, a "duty"
    person at ``email``."""
    duty = person or Person(id="duty", name="Duty", email=email)
    rotation = Rotation(level=1, people=(duty.id,), first_handover=datetime(2000, 1, 3, 9, 0))
    return Rota(people={duty.id: duty}, rotations={1: rotation}, is_default=True)


def load_rota(path: Path) -> Rota:
    """Read and check a rota file; RotaError names what is wrong."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise RotaError(f"rota file {path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RotaError(f"rota file {path}: not valid TOML: {error}") from None
    return parse_rota(data)


def parse_rota(data: dict[str, Any]) -> Rota:
    """Build a Rota from parsed TOML (see the module docstring for the shape)."""
    unknown = set(data) - {"people", "rotations", "overrides"}
    if unknown:
        raise RotaError(f"rota: unknown section(s) {', '.join(sorted(unknown))}")
    people = {p.id: p for p in (_person(i, e) for i, e in enumerate(_list(data, "people")))}
    if len(people) != len(_list(data, "people")):
        raise RotaError("rota: people: an id is used twice")
    rotations: dict[int, Rotation] = {}
    for index, entry in enumerate(_list(data, "rotations")):
        rotation = _rotation(index, entry, people)
        if rotation.level in rotations:
            raise RotaError(f"rota: rotations[{index}]: level {rotation.level} has a rotation "
                            "already (one rotation per level)")
        rotations[rotation.level] = rotation
    overrides = tuple(_override(i, e, people) for i, e in enumerate(_list(data, "overrides")))
    return Rota(people=people, rotations=rotations, overrides=overrides)


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RotaError(f"rota: {key}: expected a list of tables ([[{key}]])")
    return value


def _text(where: str, entry: dict[str, Any], key: str, *, required: bool = True) -> str:
    value = entry.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise RotaError(f"rota: {where}: {key}: required text")
    return value.strip()


def _person(index: int, entry: dict[str, Any]) -> Person:
    where = f"people[{index}]"
    email = _text(where, entry, "email")
    if "@" not in email:
        raise RotaError(f"rota: {where}: email: not an e-mail address: {email!r}")
    webhook = _text(where, entry, "webhook_url", required=False) or None
    if webhook and not webhook.startswith(("http://", "https://")):
        raise RotaError(f"rota: {where}: webhook_url: must start with http:// or https://")
    language = entry.get("language")
    if language not in (None, "de", "en"):
        raise RotaError(f"rota: {where}: language: 'de' or 'en' (got {language!r})")
    person_id = _text(where, entry, "id")
    return Person(id=person_id, name=_text(where, entry, "name", required=False) or person_id,
                  email=email, webhook_url=webhook, language=language)


def _level(where: str, entry: dict[str, Any]) -> int:
    level = entry.get("level", 1)
    if not isinstance(level, int) or isinstance(level, bool) or level < 1:
        raise RotaError(f"rota: {where}: level: a whole number from 1 (got {level!r})")
    return level


def _known(where: str, person: str, people: dict[str, Person]) -> str:
    if person not in people:
        raise RotaError(f"rota: {where}: unknown person {person!r} (not in [[people]])")
    return person


def _rotation(index: int, entry: dict[str, Any], people: dict[str, Person]) -> Rotation:
    where = f"rotations[{index}]"
    members = entry.get("people")
    if not isinstance(members, list) or not members or not all(
            isinstance(m, str) for m in members):
        raise RotaError(f"rota: {where}: people: a non-empty list of person ids")
    weekday = _text(where, entry, "handover_weekday").lower()
    if weekday not in WEEKDAYS:
        raise RotaError(f"rota: {where}: handover_weekday: one of {', '.join(WEEKDAYS)}")
    try:
        handover = time.fromisoformat(_text(where, entry, "handover_time"))
    except ValueError:
        raise RotaError(f"rota: {where}: handover_time: expected HH:MM") from None
    start = entry.get("start")
    if not isinstance(start, date) or isinstance(start, datetime):
        raise RotaError(f"rota: {where}: start: a date such as 2026-01-05")
    length = entry.get("length_days", 7)
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise RotaError(f"rota: {where}: length_days: a whole number from 1")
    first_day = start + timedelta(days=(WEEKDAYS.index(weekday) - start.weekday()) % 7)
    return Rotation(level=_level(where, entry),
                    people=tuple(_known(where, m, people) for m in members),
                    first_handover=datetime.combine(first_day, handover), length_days=length)


def _instant(where: str, key: str, value: object) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        raise RotaError(f"rota: {where}: {key}: a date-time such as 2026-12-24T18:00:00")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BERLIN)
    return moment.astimezone(UTC)


def _override(index: int, entry: dict[str, Any], people: dict[str, Person]) -> Override:
    where = f"overrides[{index}]"
    start = _instant(where, "from", entry.get("from"))
    end = _instant(where, "to", entry.get("to"))
    if end <= start:
        raise RotaError(f"rota: {where}: to must be after from")
    return Override(person=_known(where, _text(where, entry, "person"), people),
                    level=_level(where, entry), start=start, end=end,
                    reason=_text(where, entry, "reason", required=False))


def rota_from_settings(settings: Any, accounts: AccountStore | None = None) -> Rota:
    """The configured rota. Without a rota file the first technician account with an
    e-mail address is on call around the clock; without such an account the support
    address is paged (which ticketcore reads itself: the start banner warns)."""
    if settings.oncall.rota_file is not None:
        return load_rota(settings.oncall.rota_file)
    tech = accounts.first_with_email() if accounts is not None else None
    person = None if tech is None else Person(id=tech.id, name=tech.name, email=tech.email,
                                              webhook_url=tech.webhook_url,
                                              language=tech.language)
    return default_rota(settings.inbound_mail.support_address, person)


def on_call_report(rota: Rota, at: datetime, weeks: int) -> dict[str, Any]:
    """Who is on call at ``at`` per level, and the gaps over the next ``weeks`` weeks."""
    levels = []
    for level in range(1, rota.top_level + 1):
        person = rota.who_is_on_call(at, level)
        levels.append({"level": level, "person": None if person is None else {
            "id": person.id, "name": person.name, "email": person.email}})
    gaps = rota.gaps(at, at + timedelta(weeks=weeks))
    return {"at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "default_rota": rota.is_default, "levels": levels,
            "gaps": [{"level": g.level, "from": g.start.isoformat(), "to": g.end.isoformat(),
                      "description": g.describe()} for g in gaps]}


__all__ = ["Gap", "Override", "Person", "Rota", "RotaError", "Rotation",
           "default_rota", "load_rota", "on_call_report", "parse_rota", "rota_from_settings"]
