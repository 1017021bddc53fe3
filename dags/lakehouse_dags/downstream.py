"""The part both DAGs share, from silver onwards: gold (and the Scala gold job when its jar is configured) ->
PostgreSQL serving (after the migrations) -> quality checks -> lake maintenance when due."""

from __future__ import annotations

from typing import Any

from config.catalog import FCT_PURCHASES_DAILY_SCALA, MART_TABLES, SILVER_EVENTS
from config.settings import Settings
from lakehouse_dags.assets import lake_asset
from lakehouse_dags.checks import quality_tasks
from lakehouse_dags.defaults import timeout
from lakehouse_dags.maintenance import maintenance_tasks
from lakehouse_dags.runners import SparkJob, jvm_job, spark_operator
from lakehouse_dags.serving import load_task, migrate_task


def gold_to_serving(settings: Settings, *, streaming: bool) -> list[Any]:
    """Create the tasks inside the current DAG and wire them; returns the tasks that read silver (gold, and
    gold_scala if configured), for the batch DAG to put after its silver task."""
    from airflow.sdk import TaskGroup

    gold = spark_operator(
        settings,
        SparkJob("gold"),
        task_id="gold",
        timeout=timeout(settings, "gold"),
        outlets=[lake_asset(settings, mart) for mart in MART_TABLES],
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
            settings.storage.uri_of(SILVER_EVENTS),
            "--gold",
            settings.storage.uri_of(FCT_PURCHASES_DAILY_SCALA),
        ),
    )
    if scala:
        gold_scala = spark_operator(
            settings,
            scala,
            task_id="gold_scala",
            timeout=timeout(settings, "gold"),
            outlets=[lake_asset(settings, FCT_PURCHASES_DAILY_SCALA)],
        )
        gold_scala >> maintenance_due
        readers.append(gold_scala)
    return readers
