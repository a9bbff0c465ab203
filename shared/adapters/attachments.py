"""Reply attachments in a JetStream object store, named by the sha256 of their content.

A file is stored once however many mails carry it; events reference it by
:class:`shared.domain.events.AttachmentRef`. Bytes are stored exactly as received: nothing is
unpacked or converted. Intake's mail channel writes the files; the customer's status page
and the technicians' console read them here (the bucket is the contract between the
services, which never import each other).
"""

from __future__ import annotations

import hashlib
import re

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.adapters.provision import ensure_object_store
from shared.domain import events as ev

DEFAULT_BUCKET = "attachments"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentNotFound(LookupError):
    """No attachment with this content hash is stored."""


class AttachmentStore:
    """Put and get attachment bytes by content hash."""

    def __init__(self, js: JetStreamContext, bucket: str = DEFAULT_BUCKET) -> None:
        self.js = js
        self.bucket = bucket

    async def ensure(self) -> None:
        """Create the bucket if it does not exist yet."""
        await ensure_object_store(self.js, self.bucket)

    async def put(self, data: bytes, *, filename: str, content_type: str) -> ev.AttachmentRef:
        """Store ``data`` unless a file with the same content is already stored."""
        sha256 = hashlib.sha256(data).hexdigest()
        store = await self.js.object_store(self.bucket)
        try:
            await store.get_info(sha256)
        except NotFoundError:
            await store.put(sha256, data)
        return ev.AttachmentRef(sha256=sha256, filename=filename, content_type=content_type,
                                size=len(data))

    async def read(self, sha256: str) -> bytes:
        """The stored bytes; raises AttachmentNotFound (also for a malformed hash)."""
        return await read_attachment(self.js, sha256, bucket=self.bucket)

    async def delete(self, sha256: str) -> bool:
        """Delete the file (erasure); False if it was not there (deleted by an earlier,
        interrupted erasure)."""
        store = await self.js.object_store(self.bucket)
        try:
            await store.delete(sha256)
        except NotFoundError:
            return False
        return True


async def read_attachment(js: JetStreamContext, sha256: str, *,
                          bucket: str = DEFAULT_BUCKET) -> bytes:
    """The bytes of the attachment with content hash ``sha256`` (64 lowercase hex digits).

    Raises AttachmentNotFound when there is none; the object store checks the digest."""
    if not _SHA256.match(sha256):
        raise AttachmentNotFound(f"not a sha256 content hash: {sha256!r}")
    try:
        store = await js.object_store(bucket)
        result = await store.get(sha256)
    except NotFoundError as error:
        raise AttachmentNotFound(f"no attachment {sha256}") from error
    return bytes(result.data or b"")
