"""The public route table (shared.runtime.routes) and the proxy configuration written from
it (shared.runtime.proxy): no path claimed twice, no route served undeclared, every public
route forwarded to its service with its body limit, nothing else forwarded."""

from __future__ import annotations

import re

import pytest

from shared.runtime import registry
from shared.runtime.proxy import nginx_config, parse_upstreams
from shared.runtime.routes import (
    PROCESS_ROUTES,
    Route,
    RouteTableError,
    ServiceRoutes,
    check_served,
    check_table,
    covers,
)
from shared.settings import ConfigurationError, Settings

UPSTREAMS = {"intake": ["127.0.0.1:8081"], "oncall": ["127.0.0.1:8082"],
             "billing": ["127.0.0.1:8083", "127.0.0.1:8084"]}


def test_a_path_claimed_by_two_services_is_refused() -> None:
    """Today's table splits /api/tickets/{case}/... by the last segment; a declaration
    that claimed all of it for one service would take the other's routes."""
    billing = ServiceRoutes("billing", (Route("/api/tickets/{case}/time", "technician"),))
    greedy = ServiceRoutes("oncall", (Route("/api/tickets/{case}/{action}", "technician"),))
    with pytest.raises(RouteTableError, match="both claim"):
        check_table([billing, greedy])
    with pytest.raises(RouteTableError, match="/health"):
        check_table([ServiceRoutes("intake", (Route("/health", "anyone"),)), PROCESS_ROUTES])
    check_table([*registry.route_tables(), PROCESS_ROUTES])  # the real table is clean


def test_a_route_served_without_declaration_is_refused() -> None:
    table = ServiceRoutes("billing", (Route("/api/invoices/{name}", "technician"),))
    check_served(table, ["/api/invoices/{number}"])
    with pytest.raises(RouteTableError, match=re.escape("/api/invoices/{number}/cancel")):
        check_served(table, ["/api/invoices/{number}", "/api/invoices/{number}/cancel"])
    assert covers("/console/mail/{t}/{m}/{action}", "/console/mail/{t}/{m}/new-ticket")
    assert not covers("/console/mail/{t}/{m}/new-ticket", "/console/mail/{t}/{m}/{action}")


def test_the_nginx_configuration_forwards_every_public_route_and_nothing_else() -> None:
    settings = Settings()
    text = nginx_config(registry.route_tables(), "127.0.0.1:8080", UPSTREAMS, settings)
    locations = re.findall(r"location (= \S+|~ \"[^\"]+\") \{ proxy_pass "
                           r"http://ticketcore_(\w+); client_max_body_size (\d+); \}", text)
    public = [(t.service, r) for t in registry.route_tables() for r in t.public]
    assert len(locations) == len(public)
    for (service, route), (match, upstream, limit) in zip(public, locations, strict=True):
        assert upstream == service
        assert int(limit) == route.max_body_bytes(settings)
        expected = f"= {route.path}" if "{" not in route.path else f'~ "{route.pattern}"'
        assert match == expected
    for private in ("/health", "/metrics", "/outbox"):
        assert f"= {private} " not in text
    assert "server 127.0.0.1:8083;" in text and "server 127.0.0.1:8084;" in text
    assert "location / { return 404; }" in text
    respond = next(r for t, r in public if r.path.endswith("/respond"))
    assert respond.max_body_bytes(settings) > 4 * settings.oncall.answer_max_total_bytes // 3


def test_the_proxy_command_names_what_is_missing_or_wrong() -> None:
    tables = registry.route_tables()
    with pytest.raises(ConfigurationError, match="no --upstream for billing"):
        nginx_config(tables, "127.0.0.1:8080", {"intake": ["a:1"], "oncall": ["b:2"]},
                     Settings())
    with pytest.raises(ConfigurationError, match="--upstream payroll: no such service"):
        nginx_config(tables, "127.0.0.1:8080", {**UPSTREAMS, "payroll": ["c:3"]}, Settings())
    with pytest.raises(ConfigurationError, match="--listen"):
        nginx_config(tables, "8080", UPSTREAMS, Settings())
    with pytest.raises(ConfigurationError, match="SERVICE=HOST:PORT"):
        parse_upstreams(["intake:8081"])
    assert parse_upstreams(["intake=10.0.0.5:8080", "intake=10.0.0.6:8080"]) == {
        "intake": ["10.0.0.5:8080", "10.0.0.6:8080"]}
