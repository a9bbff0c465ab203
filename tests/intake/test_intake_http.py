"""The intake door over real HTTP against a real nats-server: rules, messages in both
languages, the new ticket's event, idempotency, status page and protection."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.adapters.eventstore import PendingEvent
from shared.domain import events as ev
from shared.domain.casenumber import is_valid_case_number, with_check_digit
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.intake.conftest import Intake, form_tokens, ticket_count, valid_form, valid_json
from tests.support import serve_app

# (changes to a valid request, wrong field, words of the German and the English message)
RULES = [
    ({"first_name": ""}, "first_name", "füllen Sie dieses Feld aus", "fill in this field"),
    ({"last_name": "   "}, "last_name", "füllen Sie dieses Feld aus", "fill in this field"),
    ({"email": "erika.muster.de"}, "email", "gültige E-Mail-Adresse", "valid e-mail address"),
    ({"phone": "call me"}, "phone", "Telefonnummer", "phone number"),
    ({"street": None}, "street", "füllen Sie dieses Feld aus", "fill in this field"),
    ({"postcode": "1"}, "postcode", "Postleitzahl", "postcode"),
    ({"city": "x" * 101}, "city", "höchstens 100 Zeichen", "at most 100 characters"),
    ({"short_description": "abc"}, "short_description", "4 bis 80 Zeichen (jetzt: 3)",
     "4 to 80 characters (now: 3)"),
    ({"short_description": "ä" * 81}, "short_description", "(jetzt: 81)", "(now: 81)"),
    ({"short_description": "Drucker\x00kaputt"}, "short_description", "Steuerzeichen",
     "control characters"),
    ({"error_message": "y" * 4001}, "error_message", "höchstens 4000", "at most 4000"),
    ({"purchase_date": "2019-02-30"}, "purchase_date", "JJJJ-MM-TT", "YYYY-MM-DD"),
    ({"purchase_date": "2999-01-01"}, "purchase_date", "nicht in der Zukunft", "not in the"),
    ({"additional_backup": None}, "additional_backup", "Ja oder Nein", "yes or no"),
    ({"backup_acknowledged": False}, "backup_acknowledged", "Datensicherung",
     "regular backup"),
    ({"priority_acknowledged": False}, "priority_acknowledged", "Preisaufschläge",
     "surcharges"),
    ({"commercial_customer": False}, "commercial_customer", "gewerblich", "commercially"),
    ({"priority": "ja"}, "priority", "true oder false", "true or false"),
    ({"model": 42}, "model", "Text", "text"),
    ({"colour": "blue"}, "colour", "gibt es nicht", "no such field"),
    ({"language": "fr"}, "language", "„de“ und „en“", "“de” and “en”"),
]


async def test_every_rule_is_refused_with_its_message_in_both_languages(
        intake: Intake, client: httpx.AsyncClient) -> None:
    for changes, field, german, english in RULES:
        for language, words in (("de", german), ("en", english)):
            body = valid_json(**changes)
            if "language" not in changes:
                body["language"] = language
            answer = await client.post("/api/requests", json=body,
                                       headers={"Accept-Language": language})
            assert answer.status_code == 422, (changes, answer.text)
            errors = answer.json()["errors"]
            assert list(errors) == [field], (changes, errors)
            assert words in errors[field], (changes, language, errors)
    assert await ticket_count(intake.system) == 0


async def test_the_form_shows_errors_per_field_with_a_linked_summary(
        intake: Intake, client: httpx.AsyncClient) -> None:
    for language, words in (("de", "gültige E-Mail-Adresse"), ("en", "valid e-mail address")):
        tokens = await form_tokens(client, language)
        page = await client.post("/", data={**valid_form(email="nope", commercial_customer=None),
                                            **tokens})
        assert page.status_code == 422
        summary = page.text.split('id="error-summary"')[1].split("</div>")[0]
        assert '<a href="#f-email">' in summary and '<a href="#f-commercial_customer">' in summary
        assert words in summary
        assert re.search(r'id="f-email"[^>]*aria-describedby="e-email"[^>]*aria-invalid="true"',
                         page.text)
        assert 'value="nope"' in page.text  # what the customer typed stays in the form
        assert f'<html lang="{language}">' in page.text
    assert await ticket_count(intake.system) == 0


async def test_the_form_has_every_section_and_speaks_the_browsers_language(
        client: httpx.AsyncClient) -> None:
    german = (await client.get("/")).text
    for words in ("Vertragspartner", "Kurzbeschreibung", "Auftragsgegenstand", "Hersteller",
                  "Anschaffungsdatum", "Betriebssystem", "Fehlermeldung im Wortlaut",
                  "keine Passwörter", "zusätzlichen Backups", "Priorität",
                  "Gewerbetreibender", 'for="f-company"', "<fieldset>"):
        assert words in german
    async with httpx.AsyncClient(base_url=str(client.base_url)) as fresh:
        english = await fresh.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
        assert "Request support" in english.text and 'lang="en"' in english.text


async def _submitted(intake: Intake, case_number: str) -> list[ev.Event]:
    history = await intake.system.runtime.store.load(case_number)
    return [recorded.event for recorded in history.events]


async def test_a_request_becomes_a_new_ticket_with_everything_downstream_needs(
        intake: Intake, client: httpx.AsyncClient) -> None:
    body = valid_json(priority=True, priority_acknowledged=False, language="en",
                      expected_behaviour="Login works. Passwort: Geheim123",
                      purchase_date="2021-03-04")
    answer = await client.post("/api/requests", json=body)
    assert answer.status_code == 201
    created = answer.json()
    number = created["case_number"]
    assert is_valid_case_number(number)
    assert created["redacted_fields"] == ["expected_behaviour"]
    assert "Expected" not in created["notice"] and "What did you expect" in created["notice"]
    assert answer.headers["location"] == created["status_url"]
    [event] = await _submitted(intake, number)
    assert isinstance(event, ev.RequestSubmitted)
    assert event.case_number == number and event.channel == "api" and event.language == "en"
    assert event.priority and event.has_sla and event.reaction_minutes == 240
    assert event.contact.email == "erika@muster.de" and event.customer_id == "muster.de"
    assert event.fault.expected_behaviour == "Login works. Passwort: [REDACTED]"
    assert event.redacted_fields == ("expected_behaviour",)
    assert event.subject.purchase_date.isoformat() == "2021-03-04"
    assert event.backup == "backup_done_or_not_needed"


async def test_the_contract_party_is_the_company_if_one_is_named(
        intake: Intake, client: httpx.AsyncClient) -> None:
    with_company = await client.post("/api/requests", json=valid_json())
    without = await client.post("/api/requests", json=valid_json(company=""))
    [company_event] = await _submitted(intake, with_company.json()["case_number"])
    [person_event] = await _submitted(intake, without.json()["case_number"])
    assert company_event.contract_party.name == "Muster GmbH"
    assert company_event.contract_party.is_company
    assert company_event.contact.full_name == "Erika Mustermann"
    assert person_event.contract_party.name == "Erika Mustermann"
    assert not person_event.contract_party.is_company
    assert person_event.contract_party.city == "Berlin"


async def test_a_customer_without_sla_waits_for_acceptance(settings: Settings) -> None:
    settings = settings.model_copy(update={"intake": settings.intake.model_copy(
        update={"customers_without_sla": ["muster.de"]})})
    async with (running_system(settings, ("intake",)) as system,
                serve_app(system.http_app()) as base_url, httpx.AsyncClient() as http):
        answer = await http.post(f"{base_url}/api/requests", json=valid_json())
        number = answer.json()["case_number"]
        events = await _submitted(Intake(base_url, system), number)
        assert [type(e).__name__ for e in events] == ["RequestSubmitted",
                                                      "AwaitingAcceptance"]
        assert not events[0].has_sla
        confirmation = await http.get(f"{base_url}{answer.json()['status_url']}")
        assert "wartet auf Annahme" in confirmation.text


async def test_a_repeated_api_submit_with_one_key_creates_one_ticket(
        intake: Intake, client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "order-4711"}
    answers = await asyncio.gather(*(client.post("/api/requests", json=valid_json(),
                                                 headers=headers) for _ in range(5)))
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["case_number"] for a in answers}) == 1
    assert sum(a.json()["replayed"] for a in answers) == 4
    again = await client.post("/api/requests", json=valid_json(), headers=headers)
    assert again.json()["case_number"] == answers[0].json()["case_number"]
    assert await ticket_count(intake.system) == 1
    other = await client.post("/api/requests", json=valid_json(city="Potsdam"), headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["errors"]
    without_key = [await client.post("/api/requests", json=valid_json()) for _ in range(2)]
    assert without_key[0].json()["case_number"] != without_key[1].json()["case_number"]
    assert await ticket_count(intake.system) == 3


async def test_a_double_submit_of_the_form_creates_one_ticket(
        intake: Intake, client: httpx.AsyncClient) -> None:
    tokens = await form_tokens(client)
    first, second = await asyncio.gather(
        client.post("/", data={**valid_form(), **tokens}),
        client.post("/", data={**valid_form(), **tokens}))
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await ticket_count(intake.system) == 1
    fresh = await form_tokens(client)
    third = await client.post("/", data={**valid_form(), **fresh})
    assert third.headers["location"] != first.headers["location"]


async def test_a_form_post_without_its_csrf_token_is_refused(
        intake: Intake, client: httpx.AsyncClient) -> None:
    tokens = await form_tokens(client)
    forged = await client.post("/", data={**valid_form(), **tokens, "csrf_token": "x" * 43})
    assert forged.status_code == 403 and "Formular neu laden" in forged.text
    async with httpx.AsyncClient(base_url=intake.base_url) as other_site:  # no cookie
        cross = await other_site.post("/", data={**valid_form(), **tokens})
        assert cross.status_code == 403
    assert await ticket_count(intake.system) == 0


async def test_the_status_page_needs_the_secret_token(
        intake: Intake, client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/requests", json=valid_json(language="en"))).json()
    number, url = created["case_number"], created["status_url"]
    page = await client.get(url)
    assert page.status_code == 200 and number in page.text
    assert "open, waiting for a technician" in page.text and "Support request received" in page.text
    unknown = with_check_digit(number[:-1][:-5] + "99999")
    refused = [await client.get(path) for path in (
        f"/status/{number}", f"/status/{number}?t=", f"/status/{number}?t=wrong",
        f"/status/{unknown}?t={url.split('=')[1]}", f"/status/{number[:-1]}?t=x",
        "/status/abc?t=x", "/confirmation/" + number + "?t=wrong")]
    assert {r.status_code for r in refused} == {404}
    assert len({r.text for r in refused}) == 1  # a wrong token looks like an unknown number
    assert "Referrer-Policy" in page.headers and page.headers["cache-control"] == "no-store"


async def test_the_status_page_shows_the_sla_deadline_and_the_visible_history(
        intake: Intake, client: httpx.AsyncClient) -> None:
    created = (await client.post("/api/requests", json=valid_json(priority=True))).json()
    number = created["case_number"]
    store = intake.system.runtime.store
    history = await store.load(number)
    deadline = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    at = history.events[0].event.at + timedelta(seconds=1)
    await store.append(number, [
        PendingEvent(ev.PriorityEscalated(at=at, technician="tom", reaction_deadline=deadline)),
        PendingEvent(ev.OnCallReNotified(at=at, technician="tom", attempt=1)),
    ], history.version)
    page = await client.get(created["status_url"])
    assert 'id="deadline"><time datetime="2026-11-25T14:00:00+00:00">25.11.2026, 15:00 Uhr' \
        in page.text
    assert "An den Bereitschaftstechniker übergeben" in page.text
    main = page.text.split("<main", 1)[1]
    assert "tom" not in main  # internal events and names stay internal
    assert main.count("<li>") == 2
    english = await client.get(created["status_url"] + "&lang=en")
    assert "Handed to the technician on call" in english.text


async def test_user_text_is_escaped_on_every_page(
        intake: Intake, client: httpx.AsyncClient) -> None:
    hostile = "<script>alert(1)</script>\"'&"
    tokens = await form_tokens(client)
    answer = await client.post("/", data={**valid_form(short_description=hostile[:30]),
                                          **tokens}, follow_redirects=True)
    assert answer.status_code == 200
    status = await client.get(re.search(r'id="status-link" href="([^"]+)"', answer.text)[1]
                              .replace("&amp;", "&"))
    for page in (answer, status):
        assert "<script>alert" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_size_limits_media_types_and_bad_json_never_store_anything(
        intake: Intake, client: httpx.AsyncClient) -> None:
    huge = await client.post("/api/requests", content=b"{" + b" " * 70_000 + b"}",
                             headers={"Content-Type": "application/json"})
    assert huge.status_code == 413
    assert (await client.post("/api/requests", content=b"{no json",
                              headers={"Content-Type": "application/json"})).status_code == 400
    assert (await client.post("/api/requests", json=[1, 2])).status_code == 422
    assert (await client.post("/api/requests", content=b"a=b")).status_code == 415
    deep = await client.post("/api/requests", content=b"[" * 50_000,
                             headers={"Content-Type": "application/json"})
    assert deep.status_code == 400
    bad_key = await client.post("/api/requests", json=valid_json(),
                                headers={"Idempotency-Key": "x" * 201})
    assert bad_key.status_code == 422
    tokens = await form_tokens(client)
    big_form = await client.post("/", data={**valid_form(), **tokens, "model": "m" * 70_000})
    assert big_form.status_code == 413
    # Bytes that are no UTF-8: refused before any route, naming the field (textguard).
    assert (await client.post("/", content=b"\xff\xfe=1", headers={
        "Content-Type": "application/x-www-form-urlencoded"})).status_code == 422
    assert await ticket_count(intake.system) == 0


async def test_submissions_are_rate_limited_per_client(settings: Settings) -> None:
    settings = settings.model_copy(update={"intake": settings.intake.model_copy(
        update={"rate_limit_per_minute": 3})})
    async with (running_system(settings, ("intake",)) as system,
                serve_app(system.http_app()) as base_url, httpx.AsyncClient() as http):
        answers = [await http.post(f"{base_url}/api/requests", json=valid_json(),
                                   headers={"Accept-Language": "en"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        assert int(answers[3].headers["retry-after"]) >= 1
        assert "Too many requests" in answers[3].json()["message"]


async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for answer in (await client.get("/"), await client.post("/api/requests", json={})):
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    cookie = (await client.get("/")).headers.get_list("set-cookie")
    assert any("intake_csrf" in c and "HttpOnly" in c and "SameSite=lax" in c for c in cookie)


async def test_the_api_is_documented_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    from services.intake.api_models import SupportRequestBody
    from shared.domain.requestform import ALL_FIELDS

    assert set(SupportRequestBody.model_fields) == set(ALL_FIELDS)
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"]["/api/requests"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == set(ALL_FIELDS)
    assert {"201", "422", "429"} <= set(operation["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    assert "/status/{case_number}" not in document["paths"]


@pytest.mark.slow
async def test_two_intake_replicas_never_hand_out_one_number_twice(settings: Settings) -> None:
    settings = settings.model_copy(update={"intake": settings.intake.model_copy(
        update={"case_number_block": 3, "rate_limit_per_minute": 1000})})
    async with (running_system(settings, ("intake",)) as first,
                running_system(settings, ("intake",)) as second,
                serve_app(first.http_app()) as url_a, serve_app(second.http_app()) as url_b,
                httpx.AsyncClient(timeout=30) as http):
        answers = await asyncio.gather(*(
            http.post(f"{url}/api/requests", json=valid_json())
            for _ in range(20) for url in (url_a, url_b)))
    numbers = [a.json()["case_number"] for a in answers]
    assert all(a.status_code == 201 for a in answers)
    assert len(set(numbers)) == 40
    assert all(is_valid_case_number(n) for n in numbers)


def test_both_languages_have_every_text() -> None:
    from services.intake.catalogue import DE, EN, from_accept_language

    assert set(DE) == set(EN)
    assert from_accept_language("fr-CH, en;q=0.8, de;q=0.9") == "de"
    assert from_accept_language("fr, *;q=0.5") is None
