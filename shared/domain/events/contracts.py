"""Event contracts kept stable: the JSON Schema of every event version is kept in the
repository (docs/schemas/events/, written by ``ticketcore events schemas --write``), and
a change to an event is only allowed as a new schema version with an upcaster.

The rules, checked by :func:`contract_problems` (tests/core/test_event_contracts.py):

- ``<Type>.v<N>.json`` for the current version N equals the schema the code gives now: a
  change needs ``SCHEMA_VERSION = N + 1`` and ``register_upcaster("<Type>", N)``.
- Every older version's schema file stays, with an upcaster from it and a stored example
  of it (``<Type>.v<N>.example.json``) that the upcasters turn into the current version
  (:func:`upcaster_problems`).

Pure: the caller reads the kept files (``kept``: file name -> parsed JSON).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


def schema_file(type_name: str, version: int) -> str:
    return f"{type_name}.v{version}.json"


def example_file(type_name: str, version: int) -> str:
    return f"{type_name}.v{version}.example.json"


def event_schema(cls: type[msgspec.Struct]) -> dict[str, Any]:
    """The JSON Schema of one event class at its current version, self-contained."""
    (root,), components = msgspec.json.schema_components([cls], ref_template="#/$defs/{name}")
    version: int = getattr(cls, "SCHEMA_VERSION", 1)
    schema = {"title": cls.__name__, "x-schema-version": version, **root, "$defs": components}
    # As JSON reads it back (tuples become lists), so a kept file compares equal.
    plain: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(schema))
    return plain


def _shape(schema: Any) -> Any:
    """The schema without its prose: a reworded docstring is not a contract change."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k != "description"}
    if isinstance(schema, list):
        return [_shape(v) for v in schema]
    return schema


def current_schemas(event_types: Mapping[str, type[msgspec.Struct]]) -> dict[str, Any]:
    """File name -> schema, for every event's current version."""
    return {schema_file(name, getattr(cls, "SCHEMA_VERSION", 1)): event_schema(cls)
            for name, cls in event_types.items()}


def contract_problems(kept: Mapping[str, Any], event_types: Mapping[str, type[msgspec.Struct]],
                      upcasters: Mapping[tuple[str, int], Upcaster]) -> list[str]:
    """What breaks the rules above; empty when the contracts are stable."""
    problems = []
    for name, cls in sorted(event_types.items()):
        version: int = getattr(cls, "SCHEMA_VERSION", 1)
        current = schema_file(name, version)
        if current not in kept:
            problems.append(f"{name}: no kept schema {current}: run `ticketcore events "
                            "schemas --write` and commit it")
        elif _shape(kept[current]) != _shape(event_schema(cls)):
            problems.append(
                f"{name} changed without a new schema version ({current} differs): keep "
                f"{current}, set {name}.SCHEMA_VERSION = {version + 1}, register an upcaster "
                f"from v{version} (register_upcaster({name!r}, {version})), add a stored "
                f"example {example_file(name, version)} and write the new schema")
        for old in range(1, version):
            if schema_file(name, old) not in kept:
                problems.append(f"{name}: the schema of v{old} is gone ({schema_file(name, old)}"
                                "): stored events of it stay, so does their schema")
            if (name, old) not in upcasters:
                problems.append(f"{name}: no upcaster from v{old} (register_upcaster)")
            if example_file(name, old) not in kept:
                problems.append(f"{name}: no stored example of v{old} "
                                f"({example_file(name, old)}) to test its upcaster with")
    for file in sorted(kept):
        name, _, rest = file.partition(".v")
        version_text = rest.split(".", 1)[0]
        found = event_types.get(name)
        if found is None or not version_text.isdigit() or \
                int(version_text) > getattr(found, "SCHEMA_VERSION", 1):
            problems.append(f"{file}: no such event version in the code (stored events of a "
                            "removed event could no longer be read)")
    return problems


def upcast(raw: dict[str, Any], type_name: str, from_version: int, to_version: int,
           upcasters: Mapping[tuple[str, int], Upcaster]) -> dict[str, Any]:
    """Turn ``type_name`` JSON of ``from_version`` into ``to_version``, step by step."""
    for version in range(from_version, to_version):
        upcaster = upcasters.get((type_name, version))
        if upcaster is None:
            raise LookupError(f"no upcaster for {type_name} v{version}")
        raw = upcaster(raw)
    return {**raw, "type": type_name}


def upcaster_problems(kept: Mapping[str, Any], event_types: Mapping[str, type[msgspec.Struct]],
                      upcasters: Mapping[tuple[str, int], Upcaster]) -> list[str]:
    """Every registered upcaster, run on the stored example of its version (and on through
    the later steps): the result must be a valid event of the current version."""
    problems = []
    for name, old in sorted(upcasters):
        cls = event_types.get(name)
        example = kept.get(example_file(name, old))
        if cls is None or example is None:
            problems.append(f"{name} v{old}: an upcaster without a stored example "
                            f"({example_file(name, old)}) or without its event")
            continue
        version: int = getattr(cls, "SCHEMA_VERSION", 1)
        try:
            raw = upcast(dict(example), name, old, version, upcasters)
            event = msgspec.convert(raw, cls, strict=False)
            # What the current version stores must read back exactly, strictly.
            msgspec.json.decode(msgspec.json.encode(event), type=cls, strict=True)
        except (LookupError, KeyError, TypeError, ValueError, msgspec.ValidationError) as error:
            problems.append(f"{name} v{old}: its stored example does not become a valid "
                            f"v{version} event: {error}")
    return problems
