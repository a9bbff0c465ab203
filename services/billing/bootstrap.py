"""Builds the billing service and its collaborators from the process's Runtime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from services.billing.invoicing import DocumentNumbers
from services.billing.service import BillingService
from shared.adapters.technicianentries import TechnicianEntries
from shared.runtime.runtime import Runtime


def bootstrap(runtime: Runtime, *, clock: Callable[[], datetime] | None = None) -> BillingService:
    """Time logging and invoices: the versioned business calendar, the gap-free document
    numbers and the cross-ticket time entries."""
    settings = runtime.settings
    clock = clock or runtime.clock  # tests give a fixed one
    entries = TechnicianEntries(
        runtime.js, runtime.store,
        reservation_timeout_s=settings.billing.entry_reservation_timeout_s)
    return BillingService(runtime, calendar=settings.billing.calendar(),
                          numbers=DocumentNumbers(runtime.js), technician_entries=entries,
                          clock=clock)
