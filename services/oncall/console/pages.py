"""Rendering the console's pages: Jinja2 templates, autoescaped, with the German filters
and the security headers of every console page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.oncall.console.labels import STATUS_LABELS, VALUE_LABELS, berlin, time_left_label
from shared.domain.money import format_euro
from shared.runtime.responses import security_headers

TEMPLATE_DIR = Path(__file__).parent.parent / "templates" / "console"
# The templates carry their style inline and no script at all.
SECURITY_HEADERS = security_headers(style_src="'unsafe-inline'")

_env = Environment(loader=FileSystemLoader(TEMPLATE_DIR), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.filters["berlin"] = berlin
_env.filters["time_left"] = time_left_label
_env.filters["status"] = lambda status: STATUS_LABELS.get(status, status)
_env.filters["amount"] = format_euro
_env.filters["multiplier"] = lambda factor: f"×{factor.normalize():f}".replace(".", ",")
_env.filters["kind"] = lambda kind: VALUE_LABELS["kind"].get(kind, kind)


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``name`` (a template) with the console's headers."""
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
