"""Gold's state row and run tickets, so a zombie gold run can neither put older rows over a newer run's nor
move the recorded silver version back.

A run claims a ticket (a compare-and-set MERGE on the single state row) before it writes a mart, and writes every
mart with Delta's idempotent-write transaction id (txnAppId FENCE_APP_ID, txnVersion = its ticket). Delta skips a
write whose ticket is not above the last one that mart recorded, and fails a commit that races another with the
same app id, so once a retry has written a mart, its zombie predecessor's late write to it is dropped. The state
row then moves only by a MERGE that requires the run's own ticket: a run overtaken by a newer claim fails naming
both silver versions, and the version never goes back. Why the marts stay exact: a newer run planned from the same
or a later state, so its touched keys include every key the zombie touched, and whatever the zombie wrote before
the newer run reached a mart is rewritten by it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrameWriter, SparkSession

from spark.gold_incremental import GoldPlan, GoldStateError, SilverPosition
from spark.session import session_conf

STATE_COLUMNS = {
    "silver_version": "bigint",
    "silver_table_id": "string",
    "mode": "string",
    "finished_at": "timestamp",
    "run_ticket": "bigint",
}
FENCE_APP_ID = "lakehouse-gold"
"""The Delta transaction app id of every mart write; its version is the writing run's ticket."""
TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"

CLAIM = """
MERGE INTO delta.`{uri}` AS t
USING (SELECT CAST({ticket} AS BIGINT) AS run_ticket) AS s
ON true
WHEN MATCHED AND t.run_ticket <=> CAST({seen} AS BIGINT) THEN UPDATE SET t.run_ticket = s.run_ticket
WHEN NOT MATCHED THEN INSERT (run_ticket) VALUES (s.run_ticket)
"""
RECORD = """
MERGE INTO delta.`{uri}` AS t
USING (
    SELECT CAST({version} AS BIGINT) AS silver_version, CAST({table_id} AS STRING) AS silver_table_id,
           CAST({mode} AS STRING) AS mode
) AS s
ON true
WHEN MATCHED AND t.run_ticket = CAST({ticket} AS BIGINT) AND (
    t.silver_version IS NULL OR t.silver_table_id IS DISTINCT FROM s.silver_table_id
    OR t.silver_version <= s.silver_version
) THEN UPDATE SET
    t.silver_version = s.silver_version, t.silver_table_id = s.silver_table_id, t.mode = s.mode,
    t.finished_at = current_timestamp()
"""


@dataclass(frozen=True)
class GoldState:
    """What the state row says: the silver position the marts reflect (None before a run finished) and the
    ticket of the last run that claimed it (None before the first claim)."""

    position: SilverPosition | None = None
    ticket: int | None = None


def read_gold_state(spark: SparkSession, uri: str) -> GoldState:
    """The state row, or an empty state when the table or its row does not exist yet."""
    if not DeltaTable.isDeltaTable(spark, uri):
        return GoldState()
    row = spark.read.format("delta").load(uri).first()
    if row is None:
        return GoldState()
    values = row.asDict()
    version, ticket = values.get("silver_version"), values.get("run_ticket")
    position = None if version is None else SilverPosition(values.get("silver_table_id"), int(version))
    return GoldState(position, None if ticket is None else int(ticket))


def claim(spark: SparkSession, uri: str, seen: GoldState, plan: GoldPlan) -> int:
    """Take the next ticket if the state is still as this run read it; fail naming both positions otherwise.

    A ticket is also never below the claim's wall-clock milliseconds, so a state table deleted and recreated
    still gives tickets above the ones the marts recorded (a lower one would have every mart write skipped)."""
    _ensure_table(spark, uri)
    ticket = max((seen.ticket or 0) + 1, time.time_ns() // 1_000_000)
    if _affected(spark, CLAIM, uri=uri, ticket=ticket, seen=seen.ticket):
        return ticket
    now = read_gold_state(spark, uri)
    raise GoldStateError(
        f"gold run for silver versions {_span(plan)} did not start: another gold run claimed gold's state at {uri} "
        f"after this run read it (ticket {seen.ticket} recording silver version {_version(seen)}, now ticket "
        f"{now.ticket} recording silver version {_version(now)}); it is running or has run, and the next gold run "
        "continues from what it recorded"
    )


def record(spark: SparkSession, uri: str, plan: GoldPlan, silver_table_id: str | None, ticket: int) -> None:
    """Record the silver position the marts now reflect, only if this run's ticket still holds the state and the
    version does not go back (a recreated silver table, with a new id, may restart its versions)."""
    if _affected(
        spark, RECORD, uri=uri, version=plan.end_version, table_id=silver_table_id, mode=plan.mode, ticket=ticket
    ):
        return
    now = read_gold_state(spark, uri)
    raise GoldStateError(
        f"gold run for silver versions {_span(plan)} (ticket {ticket}) was overtaken and did not record its state: "
        f"gold's state at {uri} is held by ticket {now.ticket} and records silver version {_version(now)}. Delta "
        f"skipped this run's mart writes wherever the newer run had written first (txnAppId {FENCE_APP_ID}), so no "
        "mart went back to an older silver version; every key this run touched is recomputed by the newer run or, "
        "if that one fails, by the next run from the recorded version"
    )


def fenced(writer: DataFrameWriter, ticket: int) -> DataFrameWriter:
    """A DataFrame write that Delta skips if the mart already has a write from this ticket or a later one."""
    return writer.option("txnAppId", FENCE_APP_ID).option("txnVersion", str(ticket))


@contextmanager
def fenced_dml(spark: SparkSession, ticket: int) -> Iterator[None]:
    """Make the MERGEs in the block idempotent writes of this ticket (each to a different mart)."""
    with session_conf(spark, TXN_APP_ID, FENCE_APP_ID), session_conf(spark, TXN_VERSION, str(ticket)):
        yield


def _ensure_table(spark: SparkSession, uri: str) -> None:
    """Create the state table, or add the columns a state table from an earlier release lacks."""
    if not DeltaTable.isDeltaTable(spark, uri):
        builder = DeltaTable.createIfNotExists(spark).location(uri)
        for name, sql_type in STATE_COLUMNS.items():
            builder = builder.addColumn(name, sql_type)
        builder.execute()
        return
    present = set(spark.read.format("delta").load(uri).columns)
    missing = [f"{name} {sql_type}" for name, sql_type in STATE_COLUMNS.items() if name not in present]
    if missing:
        spark.sql(f"ALTER TABLE delta.`{uri}` ADD COLUMNS ({', '.join(missing)})")


def _affected(spark: SparkSession, statement: str, uri: str, **values: int | str | None) -> bool:
    """Run a MERGE with these values as SQL literals; True if it changed the state row (SQL MERGE returns its row
    counts on Delta 2.1 and later; literals, not parameter markers, which Spark 3.5 binds in fewer statements)."""
    rows = spark.sql(statement.format(uri=uri, **{k: _literal(v) for k, v in values.items()})).collect()
    return bool(rows) and int(rows[0]["num_affected_rows"]) > 0


def _literal(value: int | str | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _span(plan: GoldPlan) -> str:
    return f"{plan.start_version if plan.start_version is not None else 0}..{plan.end_version}"


def _version(state: GoldState) -> str:
    return "none" if state.position is None else str(state.position.version)
