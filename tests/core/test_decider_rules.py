"""The decider is complete: every command has a rule, and every event type has an evolve
rule or is listed as ignored (a new event or command without one fails here, not in
production, where a command without a rule raises and an event without one would be
silently lost to the state)."""

from __future__ import annotations

import pytest

from shared.domain import events as ev
from shared.domain.ticket import commands as c
from shared.domain.ticket import decide
from shared.domain.ticket.state import IGNORED, apply_event

COMMANDS = [getattr(c, name) for name in c.__all__ if name != "Command"]


def test_the_commands_and_events_are_all_found() -> None:
    assert len(COMMANDS) > 25 and c.SubmitRequest in COMMANDS and c.CancelInvoice in COMMANDS
    assert ev.RequestSubmitted in ev.EVENT_TYPES.values()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda t: t.__name__)
def test_every_command_has_a_rule(command: type[c.Command]) -> None:
    assert decide.dispatch(command) is not decide.dispatch(c.Command), \
        f"{command.__name__}: no @decide.register rule"


@pytest.mark.parametrize("event", sorted(ev.EVENT_TYPES.values(), key=lambda t: t.__name__),
                         ids=lambda t: t.__name__)
def test_every_event_has_an_evolve_rule_or_is_listed_as_ignored(event: type[ev.Event]) -> None:
    has_rule = apply_event.dispatch(event) is not apply_event.dispatch(ev.Event)
    problem = "listed as ignored but has a rule" if has_rule else "no rule, not ignored"
    assert has_rule != (event in IGNORED), f"{event.__name__}: {problem}"
