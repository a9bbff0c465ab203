"""``ticketcore events schemas``: write or check the kept JSON Schema of every event version
(docs/schemas/events/; the rules are in :mod:`shared.domain.events.contracts`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.domain.events import EVENT_TYPES
from shared.domain.events.codec import registered_upcasters
from shared.domain.events.contracts import contract_problems, current_schemas, upcaster_problems

KEPT_DIR = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "events"


def load_kept(directory: Path = KEPT_DIR) -> dict[str, Any]:
    """File name -> parsed JSON of every kept schema and example."""
    return {path.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(directory.glob("*.json"))}


def render(schema: Any) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def problems(directory: Path = KEPT_DIR) -> list[str]:
    kept = load_kept(directory)
    upcasters = registered_upcasters()
    return [*contract_problems(kept, EVENT_TYPES, upcasters),
            *upcaster_problems(kept, EVENT_TYPES, upcasters)]


def write_new(directory: Path = KEPT_DIR) -> tuple[list[str], list[str]]:
    """Write the schema of every current version not kept yet. A kept file that differs is
    never overwritten (that needs a new version). Returns (written, refused)."""
    directory.mkdir(parents=True, exist_ok=True)
    written, refused = [], []
    for name, schema in current_schemas(EVENT_TYPES).items():
        path = directory / name
        if not path.exists():
            path.write_text(render(schema), encoding="utf-8")
            written.append(name)
        elif json.loads(path.read_text(encoding="utf-8")) != schema:
            if contract_problems({name: json.loads(path.read_text(encoding="utf-8"))},
                                 {n: c for n, c in EVENT_TYPES.items()
                                  if name == f"{n}.v{c.SCHEMA_VERSION}.json"}, {}):
                refused.append(name)
            else:  # only prose changed: keep the file up to date
                path.write_text(render(schema), encoding="utf-8")
                written.append(name)
    return written, refused


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if args.write:
        written, refused = write_new(directory)
        for name in written:
            print(f"wrote {directory / name}")
        for name in refused:
            print(f"{name}: kept schema differs from the code: the event needs a new "
                  "schema version and an upcaster (see docs/architecture.md)", file=sys.stderr)
        if refused:
            return 1
    found = problems(directory)
    for problem in found:
        print(problem, file=sys.stderr)
    if not found and not args.write:
        print(f"{len(EVENT_TYPES)} event contracts match {directory}")
    return 1 if found else 0


def register(sub: argparse._SubParsersAction) -> None:
    """``ticketcore events schemas [--write] [--dir DIR]``."""
    schemas = sub.add_parser(
        "schemas", help="check (or --write) the kept JSON Schema of every event version")
    schemas.add_argument("--write", action="store_true",
                         help="write the schemas of versions not kept yet")
    schemas.add_argument("--dir", default=str(KEPT_DIR), help="where they are kept")
    schemas.set_defaults(run=run)
