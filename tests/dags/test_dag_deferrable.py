"""Cloud Spark tasks wait for their run in the triggerer (deferrable), not in a worker slot for hours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.settings import load_settings


def _operator(path, job: str = "gold", main_class: str | None = None):
    from lakehouse_dags.runners import SparkJob, spark_operator

    return spark_operator(
        load_settings(path), SparkJob(job, (), main_class), task_id=job, timeout=timedelta(minutes=30)
    )


@pytest.mark.parametrize("runner", ["databricks", "dataproc"])
def test_databricks_and_dataproc_runs_defer(write_config, runner: str) -> None:
    def jar(data):
        data["airflow"]["runner"]["artifacts"]["jar_uri"] = {
            "databricks": "dbfs:/lh/jars/gold.jar",
            "dataproc": "gs://code/lh/gold.jar",
        }[runner]

    path = write_config(runner, jar)
    assert _operator(path).deferrable is True
    assert _operator(path, "gold_jvm", "com.example.Gold").deferrable is True


def test_local_spark_submit_does_not_defer(write_config) -> None:
    assert getattr(_operator(write_config("local")), "deferrable", False) is False
