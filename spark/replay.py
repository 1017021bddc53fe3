"""Replay silver from the bronze Delta table (no Kafka) into tables and a checkpoint that are always brand new."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from spark.idempotent_writes import stream_app_id
from spark.silver_batch import SilverBatchWriter
from spark.silver_tables import ensure_silver_tables

SILVER_TABLES = {"silver": "silver/events", "quarantine": "silver/quarantine", "metrics": "silver/metrics"}


@dataclass(frozen=True)
class ReplayTarget:
    """Where a replay writes: a lake root (silver tables under it, as storage.table_uri lays them out) and the
    silver checkpoint; `archive` is where anything already there is moved first."""

    lake: str
    checkpoint: str
    archive: str

    def tables(self) -> dict[str, str]:
        return {name: f"{self.lake}/{relative}" for name, relative in SILVER_TABLES.items()}


@dataclass(frozen=True)
class ReplayResult:
    app_id: str
    tables: dict[str, str]
    archived: dict[str, str]


def archive_stamp() -> str:
    """A unique, sortable name for one replay's archive folder."""
    return f"replay-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def move_aside(spark: SparkSession, target: ReplayTarget) -> dict[str, str]:
    """Move the target's existing silver tables and checkpoint under target.archive (a rename, nothing deleted)."""
    moves = {
        uri: f"{target.archive}/{relative}"
        for uri, relative in zip(target.tables().values(), SILVER_TABLES.values(), strict=True)
    }
    moves[target.checkpoint] = f"{target.archive}/checkpoint"
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    moved = {}
    for source, destination in moves.items():
        src, dst = jvm.org.apache.hadoop.fs.Path(source), jvm.org.apache.hadoop.fs.Path(destination)
        fs = src.getFileSystem(conf)
        if not fs.exists(src):
            continue
        fs.mkdirs(dst.getParent())
        if not fs.rename(src, dst):
            raise OSError(f"could not move {source} to {destination}; move it by hand and run the replay again")
        moved[source] = destination
    return moved


def replay_silver(spark: SparkSession, bronze: str, target: ReplayTarget, max_files_per_trigger: int) -> ReplayResult:
    """Archive what the target holds, then run the silver batch writer over all of bronze with a new checkpoint.

    The checkpoint directory is always new, so stream_app_id mints a new app id and Delta can never skip the
    replay's writes as commits of an older stream."""
    if not DeltaTable.isDeltaTable(spark, bronze):
        raise FileNotFoundError(
            f"no bronze Delta table at {bronze}: there is nothing to replay from. Point storage.lake_uri (or "
            "LAKEHOUSE_LAKE_URI) at the lake that holds bronze, or run the bronze job (make bronze) first"
        )
    archived = move_aside(spark, target)
    tables = target.tables()
    ensure_silver_tables(spark, **tables)
    app_id = stream_app_id(spark, target.checkpoint)
    query = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", max_files_per_trigger)
        .load(bronze)
        .writeStream.queryName("silver-replay")
        .foreachBatch(SilverBatchWriter(**tables, app_id=app_id))
        .option("checkpointLocation", target.checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    return ReplayResult(app_id, tables, archived)
