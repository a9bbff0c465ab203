"""The whole system, as people use it: a customer submits a priority request, gets the
receipt; the on-call technician is paged, acknowledges, responds, logs time and resolves;
the clerk issues the invoice; everything is in the log and the invoice is right to the cent.
All four services run together on a real nats-server, mail goes to a real SMTP server on
loopback, HTTP is served on a real port."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from facturx import xml_check_xsd

from shared.adapters.natsserver import free_port
from shared.domain.casenumber import is_valid_case_number
from shared.runtime.accounts import AccountStore, hash_password, new_token
from shared.runtime.app import running_system
from shared.settings import Settings
from tests.support import SmtpSink, serve_app

REQUEST = {
    "company": None, "first_name": "Erika", "last_name": "Mustermann",
    "email": "erika@kunde.example", "phone": "+49 30 123456", "street": "Hauptstraße 5",
    "postcode": "10115", "city": "Berlin", "short_description": "Server startet nicht",
    "error_message": "Kein Bootmedium gefunden", "additional_backup": False,
    "backup_acknowledged": True, "priority": True, "commercial_customer": True,
    "language": "de",
}


def system_settings(settings: Settings, sink: SmtpSink, tmp_path: Path) -> Settings:
    rota = tmp_path / "rota.toml"
    rota.write_text('[[people]]\nid = "anna"\nname = "Anna"\nemail = "anna@msp.example"\n'
                    '[[rotations]]\nlevel = 1\npeople = ["anna"]\nhandover_weekday = "monday"'
                    '\nhandover_time = "09:00"\nstart = 2026-01-05\n')
    return settings.model_copy(update={
        "smtp": settings.smtp.model_copy(update={"host": "127.0.0.1", "port": sink.port,
                                                 "security": "none"}),
        "oncall": settings.oncall.model_copy(update={"rota_file": rota}),
    })


def embedded_with_users(settings: Settings, tmp_path: Path) -> Settings:
    """As `ticketcore up` runs: the embedded server with ticketcore's NATS users, every
    service connected as its own user (a right missing from the table fails here)."""
    nats = settings.nats.model_copy(update={"url": None, "embedded_port": free_port()})
    return settings.model_copy(update={"nats": nats, "data_dir": tmp_path / "data"})


@pytest.mark.parametrize("nats_users", [False, True], ids=["one-connection", "nats-users"])
async def test_a_priority_request_from_form_to_invoice(settings: Settings, smtp_sink: SmtpSink,
                                                       tmp_path: Path, nats_users: bool) -> None:
    token, token_hash = new_token()
    accounts = AccountStore.from_dict({"technicians": [
        {"id": "anna", "name": "Anna", "password_hash": hash_password("pw-anna-123"),
         "token_hashes": [token_hash]}]})
    settings = system_settings(settings, smtp_sink, tmp_path)
    if nats_users:
        settings = embedded_with_users(settings, tmp_path)
    async with running_system(settings) as system:
        for runtime in system.connections:
            runtime.accounts = accounts
        async with serve_app(system.http_app()) as url, httpx.AsyncClient(
                base_url=url, timeout=20) as client:
            for runtime in system.connections:
                runtime.http_port = int(url.rsplit(":", 1)[1])
            auth = {"Authorization": f"Bearer {token}"}

            # The customer submits; the answer carries the case number and status link.
            answer = await client.post("/api/requests", json=REQUEST)
            assert answer.status_code == 201, answer.text
            case = answer.json()["case_number"]
            assert is_valid_case_number(case)

            # The receipt to the customer and the page to the on-call technician arrive.
            mails = await smtp_sink.wait_for(2, timeout_s=20)
            by_recipient = {m["To"].addresses[0].addr_spec: m for m in mails}
            receipt = by_recipient["erika@kunde.example"]
            assert receipt["Subject"] == f"[SA#{case}] Server startet nicht"
            assert receipt["Auto-Submitted"] == "auto-replied"
            assert "anna@msp.example" in by_recipient
            status_path = answer.json()["status_url"].split(url, 1)[-1]
            status = await client.get(status_path)
            assert status.status_code == 200 and case in status.text

            # The technician acknowledges, responds, logs the worked example, resolves.
            for step, body in (("acknowledge", None), ("respond", {"message": "Bin dran"})):
                response = await client.post(f"/api/tickets/{case}/{step}", json=body,
                                             headers=auth)
                assert response.status_code == 200, (step, response.text)
            logged = await client.post(f"/api/tickets/{case}/time", headers=auth, json={
                "start": "2026-11-25T17:50:00+01:00", "end": "2026-11-25T18:20:00+01:00",
                "kind": "work", "note": "Bootloader repariert"})
            assert logged.status_code == 201, logged.text
            resolved = await client.post(f"/api/tickets/{case}/resolve", headers=auth,
                                         json={"resolution": "läuft wieder"})
            assert resolved.status_code == 200, resolved.text
            assert (await client.post(f"/api/tickets/{case}/invoice")).status_code == 401

            # The clerk issues the invoice: the worked example of docs/domain.md 6.5.
            issued = await client.post(f"/api/tickets/{case}/invoice", headers=auth)
            assert issued.status_code == 201, issued.text
            invoice = issued.json()
            assert (invoice["net"], invoice["vat"], invoice["gross"]) == (
                "86.67", "16.47", "103.14")
            number = invoice["invoice_number"]
            xml = await client.get(f"/api/invoices/{number}.xml", headers=auth)
            assert xml.status_code == 200
            assert xml_check_xsd(xml.content, flavor="factur-x", level="en16931")

        # The log holds the whole story, in order, and folds to an invoiced ticket.
        history = await system.runtime_of(system.services[0]).store.load(case)
        types = [r.type_name for r in history.events]
        for earlier, later in (("RequestSubmitted", "PriorityEscalated"),
                               ("PriorityEscalated", "OnCallAcknowledged"),
                               ("OnCallAcknowledged", "TechnicianResponded"),
                               ("TechnicianResponded", "TimeLogged"),
                               ("TimeLogged", "TicketResolved"),
                               ("TicketResolved", "InvoiceIssued")):
            assert types.index(earlier) < types.index(later), types
        assert types.count("AckSent") == 1
        assert history.state.status == "invoiced"
