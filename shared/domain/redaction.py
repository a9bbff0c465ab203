"""Credentials in free text are replaced before anything is stored (docs/domain.md 2.3).

The log is append-only: a password that reached it can never be taken back. So every
free-text field of a request (and every later reply) goes through :func:`redact` first.
The detector knows

- keyword + value in German and English ("Passwort: ...", "Kennwort lautet ...",
  "password is ...", "pw=...", "PIN 4711", "Zugangsdaten: admin / ...", "WLAN-Schlüssel: ..."),
- credentials inside URLs (``https://user:secret@host``),
- private keys (PEM/OpenSSH blocks),
- common token formats (AWS, GitHub, Slack, Google, Stripe, JWT, ``Bearer`` headers,
  ``api_key=...``-style assignments).

A keyword followed by an ordinary word ("Das Passwort wurde zurückgesetzt", "password
expired") is not a credential: after a weak separator (a space, "ist", "is") the value must
look like a secret (a digit, a symbol or mixed case); after a strong one (":", "=",
"lautet", quotes) anything but a small list of everyday words counts.

Only the secret is replaced (by :data:`MARKER`); the keyword stays so a technician still
sees that a password was sent. :attr:`RedactionResult.findings` names the kinds found,
never the secret. Redacting a redacted text finds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

MARKER = "[REDACTED]"
ELLIPSIS = "…"


@dataclass(frozen=True)
class RedactionResult:
    """The text with every secret replaced, and the kinds of secrets found."""

    text: str
    findings: tuple[str, ...] = ()

    @property
    def redacted(self) -> bool:
        return bool(self.findings)


_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----"
    r"(?:.{0,20000}?-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----|.{0,20000})",
    re.DOTALL,
)
# scheme://user:password@host – only the password part is replaced.
_URL_CREDENTIALS = re.compile(
    r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s/:@\[\]]{1,200}:)"
    r"(?P<secret>[^\s/@\[\]]{1,200})(?=@)"
)
_TOKEN_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]"
                                r"{22,255})\b")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,250}")),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,200}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("stripe_key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,200}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{5,4000}\.eyJ[A-Za-z0-9_-]{5,4000}\."
                       r"[A-Za-z0-9_-]{5,4000}")),
)
# Real tokens contain digits; "Basic Authentifizierung" does not.
_BEARER = re.compile(r"(?P<keep>\b(?:Bearer|Basic|Token)\s+)(?=[A-Za-z._~+/=-]{0,4000}\d)"
                     r"(?P<secret>[A-Za-z0-9._~+/=-]{16,4000})", re.IGNORECASE)
# api_key=..., "client_secret": "...", AWS_SECRET_ACCESS_KEY=..., Token: ...
_ASSIGNED_SECRET = re.compile(
    r"(?P<keep>\b(?P<name>(?:aws_)?secret(?:_access)?_key|client[_-]?secret|api[_ -]?key|"
    r"access[_ -]?token|auth[_ -]?token|secret|token|apikey)\b[\"']?\s{0,3}[:=]\s{0,3}[\"']?)"
    r"(?=[A-Za-z._~+/=-]{0,4000}\d)(?P<secret>[A-Za-z0-9._~+/=-]{8,4000})",
    re.IGNORECASE,
)

# Keywords that introduce a credential. The kind each one reports is the dict value.
_KEYWORDS = {
    "passwort": "password", "passwörter": "password", "passwoerter": "password",
    "kennwort": "password", "password": "password", "passwd": "password",
    "passphrase": "password", "passcode": "password", "pass": "password",
    "pwd": "password", "pw": "password", "pin": "pin", "puk": "pin",
    "zugangsdaten": "credentials", "logindaten": "credentials", "login-daten": "credentials",
    "anmeldedaten": "credentials", "credentials": "credentials", "login": "credentials",
    "zugang": "credentials", "wlan-schlüssel": "password", "wlan-key": "password",
    "wifi-key": "password", "wpa-key": "password", "wpa2-key": "password",
    "netzwerkschlüssel": "password", "wlan key": "password", "wifi key": "password",
    "wi-fi key": "password", "wlan schlüssel": "password", "wi-fi-key": "password",
}
_KEYWORD = "|".join(sorted((re.escape(k) for k in _KEYWORDS), key=len, reverse=True))
# Words between keyword and separator: "Passwort für den Server lautet", "password for admin is".
_FILLER_WORDS = (r"\s+(?:für|fuer|for|of|vom|von|des|der|dem|den|zum|zur|the|my|our|mein|meine|"
                 r"unser|unsere|auf|on|at|im|in|am)")
_FILLERS = ("", _FILLER_WORDS + r"\s+[\w.@-]{1,40}", _FILLER_WORDS + r"(?:\s+[\w.@-]{1,40}){2}")
_STRONG_SEPARATOR = (r"\s{0,3}(?::(?!//)|=|->|=>)\s{0,3}"
                     r"|\s+(?:lautet|lauten|heißt|heisst|is:|ist:|sind:|are:)\s+"
                     r"|\s+(?:(?:was|is|has been|wurde|ist)\s+)?(?:changed|set|reset|geändert|"
                     r"gesetzt|zurückgesetzt)\s+(?:to|auf|in)\s+")
_WEAK_SEPARATOR = r"\s+(?:(?:ist|is|war|was|wäre|would be|sind|are|,)\s+)?"
_VALUE = r"(?P<value>\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|„[^“\n]{1,200}“|[^\s\"'„]{1,200})"
_KEYWORD_AT = re.compile(rf"(?<!\w)(?P<keyword>{_KEYWORD})(?![\w-])", re.IGNORECASE)
# Tried in this order after each keyword; the first whose value looks like a secret wins.
_AFTER_KEYWORD: tuple[tuple[bool, re.Pattern[str]], ...] = tuple(
    (strong, re.compile(filler + f"(?:{separator})" + _VALUE, re.IGNORECASE))
    for strong, separator in ((True, _STRONG_SEPARATOR), (False, _WEAK_SEPARATOR))
    for filler in reversed(_FILLERS)
)
# After "Zugangsdaten:"/"Login:" usually comes "user / secret": the rest of that pair goes too.
_PAIR_TAIL = re.compile(r"^\s{0,3}(?:/|\||,|;)\s{0,3}[^\s]{1,200}")

# Everyday words after a keyword that are not a secret ("Passwort: falsch").
_HARMLESS_VALUES = frozenset((
    "falsch", "ungültig", "ungueltig", "abgelaufen", "vergessen", "gesperrt", "geändert",
    "geaendert", "zurückgesetzt", "zurueckgesetzt", "erforderlich", "benötigt", "benoetigt",
    "notwendig", "fehlt", "fehlerhaft", "korrekt", "richtig", "unbekannt", "leer", "neu",
    "alt", "nicht", "kein", "keine", "keins", "nichts", "bitte", "siehe", "unten", "oben",
    "anbei", "folgt", "geht", "funktioniert", "klappt", "wird", "wurde", "werden", "muss",
    "müssen", "soll", "sollte", "kann", "können", "darf", "ok", "okay", "ja", "nein", "und",
    "oder", "aber", "auch", "noch", "schon", "immer", "wieder", "per", "über", "via", "im",
    "in", "an", "auf", "wrong", "invalid", "incorrect", "correct", "expired", "forgotten",
    "forgot", "locked", "changed", "reset", "required", "needed", "missing", "unknown",
    "empty", "new", "old", "not", "no", "none", "nothing", "please", "see", "below", "above",
    "attached", "follows", "works", "worked", "working", "does", "doesn't", "did", "didn't",
    "is", "was", "will", "be", "has", "have", "had", "must", "should", "can", "could", "yes",
    "and", "or", "but", "also", "still", "again", "via", "by", "in", "on", "at", "the", "a",
    "an", "to", "for", "of", "mit", "ohne", "für", "fuer", "dem", "den", "der", "die", "das",
    "des", "ein", "eine", "einen", "einem", "einer", "my", "your", "our", "their", "abfrage",
    "eingabe", "eingeben", "anfrage", "prompt", "dialog", "fenster", "feld", "field",
    "manager", "richtlinie", "policy", "änderung", "aenderung", "change", "ändern", "aendern",
    "vergeben", "gesetzt", "set", "sent", "geschickt", "verschickt", "zugeschickt", "sms",
    "mail", "e-mail", "post", "telefon", "phone", "hinterlegt", "stored", "saved",
    "gespeichert", "weiß", "weiss", "know", "knows", "kennt", "kennen",
))
_ALREADY_REDACTED = re.compile(r"^[\[(<]?(?:redacted|entfernt|removed|\*+|x+|\.\.\.|…)[\])>]?"
                               r"[.,;:!?]*$", re.IGNORECASE)


def _looks_like_secret(value: str, strong: bool) -> bool:
    quoted = value[:1] in "\"'„"
    bare = value.strip("\"'„“").rstrip(".,;:!?)")
    if not bare or _ALREADY_REDACTED.match(bare) or MARKER in bare or "://" in bare:
        return False
    if bare.lower() in _HARMLESS_VALUES:
        return False
    if quoted or strong:
        return True
    has_digit = any(ch.isdigit() for ch in bare)
    has_symbol = any(not ch.isalnum() for ch in bare)
    mixed_case = any(ch.isupper() for ch in bare[1:]) and any(ch.islower() for ch in bare)
    return has_digit or has_symbol or mixed_case


def _secret_after(text: str, keyword_end: int, kind: str) -> tuple[int, int] | None:
    """Start and end of the secret that follows a keyword, or None."""
    for strong, pattern in _AFTER_KEYWORD:
        match = pattern.match(text, keyword_end)
        if match is None:
            continue
        value = match.group("value")
        if kind == "pin" and not strong and not value.strip("\"'.,;:!?").isdigit():
            continue  # "PIN pad", "PIN-Eingabe": only digits count after a bare "PIN"
        if not _looks_like_secret(value, strong):
            continue
        end = match.end("value")
        if kind == "credentials" and strong:
            tail = _PAIR_TAIL.match(text[end:])
            if tail:
                end += tail.end()
        return match.start("value"), end
    return None


def _replace_keyword_values(text: str, found: list[str]) -> str:
    out: list[str] = []
    position = 0
    for keyword in _KEYWORD_AT.finditer(text):
        if keyword.start() < position:
            continue
        kind = _KEYWORDS[keyword.group("keyword").lower()]
        secret = _secret_after(text, keyword.end(), kind)
        if secret is None:
            continue
        out.append(text[position:secret[0]])
        out.append(MARKER)
        position = secret[1]
        found.append(kind)
    out.append(text[position:])
    return "".join(out)


def _sub(pattern: re.Pattern[str], kind: str, text: str, found: list[str],
         keep: Callable[[re.Match[str]], str] = lambda m: "") -> str:
    def replace(match: re.Match[str]) -> str:
        found.append(kind)
        return keep(match) + MARKER

    return pattern.sub(replace, text)


def redact(text: str) -> RedactionResult:
    """Replace every credential in ``text`` by :data:`MARKER`; report the kinds found."""
    found: list[str] = []
    keep_prefix: Callable[[re.Match[str]], str] = lambda m: m.group("keep")  # noqa: E731
    text = _sub(_PRIVATE_KEY, "private_key", text, found)
    text = _sub(_URL_CREDENTIALS, "url_credentials", text, found, keep_prefix)
    for kind, pattern in _TOKEN_FORMATS:
        text = _sub(pattern, kind, text, found)
    text = _sub(_BEARER, "bearer_token", text, found, keep_prefix)
    text = _sub(_ASSIGNED_SECRET, "api_key", text, found, keep_prefix)
    text = _replace_keyword_values(text, found)
    return RedactionResult(text=text, findings=tuple(dict.fromkeys(found)))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when cut.

    Redaction can make a text longer (the marker is longer than a short PIN), so a field
    with a length limit is cut again after :func:`redact`. A marker is never cut in half:
    a cut inside one moves to before it."""
    if len(text) <= limit:
        return text
    cut = max(limit - len(ELLIPSIS), 0)
    # A marker that overlaps the cut starts within len(MARKER) - 1 characters before it.
    start = text.find(MARKER, max(cut - len(MARKER) + 1, 0), cut + len(MARKER) - 1)
    if start != -1 and start < cut:
        cut = start
    return text[:cut].rstrip() + ELLIPSIS
