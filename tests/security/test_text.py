"""Findings 7 and 10: text that cannot be encoded gets 422 naming the field, anywhere, never
a 500; invisible and format characters are refused in identity fields and removed from free
text, the same for the form, the JSON API and mail (shared.domain.text)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.requestform import CONTACT_FIELDS, FREE_TEXT_FIELDS, validate
from shared.domain.text import encodable, first_invisible, strip_invisible
from shared.runtime.textguard import undecodable_in_query, unencodable_in_json
from shared.settings import Settings
from tests.intake.conftest import generous, valid_json
from tests.oncall.conftest import TOKENS, submit
from tests.security.conftest import web_system

# Everything Unicode has, surrogates included, and the invisible characters of the finding.
ANY_CHAR = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),
    st.sampled_from(["\u200b", "\ufeff", "\ufffe", "\ue000", "\U000e0041", "\u202e",
                     "\u2066", "\u200d", "\u00ad"]))
ANY_TEXT = st.text(alphabet=ANY_CHAR, max_size=30)
TEXT_FIELDS = (*CONTACT_FIELDS, *FREE_TEXT_FIELDS)
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
# The stored event nests some fields under other names.
STORED_AS = {"company": "name", "subject_description": "description"}


@pytest.fixture
async def http(web_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    async with web_system(generous(web_settings()), ("intake", "oncall", "billing")) as (
            system, client):
        client.headers["Authorization"] = f"Bearer {TOKENS['anna']}"
        client.extensions = {"system": system}  # type: ignore[assignment]
        yield client


def post_json(http: httpx.AsyncClient, path: str, body: Any) -> Any:
    # json.dumps escapes lone surrogates as \\udxxx, exactly what a hostile client sends.
    return http.post(path, content=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})


def stored_value(event: Any, name: str) -> str | None:
    """The value of field ``name`` anywhere in the stored event."""
    wanted = STORED_AS.get(name, name)
    stack = [msgspec.to_builtins(event)]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append(value)
            elif key == wanted and isinstance(value, str):
                return value
    return None


def expected(name: str, sent: str) -> str:
    text = unicodedata.normalize("NFC", sent.replace("\r\n", "\n").replace("\r", "\n"))
    return (text if name in CONTACT_FIELDS else strip_invisible(text)).strip()


@SETTINGS
@given(changes=st.dictionaries(st.sampled_from(TEXT_FIELDS) | ANY_TEXT, ANY_TEXT,
                               min_size=1, max_size=4))
async def test_any_unicode_anywhere_in_the_request_body_never_gives_a_500(
        http: httpx.AsyncClient, changes: dict[str, str]) -> None:
    answer = await post_json(http, "/api/requests", {**valid_json(), **changes})
    assert answer.status_code in (201, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["errors"]
        return
    system = http.extensions["system"]  # type: ignore[index]
    history = await system.runtime.store.load(answer.json()["case_number"])
    submitted = history.events[0].event
    for name, sent in changes.items():
        if name == "company" and not expected(name, sent):
            # No company given: the person is the contract party (docs/domain.md 2.1).
            assert not submitted.contract_party.is_company
        elif name in TEXT_FIELDS and name != "email" and name not in submitted.redacted_fields:
            # A 201 stored what was sent, in the documented form.
            assert stored_value(submitted, name) == expected(name, sent), name


@pytest.mark.parametrize("field", ["first_name", "company", "error_message"])
async def test_a_lone_surrogate_gets_422_naming_the_field(
        http: httpx.AsyncClient, field: str) -> None:
    answer = await post_json(http, "/api/requests", valid_json(**{field: "a\ud800b"}))
    assert answer.status_code == 422
    assert field in answer.json()["errors"]


async def test_technicians_apis_refuse_unencodable_text_too(http: httpx.AsyncClient) -> None:
    system = http.extensions["system"]  # type: ignore[index]
    case = await submit(system.runtime.store, priority=False)
    respond = await post_json(http, f"/api/tickets/{case}/respond", {"message": "x\udfff"})
    assert respond.status_code == 422 and "message" in respond.json()["errors"]
    time = await post_json(http, f"/api/tickets/{case}/time", {
        "start": "2026-11-25T10:00:00+01:00", "end": "2026-11-25T11:00:00+01:00",
        "kind": "remote", "note": ["ok", "\ud800"]})
    assert time.status_code == 422 and "note.1" in time.json()["errors"]
    query = await http.get("/api/oncall/now?at=%ED%A0%80")
    assert query.status_code == 422 and "at" in query.json()["errors"]
    form = await http.post("/", content=b"first_name=%FF%FE",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422 and "first_name" in form.json()["errors"]


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\ufffe", "\ue000", "\U000e0041",
                                       "\u202e", "\u2066"])
async def test_identity_fields_refuse_invisible_characters_free_text_loses_them(
        http: httpx.AsyncClient, invisible: str) -> None:
    for field in ("first_name", "email", "street"):
        answer = await post_json(http, "/api/requests",
                                 valid_json(**{field: f"Er{invisible}ika"}))
        assert answer.status_code == 422 and field in answer.json()["errors"], field
    answer = await post_json(http, "/api/requests",
                             valid_json(error_message=f"Fehler{invisible} 0x1"))
    assert answer.status_code == 201
    system = http.extensions["system"]  # type: ignore[index]
    history = await system.runtime.store.load(answer.json()["case_number"])
    assert stored_value(history.events[0].event, "error_message") == "Fehler 0x1"


def test_joiners_stay_in_names_and_emoji() -> None:
    assert first_invisible("Mehr\u200cnaz") is None  # Persian: the joiner is spelling
    assert strip_invisible("👩\u200d💻 ok\u200b") == "👩\u200d💻 ok"


@given(text=ANY_TEXT)
def test_the_policy_is_total(text: str) -> None:
    """Whatever arrives: free text cleaned holds nothing invisible; identity text is either
    refused or holds nothing invisible; nothing unencodable passes validation."""
    cleaned = strip_invisible(text)
    assert first_invisible(cleaned) is None and encodable(cleaned)
    for field in ("first_name", "error_message"):
        result = validate({field: text}, "json", __import__("datetime").date(2026, 11, 25))
        assert isinstance(result, dict)  # the other required fields are missing
        if field in result:
            continue
        assert encodable(text)


def test_the_guard_finds_the_field() -> None:
    assert unencodable_in_json({"a": [1, {"b": "\ud800"}]}) == ("a", 1, "b")
    assert unencodable_in_json({"\udc00": 1}) == ("\udc00",)
    assert unencodable_in_json({"a": "ok"}) is None
    assert undecodable_in_query(b"ok=1&bad=%C3%28") == "bad"
    assert undecodable_in_query(b"name=%C3%A4") is None
