"""A local Spark task run by a real Airflow with the OpenLineage provider on: the spark-submit it starts names the
task's own OpenLineage run as the Spark application's parent, and the DAG run as its root.

spark-submit is replaced by a script that records its arguments, so the test needs no Spark and no stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from config.lineage import AIRFLOW_EVENTS, airflow_env
from config.settings import load_settings
from tests.dags.dag_configs import DAGS, REPO, config_data

AIRFLOW = Path(sys.executable).parent / "airflow"
PROBE_DAG = """
import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG

from config.settings import load_settings
from lakehouse_dags.runners import SparkJob, spark_operator

settings = load_settings(os.environ["PROBE_CONFIG"])
with DAG("lineage_probe", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), catchup=False):
    spark_operator(settings, SparkJob("bronze", ("--trigger", "available-now")), task_id="bronze",
                   timeout=timedelta(minutes=5))
"""
RECORD_ARGS = '#!/bin/sh\nprintf "%s\\n" "$@" > "$PROBE_ARGS"\n'


def test_spark_submit_gets_the_airflow_task_run_as_parent(tmp_path: Path) -> None:
    events, dags, home = tmp_path / "lineage", tmp_path / "dags", tmp_path / "airflow"
    for folder in (events, dags, home):
        folder.mkdir()
    submit = tmp_path / "spark-submit"
    submit.write_text(RECORD_ARGS, encoding="utf-8")
    submit.chmod(0o755)
    data = config_data("local")
    data["airflow"]["runner"]["local"]["spark_submit"] = str(submit)
    data["lineage"] = {"namespace": "probe-ns", "transport": {"kind": "file", "directory": str(events)}}
    config = tmp_path / "probe.yml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    (dags / "probe.py").write_text(PROBE_DAG, encoding="utf-8")
    recorded = tmp_path / "args.txt"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        **airflow_env(load_settings(config)),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PYTHONPATH": os.pathsep.join([str(REPO), str(DAGS)]),
        "PROBE_CONFIG": str(config),
        "PROBE_ARGS": str(recorded),
    }
    for command in (["db", "migrate"], ["dags", "test", "lineage_probe", "2025-02-03"]):
        done = subprocess.run(
            [str(AIRFLOW), *command], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"airflow {' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"

    args = recorded.read_text(encoding="utf-8").splitlines()
    conf = dict(args[i + 1].split("=", 1) for i, arg in enumerate(args) if arg == "--conf")
    task_events = [
        json.loads(line)
        for line in (events / AIRFLOW_EVENTS).read_text(encoding="utf-8").splitlines()
        if json.loads(line)["job"]["name"] == "lineage_probe.bronze"
    ]
    assert {e["eventType"] for e in task_events} >= {"START", "COMPLETE"}
    assert {e["run"]["runId"] for e in task_events} == {conf["spark.openlineage.parentRunId"]}
    assert {e["run"]["facets"]["parent"]["run"]["runId"] for e in task_events} == {
        conf["spark.openlineage.rootParentRunId"]
    }
    assert conf["spark.openlineage.parentJobName"] == "lineage_probe.bronze"
    assert conf["spark.openlineage.rootParentJobName"] == "lineage_probe"
    assert conf["spark.openlineage.parentJobNamespace"] == task_events[0]["job"]["namespace"] == "probe-ns"
    assert conf["spark.openlineage.transport.location"] == str(events / "spark-bronze.ndjson")
