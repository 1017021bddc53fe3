"""One silver micro-batch end to end: validate, check every row got a verdict, dedup, then three idempotent appends."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from spark.first_writer import current_version, yield_to_earlier_writers
from spark.idempotent_writes import idempotent_append
from spark.silver import (
    first_per_event_id,
    not_in,
    offset_ranges,
    quarantine_rows,
    repeated_ids,
    silver_rows,
    valid_events,
    validated_records,
)
from spark.silver_tables import metrics_schema
from spark.write_tags import write_tag

RESTART = "restart the silver job to retry the batch (its writes are idempotent)"
BROADCAST_IDS_MAX = 2_000_000
"""The most event ids a batch sends to every executor (~150 MB of UUIDs) instead of shuffling its wide rows."""


class LedgerError(RuntimeError):
    """A micro-batch's counts do not add up. From checked_verdicts: before any write; from ledger_of: after the
    silver append (which a retry skips) and before the metrics row, so the batch never counts as done."""


class SilverBatchWriter:
    """The foreachBatch function of the silver stream; safe to call again for the same batch id."""

    def __init__(self, *, silver: str, quarantine: str, metrics: str, app_id: str, stream: str = "silver"):
        self.silver, self.quarantine, self.metrics = silver, quarantine, metrics
        self.app_id, self.stream = app_id, stream

    def __call__(self, bronze: DataFrame, batch_id: int) -> None:
        spark = bronze.sparkSession
        rows_in = bronze.count()
        with ExitStack() as cache:
            validated = _cached(cache, validated_records(bronze))
            ranges = offset_ranges(validated).orderBy("topic", "partition").collect()
            checked_verdicts(rows_in, ranges, where=self._where(batch_id), retry=RESTART)
            events = valid_events(validated)
            distinct = first_per_event_id(events, _small_side(cache, repeated_ids(events)))
            read_version = current_version(spark, self.silver)
            known = _small_side(cache, self._known_ids(spark, distinct, batch_id, read_version))
            new = silver_rows(not_in(distinct, known), batch_id, self.app_id)
            tag = write_tag(self.app_id, batch_id, read_version)
            idempotent_append(new.repartition("event_date"), self.silver, self.app_id, batch_id, tag)
            yield_to_earlier_writers(spark, self.silver, self.app_id, batch_id)
            quarantine = quarantine_rows(validated, batch_id, self.app_id).coalesce(1)
            idempotent_append(quarantine, self.quarantine, self.app_id, batch_id)
            inserted = self._inserted(spark, batch_id)
            ledger = ledger_of(rows_in, ranges, inserted, where=self._where(batch_id), retry=RESTART)
        metrics = ledger_row(spark, ledger, self.stream, batch_id, self.app_id)
        idempotent_append(metrics, self.metrics, self.app_id, batch_id)

    def _where(self, batch_id: int) -> str:
        return f"silver batch {batch_id} (app id {self.app_id})"

    def _inserted(self, spark: SparkSession, batch_id: int) -> int:
        """Rows silver holds from this batch, counted after the append (which a replayed batch skips): the files
        of one batch are found from their silver_app_id / silver_batch_id statistics, not by a full scan."""
        this_batch = (F.col("silver_app_id") == self.app_id) & (F.col("silver_batch_id") == batch_id)
        return spark.read.format("delta").load(self.silver).where(this_batch).count()

    def _known_ids(self, spark: SparkSession, batch: DataFrame, batch_id: int, version: int) -> DataFrame:
        """Batch ids in silver at `version`, ignoring rows a previous attempt of this same batch wrote; a writer
        that commits one of them after `version` is dealt with by yield_to_earlier_writers.

        Only ids move (silver is read as its event_id column); the result, usually tiny, is what the batch's
        wide rows are later checked against.
        """
        previous_attempt = (F.col("silver_app_id") == self.app_id) & (F.col("silver_batch_id") == batch_id)
        existing = (
            spark.read.format("delta")
            .option("versionAsOf", version)
            .load(self.silver)
            .select("event_id", "silver_app_id", "silver_batch_id")
            .where(~previous_attempt)
            .select("event_id")
        )
        return existing.join(batch.select("event_id"), "event_id", "left_semi")


def _cached(cache: ExitStack, df: DataFrame) -> DataFrame:
    """`df` persisted until the batch's ExitStack closes."""
    df.persist(StorageLevel.MEMORY_AND_DISK)
    cache.callback(df.unpersist)
    return df


def _small_side(cache: ExitStack, ids: DataFrame) -> DataFrame:
    """An event_id frame materialised once and marked for broadcast when it is small enough, as it usually is
    (duplicates within a batch, or ids a batch shares with silver). Streaming batches run without adaptive
    execution, so without the hint every join with it would shuffle the batch's wide rows."""
    _cached(cache, ids)
    return F.broadcast(ids) if ids.count() <= BROADCAST_IDS_MAX else ids


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


def checked_verdicts(rows_in: int, ranges: list[Row], *, where: str, retry: str) -> None:
    """LedgerError, before anything is written, unless every row in got exactly one verdict (valid or quarantined)."""
    valid, quarantined = verdict_counts(ranges)
    if rows_in != valid + quarantined:
        raise LedgerError(
            f"{where}: rows_in {rows_in} != valid {valid} + quarantined {quarantined}; nothing written, {retry}"
        )


def ledger_of(rows_in: int, ranges: list[Row], inserted: int, *, where: str, retry: str) -> Ledger:
    """The ledger once silver holds `inserted` of the batch's valid rows: every other valid row was a duplicate
    (within the batch or of an id already in silver)."""
    valid, quarantined = verdict_counts(ranges)
    if not 0 <= inserted <= valid:
        raise LedgerError(
            f"{where}: silver holds {inserted} rows of a batch with {valid} valid events; no metrics row written. "
            f"Another job may be writing silver with the same app id (a copied checkpoint, a second copy of this "
            f"run): stop it, then {retry}"
        )
    offsets = [(r.topic, r.partition, r.min_offset, r.max_offset) for r in ranges]
    return Ledger(rows_in, inserted, quarantined, valid - inserted, offsets)


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
