"""Event contracts stay stable: the kept JSON Schema of every event version matches the
code, a change needs a new schema version with an upcaster (the old schema stays), and
every upcaster turns a stored old payload into a valid current event."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from shared.domain.events import EVENT_TYPES, decode_event
from shared.domain.events.codec import registered_upcasters
from shared.domain.events.contracts import (
    contract_problems,
    current_schemas,
    example_file,
    schema_file,
    upcaster_problems,
)
from shared.runtime import eventschemas

TICKETCORE = str(Path(sys.executable).parent / "ticketcore")


def test_the_kept_schemas_match_the_code() -> None:
    assert eventschemas.problems() == []
    kept = eventschemas.load_kept()
    assert {schema_file(name, cls.SCHEMA_VERSION) for name, cls in EVENT_TYPES.items()} <= set(kept)


def test_every_registered_upcaster_turns_its_stored_example_into_the_current_event() -> None:
    kept = eventschemas.load_kept()
    upcasters = registered_upcasters()
    assert upcaster_problems(kept, EVENT_TYPES, upcasters) == []
    for name, version in upcasters:
        body = json.dumps(kept[example_file(name, version)]).encode()
        assert isinstance(decode_event(name, version, body), EVENT_TYPES[name])


# A made-up event in two versions: v2 renamed ``who`` to ``technician`` and added ``team``.
class NoteV1(msgspec.Struct, tag="Note", frozen=True, kw_only=True):
    SCHEMA_VERSION: ClassVar[int] = 1
    at: str
    who: str


class NoteV2(msgspec.Struct, tag="Note", frozen=True, kw_only=True):
    SCHEMA_VERSION: ClassVar[int] = 2
    at: str
    technician: str
    team: str


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    return {"at": raw["at"], "technician": raw.pop("who"), "team": "first-level"}


V1_KEPT = current_schemas({"Note": NoteV1})
V1_EXAMPLE = {"type": "Note", "at": "2026-05-12T09:00:00Z", "who": "anna"}


def test_a_changed_event_without_a_new_version_is_refused() -> None:
    class Changed(NoteV1, tag="Note", frozen=True, kw_only=True):
        team: str = ""

    assert contract_problems(V1_KEPT, {"Note": NoteV1}, {}) == []
    problems = contract_problems(V1_KEPT, {"Note": Changed}, {})
    assert len(problems) == 1 and "changed without a new schema version" in problems[0]
    assert "register_upcaster('Note', 1)" in problems[0]
    # Only the prose (a docstring) changed: still the same contract.
    reworded = json.loads(json.dumps(V1_KEPT).replace('"title"', '"description": "x", "title"'))
    assert contract_problems(reworded, {"Note": NoteV1}, {}) == []


def test_a_new_version_needs_its_upcaster_the_old_schema_and_an_example() -> None:
    complete = {**V1_KEPT, **current_schemas({"Note": NoteV2}),
                example_file("Note", 1): V1_EXAMPLE}
    assert contract_problems(complete, {"Note": NoteV2}, {("Note", 1): _v1_to_v2}) == []
    assert upcaster_problems(complete, {"Note": NoteV2}, {("Note", 1): _v1_to_v2}) == []
    no_upcaster = contract_problems(complete, {"Note": NoteV2}, {})
    assert no_upcaster == ["Note: no upcaster from v1 (register_upcaster)"]
    without_old = {k: v for k, v in complete.items() if k != "Note.v1.json"}
    assert any("schema of v1 is gone" in p for p in
               contract_problems(without_old, {"Note": NoteV2}, {("Note", 1): _v1_to_v2}))
    without_example = {k: v for k, v in complete.items() if "example" not in k}
    assert any("no stored example of v1" in p for p in
               contract_problems(without_example, {"Note": NoteV2}, {("Note", 1): _v1_to_v2}))
    # A kept file of a version the code does not know.
    assert any("no such event version" in p for p in
               contract_problems(complete, {"Note": NoteV1}, {}))


def test_an_upcaster_that_does_not_give_the_current_shape_is_caught() -> None:
    def forgets_the_team(raw: dict[str, Any]) -> dict[str, Any]:
        return {"at": raw["at"], "technician": raw["who"]}

    kept = {**V1_KEPT, **current_schemas({"Note": NoteV2}),
            example_file("Note", 1): V1_EXAMPLE}
    problems = upcaster_problems(kept, {"Note": NoteV2}, {("Note", 1): forgets_the_team})
    assert len(problems) == 1 and "team" in problems[0], problems


def test_the_command_writes_new_schemas_and_refuses_to_overwrite_a_changed_one(
        tmp_path: Path) -> None:
    written = subprocess.run([TICKETCORE, "events", "schemas", "--write", "--dir",
                              str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert written.returncode == 0, written.stderr
    assert len(list(tmp_path.glob("*.v1.json"))) == len(EVENT_TYPES)
    check = subprocess.run([TICKETCORE, "events", "schemas", "--dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "match" in check.stdout
    kept = tmp_path / "TimeLogged.v1.json"
    schema = json.loads(kept.read_text())
    del schema["$defs"]["TimeLogged"]["properties"]["note"]
    kept.write_text(json.dumps(schema))
    for args in ([], ["--write"]):
        refused = subprocess.run([TICKETCORE, "events", "schemas", *args, "--dir",
                                  str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "TimeLogged" in refused.stderr
    assert json.loads(kept.read_text()) == schema  # never overwritten
