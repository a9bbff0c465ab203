"""The intake's public routes (shared.runtime.routes): the customers' door."""

from __future__ import annotations

from shared.runtime.routes import Route, ServiceRoutes
from shared.settings import Settings


def _request_body(settings: Settings) -> int:
    return settings.intake.max_body_bytes


ROUTES = ServiceRoutes("intake", (
    Route("/", "anyone", body_limit=_request_body),  # the form; POST submits it
    Route("/api/requests", "anyone", body_limit=_request_body),
    Route("/confirmation/{case_number}", "link"),
    Route("/status/{case_number}", "link"),
    Route("/status/{case_number}/attachments/{sha256}", "link"),
))
