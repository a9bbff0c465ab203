"""The technicians' side speaks German: page mails and the acknowledge page, English only
for an account that asks for it; without a rota file the first technician account with an
e-mail is paged, not the support address ticketcore reads itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.oncall.rota import rota_from_settings
from shared.adapters.eventstore import EventStore
from shared.runtime.accounts import AccountStore
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.oncall.conftest import ack_path_in, submit, wait_for_event
from tests.support import SmtpSink, serve_app

SUNDAY_3AM = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)  # Carla is on call (override)
ACCOUNTS = """
[[technicians]]
id = "nomail"
name = "Without Mail"

[[technicians]]
id = "carla"
name = "Carla Roth"
email = "carla@example.com"
{language}
"""


def with_accounts(settings: Settings, tmp_path: Path, language: str | None) -> Settings:
    path = tmp_path / "accounts-language.toml"
    line = f'language = "{language}"' if language else ""
    path.write_text(ACCOUNTS.format(language=line), encoding="utf-8")
    return settings.model_copy(update={"accounts_file": path})


async def page_and_ack_page(settings: Settings, store: EventStore, sink: SmtpSink
                            ) -> tuple[str, str, str]:
    """Subject and text of the page mail, and the acknowledge page it links to."""
    async with running_system(settings, ("oncall",)) as system, \
            serve_app(system.http_app()) as base, httpx.AsyncClient(base_url=base) as http:
        case = await submit(store, priority=True, at=SUNDAY_3AM)
        await wait_for_event(store, case, "PriorityEscalated")
        [page] = await sink.wait_for(1)
        confirm = await http.get(ack_path_in(page))
        assert confirm.status_code == 200
    return page["Subject"], page.get_content(), confirm.text


async def test_pages_are_german_by_default(make_settings, tmp_path: Path, store: EventStore,
                                           smtp_sink: SmtpSink) -> None:
    settings = with_accounts(make_settings(), tmp_path, None)
    subject, body, confirm = await page_and_ack_page(settings, store, smtp_sink)
    assert "PRIORITÄT" in subject
    assert "Prioritätsanfrage" in body and "Reaktionsfrist:  29.11.2026 07:00 Uhr" in body
    assert "Alarm bestätigen (beendet Erinnerungen und Eskalation):" in body
    assert "<html lang='de'>" in confirm and "Ich übernehme dieses Ticket" in confirm


async def test_an_account_with_language_en_gets_english_pages(
        make_settings, tmp_path: Path, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = with_accounts(make_settings(), tmp_path, "en")
    subject, body, confirm = await page_and_ack_page(settings, store, smtp_sink)
    assert "PRIORITY" in subject and "Priority request" in body
    assert "Reaction deadline: 2026-11-29 07:00 CET" in body
    assert "<html lang='en'>" in confirm and "I take this ticket" in confirm


def test_a_wrong_account_language_is_refused() -> None:
    with pytest.raises(ValueError, match="language"):
        AccountStore.from_dict({"technicians": [{"id": "x", "language": "fr"}]})


def test_without_rota_file_the_first_account_with_mail_is_on_call(
        settings: Settings, tmp_path: Path) -> None:
    accounts = AccountStore.from_file(with_accounts(settings, tmp_path, None).accounts_file)
    rota = rota_from_settings(settings, accounts)
    person = rota.who_is_on_call(SUNDAY_3AM, 1)
    assert rota.is_default and person is not None
    assert (person.id, person.email) == ("carla", "carla@example.com")
    nobody = rota_from_settings(settings, AccountStore())
    fallback = nobody.who_is_on_call(SUNDAY_3AM, 1)
    assert fallback is not None
    assert fallback.email == settings.inbound_mail.support_address


async def test_without_rota_file_the_page_reaches_the_technician(
        make_settings, tmp_path: Path, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = with_accounts(make_settings(), tmp_path, None)
    settings = settings.model_copy(update={"oncall": settings.oncall.model_copy(
        update={"rota_file": None})})
    async with running_system(settings, ("oncall",)) as system:
        banner = "\n".join(system.services[0].announce())
        case = await submit(store, priority=True, at=SUNDAY_3AM)
        [escalated] = await wait_for_event(store, case, "PriorityEscalated")
        [page] = await smtp_sink.wait_for(1)
    assert escalated.technician == "carla"  # type: ignore[attr-defined]
    assert page["To"].addresses[0].addr_spec == "carla@example.com"
    assert "technician carla (the first account with an e-mail) is paged" in banner


async def test_without_rota_file_or_accounts_the_banner_warns(make_settings) -> None:
    settings = make_settings()
    settings = settings.model_copy(update={"accounts_file": None, "oncall": settings.oncall
                                           .model_copy(update={"rota_file": None})})
    async with running_system(settings, ("oncall",)) as system:
        banner = "\n".join(system.services[0].announce())
    assert "WARNING" in banner and "which ticketcore reads itself" in banner
