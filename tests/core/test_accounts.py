"""Technician accounts and HTTP authentication over a real server."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request
from nats.aio.client import Client as NatsClient

from shared.adapters.provision import provision
from shared.adapters.sessions import SessionStore
from shared.runtime.accounts import AccountStore, hash_password, hash_token, new_token
from shared.runtime.auth import Authenticator, session_cookie_value
from tests.support import serve_app

SECRET = "test-secret-key-0123456789"


def accounts() -> tuple[AccountStore, str]:
    token, token_hash = new_token()
    store = AccountStore.from_dict({"technicians": [
        {"id": "anna", "name": "Anna", "password_hash": hash_password("s3cret!"),
         "token_hashes": [token_hash]}]})
    return store, token


def test_passwords_are_hashed_and_checked() -> None:
    store, token = accounts()
    assert store.technicians["anna"].password_hash.startswith("$argon2")
    assert store.by_password("anna", "s3cret!") is not None
    assert store.by_password("anna", "wrong") is None
    assert store.by_password("nobody", "s3cret!") is None
    assert store.by_token(token) is not None and store.by_token(token + "x") is None
    assert hash_token(token) in store.technicians["anna"].token_hashes


async def test_only_known_technicians_pass_and_others_get_401(nc: NatsClient) -> None:
    store, token = accounts()
    js = nc.jetstream()
    await provision(js)
    auth = Authenticator(lambda: store, SECRET, SessionStore(js))
    changes: list[str] = []
    app = FastAPI()

    @app.get("/change")
    async def change(request: Request) -> dict[str, str]:
        tech = await auth.technician(request)
        changes.append(tech.id)
        return {"by": tech.id}

    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/change", headers={"Authorization": f"Bearer {token}"})
                ).json() == {"by": "anna"}
        assert (await client.get("/change", auth=("anna", "s3cret!"))).status_code == 200
        cookie = await auth.open_session(store.technicians["anna"])
        assert (await client.get("/change", cookies={"tc_session": cookie})).status_code \
            == 200
        unopened = session_cookie_value(SECRET, "anna", "never-opened")
        for bad in ({"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"},
                    {}, {"Cookie": "tc_session=" + cookie.replace("anna", "eve")},
                    {"Cookie": "tc_session=" + unopened}):
            response = await client.get("/change", headers=bad)
            assert response.status_code == 401, bad
        assert (await client.get("/change", auth=("anna", "wrong"))).status_code == 401
    assert changes == ["anna", "anna", "anna"]
