"""What a NATS error means to an operator.

Two kinds matter. A *routine* fault is what a healthy cluster does now and then: a node
goes away, a stream or consumer elects a new leader, a request meets the moment between
(timeouts, no responders, 503 from the JetStream API, a connection being re-established).
Work is retried and the log says so in one WARNING line, without a traceback. A *connect
cause* is why a client could not connect at all, in the words an operator acts on:
nobody listens there, the host cannot be reached, the server refused the user or its
password, the TLS handshake failed.
"""

from __future__ import annotations

import socket
import ssl

import nats.errors
import nats.js.errors

ROUTINE: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError, nats.errors.TimeoutError, nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError, nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError, nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError, nats.errors.FlushTimeoutError,
    nats.errors.DrainTimeoutError, nats.errors.NoServersError,
    nats.js.errors.ServiceUnavailableError,
)

AUTHORIZATION_VIOLATION = "authorization violation"


def is_routine(error: BaseException) -> bool:
    """True for the faults of a working cluster: retried, logged without a traceback."""
    if isinstance(error, ROUTINE):
        return True
    return isinstance(error, nats.js.errors.APIError) and error.code == 503


def is_authorization_error(error: BaseException) -> bool:
    return isinstance(error, nats.errors.AuthorizationError) or (
        isinstance(error, nats.errors.Error) and AUTHORIZATION_VIOLATION in str(error).lower())


def is_definite(error: BaseException) -> bool:
    """A refusal that asking again will not change (wrong password, untrusted certificate):
    a start may give up at once instead of waiting for its timeout."""
    return is_authorization_error(error) or isinstance(error, ssl.SSLError)


def connect_cause(error: BaseException, *, user: str | None, attempt_timeout_s: float) -> str:
    """Why a connection failed, for one line of an error message."""
    if is_authorization_error(error):
        if user is None:
            return ("authorization violation: no NATS user given (TICKETCORE_NATS__USER, "
                    "TICKETCORE_NATS__PASSWORD)")
        return (f"authorization violation for user {user!r} (wrong or missing password: "
                "TICKETCORE_NATS__PASSWORD)")
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"TLS: the server's certificate is not trusted ({error.verify_message}; "
                "TICKETCORE_NATS__TLS_CA_FILE names the CA that signed it)")
    if isinstance(error, ssl.SSLError):
        reason = error.reason or str(error)
        return (f"TLS: handshake failed ({reason}; TICKETCORE_NATS__TLS_CA_FILE, "
                "TICKETCORE_NATS__TLS_CERT_FILE, TICKETCORE_NATS__TLS_KEY_FILE)")
    if isinstance(error, TlsNotOffered):
        return str(error)
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (no NATS server listens there)"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, TimeoutError):
        return (f"no answer within {attempt_timeout_s:g} s (host unreachable, a firewall "
                "drops the connection, or not a NATS server)")
    if isinstance(error, OSError):
        return f"unreachable ({error.strerror or error})"
    return f"{type(error).__name__}: {error}"


class TlsNotOffered(Exception):
    """TLS is configured for the client but the server did not offer it."""


def most_telling(errors: list[BaseException]) -> BaseException | None:
    """Of the errors met while connecting, the one that says most about the cause: a
    refusal by the server (authorization, TLS) over a connection that failed, over a
    timeout; the latest of a kind."""
    def rank(error: BaseException) -> int:
        if is_authorization_error(error) or isinstance(error, ssl.SSLError | TlsNotOffered):
            return 3
        if isinstance(error, OSError) and not isinstance(error, TimeoutError):
            return 2
        if isinstance(error, TimeoutError):
            return 1
        return 0

    best: BaseException | None = None
    for error in errors:
        if best is None or rank(error) >= rank(best):
            best = error
    return best
