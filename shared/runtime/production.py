"""The development defaults ``ticketcore up`` runs with, which production must not.

``up`` is the quick start on one machine: without an SMTP server its mails go to a local
mail catcher (shown on /outbox), invoices name an example seller, and a first technician
account is generated. It says so in its banner. ``serve`` runs a service in production:
it refuses to start while one of these defaults would be used by the services it runs,
one line per setting saying what to set, because each fails silently there (receipts
recorded as sent that never leave, invoices with another company's name, a console nobody
can log in to).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.runtime.accounts import AccountStore
from shared.settings import Settings
from shared.settings.billing import SellerSettings

MAIL_SENDERS = ("ack", "oncall")  # receipts, answers and notices; pages
EXAMPLE_SELLER = SellerSettings()
SELLER_FIELDS = {"name": "your company's name", "street": "its street and number",
                 "vat_id": "its VAT id (USt-IdNr.)", "email": "its billing address"}


@dataclass(frozen=True)
class Fallback:
    """A development default: the setting, what happens without it, what to set."""

    setting: str
    used: str
    advice: str

    def refusal(self) -> str:
        return f"{self.setting}: {self.used}; {self.advice}"


def development_fallbacks(settings: Settings, services: tuple[str, ...]) -> list[Fallback]:
    """The development defaults the ``services`` would fall back to."""
    found: list[Fallback] = []
    if set(MAIL_SENDERS) & set(services) and settings.smtp.host is None:
        found.append(Fallback("TICKETCORE_SMTP__HOST", "mails go to the local mail catcher "
                              "and never leave", "set your SMTP server (and its _PORT, "
                              "_SECURITY, _USERNAME, _PASSWORD)"))
    if "billing" in services:
        found += _example_seller(settings)
    if "oncall" in services and not _anyone_can_log_in(settings):
        found.append(Fallback("TICKETCORE_ACCOUNTS_FILE", "no technician can log in (no file, "
                              "or no password_hash or token_hashes in it)", "add accounts "
                              "with `ticketcore accounts hash-password` and `ticketcore "
                              "accounts new-token`"))
    return found


def require_production_settings(settings: Settings, services: tuple[str, ...]) -> list[str]:
    """The refusals of ``serve``: one line per development default, saying what to set."""
    return [fallback.refusal() for fallback in development_fallbacks(settings, services)]


def _example_seller(settings: Settings) -> list[Fallback]:
    seller = settings.billing.seller
    found = [Fallback(f"TICKETCORE_BILLING__SELLER__{name.upper()}",
                      f"invoices name the example seller's {getattr(seller, name)!r}",
                      f"set {what}")
             for name, what in SELLER_FIELDS.items()
             if getattr(seller, name) == getattr(EXAMPLE_SELLER, name)]
    if not seller.vat_id and not seller.tax_number:
        found.append(Fallback("TICKETCORE_BILLING__SELLER__VAT_ID", "invoices name neither a "
                              "VAT id nor a tax number", "set one of them "
                              "(or TICKETCORE_BILLING__SELLER__TAX_NUMBER)"))
    return found


def _anyone_can_log_in(settings: Settings) -> bool:
    try:
        accounts = AccountStore.from_file(settings.accounts_file)
    except ValueError:
        return True  # unreadable: the start reports the file itself, with its error
    return any(t.password_hash or t.token_hashes for t in accounts.technicians.values())


def banner_notes(settings: Settings, services: tuple[str, ...]) -> list[str]:
    """What ``up``'s banner says about the development defaults it runs with."""
    fallbacks = development_fallbacks(settings, services)
    if not fallbacks:
        return []
    return ["Development defaults in use (fine on this machine; `ticketcore serve` refuses "
            "them):", *[f"  {f.used} ({f.setting})" for f in fallbacks]]
