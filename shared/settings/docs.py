"""The settings reference (README "Configuration"), generated from the settings models."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _rows(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str]]:
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _rows(annotation, variable + "__")
            continue
        default: Any = field.default
        if default is PydanticUndefined and field.default_factory is not None:
            default = field.default_factory()  # type: ignore[call-arg]
        shown = "(unset)" if default is None or default == "" else f"`{default}`"
        if isinstance(default, list) and not default:
            shown = "`[]`"
        yield variable, shown, (field.description or "").replace("\n", " ")


def settings_rows() -> list[tuple[str, str, str]]:
    from shared.settings import Settings

    return list(_rows(Settings, "TICKETCORE_"))


def settings_table() -> str:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{v}` | {d} | {m} |" for v, d, m in settings_rows()]
    return "\n".join(lines)
