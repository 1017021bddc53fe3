"""Gold -> PostgreSQL serving -> checks -> lake maintenance when due, each time the silver stream commits new rows."""

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, TaskGroup

from lakehouse_dags.assets import lake_asset, watched_silver
from lakehouse_dags.checks import quality_tasks
from lakehouse_dags.defaults import airflow_settings, dag_settings, default_args, start_date, timeout
from lakehouse_dags.maintenance import maintenance_params, maintenance_tasks
from lakehouse_dags.operability import dag_arguments
from lakehouse_dags.runners import SparkJob, jvm_job, spark_operator
from lakehouse_dags.serving import MARTS, load_task, migrate_task

settings = dag_settings()
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
    dag_id="lakehouse_streaming",
    description=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(airflow_settings(settings).maintenance_schedule, timezone="UTC"),
        assets=[watched_silver(settings)],
    ),
    start_date=start_date(settings),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    params=maintenance_params(),
    **dag_arguments(settings, "streaming"),
):
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
    maintenance_due, _ = maintenance_tasks(settings, streaming=True)

    gold >> load >> quality >> maintenance_due
    if scala_gold:
        gold_scala = spark_operator(
            settings,
            scala_gold,
            task_id="gold_scala",
            timeout=timeout(settings, "gold"),
            outlets=[lake_asset(settings, "gold", SCALA_MART)],
        )
        gold_scala >> maintenance_due
    migrate_task(settings) >> load
