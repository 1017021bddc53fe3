"""Bronze -> silver -> gold -> PostgreSQL serving -> checks -> lake maintenance when due, on the configured runner."""

from airflow.sdk import DAG, Asset, TaskGroup

from lakehouse_dags.checks import quality_tasks
from lakehouse_dags.defaults import (
    airflow_settings,
    dag_settings,
    default_args,
    start_date,
    table_uri,
    timeout,
)
from lakehouse_dags.maintenance import maintenance_params, maintenance_tasks
from lakehouse_dags.operability import dag_arguments
from lakehouse_dags.runners import SparkJob, jvm_job, spark_operator
from lakehouse_dags.serving import load_task, migrate_task

settings = dag_settings()
GOLD = ("dim_users", "dim_products", "fct_purchases_daily", "fct_funnel_daily", "fct_sessions")
SCALA_MART = "fct_purchases_daily_scala"
scala_gold = jvm_job(
    settings,
    "gold_scala",
    (
        "--silver",
        settings.storage.table_uri("silver", "events"),
        "--gold",
        settings.storage.table_uri("gold", SCALA_MART),
    ),
)

with DAG(
    dag_id="lakehouse_pipeline",
    description=__doc__,
    schedule=airflow_settings(settings).schedule,
    start_date=start_date(settings),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    params=maintenance_params(),
    **dag_arguments(settings, "batch"),
):
    bronze = spark_operator(
        settings,
        SparkJob("bronze", ("--trigger", "available-now")),
        task_id="bronze",
        timeout=timeout(settings, "bronze"),
        outlets=[Asset(name="bronze.events", uri=table_uri(settings, "bronze", "events"))],
    )
    silver = spark_operator(
        settings,
        SparkJob("silver", ("--trigger", "available-now")),
        task_id="silver",
        timeout=timeout(settings, "silver"),
        outlets=[
            Asset(name=f"silver.{name}", uri=table_uri(settings, "silver", name))
            for name in ("events", "quarantine", "metrics")
        ],
    )
    gold = spark_operator(
        settings,
        SparkJob("gold"),
        task_id="gold",
        timeout=timeout(settings, "gold"),
        outlets=[Asset(name=f"gold.{name}", uri=table_uri(settings, "gold", name)) for name in GOLD],
    )
    load = load_task(settings)
    with TaskGroup("quality") as quality:
        quality_tasks(settings)
    maintenance_due, _ = maintenance_tasks(settings)

    bronze >> silver >> gold >> load >> quality >> maintenance_due
    if scala_gold:
        gold_scala = spark_operator(
            settings,
            scala_gold,
            task_id="gold_scala",
            timeout=timeout(settings, "gold"),
            outlets=[Asset(name=f"gold.{SCALA_MART}", uri=table_uri(settings, "gold", SCALA_MART))],
        )
        silver >> gold_scala >> maintenance_due
    migrate_task(settings) >> load
