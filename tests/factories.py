"""Builders of test events and commands, in the domain's words."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from shared.domain import events as ev

_numbers = itertools.count(1)
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def request_submitted(*, priority: bool = False, has_sla: bool = True,
                      case_number: str | None = None, email: str = "kunde@example.de",
                      company: str | None = "Muster GmbH", language: str = "de",
                      at: datetime = NOW) -> ev.RequestSubmitted:
    contact = ev.Contact(first_name="Erika", last_name="Mustermann", email=email,
                         phone="+49 30 123456")
    party = ev.ContractParty(name=company or contact.full_name, street="Hauptstraße 5",
                             postcode="10115", city="Berlin", is_company=company is not None)
    return ev.RequestSubmitted(
        at=at, case_number=case_number or f"20261125{next(_numbers):05d}0",
        contact=contact, contract_party=party, short_description="Drucker druckt nicht",
        backup="backup_done_or_not_needed", priority=priority, has_sla=has_sla,
        language=language,  # type: ignore[arg-type]
    )
