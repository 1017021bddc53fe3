"""Gold -> PostgreSQL serving -> checks -> lake maintenance when due, each time the silver stream commits new rows
(bronze's commits are recorded as asset events too, but start no run)."""

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable

from lakehouse_dags.assets import streams_condition
from lakehouse_dags.defaults import airflow_settings, dag_settings, default_args, start_date
from lakehouse_dags.downstream import gold_to_serving
from lakehouse_dags.maintenance import maintenance_params
from lakehouse_dags.operability import dag_arguments

settings = dag_settings()

with DAG(
    dag_id="lakehouse_streaming",
    description=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(airflow_settings(settings).maintenance_schedule, timezone="UTC"),
        assets=streams_condition(settings),
    ),
    start_date=start_date(settings),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    params=maintenance_params(),
    **dag_arguments(settings, "streaming"),
):
    gold_to_serving(settings, streaming=True)
