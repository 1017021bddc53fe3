"""The lakehouse_pipeline DAG run for real: every task succeeded, serving equals gold, and every layer reconciles."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from deltalake import DeltaTable
from psycopg2 import sql

from config.catalog import FCT_PURCHASES_DAILY, MARTS
from scripts.reconcile import lake_rows, revenue_rows
from tests.e2e.pipeline_run import PipelineRun, gold_rows


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
def test_pipeline_dag_publishes_gold_exactly_and_reconciles(pipeline_run: PipelineRun) -> None:
    dag = pipeline_run.dag
    assert dag.returncode == 0, f"DAG run failed:\n{dag.stdout[-6000:]}\n{dag.stderr[-6000:]}"
    settings = pipeline_run.settings

    states = task_states(pipeline_run.airflow_home)
    quality = {task: state for task, state in states.items() if task.startswith("quality.")}
    assert quality, f"no quality check task ran: {states}"
    assert {t: s for t, s in states.items() if s != "success"} == {"maintenance": "skipped"}, states
    assert states.get("gold_scala") == "success", f"the Scala gold task did not run: {states}"

    for mart in MARTS:
        columns, gold = gold_rows(settings, mart)
        assert gold, f"gold {mart} is empty"
        assert serving_rows(settings.postgres_dsn(), mart, columns) == gold, f"serving.{mart} differs from gold"

    built = DeltaTable(settings.storage.uri_of(FCT_PURCHASES_DAILY)).history(1)[0].get("userMetadata") or ""
    assert built.startswith("lakehouse.fct_purchases_daily built from silver "), "gold_scala did not build the mart"

    mismatched = [row for row in lake_rows(settings, pipeline_run.produced.manifest) if not row[3]]
    assert not mismatched, mismatched
    money, verdict = revenue_rows(settings)
    assert verdict == "agree", money
