"""The shared DAG run as an operator sees it in Airflow's UI: make airflow-ui's api-server on the run's Airflow home,
driven through the REST API the UI itself uses (/api/v2, with a token from the auth endpoint)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scripts.airflow_local import ui
from scripts.airflow_local.dag_test_logged import read_records
from tests.e2e.pipeline_run import PipelineRun

DAG_ID = "lakehouse_pipeline"
SPARK_TASKS = ("bronze", "silver", "gold")
AIRFLOW_ITSELF = ("task", "airflow.api_fastapi.", "airflow.sdk.definitions.dag")
"""Loggers of Airflow's task runner, its execution API and the test loop: present in every task's log."""


def get(url: str, token: str, path: str) -> Any:
    request = urllib.request.Request(
        url + path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def login(url: str, home: Path) -> str:
    request = urllib.request.Request(
        url + "/auth/token",
        data=json.dumps({"username": ui.USER, "password": ui.password(home)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["access_token"]


@contextlib.contextmanager
def running_ui(home: Path, state_file: Path) -> Iterator[str]:
    state = ui.start(home, ui.free_port(0), state_file)
    try:
        yield state.url
    finally:
        print(ui.stop(state_file))


def sqlite_states(home: Path) -> dict[str, str | None]:
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
        return dict(db.execute("select task_id, state from task_instance where dag_id = ?", (DAG_ID,)).fetchall())


def events(log: dict[str, Any]) -> list[str]:
    """The log's event texts: structured entries are dicts, a plain line is a string."""
    return [str(e.get("event", "")) if isinstance(e, dict) else str(e) for e in log["content"]]


@pytest.mark.integration
@pytest.mark.timeout(2400)
def test_the_ui_api_lists_our_dag_its_run_its_task_states_and_serves_every_task_log(
    pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    assert pipeline_run.dag.returncode == 0, pipeline_run.dag.stdout[-4000:] + pipeline_run.dag.stderr[-4000:]
    home = pipeline_run.airflow_home
    cfg = (home / "airflow.cfg").read_text()
    assert "\nload_examples = False\n" in cfg and f"\ndags_folder = {ui.ROOT / 'dags'}\n" in cfg

    with running_ui(home, tmp_path / "ui.json") as url:
        token = login(url, home)
        dags = [d["dag_id"] for d in get(url, token, "/api/v2/dags?limit=1000")["dags"]]
        assert DAG_ID in dags
        assert all(d.startswith("lakehouse_") for d in dags), f"not only this project's DAGs: {dags}"

        runs = get(url, token, f"/api/v2/dags/{DAG_ID}/dagRuns")["dag_runs"]
        assert len(runs) == 1, runs
        run = runs[0]
        assert run["state"] == "success"
        started = datetime.fromisoformat(run["start_date"])
        run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run['dag_run_id'], safe='')}"
        tis = get(url, token, f"{run_path}/taskInstances?limit=100")["task_instances"]
        first_task = min(datetime.fromisoformat(t["start_date"]) for t in tis if t["start_date"])
        assert started <= first_task < started + timedelta(minutes=2), (
            "the run is not dated when it ran, so its duration is not real",
            run,
        )
        assert 0 < run["duration"] < 3600, run

        assert {t["task_id"]: t["state"] for t in tis} == sqlite_states(home)
        ran = [t for t in tis if t["try_number"] >= 1]
        assert {t["task_id"] for t in ran} >= {*SPARK_TASKS, "load_serving"}, [t["task_id"] for t in ran]

        for ti in ran:
            log = get(url, token, f"{run_path}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}?full_content=true")
            texts = events(log)
            assert f"[DAG TEST] starting task_id={ti['task_id']} map_index=-1" in texts, (ti["task_id"], texts[:5])
            records = read_records(json.dumps(e) if isinstance(e, dict) else e for e in log["content"])
            own = [r for r in records if not str(r.get("logger", "task")).startswith(AIRFLOW_ITSELF)]
            assert own, f"{ti['task_id']}'s log holds nothing the task itself logged: {texts}"
            if ti["task_id"] in SPARK_TASKS:
                assert any(t.startswith("Running command:") and "spark-submit" in t for t in texts), ti["task_id"]
                assert "Command exited with return code 0" in texts, ti["task_id"]
