"""Usage: python -m scripts.bench.freshness [--rate 2000] [--duration 120] [--trigger-s 5] [--poll-s 5] [--seed 5]

Freshness in the card's streaming shape: the producer sends at a steady rate while bronze and silver run as
continuous streams (a micro-batch every --trigger-s) and Airflow's scheduler and triggerer run lakehouse_streaming
each time silver commits. Once every event is accounted for and a DAG run has published them, it reconciles the
lake and PostgreSQL with the producer's manifest (a run that does not reconcile reports no time) and writes
p50 / p95 / max of event → silver commit and event → PostgreSQL publish to .local/bench/freshness.json.

Event time here is the Kafka record's timestamp, which the producer sets when it sends: the synthetic events'
own event_ts spreads over past days, while in production an event is sent as it happens. Silver commit is its
Delta commit of its batch's silver append (its rows visible; the run report reads it the same way, from the
tag the append carries). PostgreSQL publish is the end of
the load of the first successful DAG run whose gold task started after that commit: an upper bound, because a
run that started earlier may have read the commit too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from config.catalog import BRONZE_EVENTS, SILVER_EVENTS, Table
from config.settings import DEFAULT_CONFIG, Settings, load_settings, run_main
from kafka import events
from kafka.admin import delete_topics
from kafka.produce import produce_events
from scripts.airflow_local.run_dag import ROOT, isolation_env
from scripts.airflow_local.streaming_mode import StreamingMode, airflow_time, streaming_mode, wait_until_published
from scripts.reconcile import lake_rows, revenue_rows
from scripts.report.compute import freshness
from scripts.report.sources import silver_commits
from scripts.stack.postgres_server import scratch_database

BENCH_DIR = ROOT / ".local" / "bench"
RESULT = BENCH_DIR / "freshness.json"
TARGET_P95_EVENT_TO_SILVER_S = 10.0


def _dataset(settings: Settings, table: Table) -> ds.Dataset:
    from deltalake import DeltaTable

    return DeltaTable(settings.storage.uri_of(table)).to_pyarrow_dataset()


def silver_with_send_time(settings: Settings, since: datetime) -> pa.Table:
    """Silver's rows sent at or after `since`, with `event_ts` replaced by their Kafka timestamp (the send time),
    found in bronze by (partition, offset): the one topic per run makes that pair unique."""
    bronze = _dataset(settings, BRONZE_EVENTS).to_table(columns=["partition", "offset", "kafka_timestamp"])
    silver = _dataset(settings, SILVER_EVENTS).to_table(
        columns=["kafka_partition", "kafka_offset", "ingested_at", "silver_app_id", "silver_batch_id"]
    )
    joined = silver.join(
        bronze, keys=["kafka_partition", "kafka_offset"], right_keys=["partition", "offset"], join_type="inner"
    )
    measured = joined.filter(pc.field("kafka_timestamp") >= pa.scalar(since, pa.timestamp("us", tz="UTC")))
    return measured.select(["kafka_timestamp", "ingested_at", "silver_app_id", "silver_batch_id"]).rename_columns(
        ["event_ts", "ingested_at", "silver_app_id", "silver_batch_id"]
    )


def publishes(runs: list[dict[str, Any]]) -> list[dict[str, datetime]]:
    """Each successful DAG run as a publish window: its gold task's start to its load's end."""
    return [
        {"started_at": airflow_time(r["gold_started"]), "finished_at": airflow_time(r["load_finished"])}
        for r in runs
        if r["state"] == "success" and r["gold_started"] and r["load_finished"]
    ]


def measure(mode: StreamingMode, since: datetime) -> dict[str, Any]:
    settings = mode.settings
    from deltalake import DeltaTable

    commits = silver_commits(DeltaTable(settings.storage.uri_of(SILVER_EVENTS)).history())
    found = freshness(silver_with_send_time(settings, since), commits, publishes(mode.dag_runs()))
    lags = found["lags"]
    return {
        "p50_event_to_silver_s": lags["event_to_silver"]["p50_s"],
        "p95_event_to_silver_s": lags["event_to_silver"]["p95_s"],
        "max_event_to_silver_s": lags["event_to_silver"]["max_s"],
        "p50_event_to_postgres_s": lags["event_to_postgres"]["p50_s"],
        "p95_event_to_postgres_s": lags["event_to_postgres"]["p95_s"],
        "max_event_to_postgres_s": lags["event_to_postgres"]["max_s"],
        "measured_silver_rows": found["rows"],
        "unmatched_rows": found["unmatched_rows"],
        "published_rows": found["published_rows"],
        "lags": lags,
    }


def run_bench(
    settings: Settings,
    run_dir: Path,
    *,
    rate: float,
    duration_s: float,
    warmup_s: float,
    trigger_s: int,
    poll_s: int,
    seed: int,
    stall_s: float = 600,
) -> dict[str, Any]:
    """One streaming-mode run on a fresh topic, lake and database; the measured and reconciled result."""
    topic = f"bench-freshness-{uuid.uuid4().hex[:10]}"
    with scratch_database(settings.postgres_dsn(), "bench_freshness") as dsn:
        isolation = isolation_env(run_dir, topic, dsn)
        try:
            print(f"starting bronze and silver (trigger {trigger_s} s) and Airflow (streaming mode) in {run_dir}")
            with streaming_mode(
                run_dir, isolation, processing_time_s=trigger_s, poll_s=poll_s, stall_s=stall_s
            ) as mode:
                print(
                    f"Airflow UI of this run: {mode.airflow.url}; producing {rate:,.0f} events/s for "
                    f"{warmup_s:.0f} s of warm-up, then {duration_s:.0f} s measured"
                )
                since = datetime.now(UTC) + timedelta(seconds=warmup_s)
                produced = produce_events(
                    mode.settings,
                    count=int(rate * (warmup_s + duration_s)),
                    seed=seed,
                    rate=rate,
                    anomalies=events.DEFAULT_ANOMALIES,
                    manifest_path=run_dir / "manifest.json",
                    progress=sys.stderr.isatty(),
                )
                if not produced.result.ok:
                    raise SystemExit(
                        f"error: {produced.result.failed} events not delivered: {produced.result.first_error}"
                    )
                print(
                    f"produced {produced.result.sent:,} events at {produced.result.events_per_s:,.0f}/s; "
                    "waiting for silver and a published DAG run"
                )
                run = wait_until_published(mode, produced.manifest, stall_s)
                result = measure(mode, since)
                lake = lake_rows(mode.settings, produced.manifest)
                revenue, verdict = revenue_rows(mode.settings)
                runs = mode.dag_runs()
        finally:
            delete_topics(settings, [topic])
    mismatches = [row for row in [*lake, *revenue] if not row[-1]]
    if mismatches:
        raise SystemExit(f"error: the run does not reconcile, no time reported: {mismatches}")
    return {
        **result,
        "events": produced.result.sent,
        "rate_per_s": rate,
        "duration_s": duration_s,
        "warmup_s": warmup_s,
        "trigger_s": trigger_s,
        "stream_poll_s": poll_s,
        "dag_runs": len(runs),
        "asset_triggered_runs": sum(r["run_type"] == "asset_triggered" for r in runs),
        "publishing_run": run["run_id"],
        "reconciled": True,
        "revenue": verdict,
        "target_p95_event_to_silver_s": TARGET_P95_EVENT_TO_SILVER_S,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.freshness", description=__doc__.splitlines()[2])
    parser.add_argument("--rate", type=float, default=2000, help="events per second (default 2000)")
    parser.add_argument("--duration", type=float, default=120, help="seconds of measured production (default 120)")
    parser.add_argument(
        "--warmup", type=float, default=60, help="seconds of production before, not measured: JIT, first batches"
    )
    parser.add_argument("--trigger-s", type=int, default=5, help="the streams' processing-time trigger (default 5)")
    parser.add_argument("--poll-s", type=int, default=5, help="airflow.stream_poll_s (default 5)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    settings = load_settings(DEFAULT_CONFIG)
    run_dir = BENCH_DIR / "freshness-run" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    started = time.monotonic()
    result = run_bench(
        settings,
        run_dir,
        rate=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        trigger_s=args.trigger_s,
        poll_s=args.poll_s,
        seed=args.seed,
    )
    result["wall_s"] = round(time.monotonic() - started, 1)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    met = result["p95_event_to_silver_s"] <= TARGET_P95_EVENT_TO_SILVER_S
    print(
        f"event -> silver:   p50 {result['p50_event_to_silver_s']} s, p95 {result['p95_event_to_silver_s']} s "
        f"(target <= {TARGET_P95_EVENT_TO_SILVER_S:.0f}: {'met' if met else 'NOT met'}), "
        f"max {result['max_event_to_silver_s']} s"
    )
    print(
        f"event -> postgres: p50 {result['p50_event_to_postgres_s']} s, p95 {result['p95_event_to_postgres_s']} s, "
        f"max {result['max_event_to_postgres_s']} s ({result['dag_runs']} DAG runs, "
        f"{result['asset_triggered_runs']} asset-triggered)"
    )
    print(f"reconciled: every event accounted for, revenue {result['revenue']}; result {RESULT}")
    return 0


if __name__ == "__main__":
    run_main(main)
