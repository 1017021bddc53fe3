"""Usage: python -m scripts.bench.e2e [--config PATH] [--events 1000000] [--seed 7]

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

from config.catalog import BRONZE_EVENTS
from config.settings import Settings, load_settings, run_main
from kafka import events
from kafka.admin import delete_topics
from kafka.produce import produce_events
from scripts.airflow_local import run_dag
from scripts.bench.duckdb_floor import duckdb_marts_s
from scripts.bench.spark_layers import BENCH_DIR, ROOT
from scripts.bench.spark_layers import reconciled as lake_reconciled
from scripts.packaging.spark_archive import build_archive
from scripts.reconcile import revenue_rows
from scripts.report.sources import read_airflow
from scripts.stack.postgres_server import scratch_database

RUNS_DIR = BENCH_DIR / "e2e-runs"
RESULT = BENCH_DIR / "e2e.json"


def task_seconds(airflow_home: Path) -> dict[str, float]:
    """Each task that ran in the run's lakehouse_pipeline DAG run (not the skipped) and its wall seconds, in the
    order they started."""
    run = read_airflow(airflow_home)
    return {
        task["task_id"]: round((task["end"] - task["start"]).total_seconds(), 2)
        for task in run.tasks
        if task["state"] == "success"
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
        os.environ.update(run_dag.isolation_env(run_dir, topic, dsn))
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
            if run_dag.main(argv) != 0:
                raise SystemExit(f"error: the DAG run failed (task logs under {airflow_home / 'logs'})")
            dag_s = time.perf_counter() - started
            reconciled(settings, run.manifest)
            duckdb_s, duckdb_rows = duckdb_marts_s(settings.storage.uri_of(BRONZE_EVENTS), run_dir)
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
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.e2e", description=__doc__.splitlines()[2])
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
    run_main(main)
