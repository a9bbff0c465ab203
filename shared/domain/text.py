"""What text ticketcore stores: one policy for every way text comes in (the form, the JSON
APIs, inbound mail), per kind of field.

- Text that cannot be encoded (lone surrogates, which a JSON ``\\ud800`` escape produces)
  is refused everywhere: it cannot be stored, mailed or shown.
- Identity fields (names, company, e-mail address, phone, street, postcode, city) refuse
  invisible and format characters: a name with a zero-width space, a right-to-left
  override or a private-use glyph looks like another name to the technician and to every
  search. Zero-width (non-)joiners stay allowed: Persian and Indic names need them.
- Free text (descriptions, messages, mails) keeps what the customer meant and loses the
  invisible rest: format characters (zero-width spaces, byte-order marks, bidi controls,
  tag characters), private-use characters and noncharacters (U+FFFE, U+FFFF, ...) are
  removed; the joiners that emoji and some scripts need stay.
"""

from __future__ import annotations

import unicodedata

# Joiners: part of emoji sequences and of Persian and Indic spelling.
JOINERS = frozenset({"\u200c", "\u200d"})
# Cf: format (U+200B, U+FEFF, bidi controls, tag characters), Co: private use,
# Cn: unassigned and noncharacters (U+FFFE), Cs: surrogates.
INVISIBLE_CATEGORIES = frozenset({"Cf", "Co", "Cn", "Cs"})


def encodable(text: str) -> bool:
    """True if ``text`` can be written as UTF-8 (no lone surrogates)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")  # strict UTF-8 refuses exactly the surrogates
    except UnicodeEncodeError:
        return False
    return True


def is_invisible(char: str) -> bool:
    """A format, private-use, unassigned or surrogate character other than a joiner."""
    return char not in JOINERS and unicodedata.category(char) in INVISIBLE_CATEGORIES


def first_invisible(text: str) -> str | None:
    """The first invisible character of an identity field's ``text`` (None: there is none)."""
    if text.isascii():
        return None  # ASCII has no format, private-use, unassigned or surrogate characters
    return next((char for char in text if is_invisible(char)), None)


def strip_invisible(text: str) -> str:
    """Free text without its invisible characters (surrogates included: a caller that
    must refuse them checks :func:`encodable` first)."""
    if text.isascii():
        return text
    return "".join(char for char in text if not is_invisible(char))
