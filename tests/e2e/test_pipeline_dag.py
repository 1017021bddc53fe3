"""The lakehouse_pipeline DAG run for real (airflow dags test) on an isolated topic, lake, database and home."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from deltalake import DeltaTable
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from config.settings import Settings, load_settings
from kafka import events
from kafka.admin import delete_topics
from kafka.produce import produce_events
from scripts.build_archive import build_archive
from scripts.reconcile import lake_rows, revenue_rows
from scripts.stack import StackInfo

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "local.yml"
MARTS = ("dim_users", "dim_products", "fct_purchases_daily", "fct_funnel_daily", "fct_sessions")
EVENTS = 3_000


@contextlib.contextmanager
def scratch_database(server_dsn: str) -> Iterator[str]:
    """URI of an empty database on the stack's server (Airflow connections need a URI), dropped on exit."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(make_dsn(server_dsn, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def isolated(stack: StackInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings (and this process's environment, which the DAG run inherits) on a fresh topic, lake and database."""
    topic = f"e2e-{uuid.uuid4().hex[:12]}"
    with scratch_database(stack.postgres_dsn) as dsn:
        monkeypatch.setenv("LAKEHOUSE_TOPIC", topic)
        monkeypatch.setenv("LAKEHOUSE_LAKE_URI", str(tmp_path / "lake"))
        monkeypatch.setenv("LAKEHOUSE_CHECKPOINT_URI", str(tmp_path / "lake" / "_checkpoints"))
        monkeypatch.setenv("LAKEHOUSE_POSTGRES_DSN", dsn)
        settings = load_settings(CONFIG)
        try:
            yield settings
        finally:
            delete_topics(settings, [topic])


def gold_rows(settings: Settings, mart: str) -> tuple[list[str], list[dict[str, Any]]]:
    table = DeltaTable(settings.storage.table_uri("gold", mart)).to_pyarrow_table()
    rows = table.to_pylist()
    return table.column_names, sorted(rows, key=lambda r: r[table.column_names[0]])


def serving_rows(dsn: str, mart: str, columns: list[str]) -> list[dict[str, Any]]:
    """serving.<mart>'s rows with gold's columns, ordered by the key, timestamps in UTC."""
    query = sql.SQL("select {} from serving.{} order by 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(mart)
    )
    conn = psycopg2.connect(dsn, options="-c timezone=UTC")
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def task_states(airflow_home: Path) -> dict[str, str]:
    """task_id -> state of the lakehouse_pipeline run, from the run's own Airflow metadata database."""
    with contextlib.closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        rows = db.execute("select task_id, state from task_instance where dag_id = 'lakehouse_pipeline'").fetchall()
    return dict(rows)


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_pipeline_dag_publishes_gold_exactly_and_reconciles(isolated: Settings, tmp_path: Path) -> None:
    settings = isolated
    started = time.monotonic()
    run = produce_events(
        settings, count=EVENTS, seed=11, anomalies=events.DEFAULT_ANOMALIES, manifest_path=tmp_path / "manifest.json"
    )
    assert run.result.ok, f"{run.result.failed} events not delivered: {run.result.first_error}"
    build_archive(REPO / settings.airflow.runner.artifacts.archive_uri)
    airflow_home = tmp_path / "airflow"
    dag = subprocess.run(
        [sys.executable, "-m", "scripts.run_dag_local", "--config", str(CONFIG), "--airflow-home", str(airflow_home)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert dag.returncode == 0, f"DAG run failed:\n{dag.stdout[-6000:]}\n{dag.stderr[-6000:]}"

    states = task_states(airflow_home)
    quality = {task: state for task, state in states.items() if task.startswith("quality.")}
    assert quality, f"no quality check task ran: {states}"
    assert {t: s for t, s in states.items() if s != "success"} == {"maintenance": "skipped"}, states
    assert states.get("gold_scala") == "success", f"the Scala gold task did not run: {states}"

    for mart in MARTS:
        columns, gold = gold_rows(settings, mart)
        assert gold, f"gold {mart} is empty"
        assert serving_rows(settings.postgres_dsn(), mart, columns) == gold, f"serving.{mart} differs from gold"

    assert gold_rows(settings, "fct_purchases_daily_scala") == gold_rows(settings, "fct_purchases_daily")

    mismatched = [row for row in lake_rows(settings, run.manifest) if not row[3]]
    assert not mismatched, mismatched
    money, verdict = revenue_rows(settings)
    assert verdict == "agree", money
    print(f"e2e DAG test: {EVENTS} events in {time.monotonic() - started:.0f}s")
