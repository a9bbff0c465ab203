"""Rendering the console's screens: the service's templates (services/oncall/templating.py)
with the security headers of every console screen."""

from __future__ import annotations

from typing import Any

from fastapi.responses import HTMLResponse

from services.oncall.console.labels import STATUS_LABELS, VALUE_LABELS, berlin, time_left_label
from services.oncall.templating import TEMPLATES
from shared.domain.money import format_euro
from shared.runtime.responses import security_headers

# The templates carry their style inline and no script at all.
SECURITY_HEADERS = security_headers(style_src="'unsafe-inline'")
# The console's values in German.
TEMPLATES.filters.update({
    "berlin": berlin,
    "time_left": time_left_label,
    "status": lambda status: STATUS_LABELS.get(status, status),
    "amount": format_euro,
    "multiplier": lambda factor: f"×{factor.normalize():f}".replace(".", ","),
    "kind": lambda kind: VALUE_LABELS["kind"].get(kind, kind),
})


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``name`` (a template) with the console's headers."""
    html = TEMPLATES.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
