"""Builds the oncall service and its collaborators from the process's Runtime: the rota,
the policy's rules, page claims, webhooks, the pager, and the console's queue and time
entries (shared by the service and the console's routes)."""

from __future__ import annotations

from services.oncall.paging import Pager, page_claims
from services.oncall.readmodel import TicketBoard
from services.oncall.rota import RotaError, rota_from_settings
from services.oncall.service import OncallService, rules_from_settings
from services.oncall.webhook import WebhookSender
from shared.adapters.mailer import Mailer
from shared.application.timeentries import TechnicianEntries
from shared.runtime.context import Runtime
from shared.settings import ConfigurationError


def bootstrap(runtime: Runtime) -> OncallService:
    """The oncall service; a broken rota file stops the start with the setting named."""
    settings = runtime.settings
    try:
        rota = rota_from_settings(settings, runtime.accounts)
    except RotaError as error:
        raise ConfigurationError(f"TICKETCORE_ONCALL__ROTA_FILE: {error}") from None
    oncall = settings.oncall
    claims = page_claims(runtime.js)
    webhooks = WebhookSender(runtime.js, secret=oncall.webhook_secret,
                             attempts=oncall.webhook_attempts,
                             backoff_s=oncall.webhook_backoff_s,
                             timeout_s=oncall.webhook_timeout_s,
                             previous_secret=oncall.previous_webhook_secret)
    # The mailer is replaced at start by the process's (SMTP or the mail catcher).
    pager = Pager(settings, Mailer(settings.smtp), claims, webhooks, runtime.public_url)
    entries = TechnicianEntries(
        runtime.js, runtime.store,
        reservation_timeout_s=settings.billing.entry_reservation_timeout_s)
    return OncallService(runtime, rota=rota, rules=rules_from_settings(settings),
                         claims=claims, webhooks=webhooks, pager=pager,
                         board=TicketBoard(runtime.store), entries=entries)
