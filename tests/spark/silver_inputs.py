"""Bronze-shaped inline frames for the silver tests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

BRONZE_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, kafka_timestamp timestamp, "
    "ingested_at timestamp, ingest_date date"
)
INGESTED = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)
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


def event(n: int | None = None, **changes) -> bytes:
    """A valid purchase (id derived from n if given) with `changes` applied, as Kafka value bytes."""
    doc = {**BASE, **changes}
    if n is not None:
        doc["event_id"] = f"00000000-0000-4000-8000-{n:012d}"
    return json.dumps(doc).encode()


def event_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def bronze_frame(spark, values, *, partition: int = 0, first_offset: int = 0, key: bytes | None = b"u_1"):
    """One bronze row per value, at consecutive offsets of one partition, ingested at INGESTED."""
    rows = [
        (key, value, "events", partition, first_offset + i, INGESTED, INGESTED, date(2025, 6, 1))
        for i, value in enumerate(values)
    ]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)
