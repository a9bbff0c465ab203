"""Settings of the customer's door (form, API, status page)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.domain.requestform import ServiceTerms


class IntakeSettings(BaseModel):
    node_id: str = Field(
        "", pattern=r"^[0-9]{0,2}$",
        description="Optional digits distinguishing intake replicas in case numbers "
        "(give every replica the same number of digits).",
    )
    case_number_block: int = Field(
        20, ge=1, le=1000,
        description="Case numbers a replica reserves at once from the shared counter; "
        "unused ones of a stopped replica leave gaps.",
    )
    rate_limit_per_minute: int = Field(30, ge=1,
                                       description="Submissions per client address and minute "
                                       "(per replica).")
    status_rate_limit_per_minute: int = Field(
        120, ge=1, description="Status and confirmation page views per client address and "
        "minute (per replica).")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest accepted request body.")
    store_timeout_s: float = Field(
        1.5, gt=0, description="A submission not stored within this many seconds is "
        "answered 503 with Retry-After, e.g. while the log elects a new leader after a node "
        "is lost (a retry with the same Idempotency-Key gets the same ticket).")
    idempotency_ttl_s: int = Field(24 * 3600, ge=60,
                                   description="How long an Idempotency-Key or form token "
                                   "answers with its first case number.")
    default_reaction_minutes: int = Field(240, ge=1,
                                          description="SLA reaction time of priority tickets.")
    customers_without_sla: list[str] = Field(
        default_factory=list,
        description="E-mail domains or customer numbers without an SLA agreement: "
        "their tickets wait for acceptance.",
    )

    def service_terms(self) -> ServiceTerms:
        """The terms requests are taken under (the domain never reads settings)."""
        return ServiceTerms(customers_without_sla=frozenset(self.customers_without_sla),
                            reaction_minutes=self.default_reaction_minutes)
