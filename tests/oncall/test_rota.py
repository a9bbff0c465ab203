"""The rota: rotations with hand-over in Berlin time, overrides, gaps, clear errors."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from services.oncall.rota import RotaError, default_rota, load_rota, parse_rota
from shared.runtime.cli import main
from tests.oncall.conftest import ROTA, TOKENS, oncall_http, write_rota


def rota():
    return parse_rota(tomllib.loads(ROTA.format(webhook="")))


def berlin(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin"))


def who(at: datetime, level: int = 1) -> str | None:
    person = rota().who_is_on_call(at, level)
    return person.id if person else None


def test_weekly_rotation_hands_over_on_monday_morning_in_berlin_time() -> None:
    assert who(berlin("2026-01-05T08:59")) is None  # before the first hand-over
    assert who(berlin("2026-01-05T09:00")) == "anna"
    assert who(berlin("2026-01-12T08:59")) == "anna"
    assert who(berlin("2026-01-12T09:00")) == "ben"
    assert who(berlin("2026-01-19T09:00")) == "anna"
    # Across the DST change (29 March 2026) the hand-over stays at 09:00 local time.
    assert who(berlin("2026-03-30T08:59")) == who(berlin("2026-03-29T12:00"))
    assert who(berlin("2026-03-30T09:00")) != who(berlin("2026-03-30T08:59"))
    assert who(berlin("2026-01-12T10:00"), level=2) == "carla"


def test_override_beats_the_rotation_only_in_its_interval() -> None:
    assert who(berlin("2026-11-28T17:59")) in ("anna", "ben")
    assert who(berlin("2026-11-28T18:00")) == "carla"
    assert who(datetime(2026, 11, 29, 2, 0, tzinfo=UTC)) == "carla"  # Sunday 03:00
    assert who(berlin("2026-11-30T09:00")) in ("anna", "ben")


def test_gaps_are_found() -> None:
    gaps = rota().gaps(berlin("2026-01-01T00:00"), berlin("2026-02-01T00:00"))
    assert [(g.level, g.start, g.end) for g in gaps] == [
        (1, berlin("2026-01-01T00:00"), berlin("2026-01-05T09:00")),
        (2, berlin("2026-01-01T00:00"), berlin("2026-01-05T09:00"))]
    assert rota().gaps(berlin("2026-02-01T00:00"), berlin("2026-03-01T00:00")) == []
    assert "level 1" in gaps[0].describe()


def test_default_rota_is_the_support_address_around_the_clock() -> None:
    default = default_rota("support@example.com")
    person = default.who_is_on_call(datetime(2026, 11, 29, 2, tzinfo=UTC))
    assert person is not None and person.email == "support@example.com"
    assert default.is_default and default.gaps(berlin("2026-01-01T00:00"),
                                                berlin("2027-01-01T00:00")) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"people": [{"id": "a", "email": "nope"}]}, "people[0]: email"),
    ({"people": [{"id": "a", "email": "a@x.de", "webhook_url": "ftp://x"}]}, "webhook_url"),
    ({"rotations": [{"people": ["zoe"], "handover_weekday": "monday",
                     "handover_time": "09:00", "start": datetime(2026, 1, 5).date()}]},
     "unknown person 'zoe'"),
    ({"rotations": [{"people": ["a"], "handover_weekday": "moonday",
                     "handover_time": "09:00", "start": datetime(2026, 1, 5).date()}]},
     "handover_weekday"),
    ({"overrides": [{"person": "a", "from": datetime(2026, 1, 2), "to": datetime(2026, 1, 1)}]},
     "to must be after from"),
    ({"shifts": []}, "unknown section"),
])
def test_wrong_rota_entries_are_named(change: dict, message: str) -> None:
    data = {"people": [{"id": "a", "email": "a@example.com"}], **change}
    with pytest.raises(RotaError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_rota(data)


def test_unreadable_rota_file(tmp_path: Path) -> None:
    with pytest.raises(RotaError, match="not valid TOML"):
        (tmp_path / "r.toml").write_text("[[people]\n")
        load_rota(tmp_path / "r.toml")
    with pytest.raises(RotaError, match="cannot read"):
        load_rota(tmp_path / "missing.toml")


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10)
    | st.dates() | st.datetimes(), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["id", "email", "people", "level", "from", "to",
                                       "person", "handover_weekday", "handover_time",
                                       "start", "name"]), inner, max_size=5), max_leaves=12)


PEOPLE = [{"id": "anna", "name": "Anna", "email": "anna@example.com"},
          {"id": "ben", "name": "Ben", "email": "ben@example.com"}]


def rotation(level: int, start: date) -> dict[str, object]:
    return {"level": level, "people": ["anna"], "handover_weekday": "monday",
            "handover_time": "09:00", "start": start}


@given(st.dictionaries(st.sampled_from(["people", "rotations", "overrides"]), toml_values,
                       max_size=3))
# Valid rotas random data hardly ever produces: an override over the probe instant beats
# the rotation; a level that starts later has a gap at the probe.
@example({"people": PEOPLE, "rotations": [rotation(1, date(2026, 1, 5))], "overrides": [
    {"person": "ben", "from": datetime(2026, 1, 9, 18), "to": datetime(2026, 1, 11, 9)}]})
@example({"people": PEOPLE, "rotations": [rotation(1, date(2026, 1, 5)),
                                           rotation(2, date(2026, 1, 19))]})
def test_random_rota_data_is_accepted_or_refused_with_rota_error(data: dict) -> None:
    try:
        result = parse_rota(data)
    except RotaError:
        return
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC)
    gaps = result.gaps(start, end)
    assert all(start <= gap.start < gap.end <= end for gap in gaps), gaps
    probe = datetime(2026, 1, 10, tzinfo=UTC)
    for level in result.levels:
        person = result.who_is_on_call(probe, level)
        # Nobody on call exactly when the probe lies in one of the level's gaps.
        in_gap = any(g.level == level and g.start <= probe < g.end for g in gaps)
        assert (person is None) == in_gap, (level, person, gaps)
        assert person is None or result.people[person.id] == person
        covering = [o for o in result.overrides if o.level == level and o.covers(probe)]
        if covering:  # the last override in the file wins
            assert person == result.people[covering[-1].person]


def test_cli_oncall_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TICKETCORE_CONFIG_FILE", raising=False)
    monkeypatch.setenv("TICKETCORE_ONCALL__ROTA_FILE", str(write_rota(tmp_path / "r.toml")))
    assert main(["oncall", "now", "--at", "2026-11-29T03:00+01:00", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["levels"][0]["person"]["id"] == "carla"
    assert report["levels"][1]["person"]["id"] == "carla"
    assert main(["oncall", "now", "--at", "2026-01-01T00:00+01:00"]) == 0
    text = capsys.readouterr().out
    assert "level 1: NOBODY" in text and "gap: level 1" in text
    assert main(["oncall", "now", "--at", "tomorrow"]) == 2


async def test_http_oncall_now(make_settings) -> None:
    async with oncall_http(make_settings()) as (_, http):
        anonymous = await http.get("/api/oncall/now")
        http.headers["Authorization"] = f"Bearer {TOKENS['anna']}"
        ok = await http.get("/api/oncall/now", params={"at": "2026-11-29T03:00:00+01:00"})
        naive = await http.get("/api/oncall/now", params={"at": "2026-11-29T03:00:00"})
        bad = await http.get("/api/oncall/now", params={"at": "soon"})
    # It names people and their addresses: technicians only.
    assert anonymous.status_code == 401 and "example.com" not in anonymous.text
    assert ok.status_code == 200
    assert [lvl["person"]["id"] for lvl in ok.json()["levels"]] == ["carla", "carla"]
    assert naive.status_code == 422 and "offset" in naive.text
    assert bad.status_code == 422 and "ISO 8601" in bad.text


async def test_gaps_are_reported_at_start_up(make_settings,
                                             caplog: pytest.LogCaptureFixture) -> None:
    async with oncall_http(make_settings()) as (system, _):
        service = system.services[0]
        with caplog.at_level("WARNING"):
            gaps = service.check_rota(now=berlin("2026-01-01T00:00"))
        lines = service.announce()
    assert [g.level for g in gaps] == [1, 2]
    assert "on-call rota gap: level 1: nobody on call from 2026-01-01 00:00" in caplog.text
    assert any("rota gap: level 1" in line for line in lines)
