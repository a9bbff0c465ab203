"""Rotating the secret key breaks nothing handed out: after a change of
``TICKETCORE_SECRET_KEY`` with the old key in ``TICKETCORE_PREVIOUS_SECRET_KEYS``, sessions,
status links, acknowledge links and console CSRF tokens made with the old key keep working
until the stated time (and stop after it), everything new is signed with the new key, and
the mails of a ticket keep naming its receipt by the Message-ID it was sent with."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from services.oncall.paging import ack_path
from shared.runtime.auth import CSRF_HEADER, SESSION_COOKIE
from shared.runtime.links import status_token
from shared.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.intake.conftest import valid_json
from tests.oncall.conftest import TOKENS
from tests.security.conftest import web_system
from tests.security.test_web_auth import console_csrf, console_login
from tests.support import SmtpSink

NEW_KEY = "the-new-secret-key-7c2e91b04d"
WEB = ("intake", "ack", "oncall")


def rotated(web_settings: Callable[..., Settings], until: datetime) -> Settings:
    return web_settings(secret_key=NEW_KEY, previous_secret_keys=[
        {"key": TEST_SECRET_KEY, "until": until.isoformat()}])


async def test_what_the_old_key_signed_works_until_the_stated_time_and_then_stops(
        web_settings: Callable[..., Settings], smtp_sink: SmtpSink) -> None:
    async with web_system(web_settings(), WEB) as (_, http):
        submitted = await http.post("/api/requests", json=valid_json())
        assert submitted.status_code == 201, submitted.text
        case, status_url = submitted.json()["case_number"], submitted.json()["status_url"]
        [receipt] = await smtp_sink.wait_for(1)
        cookie = await console_login(http, "anna")
        csrf = await console_csrf(http, cookie)
        acknowledge = ack_path(TEST_SECRET_KEY, case, "anna", int(time.time()) + 3600)

    soon = datetime.now(UTC) + timedelta(days=30)
    async with web_system(rotated(web_settings, soon), WEB) as (_, http):
        assert (await http.get(status_url)).status_code == 200
        assert (await http.get("/console", cookies={SESSION_COOKIE: cookie})).status_code == 200
        assert (await http.get(acknowledge)).status_code == 200  # the confirm page
        # A page of the console opened before the change still sends its token.
        noted = await http.post(f"/api/tickets/{case}/note", json={"text": "Rückruf"},
                                cookies={SESSION_COOKIE: cookie}, headers={CSRF_HEADER: csrf})
        assert noted.status_code == 200, noted.text
        # The technician answers: the mail names the receipt by the id it was sent with.
        answered = await http.post(f"/api/tickets/{case}/respond", json={"message": "Ok."},
                                   headers={"Authorization": f"Bearer {TOKENS['anna']}"})
        assert answered.status_code == 200, answered.text
        mails = await smtp_sink.wait_for(2)
        # Everything new is signed with the new key.
        again = await http.post("/api/requests", json=valid_json(email="zwei@muster.de"))
        new_case, new_url = again.json()["case_number"], again.json()["status_url"]
        assert new_url.endswith(status_token(NEW_KEY, new_case))
        assert (await http.get(new_url)).status_code == 200
    answer = next(m for m in mails if "Ok." in m.get_body(("plain",)).get_content())
    assert receipt["Message-ID"] in answer["References"].split()

    past = datetime.now(UTC) - timedelta(seconds=1)
    async with web_system(rotated(web_settings, past), WEB) as (_, http):
        assert (await http.get(status_url)).status_code == 404
        assert (await http.get("/console", cookies={SESSION_COOKIE: cookie})).status_code == 303
        assert (await http.get(acknowledge)).status_code == 403
        assert (await http.get(new_url)).status_code == 200
