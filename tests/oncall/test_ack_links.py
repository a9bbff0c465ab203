"""Acknowledge links: signed, per person, expiring, used once; GET changes nothing."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from services.oncall.paging import ack_path, check_ack_link
from shared.adapters.eventstore import EventStore
from tests.oncall.conftest import ack_path_in, event_types, oncall_http, submit, wait_for_event
from tests.support import SmtpSink

SECRET = "a-secret-key-for-tests-0123456789"


def test_link_check() -> None:
    now = 1_800_000_000
    path = ack_path(SECRET, "20261126000011", "anna", now + 60)
    sig = parse_qs(urlsplit(path).query)["sig"][0]
    assert check_ack_link(SECRET, "20261126000011", "anna", str(now + 60), sig, now) == "ok"
    assert check_ack_link(SECRET, "20261126000011", "ben", str(now + 60), sig,
                          now) == "bad_signature"
    assert check_ack_link(SECRET, "20261126000029", "anna", str(now + 60), sig,
                          now) == "bad_signature"
    assert check_ack_link(SECRET, "20261126000011", "anna", str(now + 61), sig,
                          now) == "bad_signature"
    assert check_ack_link(SECRET, "20261126000011", "anna", "soon", sig, now) == "bad_signature"
    assert check_ack_link(SECRET, "20261126000011", "anna", str(now + 60), sig,
                          now + 61) == "expired"


async def test_forged_other_person_expired_and_reused_links(
        make_settings, store: EventStore, smtp_sink: SmtpSink) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (_, http):
        case = await submit(store, priority=True)
        [page] = await smtp_sink.wait_for(1)
        link = ack_path_in(page)
        paged = link.split("/")[4].split("?")[0]
        other = "ben" if paged != "ben" else "anna"

        # Mail scanners follow links: GET shows a confirm page and changes nothing.
        shown = await http.get(link)
        assert shown.status_code == 200 and "<form method='post'" in shown.text
        forged = link[:-4] + ("0000" if not link.endswith("0000") else "1111")
        assert (await http.post(forged)).status_code == 403
        assert (await http.get(forged)).status_code == 403
        # The same signature for another person is refused.
        assert (await http.post(link.replace(f"/{paged}?", f"/{other}?"))).status_code \
            == 403
        # A correctly signed link of somebody who was not paged is refused too.
        exp = int(time.time()) + 600
        stranger = ack_path(settings.secret_key, case, other, exp)
        refused = await http.post(stranger)
        assert refused.status_code == 403 and "alarmierte Techniker" in refused.text
        expired = ack_path(settings.secret_key, case, paged, int(time.time()) - 1)
        gone = await http.post(expired)
        assert gone.status_code == 403 and "abgelaufen" in gone.text
        assert "OnCallAcknowledged" not in await event_types(store, case)

        first = await http.post(link)
        second = await http.post(link)

    assert first.status_code == 200 and "gehört Ihnen" in first.text
    assert second.status_code == 200 and "bereits von" in second.text
    acks = await wait_for_event(store, case, "OnCallAcknowledged")
    assert len(acks) == 1 and acks[0].technician == paged  # type: ignore[attr-defined]


async def test_link_for_unknown_ticket(make_settings, store: EventStore) -> None:
    settings = make_settings()
    async with oncall_http(settings) as (_, http):
        path = ack_path(settings.secret_key, "20261126999999", "anna",
                        int(time.time()) + 60)
        response = await http.post(path)
    assert response.status_code == 404
