"""One silver micro-batch end to end: validate, dedup, check the ledger, then three idempotent Delta appends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from spark.delta_io import idempotent_append
from spark.silver import (
    first_per_event_id,
    not_in,
    offset_ranges,
    quarantine_rows,
    silver_rows,
    valid_events,
    validated_records,
)
from spark.tables import metrics_schema


class LedgerError(RuntimeError):
    """A micro-batch's counts do not add up, so nothing of it was written."""


class SilverBatchWriter:
    """The foreachBatch function of the silver stream; safe to call again for the same batch id."""

    def __init__(self, *, silver: str, quarantine: str, metrics: str, app_id: str, stream: str = "silver"):
        self.silver, self.quarantine, self.metrics = silver, quarantine, metrics
        self.app_id, self.stream = app_id, stream

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        spark = bronze.sparkSession
        rows_in = bronze.count()
        validated = validated_records(bronze).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            distinct = first_per_event_id(valid_events(validated)).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                inserted_rows = not_in(distinct, self._known_ids(spark, distinct, batch_id))
                new = silver_rows(inserted_rows, batch_id, self.app_id).persist(StorageLevel.MEMORY_AND_DISK)
                try:
                    self._write(spark, validated, distinct, new, rows_in, batch_id)
                finally:
                    new.unpersist()
            finally:
                distinct.unpersist()
        finally:
            validated.unpersist()

    def _known_ids(self, spark: SparkSession, batch: DataFrame, batch_id: int) -> DataFrame:
        """Batch ids already in silver, ignoring rows a previous attempt of this same batch wrote.

        No broadcast hint: adaptive execution broadcasts whichever side is small at run time (an empty silver,
        or a small batch), where a forced broadcast of a million-id batch would cost more than the join.
        """
        previous_attempt = (F.col("silver_app_id") == self.app_id) & (F.col("silver_batch_id") == batch_id)
        existing = (
            spark.read.format("delta")
            .load(self.silver)
            .select("event_id", "silver_app_id", "silver_batch_id")
            .where(~previous_attempt)
            .select("event_id")
        )
        return existing.join(batch.select("event_id"), "event_id", "left_semi")

    def _write(self, spark, validated, distinct, new, rows_in, batch_id) -> None:
        ranges = offset_ranges(validated).orderBy("topic", "partition").collect()
        ledger = checked_ledger(
            rows_in,
            ranges,
            distinct.count(),
            new.count(),
            where=f"silver batch {batch_id} (app id {self.app_id})",
            retry="the batch will retry",
        )
        metrics = ledger_row(spark, ledger, self.stream, batch_id, self.app_id)
        idempotent_append(new.repartition("event_date"), self.silver, self.app_id, batch_id)
        quarantine = quarantine_rows(validated, batch_id, self.app_id).coalesce(1)
        idempotent_append(quarantine, self.quarantine, self.app_id, batch_id)
        idempotent_append(metrics, self.metrics, self.app_id, batch_id)


@dataclass(frozen=True)
class Ledger:
    """One batch's conservation ledger: rows in = inserted + quarantined + duplicates, and its offset ranges."""

    rows_in: int
    inserted: int
    quarantined: int
    duplicates: int
    offsets: list[tuple[str, int, int, int]]


def verdict_counts(ranges: list[Row]) -> tuple[int, int]:
    """(valid, quarantined) rows of a batch, from its offset_ranges rows."""
    valid = sum(r.valid for r in ranges)
    return valid, sum(r.rows for r in ranges) - valid


def checked_ledger(
    rows_in: int, ranges: list[Row], distinct: int, inserted: int, *, where: str, retry: str
) -> Ledger:
    """The ledger of a batch whose valid rows left `distinct` ids and `inserted` new ones; LedgerError if unbalanced."""
    valid, quarantined = verdict_counts(ranges)
    duplicates = (valid - distinct) + (distinct - inserted)
    if rows_in != inserted + quarantined + duplicates:
        raise LedgerError(
            f"{where}: rows_in {rows_in} != inserted {inserted} + quarantined {quarantined} "
            f"+ duplicates {duplicates}; nothing written, {retry}"
        )
    offsets = [(r.topic, r.partition, r.min_offset, r.max_offset) for r in ranges]
    return Ledger(rows_in, inserted, quarantined, duplicates, offsets)


def ledger_row(spark: SparkSession, ledger: Ledger, stream: str, batch_id: int, app_id: str) -> DataFrame:
    """The metrics table's row for one batch."""
    row = (
        stream,
        batch_id,
        app_id,
        ledger.rows_in,
        ledger.inserted,
        ledger.quarantined,
        ledger.duplicates,
        ledger.offsets,
        datetime.now(UTC),
    )
    return spark.createDataFrame([row], metrics_schema())
