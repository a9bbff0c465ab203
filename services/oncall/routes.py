"""The oncall service's public routes (shared.runtime.routes): the technicians' API on
tickets and the rota, acknowledge links, the public live status and the console."""

from __future__ import annotations

from shared.runtime.routes import Route, ServiceRoutes, default_body_limit
from shared.settings import Settings


def _answer_as_json(settings: Settings) -> int:
    """An answer with its files, base64-encoded (4 bytes per 3), and its text."""
    return settings.oncall.answer_max_total_bytes * 4 // 3 + default_body_limit(settings)


def _answer_as_form(settings: Settings) -> int:
    """A console form with the answer's files (multipart) and its text."""
    return settings.oncall.answer_max_total_bytes + default_body_limit(settings)


ROUTES = ServiceRoutes("oncall", (
    Route("/api/oncall/now", "technician"),
    Route("/api/oncall/tickets/{case}", "technician"),
    Route("/api/tickets/{case}/accept", "technician"),
    Route("/api/tickets/{case}/decline", "technician"),
    Route("/api/tickets/{case}/respond", "technician", body_limit=_answer_as_json),
    Route("/api/tickets/{case}/note", "technician"),
    Route("/api/tickets/{case}/acknowledge", "technician"),
    Route("/api/tickets/{case}/resolve", "technician"),
    Route("/oncall/ack/{case}/{technician}", "link"),
    Route("/live-status", "anyone"),
    Route("/console/login", "anyone"),
    Route("/console", "console"),
    Route("/console/logout", "console"),
    Route("/console/logout-everywhere", "console"),
    Route("/console/find", "console"),
    Route("/console/tickets/{case}", "console"),
    Route("/console/tickets/{case}/{action}", "console", body_limit=_answer_as_form),
    Route("/console/attachments/{sha256}", "console"),
    Route("/console/announcements", "console"),
    Route("/console/announcements/{announcement_id}/withdraw", "console"),
    Route("/console/mail", "console"),
    Route("/console/mail/{ticket}", "console"),
    Route("/console/mail/{ticket}/{mail_id}/{action}", "console"),  # new-ticket too
))
