"""The part both DAGs share, from silver onwards: gold (with the Scala job building fct_purchases_daily when its jar
is configured) -> PostgreSQL serving (after the migrations) -> quality checks -> lake maintenance when due."""

from __future__ import annotations

from typing import Any

from config.catalog import FCT_PURCHASES_DAILY, GOLD_STATE, MART_TABLES, SILVER_EVENTS
from config.settings import Settings
from lakehouse_dags.assets import lake_asset
from lakehouse_dags.checks import quality_tasks
from lakehouse_dags.defaults import timeout
from lakehouse_dags.maintenance import maintenance_tasks
from lakehouse_dags.runners import SparkJob, jvm_job, spark_operator
from lakehouse_dags.serving import load_task, migrate_task


def gold_to_serving(settings: Settings, *, streaming: bool) -> list[Any]:
    """Create the tasks inside the current DAG and wire them; returns the tasks that read silver first (gold), for
    the batch DAG to put after its silver task.

    When the runner names the Scala job's jar (airflow.runner.artifacts.jar_uri), that job builds
    fct_purchases_daily: gold builds the other marts and records the silver version it read, then gold_scala reads
    silver at that same version and recomputes the days with new purchases, so every mart the load publishes
    stands at one silver version. Without the jar, gold builds all five."""
    from airflow.sdk import TaskGroup

    scala = jvm_job(
        settings,
        "gold_scala",
        (
            "--silver",
            settings.storage.uri_of(SILVER_EVENTS),
            "--gold",
            settings.storage.uri_of(FCT_PURCHASES_DAILY),
            "--gold-state",
            settings.storage.uri_of(GOLD_STATE),
        ),
    )
    python_marts = [m for m in MART_TABLES if not (scala and m == FCT_PURCHASES_DAILY)]
    gold = spark_operator(
        settings,
        SparkJob("gold", ("--skip", FCT_PURCHASES_DAILY.name) if scala else ()),
        task_id="gold",
        timeout=timeout(settings, "gold"),
        outlets=[lake_asset(settings, mart) for mart in python_marts],
    )
    load = load_task(settings)
    with TaskGroup("quality") as quality:
        quality_tasks(settings)
    maintenance_due, _ = maintenance_tasks(settings, streaming=streaming)
    if scala:
        gold_scala = spark_operator(
            settings,
            scala,
            task_id="gold_scala",
            timeout=timeout(settings, "gold"),
            outlets=[lake_asset(settings, FCT_PURCHASES_DAILY)],
        )
        gold >> gold_scala >> load
    else:
        gold >> load
    load >> quality >> maintenance_due
    migrate_task(settings) >> load
    return [gold]
