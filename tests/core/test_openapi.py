"""The OpenAPI document of the whole system, fetched over HTTP from the running app: every
route under /api names its security (bearer) unless it is public, a schema for its success
body and every error it can answer, with the error's schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.runtime.app import running_system
from shared.settings import Settings
from tests.support import serve_app

# Routes anyone may call: the customers' intake API.
PUBLIC = {("post", "/api/requests")}
# Every authenticated route can answer these (no credentials, a cookie without the CSRF
# token, too many password attempts) and, with a bad path or body, 422.
AUTH_ERRORS = {"401", "403", "429", "422"}


@pytest.fixture
async def document(settings: Settings) -> AsyncIterator[dict[str, Any]]:
    async with running_system(settings) as system, serve_app(system.http_app()) as base_url, \
            httpx.AsyncClient(base_url=base_url, timeout=20) as client:
        answer = await client.get("/openapi.json")
        assert answer.status_code == 200
        yield answer.json()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, operation) for path, operations in document["paths"].items()
            for method, operation in operations.items() if path.startswith("/api/")]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def _has_schema(response: dict[str, Any]) -> bool:
    """A body schema that says something: an object with properties, an array, a binary
    body, not FastAPI's empty ``{}``."""
    return any(content.get("schema") not in (None, {})
               for content in response.get("content", {}).values())


async def test_every_api_route_is_documented(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert len(operations) >= 15  # billing, oncall and intake are all in the one document
    schemes = document["components"]["securitySchemes"]
    bearer = [name for name, scheme in schemes.items()
              if (scheme["type"], scheme.get("scheme")) == ("http", "bearer")]
    assert bearer, schemes
    problems = []
    for method, path, operation in operations:
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        if not success or not all(_has_schema(responses[code]) for code in success):
            problems.append(f"{where}: no schema for its success body")
        if (method, path) in PUBLIC:
            if operation.get("security"):
                problems.append(f"{where}: public, yet asks for credentials")
            continue
        if not any(bearer[0] in requirement for requirement in operation.get("security", [])):
            problems.append(f"{where}: no bearer security requirement")
        missing = AUTH_ERRORS - set(responses)
        if "{" in path:
            missing |= {"404"} - set(responses)
        if missing:
            problems.append(f"{where}: errors not declared: {sorted(missing)}")
        for code, response in responses.items():
            if code[0] in "45" and not _has_schema(response):
                problems.append(f"{where}: error {code} without a schema")
    assert not problems, "\n".join(problems)


async def test_refusals_of_actions_on_a_ticket_are_declared(document: dict[str, Any]) -> None:
    """What the code answers for a ticket's state (409) is in the document too."""
    for method, path in (("post", "/api/tickets/{case}/time"),
                         ("post", "/api/tickets/{case}/accept"),
                         ("post", "/api/tickets/{case}/invoice"),
                         ("post", "/api/tickets/{case}/time/{entry_id}/void")):
        responses = document["paths"][path][method]["responses"]
        assert "409" in responses, (method, path)
        error = _resolve(document, responses["409"]["content"]["application/json"]["schema"])
        assert error["properties"], (method, path)
