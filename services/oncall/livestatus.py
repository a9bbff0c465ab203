"""The service desk's public live status page (the seed's "24/7 Live-Status"):
``GET /live-status[?lang=en]``.

It says whether the emergency service is staffed now (the rota, level 1), which window
(BT/ST/OT) runs now (the business calendar), what a priority request costs per hour right
now (the base rate times the window's surcharge, from :mod:`shared.domain.pricing`), and
the announcements of known incidents the technicians published in the console.

Served by oncall because oncall owns the rota; public, so it carries no personal data: no
names or addresses of technicians (not even who is on call), no authors of announcements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.oncall.announcements import Announcement, Announcements
from services.oncall.rota import Rota
from services.oncall.templating import TEMPLATES
from shared.domain.calendar import BusinessCalendar, Window
from shared.domain.money import format_euro, format_percent
from shared.domain.pricing import NO_SURCHARGE, SURCHARGE
from shared.runtime.responses import security_headers
from shared.runtime.runtime import Runtime

PATH = "/live-status"
BERLIN = ZoneInfo("Europe/Berlin")
HEADERS = security_headers(style_src="'unsafe-inline'")

TEXTS: dict[str, dict[str, str]] = {
    "de": {
        "title": "24/7 Live-Status", "switch": "English", "as_of": "Stand: {time} Uhr",
        "staffed": "Der Notfall-Bereitschaftsdienst ist jetzt besetzt.",
        "unstaffed": "Der Notfall-Bereitschaftsdienst ist gerade nicht besetzt. Ihre "
                     "Anfrage wird gespeichert und bearbeitet, sobald er wieder besetzt ist.",
        "window": "Aktuelles Zeitfenster",
        "window.BT": "Business Time (BT)", "window.ST": "Service Time (ST), außerhalb der "
        "Business Time", "window.OT": "Operating Time (OT), außerhalb der Service Time",
        "price": "Eine Anfrage mit Priorität kostet jetzt",
        "price.value": "{price} je Stunde zzgl. USt.",
        "price.surcharge": "(Basis {rate} + {surcharge} Zuschlag)",
        "price.base": "(Basis {rate}, kein Zuschlag)",
        "price.blocks": "Abgerechnet werden jeweils begonnene 10 Minuten. Ohne Priorität "
                        "entstehen keine Zuschläge.",
        "announcements": "Bekannte Störungen", "none": "Zurzeit sind keine Störungen bekannt.",
        "since": "seit {time} Uhr", "refresh": "Diese Seite aktualisiert sich jede Minute.",
        "form": "Support anfordern", "time": "%d.%m.%Y, %H:%M",
    },
    "en": {
        "title": "24/7 live status", "switch": "Deutsch", "as_of": "As of {time} (Berlin time)",
        "staffed": "The emergency on-call service is staffed now.",
        "unstaffed": "The emergency on-call service is not staffed right now. Your request "
                     "is stored and handled as soon as it is staffed again.",
        "window": "Current window",
        "window.BT": "Business Time (BT)", "window.ST": "Service Time (ST), outside business "
        "time", "window.OT": "Operating Time (OT), outside service time",
        "price": "A priority request costs right now",
        "price.value": "{price} per hour plus VAT",
        "price.surcharge": "(base {rate} + {surcharge} surcharge)",
        "price.base": "(base {rate}, no surcharge)",
        "price.blocks": "Each started 10 minutes is billed. Without priority there are no "
                        "surcharges.",
        "announcements": "Known incidents", "none": "No incidents are known at the moment.",
        "since": "since {time}", "refresh": "This page refreshes every minute.",
        "form": "Request support", "time": "%d %b %Y, %H:%M",
    },
}


@dataclass(frozen=True)
class DeskStatus:
    """The desk right now: all the page shows but the announcements."""

    at: datetime
    staffed: bool
    window: Window
    hourly_rate: Decimal
    multiplier: Decimal

    @property
    def priority_hourly_price(self) -> Decimal:
        return self.hourly_rate * self.multiplier


def desk_status(now: datetime, rota: Rota, calendar: BusinessCalendar,
                hourly_rate: Decimal) -> DeskStatus:
    """Staffed (somebody on call on level 1), the window and the priority price at ``now``."""
    window = calendar.window_at(now)
    return DeskStatus(at=now, staffed=rota.who_is_on_call(now, 1) is not None, window=window,
                      hourly_rate=hourly_rate, multiplier=SURCHARGE[window])


def page_context(status: DeskStatus, announcements: list[Announcement],
                 language: str) -> dict[str, object]:
    """What the template shows, in ``language`` (German unless "en")."""
    texts = TEXTS[language]

    def local(moment: datetime) -> str:
        return moment.astimezone(BERLIN).strftime(texts["time"])

    surcharge = status.multiplier - NO_SURCHARGE
    detail = (texts["price.surcharge"].format(rate=format_euro(status.hourly_rate, language),
                                              surcharge=format_percent(surcharge, language))
              if surcharge else
              texts["price.base"].format(rate=format_euro(status.hourly_rate, language)))
    return {
        "t": texts, "language": language, "other": "en" if language == "de" else "de",
        "as_of": texts["as_of"].format(time=local(status.at)), "staffed": status.staffed,
        "window": status.window, "window_name": texts[f"window.{status.window}"],
        "price": texts["price.value"].format(
            price=format_euro(status.priority_hourly_price, language)),
        "price_detail": detail,
        "announcements": [(texts["since"].format(time=local(a.published_at)), a.text)
                          for a in announcements],
    }


def live_status_router(runtime: Runtime, rota: Rota, clock: Callable[[], datetime],
                       announcements: Announcements | None = None) -> APIRouter:
    """``GET /live-status``; ``clock`` is the page's "now" (tests pass a fixed one)."""
    router = APIRouter(include_in_schema=False)
    calendar = runtime.settings.billing.calendar()
    board = announcements or Announcements(runtime.js)

    @router.get(PATH)
    async def live_status(lang: str = "de") -> HTMLResponse:
        language = "en" if lang == "en" else "de"
        status = desk_status(clock(), rota, calendar, runtime.settings.billing.hourly_rate)
        context = page_context(status, await board.live(), language)
        html = TEMPLATES.get_template("live_status.html").render(**context)
        return HTMLResponse(html, headers=HEADERS)

    return router
