"""Exact dedup across concurrent silver writers: of two commits that insert one event_id, the earlier one wins.

Each writer (a silver micro-batch, a re-drive) checks "already in silver?" against silver as of a pinned version,
then appends; Delta never makes two appends conflict, so two writers can insert the same id. Each append records
the version it read in its commit's userMetadata; afterwards the writer deletes its own rows whose id another
writer inserted between that version and its own commit. Commit versions are one total order, so the later of any
two colliding writers always sees the earlier in that window and yields, and the earlier never yields to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark.write_tags import read_tag

HISTORY_FIRST_LOOK = 20


@dataclass(frozen=True)
class SilverWrite:
    """One writer's append to silver: its commit version, the silver version it deduplicated against, and what
    else it recorded (a re-drive keeps its quarantine version and reason there)."""

    commit_version: int
    read_version: int
    extra: dict[str, Any]


def current_version(spark: SparkSession, table: str) -> int:
    """The table's latest commit version: the snapshot a writer deduplicates against."""
    return int(DeltaTable.forPath(spark, table).history(1).first()["version"])


def silver_writes(spark: SparkSession, silver: str, limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(commit version, tag) of the silver appends among the last `limit` commits (all if None), newest first."""
    table = DeltaTable.forPath(spark, silver)
    history = table.history(limit) if limit else table.history()
    found = []
    for row in history.where(F.col("userMetadata").isNotNull()).select("version", "userMetadata").collect():
        if tag := read_tag(row["userMetadata"]):
            found.append((int(row["version"]), tag))
    return sorted(found, key=lambda item: -item[0])


def own_write(spark: SparkSession, silver: str, app_id: str, batch_id: int) -> SilverWrite | None:
    """This writer's append for `batch_id`, looked up in silver's history (newest first, widening the look)."""
    limit, total = HISTORY_FIRST_LOOK, current_version(spark, silver) + 1
    while True:
        for version, tag in silver_writes(spark, silver, limit):
            if tag.get("app_id") == app_id and tag.get("batch_id") == batch_id:
                extra = {k: v for k, v in tag.items() if k not in ("writer", "app_id", "batch_id", "read_version")}
                return SilverWrite(version, int(tag["read_version"]), extra)
        if limit >= total:
            return None
        limit *= 10


def yield_to_earlier_writers(spark: SparkSession, silver: str, app_id: str, batch_id: int) -> int:
    """Delete this writer's rows of `batch_id` whose event_id another writer inserted after this one read silver
    and before it committed; how many ids that was. Safe to repeat (a retried batch finds nothing left to do)."""
    write = own_write(spark, silver, app_id, batch_id)
    if write is None or write.commit_version <= write.read_version + 1:
        return 0
    others = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", write.read_version + 1)
        .option("endingVersion", write.commit_version - 1)
        .load(silver)
        .where(F.col("_change_type") == "insert")
        .select("event_id")
    )
    mine = (F.col("silver_app_id") == app_id) & (F.col("silver_batch_id") == batch_id)
    losers = (
        spark.read.format("delta")
        .load(silver)
        .where(mine)
        .select("event_id")
        .join(others, "event_id", "left_semi")
        .distinct()
        .persist()
    )
    try:
        count = losers.count()
        if count:
            condition = (
                (F.col("t.event_id") == F.col("s.event_id"))
                & (F.col("t.silver_app_id") == F.lit(app_id))
                & (F.col("t.silver_batch_id") == F.lit(batch_id))
            )
            target = DeltaTable.forPath(spark, silver).alias("t")
            target.merge(losers.alias("s"), condition).whenMatchedDelete().execute()
        return count
    finally:
        losers.unpersist()
