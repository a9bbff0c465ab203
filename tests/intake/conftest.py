"""Fixtures of the intake tests: the intake service on a real NATS server, served over
real HTTP on a free port, and valid requests to start from."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from shared.runtime.app import RunningSystem, running_system
from shared.settings import Settings
from tests.support import serve_app


@dataclass
class Intake:
    base_url: str
    system: RunningSystem


def generous(settings: Settings) -> Settings:
    """Settings whose rate limit does not get in the way of tests that submit a lot."""
    return settings.model_copy(update={"intake": settings.intake.model_copy(
        update={"rate_limit_per_minute": 100_000})})


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[Intake]:
    async with (running_system(generous(settings), ("intake",)) as system,
                serve_app(system.http_app()) as base_url):
        yield Intake(base_url, system)


@pytest.fixture
async def client(intake: Intake) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=intake.base_url, timeout=10) as http:
        yield http


def valid_json(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "company": "Muster GmbH", "first_name": "Erika", "last_name": "Mustermann",
        "email": "erika@Muster.de", "phone": "+49 30 123456", "street": "Hauptstraße 5",
        "postcode": "10115", "city": "Berlin", "short_description": "Drucker druckt nicht",
        "error_message": "Fehler 0x61011beb", "additional_backup": False,
        "backup_acknowledged": True, "priority": False, "priority_acknowledged": True,
        "commercial_customer": True,
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def valid_form(**changes: str | None) -> dict[str, str]:
    form = {
        "company": "Muster GmbH", "first_name": "Erika", "last_name": "Mustermann",
        "email": "erika@muster.de", "phone": "+49 30 123456", "street": "Hauptstraße 5",
        "postcode": "10115", "city": "Berlin", "short_description": "Drucker druckt nicht",
        "additional_backup": "no", "backup_acknowledged": "yes", "priority": "no",
        "priority_acknowledged": "yes", "commercial_customer": "yes",
    }
    form.update(changes)  # type: ignore[arg-type]
    return {name: value for name, value in form.items() if value is not None}


async def form_tokens(http: httpx.AsyncClient, lang: str = "de") -> dict[str, str]:
    """GET the form (sets the CSRF cookie) and return its hidden fields."""
    page = await http.get("/", params={"lang": lang})
    assert page.status_code == 200
    return {name: value for name, value in re.findall(
        r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text)}


async def ticket_count(system: RunningSystem) -> int:
    info = await system.runtime.js.stream_info("TICKETS")
    return info.state.messages
