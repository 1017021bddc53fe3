"""Bronze -> silver -> gold -> PostgreSQL serving -> checks -> lake maintenance when due, on the configured runner."""

from airflow.sdk import DAG

from config.catalog import BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, SILVER_METRICS
from lakehouse_dags.assets import lake_asset
from lakehouse_dags.defaults import airflow_settings, dag_settings, default_args, start_date, timeout
from lakehouse_dags.downstream import gold_to_serving
from lakehouse_dags.maintenance import maintenance_params
from lakehouse_dags.operability import dag_arguments
from lakehouse_dags.runners import SparkJob, spark_operator

settings = dag_settings()

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
        outlets=[lake_asset(settings, BRONZE_EVENTS)],
    )
    silver = spark_operator(
        settings,
        SparkJob("silver", ("--trigger", "available-now")),
        task_id="silver",
        timeout=timeout(settings, "silver"),
        outlets=[lake_asset(settings, table) for table in (SILVER_EVENTS, QUARANTINE, SILVER_METRICS)],
    )
    bronze >> silver >> gold_to_serving(settings, streaming=False)
