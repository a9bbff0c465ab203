"""Findings 2, 4 and 6: password floods are throttled and never stall anyone else, the JSON
API takes a cookie only with the CSRF token, sessions end on the server, and who is on call
is for technicians only."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import httpx

from shared.runtime.auth import CSRF_HEADER, SESSION_COOKIE
from shared.settings import Settings
from tests.oncall.conftest import TOKENS, submit
from tests.security.conftest import web_system

CSRF_FIELD = re.compile(r'name="csrf" value="([0-9a-f]+)"')
ATTACKER = "127.0.0.2"  # Linux routes all of 127/8 to loopback: a second client address


async def console_login(http: httpx.AsyncClient, tech: str) -> str:
    """Log in through the console form as a fresh browser does; the session cookie's
    value (the client keeps no cookies: each test names the one it sends)."""
    http.cookies.clear()
    form = await http.get("/console/login")
    csrf = CSRF_FIELD.search(form.text)
    assert csrf, form.text
    response = await http.post("/console/login", data={
        "technician": tech, "password": f"pw-{tech}", "csrf": csrf.group(1)})
    assert response.status_code == 303, response.text
    http.cookies.clear()
    return response.cookies[SESSION_COOKIE]


async def console_csrf(http: httpx.AsyncClient, cookie: str) -> str:
    page = await http.get("/console", cookies={SESSION_COOKIE: cookie})
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    return match.group(1)


async def test_a_flood_of_wrong_passwords_is_throttled_and_stalls_nobody(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("oncall",)) as (_, http):
        case = await submit(_.runtime.store, priority=False)
        path = f"/api/oncall/tickets/{case}"
        transport = httpx.AsyncHTTPTransport(local_address=ATTACKER)
        async with httpx.AsyncClient(base_url=str(http.base_url), transport=transport,
                                     timeout=60) as attacker:
            flood = [asyncio.create_task(attacker.get(path, auth=("anna", f"guess-{i}")))
                     for i in range(40)]
            # While the flood runs: the system and other technicians are answered.
            health = await http.get("/health")
            ben = await http.get(path, auth=("ben", "pw-ben"))
            answers = await asyncio.gather(*flood)
        statuses = [a.status_code for a in answers]
        assert health.status_code == 200
        assert ben.status_code == 200, ben.text
        assert set(statuses) <= {401, 429} and statuses.count(429) >= 30, statuses
        assert all(int(a.headers["Retry-After"]) >= 1 for a in answers
                   if a.status_code == 429)
        # The account is throttled from everywhere (its right password too, for a while);
        # its API token still works.
        anna = await http.get(path, auth=("anna", "pw-anna"))
        assert anna.status_code == 429 and "Retry-After" in anna.headers
        token = await http.get(path, headers={"Authorization": f"Bearer {TOKENS['anna']}"})
        assert token.status_code == 200


async def test_the_json_api_takes_a_cookie_only_with_the_csrf_token(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("oncall",)) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        cookie = await console_login(http, "anna")
        respond = f"/api/tickets/{case}/respond"
        body = {"message": "Wir schauen es uns an."}
        forged = await http.post(respond, json=body, cookies={SESSION_COOKIE: cookie})
        assert forged.status_code == 403 and CSRF_HEADER in forged.text
        wrong = await http.post(respond, json=body, cookies={SESSION_COOKIE: cookie},
                                headers={CSRF_HEADER: "0" * 64})
        assert wrong.status_code == 403
        history = await system.runtime.store.load(case)
        assert history.state.first_response_at is None  # nothing was stored
        csrf = await console_csrf(http, cookie)
        ok = await http.post(respond, json=body, cookies={SESSION_COOKIE: cookie},
                             headers={CSRF_HEADER: csrf})
        assert ok.status_code == 200, ok.text
        # Reading with the cookie alone is fine: a foreign page cannot read the answer.
        assert (await http.get(f"/api/oncall/tickets/{case}",
                               cookies={SESSION_COOKIE: cookie})).status_code == 200


async def test_logout_ends_the_session_on_the_server(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("oncall",)) as (_, http):
        cookie = await console_login(http, "anna")
        csrf = await console_csrf(http, cookie)
        out = await http.post("/console/logout", data={"csrf": csrf},
                              cookies={SESSION_COOKIE: cookie})
        assert out.status_code == 303
        # The browser forgot the cookie; a copy of it (stolen) opens nothing any more.
        assert (await http.get("/console", cookies={SESSION_COOKIE: cookie})
                ).status_code == 303
        assert (await http.get("/api/oncall/now", cookies={SESSION_COOKIE: cookie})
                ).status_code == 401


async def test_log_out_everywhere_ends_every_session_of_the_technician_only(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("oncall",)) as (_, http):
        laptop, phone = await console_login(http, "anna"), await console_login(http, "anna")
        ben = await console_login(http, "ben")
        csrf = await console_csrf(http, phone)
        out = await http.post("/console/logout-everywhere", data={"csrf": csrf},
                              cookies={SESSION_COOKIE: phone})
        assert out.status_code == 303
        for gone in (laptop, phone):
            assert (await http.get("/console", cookies={SESSION_COOKIE: gone})
                    ).status_code == 303
        assert (await http.get("/console", cookies={SESSION_COOKIE: ben})).status_code == 200
        # Without the form's token nobody is logged out everywhere (CSRF).
        assert (await http.post("/console/logout-everywhere", data={"csrf": "0" * 64},
                                cookies={SESSION_COOKIE: ben})).status_code == 403
        assert (await http.get("/console", cookies={SESSION_COOKIE: ben})).status_code == 200


async def test_who_is_on_call_is_for_technicians_only(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("oncall",)) as (_, http):
        anonymous = await http.get("/api/oncall/now")
        assert anonymous.status_code == 401
        assert "@" not in anonymous.text and "Anna" not in anonymous.text
        known = await http.get("/api/oncall/now",
                               headers={"Authorization": f"Bearer {TOKENS['ben']}"})
        assert known.status_code == 200 and known.json()["levels"]


