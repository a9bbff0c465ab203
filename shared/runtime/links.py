"""Secret, unguessable tokens for links sent to people (status page)."""

from __future__ import annotations

from shared.runtime.signing import STATUS_LINK, Keys, sign, verify


def status_token(secret_key: Keys, case_number: str) -> str:
    """The token of a ticket's live-status link. Derived from the secret key, so every
    service can build the link and nothing secret is stored in the log; receipts already
    mailed carry it, so its derivation never changes."""
    return sign(secret_key, STATUS_LINK, case_number)


def status_path(secret_key: Keys, case_number: str) -> str:
    return f"/status/{case_number}?t={status_token(secret_key, case_number)}"


def verify_status_token(secret_key: Keys, case_number: str, token: str) -> bool:
    return verify(secret_key, STATUS_LINK, token, case_number)
