"""The part both DAGs share, from silver onwards: gold (and the Scala gold job when its jar is configured) ->
PostgreSQL serving (after the migrations) -> quality checks -> lake maintenance when due."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from lakehouse_dags.assets import lake_asset
from lakehouse_dags.checks import quality_tasks
from lakehouse_dags.defaults import timeout
from lakehouse_dags.maintenance import maintenance_tasks
from lakehouse_dags.runners import SparkJob, jvm_job, spark_operator
from lakehouse_dags.serving import MARTS, load_task, migrate_task

SCALA_MART = "fct_purchases_daily_scala"


def gold_to_serving(settings: Settings, *, streaming: bool) -> list[Any]:
    """Create the tasks inside the current DAG and wire them; returns the tasks that read silver (gold, and
    gold_scala if configured), for the batch DAG to put after its silver task."""
    from airflow.sdk import TaskGroup

    gold = spark_operator(
        settings,
        SparkJob("gold"),
        task_id="gold",
        timeout=timeout(settings, "gold"),
        outlets=[lake_asset(settings, "gold", name) for name in MARTS],
    )
    load = load_task(settings)
    with TaskGroup("quality") as quality:
        quality_tasks(settings)
    maintenance_due, _ = maintenance_tasks(settings, streaming=streaming)
    gold >> load >> quality >> maintenance_due
    migrate_task(settings) >> load
    readers = [gold]
    scala = jvm_job(
        settings,
        "gold_scala",
        (
            "--silver",
            settings.storage.table_uri("silver", "events"),
            "--gold",
            settings.storage.table_uri("gold", SCALA_MART),
        ),
    )
    if scala:
        gold_scala = spark_operator(
            settings,
            scala,
            task_id="gold_scala",
            timeout=timeout(settings, "gold"),
            outlets=[lake_asset(settings, "gold", SCALA_MART)],
        )
        gold_scala >> maintenance_due
        readers.append(gold_scala)
    return readers
