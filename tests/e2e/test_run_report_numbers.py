"""The run report of the shared DAG run: every number it shows equals what the lake, PostgreSQL and Airflow's
metadata database say, each computed here on its own, and the page fetches nothing."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg2
import pytest
from deltalake import DeltaTable

from config.catalog import MARTS
from config.settings import Settings
from scripts.reconcile import lake_rows, revenue_rows
from scripts.report.build import write_report
from spark.write_tags import WRITER
from tests.e2e.pipeline_run import PipelineRun
from tests.scripts.report_page import read_page, remote

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rows(settings: Settings, layer: str, name: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    return DeltaTable(settings.storage.table_uri(layer, name)).to_pyarrow_table(columns=columns).to_pylist()


def query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    conn = psycopg2.connect(dsn, options="-c timezone=UTC")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def silver_commit_times(settings: Settings) -> dict[tuple[str, int], datetime]:
    """(app id, batch id) -> the commit time of that batch's silver append, read from the log's JSON files
    themselves rather than through delta-rs."""
    found: dict[tuple[str, int], datetime] = {}
    log = Path(settings.storage.table_uri("silver", "events")) / "_delta_log"
    for path in sorted(log.glob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            info = json.loads(line).get("commitInfo") or {}
            tag = json.loads(info.get("userMetadata") or "{}")
            if tag.get("writer") == WRITER:
                key = (tag["app_id"], tag["batch_id"])
                found.setdefault(key, datetime.fromtimestamp(info["timestamp"] / 1000, UTC))
    return found


def demo_summary(run: PipelineRun, path: Path) -> Path:
    """A summary.json as scripts.demo writes it, from the same reconciliation functions."""
    lake = lake_rows(run.settings, run.produced.manifest)
    money, verdict = revenue_rows(run.settings)
    checks = lake + money
    summary = {
        "run_id": run.run_dir.name,
        "lake": str((run.run_dir / "lake").resolve()),
        "manifest": str(run.produced.manifest_path),
        "rows": [{"what": w, "expected": e, "found": f, "ok": ok} for w, e, f, ok in checks],
        "revenue": verdict,
        "verdict": "pass" if all(ok for *_, ok in checks) else "fail",
    }
    path.write_text(json.dumps(summary, default=str), encoding="utf-8")
    return path


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def percentile_row(lags: list[float]) -> dict[str, float]:
    return {
        "p50_s": float(np.percentile(lags, 50)),
        "p95_s": float(np.percentile(lags, 95)),
        "max_s": max(lags),
        "count": len(lags),
    }


def assert_close(shown: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    assert shown["count"] == expected["count"], what
    for key in ("p50_s", "p95_s", "max_s"):
        assert shown[key] == pytest.approx(expected[key], abs=1e-3), f"{what} {key}"


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_report_numbers_equal_the_lake_postgres_and_airflow(pipeline_run: PipelineRun, tmp_path: Path) -> None:
    assert pipeline_run.dag.returncode == 0, pipeline_run.dag.stdout[-4000:]
    settings, dsn, manifest = (
        pipeline_run.settings,
        pipeline_run.settings.postgres_dsn(),
        pipeline_run.produced.manifest,
    )
    out = write_report(
        settings,
        tmp_path / "report.html",
        summary=demo_summary(pipeline_run, tmp_path / "summary.json"),
        airflow_home=pipeline_run.airflow_home,
    )
    data, fetched = read_page(out)
    page = out.read_text(encoding="utf-8")
    assert remote(fetched) == [], "the report must open offline"
    assert page.count("* plotly.js v") == 1, "plotly.js must be inlined exactly once"
    assert data["verdict"] == "pass"

    bronze = DeltaTable(settings.storage.table_uri("bronze", "events")).to_pyarrow_dataset().count_rows()
    silver = rows(settings, "silver", "events", ["event_ts", "ingested_at", "silver_app_id", "silver_batch_id"])
    quarantine = rows(settings, "silver", "quarantine", ["reason", "ingested_at"])
    metrics = rows(settings, "silver", "metrics")
    by_reason = Counter(r["reason"] for r in quarantine)
    streamed = [m for m in metrics if m["stream"] == "silver"]

    ledger = data["ledger"]
    assert ledger["produced"] == manifest["delivered"] and ledger["bronze"] == bronze
    assert ledger["silver"] == len(silver)
    assert ledger["duplicates"] == sum(m["duplicates"] for m in streamed)
    assert {k: v for k, v in ledger["quarantine"].items() if v} == dict(by_reason)
    assert ledger["metrics"] == {
        k: sum(m[k] for m in streamed) for k in ("rows_in", "inserted", "quarantined", "duplicates")
    }
    assert ledger["balanced"] is True
    found = {"bronze": bronze, "silver": len(silver), "duplicates": ledger["duplicates"]}
    found |= {f"quarantine: {code}": n for code, n in by_reason.items()}
    expected = {"bronze": manifest["delivered"], "silver": manifest["expected"]["silver"]}
    expected |= {"duplicates": manifest["expected"]["duplicates"]}
    expected |= {f"quarantine: {code}": n for code, n in manifest["expected"]["quarantine"].items()}
    assert {term["term"] for term in ledger["terms"]} == set(found) | set(expected)
    for term in ledger["terms"]:
        assert term["found"] == found.get(term["term"], 0), term
        assert term["expected"] == expected.get(term["term"], 0), term
        assert f">{term['found']:,}<" in page, f"{term} is not shown"

    timeline = data["quarantine_timeline"]
    size_us = timeline["bucket_s"] * 1_000_000
    bucket = {id(r): micros(r["ingested_at"]) // size_us for r in quarantine}
    first = min(bucket.values())
    expected_series = {reason: [0] * (max(bucket.values()) - first + 1) for reason in by_reason}
    for r in quarantine:
        expected_series[r["reason"]][bucket[id(r)] - first] += 1
    assert timeline["series"] == expected_series
    assert timeline["buckets"][0] == datetime.fromtimestamp(first * timeline["bucket_s"], UTC).isoformat()

    served = query(
        dsn,
        "select event_date, purchases, units, revenue_gbp, purchasing_users "
        "from serving.fct_purchases_daily order by 1",
    )
    revenue = data["serving"]["revenue"]
    assert [
        (d["event_date"], d["purchases"], d["units"], Decimal(d["revenue_gbp"]), d["purchasing_users"])
        for d in revenue["days"]
    ] == [(day.isoformat(), p, u, r, users) for day, p, u, r, users in served]
    assert data["serving"]["from_this_lake"] == {"fct_purchases_daily": True, "fct_funnel_daily": True}
    total = query(dsn, "select sum(revenue_gbp), sum(purchases) from serving.fct_purchases_daily")[0]
    assert (Decimal(revenue["revenue_gbp"]), revenue["purchases"]) == total
    assert f"£{total[0]:,.2f}" in page
    funnel_columns = ["sessions", "sessions_with_view", "sessions_with_add_to_cart", "sessions_with_purchase"]
    funnel_totals = query(
        dsn, "select " + ", ".join(f"sum({c})" for c in funnel_columns) + " from serving.fct_funnel_daily"
    )[0]
    assert [data["serving"]["funnel"]["totals"][c] for c in funnel_columns] == list(funnel_totals)
    funnel_days = query(
        dsn, "select event_date, " + ", ".join(funnel_columns) + " from serving.fct_funnel_daily order by 1"
    )
    assert [[d["event_date"], *(d[c] for c in funnel_columns)] for d in data["serving"]["funnel"]["days"]] == [
        [day.isoformat(), *counts] for day, *counts in funnel_days
    ]

    gold_ids = [DeltaTable(settings.storage.table_uri("gold", mart)).metadata().id for mart in MARTS]
    loaded = query(
        dsn,
        "select coalesce(sum(rows_inserted + rows_updated + rows_deleted), 0)::bigint from pipeline.load_audit "
        "where status = 'succeeded' and delta_table_id = any(%s)",
        (gold_ids,),
    )[0][0]
    with contextlib.closing(sqlite3.connect(pipeline_run.airflow_home / "airflow.db")) as db:
        run_id = db.execute(
            "select run_id from dag_run where dag_id = 'lakehouse_pipeline' order by run_after desc limit 1"
        ).fetchone()[0]
        instances = db.execute(
            "select task_id, state, start_date, end_date from task_instance where dag_id = 'lakehouse_pipeline' "
            "and run_id = ?",
            (run_id,),
        ).fetchall()
    stages = data["stages"]
    assert stages["run_id"] == run_id
    rows_by_task = {
        "bronze": bronze,
        "silver": ledger["metrics"]["rows_in"],
        "gold": len(silver),
        "load_serving": loaded,
    }
    shown = {t["task_id"]: t for t in stages["tasks"]}
    assert set(shown) == {task for task, *_ in instances}
    for task, state, start, end in instances:
        assert shown[task]["state"] == state
        if start and end:
            seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
            assert shown[task]["duration_s"] == pytest.approx(seconds, abs=1e-3), task
            assert shown[task]["rows"] == rows_by_task.get(task), task
            if task in rows_by_task and seconds:
                assert shown[task]["rows_per_s"] == round(rows_by_task[task] / seconds), task

    commits = silver_commit_times(settings)
    publish = {}
    for key, committed in commits.items():
        publish[key] = query(
            dsn,
            "select min(finished_at) from pipeline.load_audit where status = 'succeeded' "
            "and delta_table_id = any(%s) and started_at >= %s",
            (gold_ids, committed),
        )[0][0]
    lags: dict[str, list[float]] = defaultdict(list)
    for r in silver:
        committed = commits[(r["silver_app_id"], r["silver_batch_id"])]
        lags["event_to_bronze"].append((r["ingested_at"] - r["event_ts"]).total_seconds())
        lags["bronze_to_silver"].append((committed - r["ingested_at"]).total_seconds())
        lags["event_to_silver"].append((committed - r["event_ts"]).total_seconds())
        published = publish[(r["silver_app_id"], r["silver_batch_id"])]
        if published is not None:
            lags["silver_to_postgres"].append((published.astimezone(UTC) - committed).total_seconds())
            lags["event_to_postgres"].append((published.astimezone(UTC) - r["event_ts"]).total_seconds())
    freshness = data["freshness"]
    assert freshness["rows"] == len(silver) and freshness["published_rows"] == len(lags["event_to_postgres"]) > 0
    assert set(freshness["lags"]) == set(lags)
    for name, values in lags.items():
        assert_close(freshness["lags"][name], percentile_row(values), name)
    for name, histogram in freshness["histograms"].items():
        assert sum(histogram["counts"]) == len(silver), name
