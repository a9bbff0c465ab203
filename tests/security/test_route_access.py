"""Every route of every service, walked over real HTTP: each is declared once in the route
table, a stranger is refused by every technician and console route before anything of the
request is parsed, a change with the session cookie needs the CSRF token, and every answer
carries ``no-store`` and the security headers. Nothing a stranger sends is stored."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from shared.runtime import registry
from shared.runtime.auth import SESSION_COOKIE
from shared.runtime.routes import PROCESS_ROUTES, Route, covers, declaration_of
from shared.settings import Settings
from tests.oncall.conftest import TOKENS, submit
from tests.security.conftest import web_system
from tests.security.test_web_auth import console_login
from tests.support import consumers_idle

ALL = ("intake", "ack", "oncall", "billing")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# A body that is no JSON at all: a route that parsed it before authenticating would answer
# 422 (with an excerpt of it), not 401.
JUNK = b'{"start": "' + b"x" * 4000


def app_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, those of included routers too."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            yield from app_routes(contexts())
        elif getattr(route, "path", None):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    yield method, route.path


async def settled(system: Any) -> int:
    """The log's length once the services handled everything (the ticket's receipt...)."""
    durables = [c.spec.durable for c in system.consumers if c.spec.stream == "TICKETS"]
    assert await consumers_idle(system.runtime.js, "TICKETS", durables)
    return int((await system.runtime.js.stream_info("TICKETS")).state.messages)


def concrete(path: str, case: str) -> str:
    return re.sub(r"\{[a-z_]+\}", lambda m: case if "case" in m.group(0) else "x1", path)


def declared(path: str) -> tuple[str, Route]:
    tables = [*registry.route_tables(), PROCESS_ROUTES]
    claims = [(t.service, r) for t in tables for r in t.routes if covers(r.path, path)]
    assert len(claims) == 1, (path, claims)  # declared, and by one route only
    found = declaration_of(tables, path)
    assert found is not None
    return found


async def test_every_route_is_declared_once_and_refuses_strangers(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ALL) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        before = await settled(system)
        routes = sorted(set(app_routes(system.http_app().routes)))
        assert len(routes) > 40
        walked: dict[str, int] = {}
        for method, path in routes:
            _, route = declared(path)
            url = concrete(path, case)
            answer = await http.request(method, url, content=JUNK if method in UNSAFE else None,
                                        headers={"Content-Type": "application/json"})
            _has_baseline_headers(answer, f"{method} {path}")
            if route.access == "technician":
                assert answer.status_code == 401, (method, path, answer.text[:200])
                assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                assert "xxxx" not in answer.text  # nothing of the body was read back
            elif route.access == "console":
                assert answer.status_code == 303, (method, path, answer.status_code)
                assert answer.headers["Location"] == "/console/login"
            walked[route.access] = walked.get(route.access, 0) + 1
        after = await settled(system)
    assert after == before  # nothing a stranger sent was stored
    assert walked["technician"] >= 14 and walked["console"] >= 15, walked


async def test_a_change_with_the_session_cookie_needs_the_csrf_token_everywhere(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ALL) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        cookie = await console_login(http, "anna")
        before = await settled(system)
        checked = 0
        for method, path in sorted(set(app_routes(system.http_app().routes))):
            _, route = declared(path)
            if method not in UNSAFE or route.access not in ("technician", "console"):
                continue
            answer = await http.request(method, concrete(path, case), data={"text": "x"},
                                        cookies={SESSION_COOKIE: cookie})
            assert answer.status_code == 403, (method, path, answer.status_code)
            checked += 1
        after = await settled(system)
    assert after == before and checked >= 17


async def test_validation_errors_echo_a_short_excerpt_only(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ("billing",)) as (system, http):
        case = await submit(system.runtime.store, priority=False)
        answer = await http.post(f"/api/tickets/{case}/time", headers={
            "Authorization": f"Bearer {TOKENS['anna']}"}, json={
            "start": "y" * 60_000, "end": "2026-11-25T10:30:00+01:00", "kind": "work"})
    assert answer.status_code == 422
    assert len(answer.content) < 2000 and "y" * 81 not in answer.text
    [issue] = [i for i in answer.json()["detail"] if i["loc"][-1] == "start"]
    assert issue["input"].startswith("yyyy") and len(issue["input"]) <= 81


async def test_the_api_reference_runs_no_script(
        web_settings: Callable[..., Settings]) -> None:
    async with web_system(web_settings(), ALL) as (_, http):
        pages = {path: await http.get(path) for path in (
            "/docs", "/docs/intake", "/docs/oncall", "/docs/billing")}
        document = await http.get("/openapi/billing.json")
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert "<script" not in page.text.lower() and "cdn" not in page.text.lower(), path
        assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "/api/tickets/{case}/accept" in pages["/docs/oncall"].text
    assert "/api/tickets/{case}/accept" not in pages["/docs/billing"].text
    assert "POST /api/tickets/{case}/time" in pages["/docs"].text  # the whole process
    billing = {t.service: t for t in registry.route_tables()}["billing"]
    assert set(document.json()["paths"]) == {
        r.path for r in billing.routes if r.path.startswith("/api/")}


def _has_baseline_headers(answer: httpx.Response, where: str) -> None:
    for name, value in (("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                        ("Referrer-Policy", "no-referrer")):
        assert answer.headers.get(name) == value, (where, name, dict(answer.headers))
