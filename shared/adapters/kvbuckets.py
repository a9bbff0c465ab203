"""KV bucket handles, looked up once per JetStream context."""

from __future__ import annotations

import weakref

from nats.js import JetStreamContext
from nats.js.kv import KeyValue

# nats-py's ``js.key_value(name)`` asks the server for the bucket's stream info on every
# call: a round trip per use, 5 % of the ack service's CPU in the pipeline benchmark.
_buckets: weakref.WeakKeyDictionary[JetStreamContext, dict[str, KeyValue]] = (
    weakref.WeakKeyDictionary())


async def kv_bucket(js: JetStreamContext, name: str) -> KeyValue:
    """The handle of KV bucket ``name``, looked up once per JetStream context."""
    handles = _buckets.setdefault(js, {})
    if name not in handles:
        handles[name] = await js.key_value(name)
    return handles[name]
