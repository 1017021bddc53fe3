"""The DAG folder parses, fast, without pyspark, with retries and timeouts on every task and no cycles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dag_probe import DAGBAG_REPORT, IMPORT_TIME, parse_marked

from tests.dags.dag_configs import DAGS, REPO, run_python

DAG_FILES = sorted(DAGS.glob("*.py"))
LOCAL_CONFIG = REPO / "config" / "local.yml"


@pytest.fixture(scope="module")
def report(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    cwd = tmp_path_factory.mktemp("elsewhere")
    result = run_python(
        DAGBAG_REPORT.format(folder=str(DAGS)),
        pythonpath=[REPO, DAGS],
        cwd=cwd,
        env={"AIRFLOW_HOME": str(airflow_home), "LAKEHOUSE_CONFIG": str(LOCAL_CONFIG)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(parse_marked(result.stdout, "REPORT"))


def test_every_dag_file_imports_without_errors(report: dict) -> None:
    """local.yml is batch mode: lakehouse_streaming.py imports cleanly but registers no DAG (airflow.mode)."""
    assert report["errors"] == {}
    assert {p.name for p in DAG_FILES} == {"lakehouse_pipeline.py", "lakehouse_streaming.py"}
    assert {Path(d["fileloc"]).name for d in report["dags"].values()} == {"lakehouse_pipeline.py"}
    assert set(report["dags"]) == {"lakehouse_pipeline"}


def test_no_spark_or_lake_code_is_imported_at_parse(report: dict) -> None:
    assert report["heavy_modules"] == []


def test_every_task_retries_with_backoff_timeout_and_alert(report: dict) -> None:
    for dag_id, dag in report["dags"].items():
        for task_id, task in dag["tasks"].items():
            where = f"{dag_id}.{task_id}"
            assert task["retries"] == 2, where
            assert task["timeout_s"] and task["timeout_s"] > 0, where
            assert task["backoff"] == 2.0, where
            assert task["max_retry_delay_s"] == 600, where
            assert task["failure_callback"], where


def test_pipeline_schedule_and_order(report: dict) -> None:
    dag = report["dags"]["lakehouse_pipeline"]
    assert dag["schedule"] == "@daily"
    assert dag["start_date"] == "2025-01-01T00:00:00+00:00"
    assert dag["timezone"] == "UTC"
    assert dag["catchup"] is False
    assert dag["max_active_runs"] == 1
    assert dag["tags"] == ["env:local", "lakehouse", "mode:batch", "runner:local"]
    tasks = dag["tasks"]
    assert tasks["bronze"]["upstream"] == []
    assert tasks["silver"]["upstream"] == ["bronze"]
    assert tasks["gold"]["upstream"] == ["silver"]
    assert tasks["gold_scala"]["upstream"] == ["gold"]
    assert tasks["gold_scala"]["type"] == "BashOperator"
    assert tasks["load_serving"]["upstream"] == ["gold_scala", "migrate"]
    checks = [t for t in tasks if t.startswith("quality.")]
    assert len(checks) == 8
    assert all(tasks[t]["upstream"] == ["load_serving"] for t in checks)
    assert tasks["bronze"]["timeout_s"] == 1800
    assert tasks["quality.rows_match_gold"]["timeout_s"] == 300


def test_assets_published_for_bronze_silver_gold_and_serving(report: dict) -> None:
    tasks = report["dags"]["lakehouse_pipeline"]["tasks"]
    lake = (REPO / ".local" / "lake").resolve()
    assert tasks["bronze"]["outlets"] == [f"file://{lake}/bronze/events"]
    assert tasks["silver"]["outlets"] == [f"file://{lake}/silver/{t}" for t in ("events", "metrics", "quarantine")]
    marts = sorted(["dim_users", "dim_products", "fct_purchases_daily", "fct_funnel_daily", "fct_sessions"])
    assert tasks["gold"]["outlets"] == [f"file://{lake}/gold/{t}" for t in marts if t != "fct_purchases_daily"]
    assert tasks["gold_scala"]["outlets"] == [f"file://{lake}/gold/fct_purchases_daily"]
    assert tasks["load_serving"]["outlets"] == [f"postgres://127.0.0.1:5433/lakehouse/serving/{t}" for t in marts]


def test_the_scala_job_builds_fct_purchases_daily_at_the_silver_version_gold_recorded(report: dict) -> None:
    """With the jar configured, gold leaves fct_purchases_daily to gold_scala, which reads gold's state row."""
    tasks = report["dags"]["lakehouse_pipeline"]["tasks"]
    lake = (REPO / ".local" / "lake").resolve()
    assert "spark/jobs/gold.py --config" in tasks["gold"]["command"]
    assert tasks["gold"]["command"].endswith("--skip fct_purchases_daily")
    scala = tasks["gold_scala"]["command"]
    assert "--class lakehouse.gold.PurchasesDailyJob" in scala
    assert scala.endswith(
        f"--silver {lake}/silver/events --gold {lake}/gold/fct_purchases_daily --gold-state {lake}/gold/_state"
    )


def _ancestors(tasks: dict, task_id: str) -> set[str]:
    found: set[str] = set()
    pending = list(tasks[task_id]["upstream"])
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending += tasks[current]["upstream"]
    return found


def test_maintenance_ends_the_pipeline_run_after_every_lake_task(report: dict) -> None:
    """No DAG but the pipeline touches the lake, and its OPTIMIZE/VACUUM/ALTER waits for every other task of the
    run: with max_active_runs=1 nothing of the pipeline can run beside it (issue 18, item 7d)."""
    assert set(report["dags"]) == {"lakehouse_pipeline"}
    dag = report["dags"]["lakehouse_pipeline"]
    tasks = dag["tasks"]
    assert dag["max_active_runs"] == 1
    assert tasks["maintenance"]["type"] == "BashOperator"
    assert tasks["maintenance"]["timeout_s"] == 3600
    assert tasks["maintenance"]["upstream"] == ["maintenance_due"]
    assert tasks["maintenance_due"]["type"] == "ShortCircuitOperator"
    assert tasks["maintenance_due"]["upstream"] == sorted(t for t in tasks if t.startswith("quality."))
    assert _ancestors(tasks, "maintenance") == set(tasks) - {"maintenance"}
    assert dag["params"] == {"maintenance": False}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_well_under_a_second(dag_file: Path, airflow_home: Path, tmp_path: Path) -> None:
    result = run_python(
        IMPORT_TIME.format(path=str(dag_file)),
        pythonpath=[REPO, DAGS],
        cwd=tmp_path,
        env={"AIRFLOW_HOME": str(airflow_home), "LAKEHOUSE_CONFIG": str(LOCAL_CONFIG)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seconds = json.loads(parse_marked(result.stdout, "SECONDS"))
    assert seconds < 0.5, f"{dag_file.name} took {seconds:.2f} s of CPU to import once Airflow was loaded"


def test_ruff_air_rules_pass_on_dags() -> None:
    import subprocess
    import sys

    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--select", "AIR,E,F,W,I,B,UP", "dags"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
