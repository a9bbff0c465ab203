"""Secret, unguessable tokens for links sent to people (status page)."""

from __future__ import annotations

import base64
import hashlib
import hmac


def status_token(secret_key: str, case_number: str) -> str:
    """The token of a ticket's live-status link. Derived from the secret key, so every
    service can build the link and nothing secret is stored in the log."""
    digest = hmac.new(secret_key.encode(), f"status:{case_number}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def status_path(secret_key: str, case_number: str) -> str:
    return f"/status/{case_number}?t={status_token(secret_key, case_number)}"


def verify_status_token(secret_key: str, case_number: str, token: str) -> bool:
    return hmac.compare_digest(status_token(secret_key, case_number), token)
