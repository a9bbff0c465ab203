"""The technician console: server-rendered pages behind a login.

``/console`` is the queue (open tickets by nearest deadline), ``/console/tickets/<case>``
a ticket's request and full history with the actions acknowledge, accept, decline,
respond, log time and resolve. Every action goes through the decider (the single source
of rules); a refusal is shown on the page and stores nothing. The UI speaks German (the
technicians of a German MSP).

One module per concern:

- ``routes``: the HTTP routes (``console_router``), ``web``: what every request needs
  (session, checked form, page), ``pages``: templates and security headers;
- ``sessions``: session, CSRF tokens and flash messages;
- ``views``: the history in people's words, SLA clocks, receipt problems;
- ``labels``: the German words; ``forms``: reading the forms;
- ``actions``: the actions as commands (the queue read model, ``TicketBoard``, is built
  by the service's bootstrap and shared with the oncall service).
"""

from services.oncall.console.routes import console_router

__all__ = ["console_router"]
