"""Bronze-shaped inline frames for the silver tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from spark.bronze import BRONZE_SCHEMA

INGESTED = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)


def bronze_frame(spark, values, *, partition: int = 0, first_offset: int = 0, key: bytes | None = b"u_1"):
    """One bronze row per value, at consecutive offsets of one partition, ingested at INGESTED."""
    rows = [
        (key, value, "events", partition, first_offset + i, INGESTED, INGESTED, date(2025, 6, 1), [])
        for i, value in enumerate(values)
    ]
    return spark.createDataFrame(rows, BRONZE_SCHEMA)
