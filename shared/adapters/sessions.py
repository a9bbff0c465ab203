"""Technicians' console sessions, kept on the server so that they can be revoked.

A session is one KV entry ``<technician key>.<session id>`` in the bucket
``technician_sessions``; the signed cookie names it. Logout deletes the entry, "log out
everywhere" deletes every entry of the technician, and an entry ends by itself with the
bucket's TTL (the session's lifetime). A cookie whose entry is gone is refused, however
genuine its signature.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError

from shared.adapters.kvbuckets import kv_bucket

log = logging.getLogger(__name__)

SESSIONS_BUCKET = "technician_sessions"
SESSION_TTL_S = 12 * 3600


def _technician_key(technician_id: str) -> str:
    # Account ids may hold characters KV keys do not allow: a digest keeps keys valid.
    return hashlib.sha256(technician_id.encode()).hexdigest()[:32]


class SessionStore:
    """Open, check and revoke technicians' sessions in the KV bucket."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def open(self, technician_id: str) -> str:
        """A new session of ``technician_id``; returns its id."""
        session_id = secrets.token_urlsafe(18)
        bucket = await kv_bucket(self.js, SESSIONS_BUCKET)
        await bucket.put(f"{_technician_key(technician_id)}.{session_id}",
                         technician_id.encode())
        return session_id

    async def is_open(self, technician_id: str, session_id: str) -> bool:
        """True while the session exists (not logged out, not revoked, not expired)."""
        if not session_id.replace("-", "").replace("_", "").isalnum():
            return False
        bucket = await kv_bucket(self.js, SESSIONS_BUCKET)
        try:
            entry = await bucket.get(f"{_technician_key(technician_id)}.{session_id}")
        except KeyNotFoundError:
            return False
        return entry.value == technician_id.encode()

    async def close(self, technician_id: str, session_id: str) -> None:
        """End one session (logout)."""
        bucket = await kv_bucket(self.js, SESSIONS_BUCKET)
        await bucket.purge(f"{_technician_key(technician_id)}.{session_id}")

    async def close_all(self, technician_id: str) -> int:
        """End every session of ``technician_id`` ("log out everywhere"); how many."""
        bucket = await kv_bucket(self.js, SESSIONS_BUCKET)
        prefix = f"{_technician_key(technician_id)}."
        try:  # nats-py's key filters match substrings: select by prefix here
            keys = [key for key in await bucket.keys() if key.startswith(prefix)]
        except NoKeysError:
            keys = []
        for key in keys:
            await bucket.purge(key)
        log.info("sessions: %s logged out everywhere (%d sessions)", technician_id, len(keys))
        return len(keys)
