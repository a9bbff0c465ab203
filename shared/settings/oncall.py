"""Settings of on-call paging and SLA clocks."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from shared.settings.core import check_secret_length


class OnCallSettings(BaseModel):
    rota_file: Path | None = Field(
        None, description="TOML file with the on-call rota (people, rotations, overrides). "
        "Unset: the first technician account with an e-mail is on call around the clock "
        "(without one, the support address, with a warning).")
    renotify_after_s: int = Field(15 * 60, ge=1,
                                  description="Page again when not acknowledged after this.")
    renotify_count: int = Field(2, ge=0,
                                description="Re-notifications before escalating a level.")
    first_response_bt_minutes: int = Field(
        9 * 60, ge=1, description="Normal-priority first response, in Business-Time minutes.")
    webhook_secret: str = Field("",
                                description="Key of the HMAC-SHA256 webhook signature; "
                                "required by oncall (`up` creates one in the data folder).")

    previous_webhook_secret: str = Field(
        "", description="During a change of the webhook secret: the old one. Every call "
        "is then signed with both (two `v2=` signatures in the one header), so receivers "
        "keep working until each has the new secret; remove it afterwards "
        "(docs/webhooks.md, rollover).")

    @field_validator("webhook_secret", "previous_webhook_secret")
    @classmethod
    def _secret_long_enough(cls, value: str) -> str:
        return check_secret_length(value)

    webhook_attempts: int = Field(6, ge=1, le=20,
                                  description="Tries per webhook call before giving up.")
    webhook_backoff_s: float = Field(2.0, gt=0, description="First retry delay of a webhook "
                                     "call; doubled after every failed try.")
    webhook_timeout_s: float = Field(10.0, gt=0, description="Timeout of one webhook call.")
    ack_link_ttl_s: int = Field(7 * 24 * 3600, ge=60,
                                description="How long an acknowledge link stays valid.")
    rota_check_weeks: int = Field(4, ge=1, le=52,
                                  description="Weeks ahead checked for rota gaps at start-up.")
    answer_max_file_bytes: int = Field(
        10 * 1024 * 1024, gt=0,
        description="Largest file a technician may attach to an answer to the customer.")
    answer_max_files: int = Field(5, ge=0, le=20,
                                  description="Most files attached to one answer.")
    answer_max_total_bytes: int = Field(
        20 * 1024 * 1024, gt=0,
        description="Most bytes of all files of one answer together (mail servers refuse "
        "larger mails).")
