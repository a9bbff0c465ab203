"""Settings of on-call paging and SLA clocks."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class OnCallSettings(BaseModel):
    rota_file: Path | None = Field(None, description="TOML file with the on-call rota.")
    renotify_after_s: int = Field(15 * 60, ge=1,
                                  description="Page again when not acknowledged after this.")
    renotify_count: int = Field(2, ge=0,
                                description="Re-notifications before escalating a level.")
    first_response_bt_minutes: int = Field(
        9 * 60, ge=1, description="Normal-priority first response, in Business-Time minutes.")
    webhook_secret: str = Field("change-me-webhook-secret", min_length=8,
                                description="Key of the HMAC-SHA256 webhook signature.")
