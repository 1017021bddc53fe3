"""The configs the DAG tests write per runner, and a clean interpreter to import DAG code in."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
PYTHON = sys.executable

BASE: dict[str, Any] = {
    "environment": "test",
    "kafka": {"bootstrap_servers": "broker:9092", "topic": "events"},
    "postgres": {"dsn_env": "TEST_POSTGRES_DSN", "database": "lakehouse"},
    "storage": {"lake_uri": "gs://bucket/lake", "checkpoint_uri": "gs://bucket/checkpoints"},
    "spark": {"shuffle_partitions": 7, "master": "local[3]", "driver_memory": "3g", "jars_dir": None},
    "airflow": {
        "schedule": "15 * * * *",
        "start_date": "2025-03-01T00:00:00Z",
        "retries": 4,
        "retry_delay_s": 30,
        "max_retry_delay_s": 900,
        "retry_backoff_multiplier": 3,
        "postgres_conn_id": "pg_test",
        "serving_asset_uri": "postgres://db.example:5432/lakehouse",
        "timeouts": {"bronze_s": 111, "silver_s": 222, "gold_s": 333, "load_s": 444, "checks_s": 55},
    },
}
PACKAGES = ["io.delta:delta-spark_2.13:4.0.1", "org.apache.spark:spark-sql-kafka-0-10_2.13:4.0.1"]
RUNNERS: dict[str, dict[str, Any]] = {
    "local": {
        "kind": "local",
        "artifacts": {
            "jobs_uri": "/opt/lh/spark/jobs",
            "archive_uri": "/opt/lh/dist/lakehouse.zip",
            "config_uri": "/opt/lh/config/test.yml",
            "packages": PACKAGES,
        },
        "local": {"spark_submit": "/opt/spark/bin/spark-submit", "python": "/opt/venv/bin/python"},
    },
    "standalone": {
        "kind": "standalone",
        "artifacts": {
            "jobs_uri": "/opt/lh/spark/jobs",
            "archive_uri": "/opt/lh/dist/lakehouse.zip",
            "config_uri": "/opt/lh/config/test.yml",
        },
        "standalone": {
            "master": "spark://10.0.0.5:7077",
            "spark_submit": "/opt/spark/bin/spark-submit",
            "python": "/opt/venv/bin/python",
            "executor_memory": "5g",
            "executor_cores": 2,
            "max_cores": 6,
        },
    },
    "databricks": {
        "kind": "databricks",
        "artifacts": {
            "jobs_uri": "dbfs:/lh/jobs/",
            "archive_uri": "dbfs:/lh/dist/lakehouse-0.1.0-py3-none-any.whl",
            "config_uri": "dbfs:/lh/config/test.yml",
            "packages": PACKAGES,
        },
        "databricks": {
            "conn_id": "dbx_test",
            "new_cluster": {
                "spark_version": "17.3.x-scala2.13",
                "node_type_id": "Standard_D4ds_v5",
                "num_workers": 3,
                "secret_scope": "lh",
            },
        },
    },
    "synapse": {
        "kind": "synapse",
        "artifacts": {
            "jobs_uri": "abfss://code@acct.dfs.core.windows.net/lh/jobs",
            "archive_uri": "abfss://code@acct.dfs.core.windows.net/lh/dist/lakehouse.zip",
            "config_uri": "abfss://code@acct.dfs.core.windows.net/lh/config/azure.yml",
            "packages": ["io.delta:delta-spark_2.12:3.2.1"],
        },
        "synapse": {
            "conn_id": "syn_test",
            "spark_pool": "pool1",
            "executor_size": "Medium",
            "executor_count": 5,
        },
    },
    "dataproc": {
        "kind": "dataproc",
        "artifacts": {
            "jobs_uri": "gs://code/lh/jobs",
            "archive_uri": "gs://code/lh/dist/lakehouse.zip",
            "config_uri": "gs://code/lh/config/gcp.yml",
            "packages": PACKAGES,
        },
        "dataproc": {
            "project_id": "proj-1",
            "region": "europe-west2",
            "runtime_version": "3.0",
            "gcp_conn_id": "gcp_test",
            "service_account": "sa@proj-1.iam.gserviceaccount.com",
            "subnetwork_uri": "projects/proj-1/regions/europe-west2/subnetworks/lh",
            "network_tags": ["lh-spark"],
        },
    },
}


def config_data(runner: str) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["airflow"]["runner"] = copy.deepcopy(RUNNERS[runner])
    return data


def run_python(code: str, *, pythonpath: list[Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with exactly this PYTHONPATH (no inherited one)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAKEHOUSE_CONFIG")}
    environ.update(env, PYTHONPATH=os.pathsep.join(map(str, pythonpath)), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    return subprocess.run(
        [PYTHON, "-c", code], cwd=cwd, env=environ, capture_output=True, text=True, timeout=600, check=False
    )
