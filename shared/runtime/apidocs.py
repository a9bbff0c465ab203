"""What the OpenAPI document says about technicians' routes: the errors they answer, with
the shapes of those errors.

How they authenticate is documented by the dependency that enforces it
(:func:`shared.runtime.auth.current_technician` on every route of a
:func:`shared.runtime.auth.technician_router`): a bearer API token, HTTP Basic (id and
password) or the console's session cookie (reading only; a change with the cookie needs
``X-CSRF-Token``), as alternatives.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shared.runtime.auth import CSRF_HEADER


class ErrorMessage(BaseModel):
    """An error of authentication, throttling or the request itself."""

    detail: str = Field(description="What is wrong, in English.")


class Refusal(BaseModel):
    code: str = Field(description="Stable code, e.g. `overlapping_entry`.")
    message: str = Field(description="What is wrong, in English.")


class RefusalDetail(BaseModel):
    """A rule refused the request (billing's routes): nothing was stored."""

    detail: Refusal


class ActionRefusal(BaseModel):
    """A rule refused the action (on-call's routes): nothing was stored."""

    error: str = Field(description="Stable code, e.g. `unknown_ticket`.")
    message: str = Field(description="What is wrong, in English.")


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    """The path, query or body does not fit the schema: nothing was stored."""

    detail: list[ValidationIssue]


AUTH_ERRORS: dict[int, str] = {
    401: "No valid credentials (see `WWW-Authenticate`).",
    403: f"A session cookie without `{CSRF_HEADER}` on a change, or not allowed.",
    429: "Too many password attempts from this client or for this account: wait for "
         "`Retry-After` seconds.",
}


def technician_errors(refusal: type[BaseModel], *codes: int,
                      described: dict[int, str] | None = None) -> dict[int | str, Any]:
    """The ``responses=`` of a technician route: the authentication errors, 422 for a
    request that does not fit, and ``codes`` answered with ``refusal`` by the route's
    rules (``described``: what each means there)."""
    texts = {404: "No such ticket (or document).",
             409: "The ticket's state does not allow it.",
             422: "The request does not fit the schema, or a rule refused its content.",
             **(described or {})}
    responses: dict[int | str, Any] = {
        code: {"model": ErrorMessage, "description": text}
        for code, text in AUTH_ERRORS.items()}
    responses[422] = {"model": InvalidRequest | refusal, "description": texts[422]}
    for code in codes:
        if code in responses and code != 422:
            responses[code] = {"model": ErrorMessage | refusal,
                               "description": f"{AUTH_ERRORS[code]} Or: {texts[code]}"}
        elif code != 422:
            responses[code] = {"model": refusal, "description": texts[code]}
    return responses
