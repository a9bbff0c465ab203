"""Technician accounts: one TOML file with hashed passwords (console) and hashed API tokens
(scripts), used by every service's HTTP API.

    [[technicians]]
    id = "anna"
    name = "Anna Schmidt"
    email = "anna@example.com"
    language = "en"                               # optional: pages in English (default de)
    password_hash = "$argon2id$v=19$..."          # ticketcore accounts hash-password
    token_hashes = ["sha256:9f86d08..."]          # ticketcore accounts new-token
    roles = ["lead"]                              # optional: may void others' time
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.runtime.privatefile import write_private

_hasher = PasswordHasher()
LEAD = "lead"


@dataclass(frozen=True)
class Technician:
    id: str
    name: str
    email: str = ""
    password_hash: str = ""
    token_hashes: tuple[str, ...] = ()
    webhook_url: str | None = None
    language: str | None = None  # "en": page mails and acknowledge page in English
    roles: tuple[str, ...] = ()

    @property
    def is_lead(self) -> bool:
        """The lead role: may correct (void) other technicians' time entries."""
        return LEAD in self.roles


def _language(value: object) -> str | None:
    if value is None:
        return None
    if value not in ("de", "en"):
        raise ValueError(f"TICKETCORE_ACCOUNTS_FILE: language: 'de' or 'en' (got {value!r})")
    return str(value)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh API token and the hash to put into the accounts file."""
    token = "tc_" + secrets.token_urlsafe(32)
    return token, hash_token(token)


@dataclass
class AccountStore:
    technicians: dict[str, Technician] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: Path | None) -> AccountStore:
        if path is None:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ValueError(f"TICKETCORE_ACCOUNTS_FILE: cannot read {path}: {error}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> AccountStore:
        technicians: dict[str, Technician] = {}
        entries = data.get("technicians", [])
        if not isinstance(entries, list):
            raise ValueError("accounts: `technicians` must be a list of [[technicians]] tables")
        for entry in entries:
            tech = Technician(
                id=str(entry["id"]), name=str(entry.get("name", entry["id"])),
                email=str(entry.get("email", "")),
                password_hash=str(entry.get("password_hash", "")),
                token_hashes=tuple(entry.get("token_hashes", ())),
                webhook_url=entry.get("webhook_url"),
                language=_language(entry.get("language")),
                roles=tuple(str(role) for role in entry.get("roles", ())),
            )
            technicians[tech.id] = tech
        return cls(technicians)

    def first_with_email(self) -> Technician | None:
        """The first technician in the file who has an e-mail address."""
        return next((tech for tech in self.technicians.values() if tech.email), None)

    def by_password(self, technician_id: str, password: str) -> Technician | None:
        tech = self.technicians.get(technician_id)
        if tech is None or not tech.password_hash:
            _hasher.hash("timing-equaliser")  # same cost for unknown accounts
            return None
        try:
            _hasher.verify(tech.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        return tech

    def by_token(self, token: str) -> Technician | None:
        wanted = hash_token(token)
        for tech in self.technicians.values():
            if any(hmac.compare_digest(wanted, h) for h in tech.token_hashes):
                return tech
        return None


# Beside the accounts file `up` creates: the first account's API token, which the CLI's
# HTTP commands (`ticketcore time log`, `billing invoice`) use when given none.
API_TOKEN_FILE = "admin-api-token.txt"


def ensure_first_account(path: Path) -> str | None:
    """For the quick start: create an accounts file with one technician ``admin`` and a
    random password when none exists. Returns the password (shown once) or None."""
    if path.exists():
        return None
    password = secrets.token_urlsafe(12)
    token, token_hash = new_token()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Technician accounts (see README). Created at first start.\n"
        "[[technicians]]\n"
        'id = "admin"\n'
        'name = "Administrator"\n'
        f'password_hash = "{hash_password(password)}"\n'
        f'token_hashes = ["{token_hash}"]\n', encoding="utf-8")
    path.chmod(0o600)
    write_private(path.parent / API_TOKEN_FILE, token + "\n")
    return password
