"""The README documents every setting and keeps the two-command quick start."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings.docs import settings_rows, settings_table

README = Path(__file__).parents[2] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [variable for variable, _, _ in settings_rows() if f"`{variable}`" not in text]
    assert not missing, f"run `ticketcore settings --update-readme README.md`: {missing}"
    assert settings_table() in text


def test_every_setting_has_a_description() -> None:
    assert [v for v, _, meaning in settings_rows() if not meaning.strip()] == []


def test_quick_start_has_exactly_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^    (make \w+)", quick, flags=re.M)
    assert commands == ["make run", "make test"]
