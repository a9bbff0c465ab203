"""The public live status page of the desk over real HTTP, with a rota and a fixed clock:
staffed or not, the window at its edges, the price of a priority request now, and
announcements published and withdrawn in the console."""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI

from services.oncall.console import console_router
from services.oncall.livestatus import live_status_router
from services.oncall.rota import parse_rota
from services.oncall.ticketboard import TicketBoard
from shared.adapters.natsserver import EmbeddedNats
from shared.adapters.provision import provision
from shared.adapters.technicianentries import TechnicianEntries
from shared.runtime.accounts import AccountStore
from shared.runtime.runtime import connect
from shared.settings import Settings
from tests.console.conftest import ACCOUNTS, CSRF_FIELD, PASSWORDS, post_login
from tests.support import serve_app

BERLIN = ZoneInfo("Europe/Berlin")
# Anna is on call for one day only: before and after it nobody is.
ROTA = parse_rota(tomllib.loads("""
[[people]]
id = "anna"
name = "Anna Schmidt"
email = "anna@example.com"

[[overrides]]
person = "anna"
from = 2026-11-25T08:00:00
to = 2026-11-26T08:00:00
"""))


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


class Clock:
    """The page's "now", set by the test."""

    def __init__(self) -> None:
        self.now = berlin("2026-11-25T12:00:00")

    def __call__(self) -> datetime:
        return self.now


@contextlib.asynccontextmanager
async def desk(settings: Settings, nats_server: EmbeddedNats, clock: Clock
               ) -> AsyncIterator[str]:
    """The live status page and the console on one app over real HTTP; its base URL."""
    runtime = await connect(settings, nats_server.url)
    await provision(runtime.js)
    runtime.accounts = AccountStore.from_dict(ACCOUNTS)
    board = TicketBoard(runtime.store)
    entries = TechnicianEntries(runtime.js, runtime.store, reservation_timeout_s=60)
    app = FastAPI()
    app.include_router(live_status_router(runtime, ROTA, clock))
    app.include_router(console_router(runtime, board, entries))
    try:
        async with serve_app(app) as base_url:
            yield base_url
    finally:
        await board.stop()
        await runtime.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http(settings: Settings, nats_server: EmbeddedNats, clock: Clock
               ) -> AsyncIterator[httpx.AsyncClient]:
    async with desk(settings, nats_server, clock) as base, \
            httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield client


async def live(http: httpx.AsyncClient, lang: str = "de") -> str:
    page = await http.get("/live-status", params={"lang": lang})
    assert page.status_code == 200
    assert "script-src" not in page.headers["content-security-policy"]
    return page.text


def window_of(page: str) -> str:
    return page.split('data-window="', 1)[1][:2]


async def test_staffed_while_somebody_is_on_call(http: httpx.AsyncClient,
                                                 clock: Clock) -> None:
    clock.now = berlin("2026-11-25T12:00:00")
    assert "ist jetzt besetzt" in await live(http)
    assert "is staffed now" in await live(http, "en")
    clock.now = berlin("2026-11-26T08:00:00")  # the override ended: a gap
    page = await live(http)
    assert "gerade nicht besetzt" in page and "ist jetzt besetzt" not in page


@pytest.mark.parametrize(("local", "window"), [
    ("2026-11-25T07:29:59", "OT"), ("2026-11-25T07:30:00", "ST"),
    ("2026-11-25T08:59:59", "ST"), ("2026-11-25T09:00:00", "BT"),
    ("2026-11-25T17:59:59", "BT"), ("2026-11-25T18:00:00", "ST"),
    ("2026-11-25T19:59:59", "ST"), ("2026-11-25T20:00:00", "OT"),
    ("2026-11-28T08:59:59", "OT"), ("2026-11-28T09:00:00", "ST"),   # Saturday
    ("2026-12-25T10:00:00", "ST"),                                    # Christmas Day
])
async def test_the_window_at_its_edges(http: httpx.AsyncClient, clock: Clock, local: str,
                                       window: str) -> None:
    clock.now = berlin(local)
    page = await live(http)
    assert window_of(page) == window
    assert f"({window})" in page


async def test_priority_price_now_in_bt_and_outside_st(http: httpx.AsyncClient,
                                                       clock: Clock) -> None:
    clock.now = berlin("2026-11-25T10:00:00")
    page = await live(http)
    assert "<strong>130,00 € je Stunde zzgl. USt.</strong>" in page
    assert "kein Zuschlag" in page
    clock.now = berlin("2026-11-25T22:00:00")
    page = await live(http)
    assert "<strong>260,00 € je Stunde zzgl. USt.</strong>" in page
    assert "Basis 130,00 € + 100 % Zuschlag" in page
    assert "<strong>€260.00 per hour plus VAT</strong>" in await live(http, "en")


async def test_a_published_announcement_shows_until_withdrawn(
        settings: Settings, nats_server: EmbeddedNats, clock: Clock) -> None:
    async with desk(settings, nats_server, clock) as base, \
            httpx.AsyncClient(base_url=base, timeout=10) as public, \
            httpx.AsyncClient(base_url=base, timeout=10) as technician:
        assert (await post_login(technician, "anna", PASSWORDS["anna"])).status_code == 303
        console_page = await technician.get("/console/announcements")
        csrf = CSRF_FIELD.search(console_page.text)
        assert csrf, console_page.text
        forged = await technician.post("/console/announcements",
                                       data={"text": "forged", "csrf": "0" * 64})
        assert forged.status_code == 403
        text = "VPN gestört <script>alert(1)</script>"
        published = await technician.post("/console/announcements",
                                          data={"text": text, "csrf": csrf.group(1)})
        assert published.status_code == 303

        page = await live(public)
        assert "VPN gestört &lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script>" not in page and "forged" not in page
        assert "Anna" not in page and "anna" not in page.replace("announcements", "")
        assert "@" not in page and "Schmidt" not in page

        listed = await technician.get("/console/announcements")
        announcement_id = listed.text.split('class="card announcement" data-id="', 1)[1][:32]
        withdrawn = await technician.post(
            f"/console/announcements/{announcement_id}/withdraw",
            data={"csrf": csrf.group(1)})
        assert withdrawn.status_code == 303
        page = await live(public)
        assert "VPN gestört" not in page
        assert "Zurzeit sind keine Störungen bekannt." in page


async def test_no_personal_data_on_the_page(http: httpx.AsyncClient, clock: Clock) -> None:
    for lang in ("de", "en"):
        page = await live(http, lang)
        assert "@" not in page and "Schmidt" not in page and "Anna" not in page
