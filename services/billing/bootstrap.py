"""Builds the billing service and its collaborators from the process's Runtime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.billing.invoicing import DocumentNumbers
from services.billing.service import BillingService
from shared.adapters.technicianentries import TechnicianEntries
from shared.runtime.runtime import Runtime


def _utcnow() -> datetime:
    return datetime.now(UTC)


def bootstrap(runtime: Runtime, *, clock: Callable[[], datetime] = _utcnow) -> BillingService:
    """Time logging and invoices: the versioned business calendar, the gap-free document
    numbers and the cross-ticket time entries."""
    settings = runtime.settings
    entries = TechnicianEntries(
        runtime.js, runtime.store,
        reservation_timeout_s=settings.billing.entry_reservation_timeout_s)
    return BillingService(runtime, calendar=settings.billing.calendar(),
                          numbers=DocumentNumbers(runtime.js), technician_entries=entries,
                          clock=clock)
