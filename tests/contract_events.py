"""One valid purchase event under kafka/schemas/event.schema.json, and variants of it, as Kafka value bytes."""

from __future__ import annotations

import json

BASE = {
    "event_id": "3f2a9c1e-7b4d-4e8a-9f21-0c5d6e7f8a9b",
    "event_ts": "2025-06-01T12:34:56.789Z",
    "schema_version": "1.0",
    "user_id": "u_1",
    "session_id": "s_1",
    "event_type": "purchase",
    "product_id": "p_1",
    "price_gbp": 19.99,
    "quantity": 2,
    "device": "mobile",
    "country": "GB",
}


def event_id(n: int) -> str:
    """A valid, readable event id numbered n."""
    return f"00000000-0000-4000-8000-{n:012d}"


def event(n: int | None = None, **changes) -> bytes:
    """The valid purchase (id event_id(n) if n is given) with `changes` applied."""
    doc = {**BASE, **changes}
    if n is not None:
        doc["event_id"] = event_id(n)
    return json.dumps(doc).encode()
