"""Evidence of who sent a mail, as the rules need it: the SMTP envelope sender, the
Message-IDs it answers, and what a trusted relay's ``Authentication-Results`` (RFC 8601)
says. This module only gathers; the decider (``trust_problem``) judges.

Only a relay named in the settings is believed, and only its topmost field: the relay adds
its field on top and removes fields claiming its authserv-id from the mail as received
(RFC 8601 section 5), so a forged field further down, or any field on a mail that did not
come through the relay, counts for nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from pydantic import IPvAnyNetwork

from services.intake.mail.parse import InboundMail
from shared.domain.ticket import commands as c

_RESULT = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z]+)\b(.*)$", re.IGNORECASE | re.S)
_PROPERTY = re.compile(r"\b(header\.from|header\.d|header\.i|smtp\.mailfrom)\s*=\s*"
                       r"\"?([^\s;\"]+)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")


def from_trusted_relay(peer: str | None, relays: Sequence[IPvAnyNetwork]) -> bool:
    """Whether the connection came from one of the configured mail servers."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(str(network), strict=False)
               for network in relays)


def relay_results(fields: Sequence[str], trusted_ids: Sequence[str]) -> tuple[c.AuthResult, ...]:
    """The verdicts of the topmost ``Authentication-Results`` field if its authserv-id is
    trusted (none otherwise)."""
    if not fields:
        return ()
    authserv_id, _, rest = _COMMENT.sub(" ", fields[0]).partition(";")
    words = authserv_id.split()
    if not words or words[0].lower() not in {t.lower() for t in trusted_ids}:
        return ()
    return tuple(verdict for part in rest.split(";") if (verdict := _verdict(part)))


def _verdict(resinfo: str) -> c.AuthResult | None:
    match = _RESULT.match(resinfo)
    if match is None:
        return None
    method, result, props = match.group(1).lower(), match.group(2).lower(), match.group(3)
    found = {name.lower(): value for name, value in _PROPERTY.findall(props)}
    wanted = {"dmarc": ("header.from",), "dkim": ("header.d", "header.i"),
              "spf": ("smtp.mailfrom",)}.get(method, ())
    value = next((found[name] for name in wanted if name in found), "")
    return c.AuthResult(method=method, result=result,
                        domain=value.rpartition("@")[2].strip(".").lower())


def evidence(mail: InboundMail, envelope_sender: str | None, peer: str | None,
             relays: Sequence[IPvAnyNetwork],
             trusted_ids: Sequence[str]) -> dict[str, object]:
    """The evidence fields of :class:`ReceivedMail` for one received mail."""
    verdicts = (relay_results(mail.authentication_results, trusted_ids)
                if from_trusted_relay(peer, relays) else ())
    return {"envelope_sender": (envelope_sender or "").strip("<> ").lower(),
            "reference_ids": mail.reference_ids, "relay_results": verdicts}
