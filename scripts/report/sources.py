"""Read what the run report shows, each input on its own, so a missing one costs only its own sections."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from config.catalog import BRONZE_EVENTS, MART_TABLES, QUARANTINE, SILVER_EVENTS, SILVER_METRICS, Table
from config.settings import Settings
from postgres.connection import connect
from spark.write_tags import read_tag

DAG_ID = "lakehouse_pipeline"


class Unavailable(Exception):
    """An input the report needs is missing or unreadable; the message says why and what to do."""


@dataclass(frozen=True)
class Window:
    """What the freshness and quarantine-timeline sections read: the silver batches committed in the `hours` before
    silver's newest commit (`since` onwards), and the quarantined rows ingested from `since` on (the timeline's
    axis is ingest time), so the report's cost follows the window and not the table's history. `since` is None
    when the window holds the whole table (every commit since version 0 is in it), or when hours is None."""

    hours: float | None
    since: datetime | None


@dataclass(frozen=True)
class LakeInputs:
    """The lake's tables, narrowed to the columns the report uses: counts over whole tables, rows of the window."""

    bronze_rows: int
    silver_rows: int
    silver: pa.Table
    """The window's silver rows: event time, ingest time, batch."""
    silver_commits: pa.Table
    quarantine_reasons: pa.Table
    """Every quarantined row's reason (the ledger counts them all)."""
    quarantine: pa.Table
    """The window's quarantined rows: reason, ingest time."""
    metrics: pa.Table
    gold_table_ids: dict[str, str]
    window: Window


@dataclass(frozen=True)
class ServingInputs:
    purchases_daily: list[dict[str, Any]]
    funnel_daily: list[dict[str, Any]]
    loads: list[dict[str, Any]]
    from_this_lake: dict[str, bool]
    """Per served mart: whether its latest publish came from this lake's gold table (the database is shared)."""


@dataclass(frozen=True)
class AirflowInputs:
    run: dict[str, Any]
    tasks: list[dict[str, Any]]


def _delta(settings: Settings, table: Table) -> DeltaTable:
    uri = settings.storage.uri_of(table)
    try:
        return DeltaTable(uri)
    except TableNotFoundError:
        raise Unavailable(
            f"no Delta table at {uri} (storage.lake_uri in {settings.source}): run the pipeline first"
        ) from None


def history_window(table: DeltaTable, hours: float | None, first_limit: int = 1000) -> tuple[list[dict], Window]:
    """The commits of the `hours` before the table's newest commit (all of them if hours is None), newest first,
    read in growing pages so a table with months of five-second commits is not read whole."""
    if hours is None:
        return table.history(), Window(None, None)
    limit = first_limit
    while True:
        entries = table.history(limit)
        if not entries:
            return [], Window(hours, None)
        since_ms = entries[0]["timestamp"] - hours * 3_600_000
        whole = len(entries) < limit and entries[-1]["version"] == 0
        if whole and entries[-1]["timestamp"] >= since_ms:
            return entries, Window(hours, None)
        if len(entries) < limit or entries[-1]["timestamp"] < since_ms:
            since = datetime.fromtimestamp(since_ms / 1000, UTC)
            return [e for e in entries if e["timestamp"] >= since_ms], Window(hours, since)
        limit *= 4


def silver_commits(history: list[dict]) -> pa.Table:
    """When each silver append committed (app_id, batch_id, committed_at), found by the tag its commit carries
    (spark.write_tags): the moment that batch's rows became visible. The batch's metrics row comes later, after
    the quarantine append and the counts. Appends whose log entries were cleaned up are not listed."""
    found: dict[tuple[str, int], int] = {}
    for entry in history:
        if tag := read_tag(entry.get("userMetadata")):
            key = (tag["app_id"], int(tag["batch_id"]))
            found[key] = min(found.get(key, entry["timestamp"]), entry["timestamp"])
    return pa.table(
        {
            "app_id": pa.array([app_id for app_id, _ in found], pa.string()),
            "batch_id": pa.array([batch_id for _, batch_id in found], pa.int64()),
            "committed_at": pa.array(
                [datetime.fromtimestamp(ms / 1000, UTC) for ms in found.values()], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def row_count(table: DeltaTable) -> int:
    """The table's rows from its log's per-file record counts (no data file opened), or its files' footers when a
    file was written without statistics."""
    records = pa.table(table.get_add_actions(flatten=True)).column("num_records")
    if records.null_count == 0:
        return pc.sum(records).as_py() or 0
    return table.to_pyarrow_dataset().count_rows()


SILVER_COLUMNS = ["event_ts", "ingested_at", "silver_app_id", "silver_batch_id"]


def silver_rows_of(table: DeltaTable, commits: pa.Table, window: Window) -> pa.Table:
    """Silver's rows of the window's batches: only the files whose batch-id statistics can hold them are opened
    (silver keeps statistics on silver_app_id and silver_batch_id, spark/silver_tables.py)."""
    if window.since is None:
        return table.to_pyarrow_table(columns=SILVER_COLUMNS)
    first: dict[str, int] = {}
    for commit in commits.to_pylist():
        app_id, batch_id = commit["app_id"], commit["batch_id"]
        first[app_id] = min(first.get(app_id, batch_id), batch_id)
    if not first:
        return table.to_pyarrow_dataset().schema.empty_table().select(SILVER_COLUMNS)
    files = [[("silver_app_id", "=", app), ("silver_batch_id", ">=", batch)] for app, batch in first.items()]
    rows = None
    for app, batch in first.items():
        clause = (ds.field("silver_app_id") == app) & (ds.field("silver_batch_id") >= batch)
        rows = clause if rows is None else rows | clause
    return table.to_pyarrow_dataset(file_pruning_predicate=files).to_table(columns=SILVER_COLUMNS, filter=rows)


def quarantine_rows_of(table: DeltaTable, window: Window) -> pa.Table:
    """Quarantine's rows ingested in the window, reading only its ingest_date partitions from the window's first."""
    if window.since is None:
        return table.to_pyarrow_table(columns=["reason", "ingested_at"])
    since = window.since
    partitioned = "ingest_date" in table.metadata().partition_columns
    files = [("ingest_date", ">=", since.date())] if partitioned else None
    dataset = table.to_pyarrow_dataset(file_pruning_predicate=files)
    return dataset.to_table(columns=["reason", "ingested_at"], filter=ds.field("ingested_at") >= since)


def read_lake(settings: Settings, window_hours: float | None = None) -> LakeInputs:
    """Bronze's and silver's row counts; the window's silver times, batches and commits; quarantine's reasons (all,
    and the window's with their ingest times); the metrics ledger; gold's table ids."""
    bronze = row_count(_delta(settings, BRONZE_EVENTS))
    silver_table = _delta(settings, SILVER_EVENTS)
    history, window = history_window(silver_table, window_hours)
    commits = silver_commits(history)
    quarantine_table = _delta(settings, QUARANTINE)
    metrics = _delta(settings, SILVER_METRICS).to_pyarrow_table(
        columns=["stream", "app_id", "batch_id", "rows_in", "inserted", "quarantined", "duplicates", "processed_at"]
    )
    gold_ids = {}
    for mart in MART_TABLES:
        with contextlib.suppress(Unavailable):
            gold_ids[mart.name] = _delta(settings, mart).metadata().id
    return LakeInputs(
        bronze_rows=bronze,
        silver_rows=row_count(silver_table),
        silver=silver_rows_of(silver_table, commits, window),
        silver_commits=commits,
        quarantine_reasons=quarantine_table.to_pyarrow_table(columns=["reason"]),
        quarantine=quarantine_rows_of(quarantine_table, window),
        metrics=metrics,
        gold_table_ids=gold_ids,
        window=window,
    )


def _rows(cur: Any, query: str, params: tuple = ()) -> list[dict[str, Any]]:
    cur.execute(query, params)
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def read_serving(settings: Settings, gold_table_ids: list[str]) -> ServingInputs:
    """The two served marts the report charts, and the successful loads of this lake's gold tables."""
    try:
        conn = connect(settings, "lakehouse-report")
    except Exception as exc:  # noqa: BLE001 - any connect failure only makes the serving sections unavailable
        raise Unavailable(f"PostgreSQL cannot be reached: {exc}") from None
    with contextlib.closing(conn), conn.cursor() as cur:
        cur.execute("set time zone 'UTC'")
        try:
            purchases = _rows(cur, "select * from serving.fct_purchases_daily order by event_date")
            funnel = _rows(cur, "select * from serving.fct_funnel_daily order by event_date")
            loads = _rows(
                cur,
                "select table_name, delta_table_id, delta_version, started_at, finished_at, rows_inserted, "
                "rows_updated, rows_deleted from pipeline.load_audit where status = 'succeeded' "
                "and delta_table_id = any(%s) order by started_at",
                (gold_table_ids,),
            )
            latest = _rows(
                cur,
                "select distinct on (table_name) table_name, delta_table_id from pipeline.load_audit "
                "where status = 'succeeded' and table_name in ('fct_purchases_daily', 'fct_funnel_daily') "
                "order by table_name, finished_at desc",
            )
        except Exception as exc:  # noqa: BLE001 - an unmigrated database is reported, not raised
            raise Unavailable(
                f"PostgreSQL serving tables cannot be read ({str(exc).splitlines()[0]}): run `make migrate` and "
                "`make load`"
            ) from None
    published = {r["table_name"]: r["delta_table_id"] in gold_table_ids for r in latest}
    return ServingInputs(purchases, funnel, loads, published)


def _utc(text: str | None) -> datetime | None:
    """Airflow's SQLite stores naive UTC text."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_airflow(airflow_home: Path | None) -> AirflowInputs:
    """The latest lakehouse_pipeline run in this Airflow home's SQLite metadata database, with its task instances."""
    if airflow_home is None:
        raise Unavailable("no Airflow home given and no .local/demo/runs/*/airflow found: pass --airflow-home DIR")
    db_path = Path(airflow_home) / "airflow.db"
    if not db_path.is_file():
        raise Unavailable(f"{db_path} does not exist: the report reads a local run's SQLite metadata database")
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        run = db.execute(
            "select run_id, state, run_after from dag_run where dag_id = ? order by run_after desc, id desc limit 1",
            (DAG_ID,),
        ).fetchone()
        if run is None:
            raise Unavailable(f"{db_path} holds no run of {DAG_ID}")
        tasks = db.execute(
            "select task_id, state, try_number, start_date, end_date from task_instance "
            "where dag_id = ? and run_id = ? order by start_date",
            (DAG_ID, run["run_id"]),
        ).fetchall()
    return AirflowInputs(
        {"dag_id": DAG_ID, "run_id": run["run_id"], "state": run["state"]},
        [
            {
                "task_id": t["task_id"],
                "state": t["state"],
                "try_number": t["try_number"],
                "start": _utc(t["start_date"]),
                "end": _utc(t["end_date"]),
            }
            for t in tasks
        ],
    )


def read_summary(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo's summary.json and the producer manifest it names."""
    if path is None:
        raise Unavailable("no summary.json: this lake was not built by `make demo` (pass --summary PATH)")
    try:
        summary = json.loads(Path(path).read_text(encoding="utf-8"))
        manifest = json.loads(Path(summary["manifest"]).read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError) as exc:
        raise Unavailable(f"cannot read the demo summary {path} or the manifest it names: {exc}") from None
    return summary, manifest
