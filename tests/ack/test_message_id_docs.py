"""docs/ack.md states the Message-ID of each mail to customers; the mails carry exactly
those forms (the doc once showed the receipt's without its signed tag and the answer's
tag as a hash)."""

from __future__ import annotations

import re
from pathlib import Path

from services.ack.conversation import conversation_message_id
from services.ack.notice import notice_key, notice_message_id
from services.ack.receipt import receipt_message_id
from tests.conftest import TEST_SECRET_KEY

DOC = Path(__file__).parents[2] / "docs" / "ack.md"
SUPPORT = "auftrag@msp.example"
CASE = "2026112600001"
PLACEHOLDER = re.compile(r"<([^<>]+)>")


def meaning(placeholder: str) -> str:
    """The pattern a placeholder of the doc, such as ``<case number>``, stands for."""
    if placeholder in ("case", "case number"):
        return r"\d+"
    if digits := re.match(r"(\d+) hex digits", placeholder):
        return f"[0-9a-f]{{{digits.group(1)}}}"
    assert placeholder.startswith("domain"), placeholder
    return r"[^@<>\s]+"


def documented_forms() -> list[re.Pattern[str]]:
    """The Message-ID forms of the doc's header tables, as patterns."""
    forms = []
    for row in DOC.read_text(encoding="utf-8").splitlines():
        if row.startswith("| Message-ID |"):
            form = re.search(r"`(<[^`]+>)`", row)
            assert form, row
            inner = form.group(1)[1:-1]  # the id's own angle brackets
            parts, at = [], 0
            for found in PLACEHOLDER.finditer(inner):
                parts += [re.escape(inner[at:found.start()]), meaning(found.group(1))]
                at = found.end()
            forms.append(re.compile("<" + "".join(parts) + re.escape(inner[at:]) + ">"))
    return forms


def test_every_message_id_of_a_customer_mail_has_the_documented_form() -> None:
    receipt, notice, answer = documented_forms()
    assert receipt.fullmatch(receipt_message_id(CASE, SUPPORT, TEST_SECRET_KEY))
    assert notice.fullmatch(notice_message_id(notice_key(CASE, "mail-abc"), SUPPORT))
    for kind in ("answer", "accepted", "resolved"):
        made = conversation_message_id(CASE, kind, "event-1", SUPPORT, TEST_SECRET_KEY)
        assert re.compile(answer.pattern.replace("answer", kind)).fullmatch(made), made
