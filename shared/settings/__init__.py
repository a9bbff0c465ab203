"""One configuration loader for every service (pydantic-settings).

Sources, strongest first: environment variables with the prefix ``TICKETCORE_`` (nested
sections with ``__``, e.g. ``TICKETCORE_NATS__URL``), then the optional TOML file named by
``TICKETCORE_CONFIG_FILE`` (default ``ticketcore.toml`` in the working folder, if present),
then the defaults. A wrong value stops the start with a message naming the setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from shared.settings.ack import AckSettings
from shared.settings.billing import BillingSettings
from shared.settings.core import (
    HttpSettings,
    NatsSettings,
    PreviousSecretKey,
    TracingSettings,
    check_secret_length,
)
from shared.settings.intake import IntakeSettings
from shared.settings.mail import InboundMailSettings, SmtpSettings
from shared.settings.oncall import OnCallSettings

CONFIG_FILE_VARIABLE = "TICKETCORE_CONFIG_FILE"
DEFAULT_CONFIG_FILE = "ticketcore.toml"


class ConfigurationError(Exception):
    """A setting has a wrong value; the message names the setting."""


class Settings(BaseSettings):
    """All settings of ticketcore. Every field is documented in the README."""

    model_config = SettingsConfigDict(
        env_prefix="TICKETCORE_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(Path("data"), description="Folder for the embedded NATS store, "
                           "the mail outbox and other local files.")
    secret_key: str = Field(
        "",
        description="Secret for sessions, signed links (status page, acknowledge links) and "
        "CSRF tokens; required (`up` creates one in the data folder; docs/security.md).",
    )
    previous_secret_keys: list[PreviousSecretKey] = Field(
        default_factory=list,
        description="Keys replaced by TICKETCORE_SECRET_KEY, each still accepted until its "
        "`until` (sessions, status, acknowledge and CSRF tokens signed with it keep working; "
        "everything new is signed with the current key), e.g. "
        "[{\"key\": \"<old>\", \"until\": \"2026-12-31T00:00:00Z\"}] (docs/security.md, "
        "rotation).")
    accounts_file: Path | None = Field(
        None, description="TOML file with technician accounts (see README)."
    )
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$",
                           description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["text", "json"] = Field(
        "text", description="text (for people) or json (one JSON object per line, with "
                            "case, event_id, service and trace_id where they apply).")
    api_url: str | None = Field(
        None, description="Where `ticketcore time`/`billing invoice` reach the HTTP API "
        "(unset: the public URL, else this machine's TICKETCORE_HTTP__PORT, as `up` serves).")
    api_token: str | None = Field(
        None, description="A technician's API token for those commands (secret).")
    nats: NatsSettings = NatsSettings()
    http: HttpSettings = HttpSettings()
    smtp: SmtpSettings = SmtpSettings()
    inbound_mail: InboundMailSettings = InboundMailSettings()
    ack: AckSettings = AckSettings()
    intake: IntakeSettings = IntakeSettings()
    billing: BillingSettings = BillingSettings()
    oncall: OnCallSettings = OnCallSettings()
    tracing: TracingSettings = TracingSettings()

    @field_validator("secret_key")
    @classmethod
    def _secret_long_enough(cls, value: str) -> str:
        return check_secret_length(value)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get(CONFIG_FILE_VARIABLE, DEFAULT_CONFIG_FILE))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if config_file.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def setting_name(location: tuple[str | int, ...]) -> str:
    """The environment variable that sets the value at ``location``."""
    return "TICKETCORE_" + "__".join(str(part).upper() for part in location)


def _is_known_variable(variable: str) -> bool:
    model: type[BaseModel] | None = Settings
    for part in variable.removeprefix("TICKETCORE_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(
            annotation, BaseModel) else None
    return True


def _unknown_variables() -> list[str]:
    """TICKETCORE_ variables that set nothing: almost always a typo worth stopping for."""
    return sorted(name for name in os.environ
                  if name.startswith("TICKETCORE_") and name != CONFIG_FILE_VARIABLE
                  and not _is_known_variable(name))


SECRET_WORDS = ("secret", "password", "token")


def _echo(problem: Any) -> str:
    """The wrong value, for the message, unless it is (or may hold) a secret: a secret in
    an error message ends up in logs and terminals."""
    value = problem.get("input")
    location = "_".join(str(part) for part in problem["loc"]).lower()
    if isinstance(value, dict | list) or any(word in location for word in SECRET_WORDS):
        return ""
    return f" (got {value!r})"


def load_settings(**overrides: object) -> Settings:
    """Load and check all settings; raise ConfigurationError naming each wrong one."""
    config_file = os.environ.get(CONFIG_FILE_VARIABLE)
    if config_file and not Path(config_file).is_file():
        raise ConfigurationError(f"{CONFIG_FILE_VARIABLE}: no such file: {config_file}")
    unknown = _unknown_variables()
    if unknown:
        raise ConfigurationError("unknown settings (typo?): " + ", ".join(unknown))
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = [f"{setting_name(problem['loc'])}: {problem['msg']}{_echo(problem)}"
                    for problem in error.errors()]
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(problems)) from None
    except ValueError as error:  # e.g. a TOML file that does not parse
        raise ConfigurationError(f"invalid configuration: {error}") from None


__all__ = ["ConfigurationError", "Settings", "load_settings", "setting_name"]
