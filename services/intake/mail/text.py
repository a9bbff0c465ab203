"""The new text of a reply: charset decoding, HTML to plain text, trimming quoted history.

All functions are pure and never raise on odd input: mail arrives in every charset, some of
them declared wrongly, and with HTML only.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

# Charsets that mislabelled mail most often really is in, tried after the declared one.
_FALLBACK_CHARSETS = ("utf-8", "cp1252")


def clean_text(value: str) -> str:
    """Valid Unicode only: raw 8-bit header bytes reach us as surrogates (surrogateescape);
    they are decoded as UTF-8 where they are, replaced otherwise. Stored events and NATS
    messages need valid UTF-8."""
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def decode_text(payload: bytes, charset: str | None) -> str:
    """Decode a text part: the declared charset, else UTF-8, else Windows-1252."""
    candidates = [charset] if charset else []
    for name in (*candidates, *_FALLBACK_CHARSETS):
        try:
            codecs.lookup(name)
            return clean_text(payload.decode(name))
        except (LookupError, UnicodeError, ValueError, TypeError):
            continue
    return payload.decode("utf-8", errors="replace")


_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "pre", "hr", "section", "article", "header", "footer", "blockquote", "dd", "dt",
})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template"})


class _HtmlText(HTMLParser):
    """Collects visible text; block tags end lines, ``<blockquote>`` lines get ``> ``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.skip_depth = 0

    def _end_line(self) -> None:
        line = " ".join("".join(self.current).split())
        self.current = []
        if line or (self.lines and self.lines[-1] != ""):
            self.lines.append(("> " * self.quote_depth) + line if line else "")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self._end_line()
            if tag == "blockquote":
                self.quote_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self._end_line()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self.current.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML mail body, one line per block, quotes marked with ``> ``."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; this is a last line of defence
        return re.sub(r"<[^>]*>", " ", html)
    parser._end_line()
    return "\n".join(parser.lines).strip()


# Where the quoted history of a reply starts, in the forms common mail clients write.
_ATTRIBUTION = re.compile(
    r"^\s*(?:Am|On|Le|Den|På|El|Il)\s.{0,300}?\s(?:schrieb|wrote|a écrit|skrev|escribió|"
    r"ha scritto|kirjoitti)(?:\s.{0,120})?:\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Originalnachricht|"
    r"Weitergeleitete Nachricht|Forwarded message|Opprinnelig melding|"
    r"Ursprungligt meddelande|Oprindelig meddelelse|Alkuperäinen viesti)\s*-{2,}\s*$",
    re.IGNORECASE,
)
# Outlook's header block: "Von: ..." followed within a few lines by "Gesendet: ...".
_OUTLOOK_FROM = re.compile(r"^\s*\*?(?:Von|From|Fra|Från|Lähettäjä)\s*:\*?\s", re.IGNORECASE)
_OUTLOOK_SENT = re.compile(r"^\s*\*?(?:Gesendet|Sent|Date|Datum|Sendt|Skickat|Lähetetty)\s*:",
                           re.IGNORECASE)


def _history_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        joined = line + " " + lines[index + 1] if index + 1 < len(lines) else line
        if _SEPARATOR.match(line) or _ATTRIBUTION.match(line):
            return index
        # Clients wrap long attributions ("On ..., Name <\naddress> wrote:").
        if not line.lstrip().startswith(">") and _ATTRIBUTION.match(joined):
            return index
        if _OUTLOOK_FROM.match(line) and any(
                _OUTLOOK_SENT.match(following) for following in lines[index + 1:index + 4]):
            return index
    return None


def trim_quoted_history(text: str) -> str:
    """The new part of a reply: cut at the first attribution or separator line of the quoted
    history, and drop the block of ``>`` lines at the end. Text quoted between new lines
    (inline answers) is kept: cutting there is not reliable. If nothing would be left, the
    whole text is kept."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _history_start(lines)
    if start is not None:
        lines = lines[:start]
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    trimmed = "\n".join(line.rstrip() for line in lines).strip()
    return trimmed or text.strip()
