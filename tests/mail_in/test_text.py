"""The new text of a reply: charsets, HTML-only mail and quoted history."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.intake.mail.text import decode_text, html_to_text, trim_quoted_history


def test_declared_charset_is_used() -> None:
    assert decode_text("Grüße".encode("iso-8859-1"), "iso-8859-1") == "Grüße"


def test_unknown_or_wrong_charset_falls_back_without_failing() -> None:
    assert decode_text("Grüße".encode(), "x-no-such-charset") == "Grüße"
    assert decode_text("Grüße".encode("cp1252"), "utf-8") == "Grüße"


def test_html_becomes_lines_and_blockquotes_become_quotes() -> None:
    html = ("<html><head><style>p{color:red}</style></head><body><p>Hallo,</p>"
            "<div>der Drucker geht&nbsp;wieder<br>nicht.</div>"
            "<blockquote><p>Ihre Anfrage</p></blockquote><script>x()</script></body></html>")
    lines = html_to_text(html).split("\n")
    assert [line for line in lines if line] == [
        "Hallo,", "der Drucker geht wieder", "nicht.", "> Ihre Anfrage"]
    assert "" in lines and "\n\n\n" not in html_to_text(html)  # paragraphs, no blank runs


def test_german_attribution_cuts_the_history() -> None:
    text = ("Anbei der Screenshot.\n\nGrüße\nErika\n\n"
            "Am 25.11.2026 um 10:00 schrieb Support <auftrag@example.com>:\n"
            "> Ihre Anfrage ist eingegangen.\n")
    assert trim_quoted_history(text) == "Anbei der Screenshot.\n\nGrüße\nErika"


def test_wrapped_english_attribution_cuts_the_history() -> None:
    text = ("It happens again.\n\nOn Wed, Nov 25, 2026 at 10:00 AM Support <\n"
            "auftrag@example.com> wrote:\n> Your request\n")
    assert trim_quoted_history(text) == "It happens again."


def test_outlook_header_block_and_separators_cut_the_history() -> None:
    outlook = ("Siehe Anhang.\n\nVon: Support <auftrag@example.com>\n"
               "Gesendet: Mittwoch, 25. November 2026 10:00\nAn: Erika\nBetreff: ...\n")
    assert trim_quoted_history(outlook) == "Siehe Anhang."
    separated = "Neu.\n-----Ursprüngliche Nachricht-----\nAlt.\n"
    assert trim_quoted_history(separated) == "Neu."
    original = "New.\n-----Original Message-----\nOld.\n"
    assert trim_quoted_history(original) == "New."


def test_inline_answers_between_quotes_are_kept() -> None:
    text = "> Geht der Drucker?\nNein.\n> Seit wann?\nSeit Montag.\n> Gruß\n"
    assert trim_quoted_history(text) == "> Geht der Drucker?\nNein.\n> Seit wann?\nSeit Montag."


def test_a_mail_that_is_only_a_quote_keeps_its_text() -> None:
    assert trim_quoted_history("> nur zitiert\n") == "> nur zitiert"


@given(st.text(max_size=500))
def test_text_functions_never_fail(text: str) -> None:
    trim_quoted_history(text)
    html_to_text(text)
    decode_text(text.encode("utf-8", "surrogatepass"), "utf-8")
