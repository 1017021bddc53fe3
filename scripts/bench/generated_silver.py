"""A silver events table from the seeded generator, written by the real silver batch writer (parity, benchmarks)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from kafka.events import AnomalyMix, generate
from spark.silver_batch import SilverBatchWriter
from spark.silver_tables import ensure_silver_tables

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PARTITIONS = 6
CHUNK = 100_000
APP_ID = "generated-silver"
BRONZE = pa.schema(
    [
        ("key", pa.binary()),
        ("value", pa.binary()),
        ("topic", pa.string()),
        ("partition", pa.int32()),
        ("offset", pa.int64()),
        ("kafka_timestamp", pa.timestamp("us", tz="UTC")),
        ("ingested_at", pa.timestamp("us", tz="UTC")),
        ("ingest_date", pa.date32()),
    ]
)


def write_bronze(path: Path, events: int, seed: int, anomalies: AnomalyMix | None = None) -> None:
    """Generated records as bronze rows (round-robin over PARTITIONS, consecutive offsets) in one Parquet file."""
    with pq.ParquetWriter(path, BRONZE) as writer:
        batch: list[tuple[bytes, bytes]] = []
        index = 0
        for key, value, _kind, _event_id in generate(events, seed=seed, anomalies=anomalies, now=NOW):
            batch.append((key, value))
            if len(batch) == CHUNK:
                writer.write_table(_bronze_chunk(batch, index))
                index += len(batch)
                batch = []
        if batch or index == 0:
            writer.write_table(_bronze_chunk(batch, index))


def _bronze_chunk(records: list[tuple[bytes, bytes]], first: int) -> pa.Table:
    positions = range(first, first + len(records))
    return pa.Table.from_pydict(
        {
            "key": [key for key, _ in records],
            "value": [value for _, value in records],
            "topic": ["events"] * len(records),
            "partition": [i % PARTITIONS for i in positions],
            "offset": [i // PARTITIONS for i in positions],
            "kafka_timestamp": [NOW] * len(records),
            "ingested_at": [NOW] * len(records),
            "ingest_date": [NOW.date()] * len(records),
        },
        schema=BRONZE,
    )


def build_silver(
    spark: SparkSession, root: Path, events: int, seed: int, anomalies: AnomalyMix | None = None
) -> dict[str, str]:
    """Silver, quarantine and metrics tables under `root` after one micro-batch of generated bronze rows."""
    root.mkdir(parents=True, exist_ok=True)
    bronze_file = root / "bronze.parquet"
    write_bronze(bronze_file, events, seed, anomalies)
    tables = {name: str(root / name) for name in ("silver", "quarantine", "metrics")}
    ensure_silver_tables(spark, **tables)
    SilverBatchWriter(**tables, app_id=APP_ID)(spark.read.parquet(str(bronze_file)), 0)
    return tables


def append_batch(spark: SparkSession, tables: dict[str, str], values: list[bytes], batch_id: int) -> None:
    """One more micro-batch of raw event payloads (e.g. late events), on a partition of its own."""
    path = Path(tables["silver"]).parent / f"bronze-{batch_id}.parquet"
    rows = _bronze_chunk([(b"late", value) for value in values], 0)
    pq.write_table(rows.set_column(3, "partition", pa.array([PARTITIONS] * len(values), pa.int32())), path)
    SilverBatchWriter(**tables, app_id=APP_ID)(spark.read.parquet(str(path)), batch_id)
