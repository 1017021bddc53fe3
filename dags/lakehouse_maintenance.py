"""Weekly OPTIMIZE and VACUUM of every Delta table, on the same runner as the pipeline."""

from airflow.sdk import DAG

from lakehouse_dags.defaults import airflow_settings, dag_settings, default_args, start_date, timeout
from lakehouse_dags.runners import SparkJob, spark_operator

settings = dag_settings()

with DAG(
    dag_id="lakehouse_maintenance",
    description=__doc__,
    schedule=airflow_settings(settings).maintenance_schedule,
    start_date=start_date(settings),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["lakehouse", "maintenance", settings.environment, airflow_settings(settings).runner.kind],
):
    spark_operator(settings, SparkJob("maintenance"), task_id="maintenance", timeout=timeout(settings, "maintenance"))
