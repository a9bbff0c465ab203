"""Settings of the customer's door (form, API, status page)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class IntakeSettings(BaseModel):
    node_id: str = Field(
        "", pattern=r"^[0-9]{0,2}$",
        description="Optional digits distinguishing intake replicas in case numbers.",
    )
    rate_limit_per_minute: int = Field(30, ge=1,
                                       description="Submissions per client address and minute.")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="Largest accepted request body.")
    default_reaction_minutes: int = Field(240, ge=1,
                                          description="SLA reaction time of priority tickets.")
    customers_without_sla: list[str] = Field(
        default_factory=list,
        description="E-mail domains or customer numbers without an SLA agreement: "
        "their tickets wait for acceptance.",
    )
