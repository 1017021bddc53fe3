"""Re-drive quarantine: re-judge quarantined rows by today's silver validator and move the ones that now pass."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

import spark.silver as silver_rules
from kafka.contract import REASON_CODES
from spark.first_writer import current_version, silver_writes, yield_to_earlier_writers
from spark.idempotent_writes import idempotent_append
from spark.session import session_conf
from spark.silver import first_per_event_id, not_in, offset_ranges, silver_rows, valid_events
from spark.silver_batch import checked_verdicts, ledger_of, ledger_row, verdict_counts
from spark.write_tags import write_tag

_log = logging.getLogger(__name__)
STREAM = "redrive"
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
"""Delta's session setting for the next commits' userMetadata: the quarantine MERGE marks its re-drive done."""
BATCH_ID = 0
NAMESPACE = uuid.UUID("5b0f6a52-2a1e-4c37-9d7e-6f1c2b8a9e40")
COORDINATE = ("kafka_topic", "kafka_partition", "kafka_offset")


@dataclass(frozen=True)
class RedriveResult:
    """One re-drive's ledger row; `written` is False when no row's verdict changed, so nothing was touched."""

    redrive_id: str | None
    rows_in: int
    inserted: int
    quarantined: int
    duplicates: int
    written: bool


def handled_rows(quarantine: DataFrame, reason: str | None) -> DataFrame:
    """The quarantine rows a re-drive re-judges: all of them, or those whose primary reason is `reason`."""
    return quarantine if reason is None else quarantine.where(F.col("reason") == reason)


def as_bronze(quarantine: DataFrame) -> DataFrame:
    """Quarantine rows back in the bronze columns the silver validator reads (raw bytes, coordinates, ingest time)."""
    return quarantine.select(
        "key",
        "value",
        F.col("kafka_topic").alias("topic"),
        F.col("kafka_partition").alias("partition"),
        F.col("kafka_offset").alias("offset"),
        "ingested_at",
        "ingest_date",
    )


def redrive_id(handled: DataFrame) -> str | None:
    """A UUID derived from exactly which quarantine rows (coordinate and writer) are handled; None if there are none."""
    if handled.isEmpty():
        return None
    identity = F.concat_ws(":", *COORDINATE, "app_id", "batch_id")
    digest = handled.agg(F.sha2(F.concat_ws(",", F.sort_array(F.collect_list(identity))), 256).alias("d")).first()
    return str(uuid.uuid5(NAMESPACE, digest.d))


def redrive_quarantine(
    spark: SparkSession, *, silver: str, quarantine: str, metrics: str, reason: str | None = None
) -> RedriveResult:
    """Re-validate, append the now-valid new ids to silver, write the ledger row, then rewrite quarantine in one MERGE.

    The silver and metrics appends are idempotent on (redrive id, 0) and the id is derived from the handled rows,
    so a crash before the MERGE re-runs as the same re-drive; after the MERGE the moved rows are gone and the still
    bad ones carry the re-drive's id, so a re-run judges nothing new and writes nothing. A re-drive that crashed
    before its MERGE is finished first, from the quarantine version it read, even if quarantine changed since."""
    if reason is not None and reason not in REASON_CODES:
        raise ValueError(
            f"unknown quarantine reason {reason!r}; use one of kafka.contract.REASON_CODES: {REASON_CODES}"
        )
    for pending in unfinished_redrives(spark, silver, quarantine):
        _log.warning(
            "finishing re-drive %s, which stopped before rewriting quarantine (quarantine version %s)",
            pending.redrive_id,
            pending.quarantine_version,
        )
        _run(spark, silver, quarantine, metrics, pending.reason, pending.quarantine_version, pending.redrive_id)
    return _run(spark, silver, quarantine, metrics, reason, current_version(spark, quarantine), None)


@dataclass(frozen=True)
class PendingRedrive:
    """A re-drive whose silver append committed but whose quarantine MERGE did not."""

    redrive_id: str
    quarantine_version: int
    reason: str | None


def unfinished_redrives(spark: SparkSession, silver: str, quarantine: str) -> list[PendingRedrive]:
    """Re-drives that appended to silver (their commit's tag names them) and never marked quarantine done, oldest
    first."""
    done = {
        json.loads(row["userMetadata"]).get("redrive_done")
        for row in DeltaTable.forPath(spark, quarantine)
        .history()
        .where(F.col("userMetadata").startswith('{"redrive_done"'))
        .select("userMetadata")
        .collect()
    }
    return pending_redrives(silver_writes(spark, silver), done, silver)


def pending_redrives(writes: list[tuple[int, dict]], done: set, silver: str) -> list[PendingRedrive]:
    """The re-drive appends among silver's tagged `writes` (version, tag) whose id is not in `done`, oldest first.
    A re-drive tag whose quarantine_version is not a Delta version is an error naming the commit: resuming from a
    guessed version could move the wrong rows."""
    pending = []
    for version, tag in reversed(writes):
        if "quarantine_version" not in tag or tag["app_id"] in done:
            continue
        quarantine_version = tag["quarantine_version"]
        if type(quarantine_version) is not int or quarantine_version < 0:
            raise RuntimeError(
                f"silver ({silver}) commit {version} is tagged as re-drive {tag['app_id']} with quarantine_version "
                f"{quarantine_version!r}, not a Delta version, so the re-drive cannot be resumed: rebuild "
                "silver from bronze with `make replay ARGS=--in-place` (docs/runbook.md, Re-drive quarantine)"
            )
        pending.append(PendingRedrive(tag["app_id"], quarantine_version, tag.get("reason")))
    return pending


def _run(spark, silver, quarantine, metrics, reason, quarantine_version, expected_id) -> RedriveResult:
    table = spark.read.format("delta").option("versionAsOf", quarantine_version).load(quarantine)
    handled = handled_rows(table, reason).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rid = redrive_id(handled)
        if expected_id is not None and rid != expected_id:
            raise RuntimeError(
                f"re-drive {expected_id} cannot be finished: quarantine version {quarantine_version} now gives "
                f"re-drive id {rid}. Its moved rows are in silver (silver_app_id = '{expected_id}'): delete them "
                "from quarantine by their Kafka coordinates, then re-run the re-drive (docs/runbook.md)"
            )
        if rid is None:
            return RedriveResult(None, 0, 0, 0, 0, written=False)
        validated = silver_rules.validated_records(as_bronze(handled)).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return _redrive(spark, handled, validated, rid, silver, quarantine, metrics, reason, quarantine_version)
        finally:
            validated.unpersist()
    finally:
        handled.unpersist()


def _redrive(spark, handled, validated, rid, silver, quarantine, metrics, reason, quarantine_version) -> RedriveResult:
    rows_in = handled.count()
    ranges = offset_ranges(validated).orderBy("topic", "partition").collect()
    valid, quarantined = verdict_counts(ranges)
    if valid == 0 and not _reasons_changed(handled, validated):
        return RedriveResult(rid, rows_in, 0, quarantined, 0, written=False)
    checked_verdicts(rows_in, ranges, where=f"re-drive {rid}", retry="run the re-drive again")
    distinct = first_per_event_id(valid_events(validated))
    read_version = current_version(spark, silver)
    existing = (
        spark.read.format("delta")
        .option("versionAsOf", read_version)
        .load(silver)
        .where(F.col("silver_app_id") != rid)
        .select("event_id")
    )
    new = silver_rows(not_in(distinct, existing), BATCH_ID, rid)
    tag = write_tag(rid, BATCH_ID, read_version, quarantine_version=quarantine_version, reason=reason)
    idempotent_append(new.repartition("event_date"), silver, rid, BATCH_ID, tag)
    yield_to_earlier_writers(spark, silver, rid, BATCH_ID)
    inserted = spark.read.format("delta").load(silver).where(F.col("silver_app_id") == rid).count()
    ledger = ledger_of(rows_in, ranges, inserted, where=f"re-drive {rid}", retry="run the re-drive again")
    idempotent_append(ledger_row(spark, ledger, STREAM, BATCH_ID, rid), metrics, rid, BATCH_ID)
    _rewrite_quarantine(spark, quarantine, validated, rid, reason)
    return RedriveResult(rid, rows_in, ledger.inserted, quarantined, ledger.duplicates, written=True)


def _reasons_changed(handled: DataFrame, validated: DataFrame) -> bool:
    """Whether any still-bad row's recomputed reasons differ from the ones quarantine holds."""
    old = handled.select(*COORDINATE, F.col("reasons").alias("old_reasons"))
    fresh = validated.select(
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        "reasons",
    )
    return not old.join(fresh, list(COORDINATE)).where(~F.col("reasons").eqNullSafe(F.col("old_reasons"))).isEmpty()


def _rewrite_quarantine(spark, quarantine: str, validated: DataFrame, rid: str, reason: str | None) -> None:
    """One Delta commit: delete the handled rows that now pass, re-stamp the rest with their new reasons and the id."""
    verdicts = validated.select("topic", "partition", "offset", "reasons").dropDuplicates(
        ["topic", "partition", "offset"]
    )
    match = "t.kafka_topic = s.topic AND t.kafka_partition = s.partition AND t.kafka_offset = s.offset"
    if reason is not None:
        match += f" AND t.reason = '{reason}'"
    with session_conf(spark, USER_METADATA_CONF, json.dumps({"redrive_done": rid})):
        _merge_verdicts(spark, quarantine, verdicts, match, rid)


def _merge_verdicts(spark, quarantine: str, verdicts: DataFrame, match: str, rid: str) -> None:
    (
        DeltaTable.forPath(spark, quarantine)
        .alias("t")
        .merge(verdicts.alias("s"), match)
        .whenMatchedDelete(condition="s.reasons IS NULL")
        .whenMatchedUpdate(
            set={
                "reasons": "s.reasons",
                "reason": "s.reasons[0].reason",
                "quarantined_at": "current_timestamp()",
                "batch_id": F.lit(BATCH_ID).cast("long"),
                "app_id": F.lit(rid),
            }
        )
        .execute()
    )
