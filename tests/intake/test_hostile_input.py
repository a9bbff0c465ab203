"""Random and hostile payloads over real HTTP: never a 5xx, nothing stored for an invalid
request, no user text unescaped in any page."""

from __future__ import annotations

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.requestform import ALL_FIELDS
from tests.intake.conftest import Intake, form_tokens, ticket_count, valid_form, valid_json

HOSTILE_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x3F), max_size=30),
    st.sampled_from(["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>",
                     "{{7*7}}", "${jndi:ldap://x}", "' OR 1=1 --", "\u202eevil", "\x00",
                     "a" * 5000, "Passwort: Geheim123", "../../etc/passwd", "%00", "\ud7ff"]),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | HOSTILE_TEXT
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6)
FIELD_NAMES = st.sampled_from(ALL_FIELDS) | st.text(max_size=12)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(changes=st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=6),
       language=st.sampled_from(["de", "en", "fr", "", "*"]))
async def test_random_json_is_answered_without_5xx_and_stores_nothing_when_wrong(
        intake: Intake, client: httpx.AsyncClient, changes: dict[str, object],
        language: str) -> None:
    before = await ticket_count(intake.system)
    answer = await client.post("/api/requests", json={**valid_json(), **changes},
                               headers={"Accept-Language": language})
    assert answer.status_code in (201, 422), answer.text
    stored = await ticket_count(intake.system) - before
    assert stored == (1 if answer.status_code == 201 else 0)
    if answer.status_code == 422:
        assert answer.json()["errors"]


@SETTINGS
@given(body=st.binary(max_size=300))
async def test_random_bytes_are_refused_cleanly(intake: Intake, client: httpx.AsyncClient,
                                                body: bytes) -> None:
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        path = "/api/requests" if content_type == "application/json" else "/"
        answer = await client.post(path, content=body, headers={"Content-Type": content_type})
        assert answer.status_code < 500
    assert await ticket_count(intake.system) == 0


@SETTINGS
@given(changes=st.dictionaries(st.sampled_from(ALL_FIELDS), HOSTILE_TEXT, max_size=5))
async def test_hostile_form_input_is_never_echoed_unescaped(
        intake: Intake, client: httpx.AsyncClient, changes: dict[str, str]) -> None:
    marker = "<b id=injected>"
    changes = {name: f"{marker}{value}" for name, value in changes.items()}
    tokens = await form_tokens(client)
    before = await ticket_count(intake.system)
    answer = await client.post("/", data={**valid_form(), **changes, **tokens},
                               follow_redirects=True)
    assert answer.status_code in (200, 422), answer.text[:300]
    assert marker not in answer.text
    stored = await ticket_count(intake.system) - before
    assert stored == (1 if answer.status_code == 200 else 0)
