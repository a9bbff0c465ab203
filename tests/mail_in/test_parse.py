"""Parsing received mail: structure, encodings, automatic mail, limits, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.mail.parse import InboundMail, MailLimits, MailRefused, parse_mail
from tests.mail_in.mails import CASE, CUSTOMER, PDF, PNG, reply


def test_plain_reply_with_attachments() -> None:
    message = reply(files=(("Fehler.pdf", "application/pdf", PDF),
                           ("screen.png", "image/png", PNG)))
    mail = parse_mail(message.as_bytes(), CUSTOMER)
    assert mail.sender == CUSTOMER and mail.sender_count == 1
    assert mail.subject == f"AW: [SA#{CASE}] Drucker druckt nicht"
    assert mail.text.strip() == "Der Drucker zeigt jetzt Fehler 49."
    assert [(f.filename, f.content_type, f.data) for f in mail.files] == [
        ("Fehler.pdf", "application/pdf", PDF), ("screen.png", "image/png", PNG)]
    assert mail.auto_reply is None
    assert mail.message_id == str(message["Message-ID"])


def test_encoded_and_folded_umlaut_subject_is_decoded_and_unfolded() -> None:
    raw = (b"From: =?iso-8859-1?q?J=FCrgen_M=FCller?= <Juergen@Example.DE>\r\n"
           b"To: auftrag@example.com\r\nMessage-ID: <x1@example.de>\r\n"
           b"Subject: =?UTF-8?Q?AW:_Dr=C3=BCcker_im_B=C3=BCro_gr=C3=BCn_?=\r\n"
           b" =?UTF-8?Q?[SA#" + CASE[:6].encode() + b"?=\r\n"
           b"\t=?UTF-8?Q?" + CASE[6:].encode() + b"]_=C3=BCberf=C3=A4llig?=\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe\r\n")
    mail = parse_mail(raw, None)
    assert mail.subject == f"AW: Drücker im Büro grün [SA#{CASE}] überfällig"
    assert mail.sender == "juergen@example.de"
    assert mail.text.strip() == "Grüße"


def test_html_only_mail_becomes_text() -> None:
    raw = (b"From: kunde@example.de\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8"
           b"\r\n\r\n<p>Neue Info</p><blockquote>alt</blockquote>\r\n")
    assert parse_mail(raw).text.split("\n")[0] == "Neue Info"


def test_alternative_prefers_plain_text() -> None:
    message = reply(text="plain")
    message.add_alternative("<p>html</p>", subtype="html")
    assert parse_mail(message.as_bytes()).text.strip() == "plain"
    assert parse_mail(message.as_bytes()).files == ()


def test_invalid_charset_and_broken_mime_do_not_fail() -> None:
    raw = (b"From: kunde@example.de\r\nSubject: =?x-unknown?q?Hallo?=\r\n"
           b"Content-Type: multipart/mixed; boundary=\"nope\"\r\n\r\n"
           b"--wrong\r\nContent-Type: text/plain; charset=\"\xff\xfe\"\r\n\r\nGr\xfc\xdfe\r\n")
    mail = parse_mail(raw)
    assert mail.sender == "kunde@example.de"
    assert "Gr" in mail.text
    assert mail.defects  # the structure problem is noted


def test_references_in_reply_to_first() -> None:
    message = reply(In_Reply_To=f"<receipt.{CASE}@example.com>",
                    References="<a@x> <b@y> <receipt.1@z>")
    assert parse_mail(message.as_bytes()).reference_ids == (
        f"<receipt.{CASE}@example.com>", "<a@x>", "<b@y>", "<receipt.1@z>")


@pytest.mark.parametrize(("headers", "subject", "envelope"), [
    ({"Auto_Submitted": "auto-replied"}, "AW: x", CUSTOMER),
    ({"X_Autoreply": "yes"}, "x", CUSTOMER),
    ({"Precedence": "bulk"}, "x", CUSTOMER),
    ({}, "Abwesenheitsnotiz: AW: [SA#1]", CUSTOMER),
    ({}, "Automatische Antwort: Drucker", CUSTOMER),
    ({}, "Out of Office: Drucker", CUSTOMER),
    ({}, "AW: Automatic reply: Drucker", CUSTOMER),
    ({}, "Undelivered Mail Returned to Sender", ""),
])
def test_automatic_mail_is_recognised(headers: dict[str, str], subject: str,
                                      envelope: str) -> None:
    assert parse_mail(reply(subject, **headers).as_bytes(), envelope).auto_reply


def test_bounce_by_sender_or_report_type() -> None:
    assert parse_mail(reply("x", sender="MAILER-DAEMON@mx.example.de").as_bytes()).auto_reply
    report = reply("Delivery Status")
    report.replace_header("Content-Type", "multipart/report; report-type=delivery-status; "
                          "boundary=b")
    assert "report" in (parse_mail(report.as_bytes()).auto_reply or "")


def test_person_written_mail_is_not_automatic() -> None:
    message = reply("AW: Out of office printer", Auto_Submitted="no")
    assert parse_mail(message.as_bytes(), CUSTOMER).auto_reply is None


def test_limits_are_refused_with_smtp_status() -> None:
    limits = MailLimits(max_header_bytes=2000, max_header_count=20, max_mime_parts=5)
    many_headers = reply(**{f"X_H{i}": "v" for i in range(30)}).as_bytes()
    with pytest.raises(MailRefused, match=r"^552 5.3.4 Too many header"):
        parse_mail(many_headers, limits=limits)
    big_header = reply(X_Big=" ".join(["wort"] * 800)).as_bytes()
    with pytest.raises(MailRefused, match=r"^552 5.3.4 Message header too large"):
        parse_mail(big_header, limits=limits)
    parts = reply(files=tuple((f"f{i}.bin", "application/octet-stream", b"x")
                              for i in range(6))).as_bytes()
    with pytest.raises(MailRefused, match=r"^554 5.6.0 Too many MIME parts"):
        parse_mail(parts, limits=limits)


def test_deep_nesting_is_refused() -> None:
    raw = b"From: a@b.c\r\nSubject: x\r\n"
    for depth in range(15):
        raw += f"Content-Type: multipart/mixed; boundary=b{depth}\r\n\r\n--b{depth}\r\n".encode()
    raw += b"Content-Type: text/plain\r\n\r\ninnen\r\n"
    with pytest.raises(MailRefused, match="nested"):
        parse_mail(raw, limits=MailLimits(max_mime_depth=10))


def test_declared_huge_attachment_is_refused_not_unpacked() -> None:
    message = reply(files=(("bomb.zip", "application/zip", b"PK\x03\x04" + b"\0" * 100),))
    message.get_payload()[1].set_param("size", str(10**12), header="Content-Disposition")
    with pytest.raises(MailRefused, match=r"^552"):
        parse_mail(message.as_bytes())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise_anything_but_a_refusal(raw: bytes) -> None:
    try:
        mail = parse_mail(raw, limits=MailLimits(max_header_count=50))
    except MailRefused:
        return
    _assert_storable(mail)


def _assert_storable(mail: InboundMail) -> None:
    """Every text can be encoded (events and NATS messages need valid UTF-8)."""
    texts = [mail.message_id, mail.sender, mail.subject, mail.text, *mail.reference_ids,
             *(f.filename for f in mail.files), *(f.content_type for f in mail.files)]
    for text in texts:
        text.encode("utf-8")


_header_lines = st.lists(st.sampled_from([
    b"From: ", b"Subject: ", b"Content-Type: multipart/mixed; boundary=x", b"--x", b"--x--",
    b"Content-Type: text/plain; charset=", b"Content-Transfer-Encoding: base64",
    b"Content-Disposition: attachment; filename=", b"=?utf-8?q?=C3?=", b"=?x?b?!!?=",
    b"", b" folded", b"MIME-Version: 1.0", b"In-Reply-To: <", b"\xff\xfe", b"<a@b>",
]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(_header_lines, st.binary(max_size=200))
def test_random_mime_structures_never_raise(lines: list[bytes], tail: bytes) -> None:
    try:
        mail = parse_mail(b"\r\n".join(lines) + tail)
    except MailRefused:
        return
    _assert_storable(mail)


def test_raw_8bit_headers_and_utf7_surrogates_become_valid_text() -> None:
    raw = ("From: Jörg <jörg@example.de>\r\nSubject: Grüße \xff\r\n"
           "Content-Type: text/plain; charset=utf-7\r\n\r\n+2D0-x\r\n").encode()
    mail = parse_mail(raw.replace(b"\xc3\xbf", b"\xff"))
    _assert_storable(mail)
    assert mail.subject.startswith("Grüße") and mail.sender == "jörg@example.de"
    assert mail.text.strip() == "?x"  # the lone surrogate of broken UTF-7 is replaced
