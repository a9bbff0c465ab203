"""The shapes of on-call's JSON answers, for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ActionResult(BaseModel):
    """The ticket after an action on it."""

    case_number: str
    status: str
    stored: list[str] = Field(description="The events the action stored (names).")
    already_done: bool = Field(description="True for a repeat: nothing new was stored.")
    reaction_deadline: datetime | None
    response_deadline: datetime | None
    paged_technician: str | None
    acknowledged_by: str | None


class TicketClocks(BaseModel):
    """A ticket's SLA clocks and paging state."""

    case_number: str
    status: str
    priority: bool
    reaction_deadline: datetime | None
    response_deadline: datetime | None
    first_response_at: datetime | None
    paged_technician: str | None
    escalation_level: int
    acknowledged_by: str | None
    breached: list[str] = Field(description="The clocks that ran out.")


class Person(BaseModel):
    id: str
    name: str
    email: str


class Level(BaseModel):
    level: int
    person: Person | None = Field(description="Nobody when the rota has a gap now.")


class Gap(BaseModel):
    level: int
    from_: datetime = Field(alias="from")
    to: datetime
    description: str


class OnCallNow(BaseModel):
    """Who is on call per escalation level, and the rota's gaps ahead."""

    at: datetime
    default_rota: bool
    levels: list[Level]
    gaps: list[Gap]
