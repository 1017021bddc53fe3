"""In a real Airflow run, a quality check's data mismatch fails its task on the first try, while a refused
connection is retried as configured."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.dags.dag_configs import DAGS, REPO

PROBE = """
from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from lakehouse_dags.checks import QualityCheckError, fail_fast


def mismatch(conn_id: str) -> str:
    raise QualityCheckError("quality check probe failed, 1 difference(s): revenue_gbp expected 1.00, got 2.00")


def refused(conn_id: str) -> str:
    raise ConnectionRefusedError("connection to 127.0.0.1:5433 refused")


with DAG(
    dag_id="check_retries_probe",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    default_args={"retries": 2, "retry_delay": timedelta(seconds=1)},
):
    PythonOperator(task_id="mismatch", python_callable=fail_fast(mismatch), op_kwargs={"conn_id": "pg"})
    PythonOperator(task_id="refused", python_callable=fail_fast(refused), op_kwargs={"conn_id": "pg"})
"""


def test_a_mismatch_fails_on_its_first_try_and_a_refused_connection_retries(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "dags"
    folder.mkdir()
    (folder / "check_retries_probe.py").write_text(PROBE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(folder),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONPATH=os.pathsep.join([str(REPO), str(DAGS)]),
    )
    airflow = [sys.executable, "-m", "airflow"]
    for command in (["db", "migrate"], ["dags", "test", "check_retries_probe"]):
        result = subprocess.run(
            airflow + command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
    assert "(a data mismatch: not retried)" in result.stdout + result.stderr
    with sqlite3.connect(home / "airflow.db") as db:
        states = dict(
            (task, (state, tries))
            for task, state, tries in db.execute(
                "select task_id, state, try_number from task_instance where dag_id = 'check_retries_probe'"
            )
        )
    assert states == {"mismatch": ("failed", 1), "refused": ("failed", 3)}
