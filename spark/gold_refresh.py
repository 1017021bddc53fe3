"""Gold's Delta I/O: rebuild or incrementally refresh the marts from silver, recording the silver version last.

Every mart write carries the run's ticket (spark/gold_state.py), so a zombie run cannot overwrite a newer run's rows."""

from __future__ import annotations

from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from config.catalog import (
    DIM_PRODUCTS,
    DIM_USERS,
    FCT_PURCHASES_DAILY,
    FCT_SESSIONS,
    GOLD_STATE,
    MARTS,
    SILVER_EVENTS,
)
from config.settings import Settings
from spark.gold import dim_products, dim_users, fct_funnel_daily, fct_purchases_daily, fct_sessions
from spark.gold_incremental import (
    FULL_REFRESH_HINT,
    GoldPlan,
    GoldStateError,
    SilverPosition,
    changed_keys,
    days_spanned,
    differs,
    in_dates,
    plan_run,
    touched,
)
from spark.gold_state import claim, fenced, fenced_dml, read_gold_state, record
from spark.maintenance import SMALL_FILE_PROPERTIES
from spark.session import session_conf

FROM_EVENTS: dict[str, tuple[str, Callable[[DataFrame], DataFrame]]] = {
    table.name: (table.key[0], build)
    for table, build in (
        (DIM_USERS, dim_users),
        (DIM_PRODUCTS, dim_products),
        (FCT_PURCHASES_DAILY, fct_purchases_daily),
        (FCT_SESSIONS, fct_sessions),
    )
}
"""The marts built from silver's events, with their key; fct_funnel_daily is built from fct_sessions."""
MART_PROPERTIES = {**SMALL_FILE_PROPERTIES, "delta.enableChangeDataFeed": "true"}
AUTO_COMPACT = "spark.databricks.delta.autoCompact.enabled"
"""The session setting that overrides the marts' auto-compaction table property (off during a full rebuild)."""
REBUILD_THREADS = 2
"""Marts a full rebuild writes at once: each write spends 1-2 s of mostly driver time on its Delta commit and the
new snapshot, which the other mart's jobs overlap (docs/benchmarks.md)."""


@dataclass(frozen=True)
class GoldPaths:
    """Where gold reads silver and keeps its marts and its state table."""

    silver: str
    gold_dir: str

    @classmethod
    def from_settings(cls, settings: Settings) -> GoldPaths:
        return cls(
            silver=settings.storage.uri_of(SILVER_EVENTS),
            gold_dir=settings.storage.layer_uri(GOLD_STATE.layer),
        )

    def mart(self, name: str) -> str:
        return f"{self.gold_dir}/{name}"

    @property
    def state(self) -> str:
        return f"{self.gold_dir}/{GOLD_STATE.name}"


@dataclass(frozen=True)
class GoldResult:
    """What a run did: its plan and, per mart, how many keys it recomputed (rows written, for a full run)."""

    plan: GoldPlan
    recomputed: dict[str, int] = field(default_factory=dict)


SKIPPABLE = (FCT_PURCHASES_DAILY.name,)
"""Marts another job may build instead (the Scala job, spark-scala/), since no other mart is built from them."""


def refresh_gold(
    spark: SparkSession, paths: GoldPaths, full_refresh: bool = False, skip: Collection[str] = ()
) -> GoldResult:
    """Bring every mart but `skip` up to silver's current version under a claimed ticket; the state row is written
    last, so a crash is redone, and only if no newer run claimed it meanwhile. A skipped mart's builder reads the
    state row for the silver version to build it from (the Scala job's --gold-state)."""
    unknown = set(skip) - set(SKIPPABLE)
    if unknown:
        raise ValueError(f"gold cannot skip {sorted(unknown)}: only {list(SKIPPABLE)} (no other mart reads them)")
    current = _silver_position(spark, paths.silver)
    seen = read_gold_state(spark, paths.state)
    plan = plan_run(None if full_refresh else seen.position, current, full_refresh)
    if plan.mode == "noop":
        return GoldResult(plan)
    ticket = claim(spark, paths.state, seen, plan)
    silver = spark.read.format("delta").option("versionAsOf", plan.end_version).load(paths.silver)
    if plan.mode == "full":
        recomputed = _rebuild(spark, paths, silver, ticket, skip)
    else:
        recomputed = _apply(spark, paths, silver, plan, ticket, skip)
    record(spark, paths.state, plan, current.table_id, ticket)
    return GoldResult(plan, recomputed)


def read_state(spark: SparkSession, state_uri: str) -> SilverPosition | None:
    """The silver table and version the last successful run processed, or None before the first run."""
    return read_gold_state(spark, state_uri).position


def _silver_position(spark: SparkSession, uri: str) -> SilverPosition:
    if not DeltaTable.isDeltaTable(spark, uri):
        raise GoldStateError(
            f"no silver Delta table at {uri}: run the silver job first (python -m spark.jobs.silver), "
            "or point storage.lake_uri at the lake that holds it"
        )
    table = DeltaTable.forPath(spark, uri)
    return SilverPosition(table.detail().first()["id"], int(table.history(1).first()["version"]))


def _rebuild(
    spark: SparkSession, paths: GoldPaths, silver: DataFrame, ticket: int, skip: Collection[str]
) -> dict[str, int]:
    """Every mart overwritten whole, REBUILD_THREADS at a time; fct_funnel_daily after fct_sessions, its input.

    Auto compaction is off for these writes: each mart is rewritten as a few files (optimized writes), so the check
    Delta runs after every commit (~1 s a mart) could find nothing to compact. Incremental runs keep it."""

    def write(name: str) -> dict[str, int]:
        key, build = FROM_EVENTS[name]
        _overwrite(spark, silver.transform(build), paths.mart(name), key, ticket)
        written = {name: _rows_written(spark, paths.mart(name))}
        if name == "fct_sessions":
            sessions = spark.read.format("delta").load(paths.mart(name))
            funnel = sessions.transform(fct_funnel_daily)
            _overwrite(spark, funnel, paths.mart("fct_funnel_daily"), "event_date", ticket)
            written["fct_funnel_daily"] = _rows_written(spark, paths.mart("fct_funnel_daily"))
        return written

    longest_first = sorted((n for n in FROM_EVENTS if n not in skip), key=lambda name: name != "fct_sessions")
    with session_conf(spark, AUTO_COMPACT, "false"), ThreadPoolExecutor(REBUILD_THREADS) as pool:
        futures = [pool.submit(write, name) for name in longest_first]
        written = {name: rows for future in futures for name, rows in future.result().items()}
    return {name: written[name] for name in MARTS if name not in skip}


def _rows_written(spark: SparkSession, uri: str) -> int:
    """Rows the table's last commit wrote, from its operation metrics (no re-read of the data)."""
    metrics = DeltaTable.forPath(spark, uri).history(1).first()["operationMetrics"] or {}
    return int(metrics.get("numOutputRows", 0))


def _apply(
    spark: SparkSession, paths: GoldPaths, silver: DataFrame, plan: GoldPlan, ticket: int, skip: Collection[str]
) -> dict[str, int]:
    missing = [n for n in MARTS if n not in skip and not DeltaTable.isDeltaTable(spark, paths.mart(n))]
    if missing:
        raise GoldStateError(
            f"gold tables {', '.join(missing)} are missing under {paths.gold_dir}; {FULL_REFRESH_HINT}"
        )
    changed, days = _read_changes(spark, paths.silver, plan)
    try:
        if not days:
            return {}
        changed_days = {day for day, _ in days}
        purchase_days = {day for day, purchase in days if purchase and FCT_PURCHASES_DAILY.name not in skip}
        recomputed = {} if FCT_PURCHASES_DAILY.name in skip else {FCT_PURCHASES_DAILY.name: len(purchase_days)}
        if purchase_days:
            daily = silver.where(in_dates("event_date", purchase_days)).transform(fct_purchases_daily)
            _replace_days(daily, paths.mart("fct_purchases_daily"), purchase_days, ticket)
        recomputed.update(_refresh_sessions(spark, paths, silver, changed, changed_days, ticket))
        for name, key, build in (("dim_users", "user_id", dim_users), ("dim_products", "product_id", dim_products)):
            keys = touched(changed, key)
            fresh = silver.join(keys, key, "left_semi").transform(build)
            _merge_keys(spark, paths.mart(name), fresh, keys, key, ticket)
            recomputed[name] = keys.count()
        return recomputed
    finally:
        changed.unpersist()


def _read_changes(spark: SparkSession, uri: str, plan: GoldPlan) -> tuple[DataFrame, list[tuple[date, bool]]]:
    """Silver's change feed for the plan's versions, cached, and its distinct (event_date, is purchase) pairs."""
    try:
        feed = (
            spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", plan.start_version)
            .option("endingVersion", plan.end_version)
            .load(uri)
        )
        changed = changed_keys(feed).persist()
        pairs = changed.select("event_date", (F.col("event_type") == "purchase").alias("purchase")).distinct()
        days = [(row["event_date"], bool(row["purchase"])) for row in pairs.collect() if row["event_date"]]
    except Exception as exc:
        cause = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
        raise GoldStateError(
            f"cannot read the change data feed of silver at {uri} for versions {plan.start_version}.."
            f"{plan.end_version} ({cause}); gold last processed version {plan.start_version - 1}, and the "
            f"versions after it were vacuumed, expired from the log or written without change data feed; "
            f"{FULL_REFRESH_HINT}"
        ) from exc
    return changed, days


def _refresh_sessions(
    spark: SparkSession, paths: GoldPaths, silver: DataFrame, changed: DataFrame, changed_days: set[date], ticket: int
) -> dict[str, int]:
    """Recompute touched sessions, then the funnel of every day any of them started on, before or after."""
    keys = touched(changed, "session_id")
    known = spark.read.format("delta").load(paths.mart("fct_sessions")).join(keys, "session_id", "left_semi")
    days = changed_days | {row["event_date"] for row in known.transform(days_spanned).collect()}
    events = silver.where(in_dates("event_date", days)).join(keys, "session_id", "left_semi")
    _merge_keys(spark, paths.mart("fct_sessions"), events.transform(fct_sessions), keys, "session_id", ticket)
    sessions = spark.read.format("delta").load(paths.mart("fct_sessions"))
    funnel = sessions.where(in_dates("session_date", days)).transform(fct_funnel_daily)
    _replace_days(funnel, paths.mart("fct_funnel_daily"), days, ticket)
    return {"fct_sessions": keys.count(), "fct_funnel_daily": len(days)}


def _create_if_missing(spark: SparkSession, uri: str, schema: StructType, key: str) -> None:
    """Create a mart with its key NOT NULL, change data feed (the loader reads it) and small-file properties."""
    if DeltaTable.isDeltaTable(spark, uri):
        return
    columns = [StructField(f.name, f.dataType, nullable=f.name != key) for f in schema.fields]
    builder = DeltaTable.createIfNotExists(spark).location(uri).addColumns(StructType(columns))
    for name, value in MART_PROPERTIES.items():
        builder = builder.property(name, value)
    builder.execute()


def _overwrite(spark: SparkSession, mart: DataFrame, uri: str, key: str, ticket: int | None = None) -> None:
    """Replace the whole mart; fenced by the run's ticket (scripts/bench/scala.py times it unfenced)."""
    _create_if_missing(spark, uri, mart.schema, key)
    writer = mart.write.format("delta").mode("overwrite")
    (writer if ticket is None else fenced(writer, ticket)).save(uri)


def _replace_days(mart: DataFrame, uri: str, days: set[date], ticket: int) -> None:
    """Atomically replace exactly these days' rows (days with no rows left simply disappear)."""
    writer = mart.write.format("delta").mode("overwrite").option("replaceWhere", in_dates("event_date", days))
    fenced(writer, ticket).save(uri)


def _merge_keys(spark: SparkSession, uri: str, fresh: DataFrame, keys: DataFrame, key: str, ticket: int) -> None:
    """Make the mart's rows for `keys` equal `fresh`: insert, update only if different, delete if gone."""
    columns = fresh.columns
    source = keys.join(fresh.withColumn("_fresh", F.lit(True)), key, "left")
    values = {c: f"s.`{c}`" for c in columns}
    merge = (
        DeltaTable.forPath(spark, uri)
        .alias("t")
        .merge(source.alias("s"), f"t.`{key}` = s.`{key}`")
        .whenMatchedDelete(condition="s._fresh IS NULL")
        .whenMatchedUpdate(condition=differs([c for c in columns if c != key]), set=values)
        .whenNotMatchedInsert(condition="s._fresh IS NOT NULL", values=values)
    )
    with fenced_dml(spark, ticket):
        merge.execute()
