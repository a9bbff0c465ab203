"""The oncall service's one template environment: the public live status and the
technicians' console (HTML, autoescaped; the console adds its filters,
services/oncall/console/rendering.py)."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).parent / "templates"

# The console's templates by their own names (they extend "base.html"), the rest beside.
TEMPLATES = Environment(loader=FileSystemLoader([TEMPLATES_DIR / "console", TEMPLATES_DIR]),
                        autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                        lstrip_blocks=True, auto_reload=False)
