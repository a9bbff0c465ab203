"""The secret settings ticketcore signs with, and where they come from.

A secret is never defaulted: a published value (the old defaults, the examples) would let
anyone sign a session cookie or a status link. ``serve`` therefore refuses to start while a
secret a service needs is unset, too short or a published value, naming the setting.
``ticketcore up`` (the quick start on one machine) instead creates random secrets in the
data folder on its first start (``secrets.json``, mode 0600) and reuses them afterwards, so
sessions and mailed links keep working across restarts. A secret set in the environment
or the config file always wins over the file.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from shared.runtime.privatefile import write_private
from shared.runtime.signing import Keyring
from shared.settings import ConfigurationError, Settings, setting_name
from shared.settings.core import SECRET_MIN_LENGTH as MIN_LENGTH

SECRETS_FILE = "secrets.json"
# Values that were ever published as defaults or examples: known to everybody.
PUBLISHED = frozenset({"change-me-in-production-0123456789", "change-me-webhook-secret",
                       "change-me", "changeme", "secret"})


@dataclass(frozen=True)
class SecretSetting:
    """One secret: where it sits in the settings and which services sign with it."""

    location: tuple[str, ...]
    needed_by: tuple[str, ...]

    @property
    def variable(self) -> str:
        return setting_name(self.location)

    def value(self, settings: Settings) -> str:
        node: object = settings
        for part in self.location:
            node = getattr(node, part)
        return str(node or "")


SECRET_SETTINGS = (
    # Sessions, status links, acknowledge links, CSRF tokens and flash messages.
    SecretSetting(("secret_key",), ("intake", "ack", "oncall", "billing")),
    # The HMAC of outgoing webhook calls, checked by their receivers.
    SecretSetting(("oncall", "webhook_secret"), ("oncall",)),
)


def secret_problem(value: str) -> str | None:
    """Why ``value`` cannot protect anything (None: it can)."""
    if not value:
        return "not set: give a long random value (e.g. `openssl rand -hex 32`)"
    if value.strip().lower() in PUBLISHED:
        return "is a published default that anyone can sign with: give a random value"
    if len(value) < MIN_LENGTH:
        return f"shorter than {MIN_LENGTH} characters: give a long random value"
    return None


def secret_problems(settings: Settings, services: tuple[str, ...]) -> list[str]:
    """One line per secret ``services`` need that is unusable, naming its setting."""
    return [f"{secret.variable}: {problem}" for secret in SECRET_SETTINGS
            if set(secret.needed_by) & set(services)
            and (problem := secret_problem(secret.value(settings))) is not None]


def require_secrets(settings: Settings, services: tuple[str, ...]) -> None:
    """Raise ConfigurationError naming every secret ``services`` need that is unusable."""
    problems = secret_problems(settings, services)
    if problems:
        raise ConfigurationError("refusing to start without its secrets:\n  "
                                 + "\n  ".join(problems))


def ensure_secrets(settings: Settings) -> Settings:
    """``settings`` with every unset secret taken from the data folder's secrets file,
    which is created (mode 0600) with random values when it does not exist yet."""
    path = settings.data_dir / SECRETS_FILE
    stored = _read_or_create(path)
    updates: dict[str, object] = {}
    sections: dict[str, BaseModel] = {}  # nested sections (e.g. oncall) with secrets filled in
    for secret in SECRET_SETTINGS:
        if secret.value(settings):
            continue  # set explicitly: require_secrets judges it
        section, *rest = secret.location
        if rest:
            nested: BaseModel = sections.get(section) or getattr(settings, section)
            sections[section] = nested.model_copy(update={rest[0]: stored[secret.variable]})
        else:
            updates[section] = stored[secret.variable]
    return settings.model_copy(update={**updates, **sections})


def _read_or_create(path: Path) -> dict[str, str]:
    wanted = [secret.variable for secret in SECRET_SETTINGS]
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"{path}: cannot read the secrets file: {error}") from None
    missing = [name for name in wanted if not isinstance(stored.get(name), str)
               or secret_problem(stored[name]) is not None]
    if missing:
        stored.update({name: secrets.token_urlsafe(32) for name in missing})
        write_private(path, json.dumps(stored, indent=2) + "\n")
    return stored


def keyring(settings: Settings) -> Keyring:
    """The secret key that signs, with the previous keys still accepted (each until the
    time the operator gave it)."""
    return Keyring(settings.secret_key, tuple(
        (previous.key, previous.until.timestamp()) for previous in settings.previous_secret_keys
        if previous.key != settings.secret_key))
