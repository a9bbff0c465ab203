"""Login, logout, forged sessions and CSRF, over real HTTP."""

from __future__ import annotations

from services.oncall.console.sessions import LOGIN_CSRF_COOKIE
from shared.runtime.auth import SESSION_COOKIE, session_cookie_value
from tests.console.conftest import CSRF_FIELD, ConsoleUnderTest, post_login


async def test_pages_redirect_to_login_without_a_session(console: ConsoleUnderTest) -> None:
    async with console.client() as client:
        for path in ("/console", "/console/tickets/202611250000013",
                     "/console/attachments/" + "a" * 64):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/login"


async def test_wrong_password_gives_no_session(console: ConsoleUnderTest) -> None:
    async with console.client() as client:
        for tech, password in (("anna", "wrong"), ("nobody", "anna-secret-pw"), ("anna", "")):
            response = await post_login(client, tech, password)
            assert response.status_code == 401
            assert "Kennung oder Passwort falsch" in response.text
            assert SESSION_COOKIE not in response.cookies
        assert (await client.get("/console")).status_code == 303


async def test_login_opens_the_queue_and_logout_ends_the_session(
        console: ConsoleUnderTest) -> None:
    async with console.client() as client:
        response = await post_login(client, "anna", "anna-secret-pw")
        assert response.status_code == 303
        assert response.headers["location"] == "/console"
        cookie = next(c for c in response.headers.get_list("set-cookie")
                      if c.startswith(SESSION_COOKIE + "="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        queue = await client.get("/console")
        assert queue.status_code == 200
        assert "Anna (anna)" in queue.text
        csrf = await console.csrf(client)
        assert (await client.post("/console/logout", data={"csrf": csrf})).status_code == 303
        assert (await client.get("/console")).status_code == 303


async def test_logout_needs_the_csrf_token(console: ConsoleUnderTest) -> None:
    async with console.login("anna") as client:
        assert (await client.post("/console/logout", data={"csrf": "0" * 64})).status_code == 403
        assert (await client.get("/console")).status_code == 200


async def test_another_technicians_session_cannot_be_forged(console: ConsoleUnderTest) -> None:
    secret = console.runtime.settings.secret_key
    async with console.login("bernd") as client:
        bernd = client.cookies[SESSION_COOKIE]
    _, session_id, expiry, signature = bernd.rsplit(".", 3)
    forgeries = [
        f"anna.{session_id}.{expiry}.{signature}",           # bernd's signature, anna's id
        session_cookie_value("another-secret-0123456789", "anna", session_id),  # wrong key
        session_cookie_value(secret, "anna", session_id, now=1_000_000.0),     # expired
        session_cookie_value(secret, "anna", "no-such-session"),  # signed, never opened
        "anna", "", "anna..", "anna...",
    ]
    for forged in forgeries:
        async with console.client() as client:
            client.cookies.set(SESSION_COOKIE, forged)
            response = await client.get("/console")
            assert response.status_code == 303, forged
    # The genuine cookie works: the refusals above are about the forgery, not the setup.
    async with console.login("anna") as login, console.client() as client:
        client.cookies.set(SESSION_COOKIE, login.cookies[SESSION_COOKIE])
        response = await client.get("/console")
        assert response.status_code == 200
        assert "Anna (anna)" in response.text


async def test_login_needs_the_login_forms_csrf_token(console: ConsoleUnderTest) -> None:
    """A login posted from elsewhere (no token, a made-up one, or a token without the
    pre-session cookie it belongs to) gets 403 and no session, even with the right
    password."""
    async with console.client() as client:
        form = await client.get("/console/login")
        token = CSRF_FIELD.search(form.text)
        assert token, form.text
        cookie = next(c for c in form.headers.get_list("set-cookie")
                      if c.startswith(LOGIN_CSRF_COOKIE + "="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        good = {"technician": "anna", "password": "anna-secret-pw"}
        for csrf in (None, "", "0" * 64):
            data = good if csrf is None else {**good, "csrf": csrf}
            response = await client.post("/console/login", data=data)
            assert response.status_code == 403, csrf
            assert "Anmeldeformular ist abgelaufen" in response.text
            assert SESSION_COOKIE not in response.cookies
        # The right token but without its cookie (another browser): refused too.
        async with console.client() as stranger:
            response = await stranger.post("/console/login",
                                           data={**good, "csrf": token.group(1)})
            assert response.status_code == 403
            assert SESSION_COOKIE not in response.cookies
        # With both, the same login works: the refusals were about the token.
        response = await client.post("/console/login", data={**good, "csrf": token.group(1)})
        assert response.status_code == 303
        assert SESSION_COOKIE in response.cookies
