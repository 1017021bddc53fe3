"""Bronze keeps Kafka records byte for byte with their coordinates and parses nothing."""

from __future__ import annotations

from datetime import datetime

from frame_asserts import assert_frames_equal
from pyspark.sql import functions as F

from spark.bronze import BRONZE_SCHEMA, bronze_records

KAFKA_SCHEMA = (
    "key binary, value binary, topic string, partition int, offset long, timestamp timestamp, timestampType int, "
    "headers array<struct<key: string, value: binary>>"
)


def test_bronze_keeps_bytes_and_coordinates(spark):
    ts = datetime(2025, 6, 1, 12, 0)
    kafka = spark.createDataFrame(
        [
            (b"u_1", b'{"event_id": "a"}', "events", 0, 10, ts, 0, [("trace", b"\x00\xff"), ("trace", None)]),
            (None, b"\xff\x00not json", "events", 1, 7, ts, 0, None),
            (b"u_2", None, "events", 1, 8, ts, 0, []),
        ],
        KAFKA_SCHEMA,
    )
    bronze = bronze_records(kafka)
    assert [(f.name, f.dataType) for f in bronze.schema] == [(f.name, f.dataType) for f in BRONZE_SCHEMA]
    expected = spark.createDataFrame(
        [
            (b"u_1", b'{"event_id": "a"}', "events", 0, 10, ts, [("trace", b"\x00\xff"), ("trace", None)]),
            (None, b"\xff\x00not json", "events", 1, 7, ts, None),
            (b"u_2", None, "events", 1, 8, ts, []),
        ],
        "key binary, value binary, topic string, partition int, offset long, kafka_timestamp timestamp, "
        "headers array<struct<key: string, value: binary>>",
    )
    assert_frames_equal(bronze.drop("ingested_at", "ingest_date"), expected)
    assert bronze.where(F.col("ingest_date") != F.to_date("ingested_at")).count() == 0
    assert bronze.where(F.col("ingested_at").isNull()).count() == 0
