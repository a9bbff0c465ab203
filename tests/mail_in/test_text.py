"""The new text of a reply: charsets, HTML-only mail and quoted history."""

from __future__ import annotations

from html import escape

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


# Text without the characters any history marker needs (":" for attributions and Outlook
# headers, "-" for separators, ">" for quotes): nothing to cut.
PLAIN = st.text(alphabet=st.characters(blacklist_characters=":->",
                                       blacklist_categories=("Cs",)), max_size=300)
HISTORY = ("\n\nAm 25.11.2026 um 10:00 schrieb Support <auftrag@example.com>:\n"
           "> Ihre Anfrage ist eingegangen.\n> Alt.\n")


@given(st.text(max_size=500))
def test_trimmed_text_is_stripped_and_empty_only_for_blank_mail(text: str) -> None:
    trimmed = trim_quoted_history(text)
    assert trimmed == trimmed.strip()
    assert bool(trimmed) == bool(text.strip())
    html = html_to_text(text)  # any text as HTML: lines without runs of blank lines
    assert html == html.strip() and "\n\n\n" not in html


@given(PLAIN)
def test_text_without_history_is_kept_line_by_line(text: str) -> None:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert trim_quoted_history(text) == "\n".join(line.rstrip() for line in lines).strip()


@given(PLAIN.filter(lambda text: text.strip()))
def test_quoted_history_after_new_text_is_cut(text: str) -> None:
    assert trim_quoted_history(text + HISTORY) == trim_quoted_history(text)


@given(st.text(alphabet=st.characters(blacklist_characters="<&",
                                      blacklist_categories=("Cs",)), max_size=300))
def test_html_without_markup_is_its_text_on_one_line(text: str) -> None:
    assert html_to_text(text) == " ".join(text.split())


@given(st.text(max_size=200))
def test_html_to_text_keeps_the_text_and_drops_scripts_and_tags(text: str) -> None:
    html = f"<p>{escape(text)}</p><script>alert('x')</script><b>fett</b>"
    visible = " ".join(text.split())
    assert html_to_text(html) == (f"{visible}\nfett" if visible else "fett")


@given(st.text(max_size=500))
def test_utf8_text_decodes_to_itself(text: str) -> None:
    encodable = text.encode("utf-8", "replace").decode("utf-8")
    assert decode_text(encodable.encode(), "utf-8") == encodable
    assert decode_text(encodable.encode(), None) == encodable
