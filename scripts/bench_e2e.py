"""Usage: python -m scripts.bench_e2e [--config PATH] [--events 1000000] [--seed 7]

The whole batch path at size: produce --events events with the demo's anomaly mix to a fresh topic, run the
lakehouse_pipeline DAG for real (bronze -> silver -> gold -> PostgreSQL -> checks) into a fresh lake and a scratch
database, reconcile every layer with the producer's manifest (a run that does not reconcile reports no time), and
time DuckDB computing the five marts from the same payloads in the same run: the single-node floor. Writes
.local/bench/e2e.json with events, total_s, stages, duckdb_s and ratio_to_duckdb. No total timeout: the produce
progress and each task's state changes are printed as they happen, and each task has its own configured timeout
(airflow.timeouts).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable

from config.settings import Settings, load_settings
from kafka import events
from kafka.admin import delete_topics
from kafka.produce import produce_events
from scripts import run_dag_local
from scripts.bench_spark import reconciled as lake_reconciled
from scripts.build_archive import build_archive
from scripts.reconcile import revenue_rows
from scripts.report_sources import read_airflow
from scripts.stack_postgres import scratch_database

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".local" / "bench"
RUNS_DIR = BENCH_DIR / "e2e-runs"
RESULT = BENCH_DIR / "e2e.json"

DUCKDB_MARTS = """
create temp table events as
with parsed as (
    select topic, "partition", "offset",
        json_extract_string(value, '$.event_id') as event_id,
        try_strptime(json_extract_string(value, '$.event_ts'), '%Y-%m-%dT%H:%M:%S.%gZ') as event_ts,
        json_extract_string(value, '$.user_id') as user_id,
        json_extract_string(value, '$.session_id') as session_id,
        json_extract_string(value, '$.event_type') as event_type,
        json_extract_string(value, '$.product_id') as product_id,
        try_cast(json_extract_string(value, '$.price_gbp') as decimal(10, 2)) as price_gbp,
        try_cast(json_extract_string(value, '$.quantity') as integer) as quantity,
        json_extract_string(value, '$.schema_version') as schema_version,
        json_extract_string(value, '$.device') as device,
        json_extract_string(value, '$.country') as country
    from read_parquet(?)
    where json_valid(value)
)
select * exclude (topic, "partition", "offset", schema_version, device, country) from parsed
where regexp_full_match(event_id, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
    and event_ts <= now() + interval 5 minute and regexp_full_match(schema_version, '1\\.[0-9]{1,3}')
    and regexp_full_match(user_id, '[A-Za-z0-9_-]{1,64}') and regexp_full_match(session_id, '[A-Za-z0-9_-]{1,64}')
    and device is not null and country is not null
    and (event_type = 'page_view'
        or (event_type in ('add_to_cart', 'purchase') and product_id is not null and price_gbp >= 0 and quantity > 0))
qualify row_number() over (partition by event_id order by topic, "partition", "offset") = 1;

create temp table fct_sessions as
select session_id, arg_min(user_id, (event_ts, event_id)) as user_id, min(event_ts) as started_at,
    max(event_ts) as ended_at, count(*) as events,
    count(*) filter (where event_type = 'page_view') as page_views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(price_gbp * quantity) filter (where event_type = 'purchase'), 0) as revenue_gbp,
    cast(min(event_ts) as date) as session_date
from events group by session_id;

create temp table dim_users as
select user_id, min(event_ts) as first_seen_at, max(event_ts) as last_seen_at, count(*) as events,
    count(distinct session_id) as sessions, count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(price_gbp * quantity) filter (where event_type = 'purchase'), 0) as revenue_gbp
from events group by user_id;

create temp table dim_products as
select product_id, count(*) filter (where event_type = 'page_view') as views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases,
    coalesce(sum(quantity) filter (where event_type = 'purchase'), 0) as units,
    coalesce(sum(price_gbp * quantity) filter (where event_type = 'purchase'), 0) as revenue_gbp
from events where product_id is not null group by product_id;

create temp table fct_purchases_daily as
select cast(event_ts as date) as event_date, count(*) as purchases, sum(quantity) as units,
    sum(price_gbp * quantity) as revenue_gbp, count(distinct user_id) as purchasing_users
from events where event_type = 'purchase' group by 1;

create temp table fct_funnel_daily as
select session_date as event_date, count(*) as sessions, count(*) filter (where page_views > 0) as with_view,
    count(*) filter (where add_to_carts > 0) as with_cart, count(*) filter (where purchases > 0) as with_purchase
from fct_sessions group by 1;
"""
"""The five marts by the definitions in docs/data_model.md, from the raw payloads. A floor, not a second
implementation: its checks are a few null and enum tests, not the contract, so its rows are not compared."""


def duckdb_marts_s(bronze_uri: str, workdir: Path) -> tuple[float, dict[str, int]]:
    """Seconds DuckDB takes to parse bronze's payloads, keep the lowest Kafka coordinate of each event_id and build
    the five marts, from a Parquet copy of bronze's value (as UTF-8 text, bad bytes replaced) and coordinates written
    beforehand (untimed); and the marts' row counts."""
    bronze = DeltaTable(bronze_uri).to_pyarrow_table(columns=["value", "topic", "partition", "offset"])
    text = [None if v is None else v.decode("utf-8", "replace") for v in bronze.column("value").to_pylist()]
    path = workdir / "reference.parquet"
    pq.write_table(bronze.set_column(0, "value", pa.array(text, pa.string())), path)
    try:
        with duckdb.connect(config={"threads": os.cpu_count() or 1}) as con:
            con.execute("set TimeZone = 'UTC'")
            started = time.perf_counter()
            for statement in filter(str.strip, DUCKDB_MARTS.split(";")):
                con.execute(statement, [str(path)] if "read_parquet" in statement else [])
            seconds = time.perf_counter() - started
            marts = ("dim_users", "dim_products", "fct_purchases_daily", "fct_funnel_daily", "fct_sessions")
            counts = {mart: con.execute(f"select count(*) from {mart}").fetchone()[0] for mart in marts}
            return seconds, counts
    finally:
        path.unlink()


def task_seconds(airflow_home: Path) -> dict[str, float]:
    """Each task of the run's lakehouse_pipeline DAG run and its wall seconds, in the order they started."""
    run = read_airflow(airflow_home)
    return {
        task["task_id"]: round((task["end"] - task["start"]).total_seconds(), 2)
        for task in run.tasks
        if task["start"] and task["end"]
    }


def reconciled(settings: Settings, manifest: dict) -> None:
    """SystemExit unless the lake and its ledger match the manifest and silver, gold and PostgreSQL agree on
    revenue: a time is only worth reporting for a run that lost and invented nothing."""
    lake_reconciled(settings, manifest)
    revenue, verdict = revenue_rows(settings)
    if verdict != "agree":
        shown = "; ".join(f"{what} {found}" for what, _, found, _ in revenue)
        raise SystemExit(f"error: revenue does not agree across the layers ({shown}), no time reported")


def bench(config: str | None, count: int, seed: int, run_dir: Path) -> dict[str, Any]:
    """Produce, run the DAG, reconcile, then the DuckDB floor; the measured result."""
    topic = f"bench-e2e-{run_dir.name}"
    server = load_settings(config)
    build_archive(ROOT / server.airflow.runner.artifacts.archive_uri)
    with scratch_database(server.postgres_dsn(), "bench_e2e") as dsn:
        os.environ.update(run_dag_local.isolation_env(run_dir, topic, dsn))
        settings = load_settings(config)
        try:
            print(f"producing {count:,} events to {topic}", flush=True)
            started = time.perf_counter()
            run = produce_events(
                settings,
                count=count,
                seed=seed,
                anomalies=events.DEFAULT_ANOMALIES,
                manifest_path=run_dir / "manifest.json",
                progress=sys.stderr.isatty(),
            )
            produce_s = time.perf_counter() - started
            if not run.result.ok:
                raise SystemExit(f"error: {run.result.failed} events not delivered: {run.result.first_error}")
            print(f"produced {run.result.sent:,} events in {produce_s:.1f}s; running the DAG", flush=True)
            airflow_home = run_dir / "airflow"
            started = time.perf_counter()
            argv = ["--config", str(Path(settings.source).resolve()), "--airflow-home", str(airflow_home)]
            if run_dag_local.main(argv) != 0:
                raise SystemExit(f"error: the DAG run failed (task logs under {airflow_home / 'logs'})")
            dag_s = time.perf_counter() - started
            reconciled(settings, run.manifest)
            duckdb_s, duckdb_rows = duckdb_marts_s(settings.storage.table_uri("bronze", "events"), run_dir)
        finally:
            delete_topics(server, [topic])
    return {
        "events": run.result.sent,
        "total_s": round(produce_s + dag_s, 2),
        "stages": {"produce": round(produce_s, 2), "dag": round(dag_s, 2), **task_seconds(airflow_home)},
        "duckdb_s": round(duckdb_s, 2),
        "ratio_to_duckdb": round(dag_s / duckdb_s, 1),
        "duckdb_mart_rows": duckdb_rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_e2e", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    run_dir = RUNS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    shutil.rmtree(RUNS_DIR, ignore_errors=True)
    run_dir.mkdir(parents=True)
    result = bench(args.config, args.events, args.seed, run_dir)
    result["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["nproc"] = os.cpu_count()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    width = max(map(len, result["stages"]))
    lines = [f"  {stage:{width}}  {seconds:>9.1f}s" for stage, seconds in result["stages"].items()]
    print(
        f"{result['events']:,} events end to end in {result['total_s']:.1f}s (produce + DAG); per stage:\n"
        + "\n".join(lines)
        + f"\nDuckDB, the five marts from the same payloads: {result['duckdb_s']:.2f}s; the DAG took "
        f"{result['ratio_to_duckdb']}x as long\nresults: {RESULT} (run folder {run_dir})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
