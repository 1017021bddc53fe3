"""Streaming mode for real: bronze and silver run as continuous streams, and Airflow's own scheduler, triggerer,
DAG processor and api-server run lakehouse_streaming from silver's asset events (DeltaCommitTrigger watchers record
bronze's commits too), until what PostgreSQL serves reconciles with what the producer sent."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from deltalake import DeltaTable

from config.settings import load_settings
from kafka import events
from kafka.admin import delete_topics
from kafka.produce import produce_events
from scripts.airflow_local.run_dag import isolation_env
from scripts.airflow_local.streaming_mode import streaming_mode, wait_until_published
from scripts.reconcile import lake_rows, revenue_rows
from scripts.stack.postgres_server import scratch_database
from scripts.stack.services import StackInfo

REPO = Path(__file__).resolve().parents[2]
EVENTS = 1_500
TRIGGER_S = 5


def watcher_events(airflow_db: Path, asset: str) -> list[dict]:
    """The payloads of an asset's events that the triggerer's watcher recorded (no task emits them)."""
    with closing(sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "select e.extra from asset_event e join asset a on a.id = e.asset_id "
            "where a.name = ? and e.source_task_id is null order by e.id",
            (asset,),
        ).fetchall()
    extras = [json.loads(extra or "{}") for (extra,) in rows]
    return [e["payload"] for e in extras if e.get("from_trigger")]


def rows_by_version(uri: str) -> dict[int, int]:
    """Each commit's appended rows, as Spark's Delta writer records them."""
    history = DeltaTable(uri).history()
    return {h["version"]: int((h.get("operationMetrics") or {}).get("numOutputRows", 0)) for h in history}


def consumed_by_run(airflow_db: Path) -> dict[str, set[str]]:
    """Each DAG run's consumed asset events, by asset name."""
    with closing(sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "select r.run_id, a.name from dag_run r "
            "join dagrun_asset_event c on c.dag_run_id = r.id "
            "join asset_event e on e.id = c.event_id join asset a on a.id = e.asset_id"
        ).fetchall()
    consumed: dict[str, set[str]] = {}
    for run_id, name in rows:
        consumed.setdefault(run_id, set()).add(name)
    return consumed


@pytest.mark.integration
def test_silver_commits_run_the_streaming_dag_until_serving_reconciles(stack: StackInfo, tmp_path: Path) -> None:
    topic = f"e2e-streaming-{uuid.uuid4().hex[:10]}"
    settings = load_settings(REPO / "config" / "local.yml")
    with scratch_database(stack.postgres_dsn, "e2e") as dsn:
        isolation = isolation_env(tmp_path, topic, dsn)
        try:
            with streaming_mode(tmp_path, isolation, processing_time_s=TRIGGER_S, poll_s=5) as mode:
                # Spark starts micro-batches at multiples of the interval since the epoch: sending just after one
                # keeps the events in one bronze batch, so usually one silver commit and one DAG run, not two.
                time.sleep(-time.time() % TRIGGER_S + 0.2)
                produced = produce_events(
                    mode.settings,
                    count=EVENTS,
                    seed=13,
                    anomalies=events.DEFAULT_ANOMALIES,
                    manifest_path=tmp_path / "manifest.json",
                )
                assert produced.result.ok, produced.result.first_error
                publishing = wait_until_published(mode, produced.manifest, stall_s=600)
                mismatches = [row for row in [*lake_rows(mode.settings, produced.manifest)] if not row[-1]]
                revenue, verdict = revenue_rows(mode.settings)
                runs = mode.dag_runs()
                home = mode.airflow.home
            streams = mode.streams
        finally:
            delete_topics(settings, [topic])

    assert mismatches == [], "the lake does not account for every produced event"
    assert verdict == "agree", revenue
    assert publishing["run_type"] == "asset_triggered"
    assert {r["run_type"] for r in runs} == {"asset_triggered"}, "only silver's commits may start runs (start date now)"
    assert not [r for r in runs if r["state"] == "failed"], runs
    for asset in ("bronze.events", "silver.events"):
        seen = watcher_events(home / "airflow.db", asset)
        assert seen, f"the triggerer recorded no {asset} commit"
        assert all(isinstance(e.get("delta_version"), int) and e.get("data_versions") for e in seen), seen
        rows = rows_by_version(seen[0]["uri"])
        empty = [v for e in seen for v in e["data_versions"] if rows.get(v, 0) == 0]
        assert not empty, f"{asset} events name commits that added no rows (a gold run over nothing): {empty}"
    consumed = consumed_by_run(home / "airflow.db")
    assert {r["run_id"] for r in runs} <= set(consumed), "a run consumed no asset event"
    assert all("silver.events" in assets for assets in consumed.values()), f"a run without a silver commit: {consumed}"
    assert any("bronze.events" in assets for assets in consumed.values()), "no run lists the bronze commits it saw"
    for stream in streams:
        log = stream.log.read_text(encoding="utf-8", errors="replace")
        assert stream.process.returncode == 0, f"{stream.name} did not stop cleanly: {log[-2000:]}"
        assert f"stopped the {stream.name} stream cleanly" in log
