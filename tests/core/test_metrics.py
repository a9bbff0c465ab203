"""``GET /metrics``: a real scrape of all four services running together, after a real
submission over HTTP; the dashboard and the alert rules name only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shared.runtime.app import running_system
from shared.settings import Settings
from tests.support import SmtpSink, serve_app

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "ticketcore.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"

REQUEST = {
    "company": None, "first_name": "Erika", "last_name": "Mustermann",
    "email": "erika@kunde.example", "phone": "+49 30 123456", "street": "Hauptstraße 5",
    "postcode": "10115", "city": "Berlin", "short_description": "Drucker druckt nicht",
    "additional_backup": False, "backup_acknowledged": True, "priority": False,
    "priority_acknowledged": True, "commercial_customer": True, "language": "de",
}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def exposed_names(text: str) -> set[str]:
    """Every series name a query may use, also of families without a sample yet."""
    names = {name for name, _ in samples(text)}
    for kind_line in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        name, kind = kind_line
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}_{suffix}" for suffix in ("bucket", "sum", "count"))
    return names


def names_in_queries(texts: list[str]) -> set[str]:
    return {name for text in texts for name in re.findall(r"\bticketcore_[a-z_]+", text)}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def alert_queries() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


async def test_one_scrape_covers_every_service_and_the_dashboard_names_exist(
        settings: Settings, smtp_sink: SmtpSink) -> None:
    settings = settings.model_copy(update={"smtp": settings.smtp.model_copy(update={
        "host": "127.0.0.1", "port": smtp_sink.port, "security": "none"})})
    async with running_system(settings) as system, serve_app(system.http_app()) as url, \
            httpx.AsyncClient(base_url=url, timeout=20) as client:
        before = samples((await client.get("/metrics")).text)
        answer = await client.post("/api/requests", json=REQUEST)
        assert answer.status_code == 201, answer.text
        case = answer.json()["case_number"]
        await smtp_sink.wait_for(1, timeout_s=20)
        status_path = answer.json()["status_url"].split(url, 1)[-1]
        assert (await client.get(status_path)).status_code == 200
        assert (await client.get("/no/such/page")).status_code == 404
        scraped = await client.get("/metrics")

    assert scraped.headers["content-type"].startswith("text/plain")
    after = samples(scraped.text)
    # The receipt: sent once, its delay observed, its RequestSubmitted handled by ack.
    assert value(after, "ticketcore_receipts_sent_total") == \
        value(before, "ticketcore_receipts_sent_total") + 1
    assert value(after, "ticketcore_receipt_delay_seconds_count") == \
        value(before, "ticketcore_receipt_delay_seconds_count") + 1
    handled = {"durable": "ack-receipts", "type": "RequestSubmitted"}
    assert value(after, "ticketcore_events_handled_total", **handled) == \
        value(before, "ticketcore_events_handled_total", **handled) + 1
    # HTTP timings by route template, never the raw path.
    count = "ticketcore_http_request_duration_seconds_count"
    assert value(after, count, method="POST", route="/api/requests", status="201") >= 1
    assert value(after, count, method="GET", route="/status/{case_number}", status="200") >= 1
    assert value(after, count, method="GET", route="unmatched", status="404") >= 1
    assert not any(case in str(labels) for _, labels in after)
    # The lag of every service's consumers, read at scrape time.
    durables = {dict(labels)["durable"] for name, labels in after
                if name == "ticketcore_consumer_pending"}
    assert {"ack-receipts", "ack-notices", "oncall-requests", "oncall-timers",
            "billing-technician-entries"} <= durables
    assert any(name == "ticketcore_consumer_ack_pending" for name, _ in after)

    named = names_in_queries(dashboard_queries() + alert_queries())
    assert named, "the dashboard and the rules name metrics"
    assert named - exposed_names(scraped.text) == set()


def test_the_alert_rules_cover_what_operators_are_woken_for() -> None:
    named = names_in_queries(alert_queries())
    assert {"ticketcore_receipts_overdue_total", "ticketcore_consumer_pending",
            "ticketcore_sla_breaches_total", "ticketcore_webhook_deliveries_total"} <= named
