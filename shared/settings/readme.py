"""Keep the README's settings table in step with the settings models."""

from __future__ import annotations

import re
from pathlib import Path

from shared.settings.docs import settings_table

START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def update_readme(readme: Path) -> bool:
    """Write the current table between the markers; True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    new = re.sub(f"{re.escape(START)}.*?{re.escape(END)}",
                 lambda _: f"{START}\n{settings_table()}\n{END}", text, flags=re.S)
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text
