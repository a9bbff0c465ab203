"""The billing service's public routes (shared.runtime.routes): time entries and invoices,
for technicians."""

from __future__ import annotations

from shared.runtime.routes import Route, ServiceRoutes

ROUTES = ServiceRoutes("billing", (
    Route("/api/tickets/{case}/time", "technician"),
    Route("/api/tickets/{case}/time/{entry_id}/void", "technician"),
    Route("/api/tickets/{case}/billing", "technician"),
    Route("/api/tickets/{case}/invoice", "technician"),
    Route("/api/invoices/{number}/cancel", "technician"),
    Route("/api/invoices/{name}", "technician"),
))
