"""The rules of the request form (docs/domain.md 2), the same for the HTML form, the JSON
API and the console's form that opens a ticket from a held mail. ``validate`` turns raw
fields into a :class:`SupportRequest` or into one error per wrong field (a code with its
values, rendered in the reader's language); ``request_event`` turns a valid request into
``RequestSubmitted``."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Literal

from shared.domain import events as ev
from shared.domain.redaction import redact, shorten
from shared.domain.text import encodable, first_invisible, strip_invisible

Source = Literal["form", "json"]

CONTACT_FIELDS = ("company", "first_name", "last_name", "email", "phone", "street",
                  "postcode", "city")
SUBJECT_FIELDS = ("subject_description", "location", "system_name", "manufacturer", "model",
                  "purchase_date", "accessories")
SOFTWARE_FIELDS = ("operating_system", "operating_system_version", "application",
                   "application_version")
FAULT_FIELDS = ("error_message", "expected_behaviour", "actual_behaviour")
CHOICE_FIELDS = ("additional_backup", "backup_acknowledged", "priority",
                 "priority_acknowledged", "commercial_customer")
# Free-text fields of the request section: searched for credentials before storing.
FREE_TEXT_FIELDS = ("short_description", *(f for f in SUBJECT_FIELDS if f != "purchase_date"),
                    *SOFTWARE_FIELDS, *FAULT_FIELDS)
ALL_FIELDS = (*CONTACT_FIELDS, "short_description", *SUBJECT_FIELDS, *SOFTWARE_FIELDS,
              *FAULT_FIELDS, *CHOICE_FIELDS, "language")

REQUIRED = frozenset({"first_name", "last_name", "email", "phone", "street", "postcode",
                      "city", "short_description"})
MULTILINE = frozenset({"subject_description", "accessories", *FAULT_FIELDS})
MAX_CHARS = {
    "company": 150, "first_name": 100, "last_name": 100, "email": 254, "phone": 40,
    "street": 150, "postcode": 10, "city": 100, "short_description": 200,
}
SINGLE_LINE_MAX = 200
MULTILINE_MAX = 4000
SHORT_DESCRIPTION = (4, 80)

EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
PHONE = re.compile(r"^\+?[0-9 ()/.-]{5,40}$")
POSTCODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,8}[A-Za-z0-9]$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Control characters other than line breaks and tabs (which multi-line fields allow).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                     r"\u2066-\u2069]")
TRUE_WORDS = frozenset({"yes", "ja", "on", "true", "1"})
FALSE_WORDS = frozenset({"no", "nein", "off", "false", "0"})


@dataclass(frozen=True)
class FieldError:
    """One wrong field: a catalogue key (``error.<code>``) and the values it needs."""

    code: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SupportRequest:
    """A request that passed every rule; texts trimmed and normalised (NFC)."""

    company: str
    first_name: str
    last_name: str
    email: str
    phone: str
    street: str
    postcode: str
    city: str
    short_description: str
    subject_description: str = ""
    location: str = ""
    system_name: str = ""
    manufacturer: str = ""
    model: str = ""
    purchase_date: date | None = None
    accessories: str = ""
    operating_system: str = ""
    operating_system_version: str = ""
    application: str = ""
    application_version: str = ""
    error_message: str = ""
    expected_behaviour: str = ""
    actual_behaviour: str = ""
    additional_backup: bool = False
    priority: bool = False

    def fingerprint(self) -> str:
        """A hash of the content: tells a repeated submit from a different one."""
        content = json.dumps(asdict(self), sort_keys=True, default=str, ensure_ascii=True)
        return hashlib.sha256(content.encode()).hexdigest()


def _clean_text(name: str, raw: object, source: Source) -> str | FieldError:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        return FieldError("not_text")
    if not encodable(raw):  # a lone surrogate: nothing could store or show it
        return FieldError("not_encodable")
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    if name in CONTACT_FIELDS:  # identity: refuse what would disguise it (shared.domain.text)
        if first_invisible(text) is not None:
            return FieldError("invisible_characters")
    else:
        text = strip_invisible(text)
    if CONTROL.search(text) or (name not in MULTILINE and ("\n" in text or "\t" in text)):
        return FieldError("control_characters")
    text = text.strip()
    limit = MAX_CHARS.get(name, MULTILINE_MAX if name in MULTILINE else SINGLE_LINE_MAX)
    if len(text) > limit:
        return FieldError("too_long", {"max": limit})
    return text


def _clean_choice(raw: object, source: Source) -> bool | FieldError | None:
    """True/False, None when not given; forms send words, JSON must send booleans."""
    if raw is None or raw == "":
        return None
    if source == "json":
        return raw if isinstance(raw, bool) else FieldError("not_boolean")
    if isinstance(raw, str) and raw.strip().lower() in TRUE_WORDS:
        return True
    if isinstance(raw, str) and raw.strip().lower() in FALSE_WORDS:
        return False
    return FieldError("choice")


def _check_formats(values: dict[str, str], errors: dict[str, FieldError]) -> None:
    checks = (("email", EMAIL, "email"), ("phone", PHONE, "phone"),
              ("postcode", POSTCODE, "postcode"))
    for name, pattern, code in checks:
        if name not in errors and values.get(name) and not pattern.match(values[name]):
            errors[name] = FieldError(code)
    phone = values.get("phone", "")
    if "phone" not in errors and phone and sum(ch.isdigit() for ch in phone) < 5:
        errors["phone"] = FieldError("phone")
    description = values.get("short_description", "")
    if "short_description" not in errors and description:
        low, high = SHORT_DESCRIPTION
        if not low <= len(description) <= high:
            errors["short_description"] = FieldError("short_description_length",
                                                     {"count": len(description)})


def _parse_date(raw: str, today: date) -> date | FieldError | None:
    if not raw:
        return None
    if not ISO_DATE.match(raw):
        return FieldError("date")
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        return FieldError("date")
    if parsed > today or parsed.year < 1970:
        return FieldError("date")
    return parsed


def _check_choices(choices: dict[str, bool | None], errors: dict[str, FieldError]) -> None:
    if "additional_backup" not in errors and choices["additional_backup"] is None:
        errors["additional_backup"] = FieldError("choice")
    if choices["additional_backup"] is False and not choices["backup_acknowledged"]:
        errors.setdefault("backup_acknowledged", FieldError("backup_acknowledged"))
    if choices["priority"] is not True and not choices["priority_acknowledged"]:
        errors.setdefault("priority_acknowledged", FieldError("priority_acknowledged"))
    if not choices["commercial_customer"]:
        errors.setdefault("commercial_customer", FieldError("commercial_customer"))


def validate(raw: dict[str, object], source: Source, today: date
             ) -> SupportRequest | dict[str, FieldError]:
    """Apply every rule to ``raw``; the request, or one error per wrong field.

    ``priority`` defaults to no (docs/domain.md 2.5); ``additional_backup`` must be chosen.
    A JSON body may not contain unknown fields (a misspelt optional field would otherwise
    be lost without notice); form posts carry extra hidden fields and are not checked.
    """
    errors: dict[str, FieldError] = {}
    if source == "json":
        for name in raw:
            if name not in ALL_FIELDS:
                errors[str(name)[:60]] = FieldError("unknown_field")
    texts: dict[str, str] = {}
    for name in (*CONTACT_FIELDS, "short_description", *SUBJECT_FIELDS, *SOFTWARE_FIELDS,
                 *FAULT_FIELDS):
        cleaned = _clean_text(name, raw.get(name), source)
        if isinstance(cleaned, FieldError):
            errors[name] = cleaned
        elif not cleaned and name in REQUIRED:
            errors[name] = FieldError("required")
        else:
            texts[name] = cleaned
    _check_formats(texts, errors)
    purchase = _parse_date(texts.get("purchase_date", ""), today)
    if isinstance(purchase, FieldError):
        errors["purchase_date"] = purchase
    choices: dict[str, bool | None] = {}
    for name in CHOICE_FIELDS:
        choice = _clean_choice(raw.get(name), source)
        if isinstance(choice, FieldError):
            errors[name] = choice
            choices[name] = None
        else:
            choices[name] = choice
    _check_choices(choices, errors)
    if errors:
        return errors
    texts["email"] = _normalise_email(texts["email"])
    texts.pop("purchase_date", None)
    return SupportRequest(**texts, purchase_date=purchase,  # type: ignore[arg-type]
                          additional_backup=bool(choices["additional_backup"]),
                          priority=bool(choices["priority"]))


def _normalise_email(address: str) -> str:
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


def customer_id_of(email: str) -> str:
    """The customer a contact belongs to: the domain of their address."""
    return email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class ServiceTerms:
    """What a request is taken under: the customers without an SLA agreement (e-mail
    domains or customer numbers; their tickets wait for acceptance) and the reaction time
    promised to priority requests."""

    customers_without_sla: frozenset[str] = frozenset()
    reaction_minutes: int = 240


def request_event(request: SupportRequest, *, case_number: str, language: ev.request.Language,
                  channel: ev.request.Channel, terms: ServiceTerms,
                  at: datetime) -> ev.RequestSubmitted:
    """``RequestSubmitted`` with every free-text field redacted (docs/domain.md 2.3); the
    decider's ``SubmitRequest`` builds it, whatever channel the request came by."""
    texts: dict[str, str] = {}
    redacted_fields: list[str] = []
    for name in FREE_TEXT_FIELDS:
        result = redact(getattr(request, name))
        texts[name] = result.text
        if result.redacted:
            redacted_fields.append(name)
    # The marker can be longer than the secret it replaced: the 80-character promise holds
    # for what is stored and what the receipt's subject shows.
    texts["short_description"] = shorten(texts["short_description"], SHORT_DESCRIPTION[1])
    contact = ev.Contact(first_name=request.first_name, last_name=request.last_name,
                         email=request.email, phone=request.phone)
    is_company = bool(request.company)
    party = ev.ContractParty(name=request.company or contact.full_name, street=request.street,
                             postcode=request.postcode, city=request.city,
                             is_company=is_company)
    customer_id = customer_id_of(request.email)
    without_sla = {entry.lower() for entry in terms.customers_without_sla}
    return ev.RequestSubmitted(
        at=at, case_number=case_number, contact=contact, contract_party=party,
        short_description=texts["short_description"],
        subject=ev.OrderSubject(description=texts["subject_description"],
                                location=texts["location"], system_name=texts["system_name"],
                                manufacturer=texts["manufacturer"], model=texts["model"],
                                purchase_date=request.purchase_date,
                                accessories=texts["accessories"]),
        software=ev.Software(operating_system=texts["operating_system"],
                             operating_system_version=texts["operating_system_version"],
                             application=texts["application"],
                             application_version=texts["application_version"]),
        fault=ev.Fault(error_message=texts["error_message"],
                       expected_behaviour=texts["expected_behaviour"],
                       actual_behaviour=texts["actual_behaviour"]),
        backup="additional_backup" if request.additional_backup
        else "backup_done_or_not_needed",
        priority=request.priority, commercial_customer=True, customer_id=customer_id,
        has_sla=customer_id not in without_sla, reaction_minutes=terms.reaction_minutes,
        language=language, channel=channel, redacted_fields=tuple(redacted_fields),
    )


def name_parts(display_name: str) -> tuple[str, str]:
    """A mail's display name as (first name, last name), to prefill a form: "Anna Maria
    Müller" and "Müller, Anna Maria" alike; a single word is taken as the last name."""
    name = " ".join(display_name.replace('"', " ").split())
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    first, _, last = name.rpartition(" ")
    return first, last
