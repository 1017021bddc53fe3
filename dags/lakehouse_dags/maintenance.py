"""Lake maintenance (OPTIMIZE, VACUUM, ALTER) as the pipeline run's last step, so it never overlaps the pipeline.

Airflow has no lock between DAGs. A pool serialises task instances, not the section from one task to the next,
so a one-slot pool still lets maintenance in between the load and the checks (the false check failure this
prevents), and a pool missing from a managed environment leaves its tasks unscheduled without an error. Assets
would start maintenance after a pipeline run, but nothing would hold the next run back while it runs. Inside the
pipeline DAG, with max_active_runs=1, order is enough: maintenance starts after every lake task of its run has
succeeded; a retried task retries inside its own run; a task cleared in a finished run queues that run until
the active one ends. Which runs do it is a pure function of the run (its type, run_after, params), so a retry or
a clear decides the same again. (An Airflow 3 backfill counts its runs apart from max_active_runs: never backfill
this DAG, whose runs process whatever is new, not their dates.)

In streaming mode the writers of bronze and silver are the streams, outside Airflow. Their commits are blind
appends, which Delta never conflicts with OPTIMIZE or VACUUM (both change files, not rows; VACUUM keeps 7 days for
lagging readers); only the one-off ALTER that sets the small-file properties can fail a stream's commit once, and
the stream restarts from its checkpoint (docs/runbook.md). Gold, the load and the checks stay in Airflow, in the
streaming DAG, and maintenance is its last step as here. That DAG runs on silver's asset events or on
airflow.maintenance_schedule's cron (AssetOrTimeSchedule): its cron-scheduled runs, and only those, maintain.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from config.settings import ConfigError, Settings
from lakehouse_dags.defaults import airflow_settings, timeout
from lakehouse_dags.runners import SparkJob, spark_operator

log = logging.getLogger(__name__)
REQUEST = "maintenance"
"""The run param that asks for maintenance in this run whatever the schedule."""


def maintenance_params() -> dict[str, Any]:
    from airflow.sdk import Param

    return {
        REQUEST: Param(
            False,
            type="boolean",
            description="Run OPTIMIZE and VACUUM after this run's checks, whatever airflow.maintenance_schedule says",
        )
    }


def latest_tick(expression: str, moment: datetime) -> datetime:
    """The latest time at or before `moment` that the cron expression names."""
    from croniter import croniter

    return croniter(expression, moment + timedelta(seconds=1)).get_prev(datetime)


def maintenance_reason(
    run_type: str, run_after: datetime, requested: bool, pipeline_schedule: str, maintenance_schedule: str
) -> str | None:
    """Why this run ends with maintenance, or None: its params ask for it, or it is the scheduled run whose
    window (the pipeline tick before it, its run_after] holds a tick of the maintenance schedule."""
    from croniter import croniter

    if requested:
        return f"the run's param {REQUEST!r} is true"
    if run_type != "scheduled":
        return None
    moment = run_after.astimezone(UTC)
    previous = croniter(pipeline_schedule, moment).get_prev(datetime)
    tick = latest_tick(maintenance_schedule, moment)
    if previous < tick <= moment:
        return (
            f"airflow.maintenance_schedule {maintenance_schedule!r} ticked at {tick.isoformat()}, after the "
            f"previous pipeline tick {previous.isoformat()}"
        )
    return None


def streaming_maintenance_reason(run_type: str, requested: bool, maintenance_schedule: str) -> str | None:
    """In the streaming DAG, scheduled runs are exactly the ticks of the maintenance schedule (asset events start
    the others), so each of them maintains, and any run whose params ask for it."""
    if requested:
        return f"the run's param {REQUEST!r} is true"
    if run_type == "scheduled":
        return f"this run is a tick of airflow.maintenance_schedule {maintenance_schedule!r}"
    return None


def maintenance_is_due(
    pipeline_schedule: str | None, maintenance_schedule: str, dag_run: Any, params: Any, streaming: bool = False
) -> bool:
    """The short-circuit: True lets maintenance run; the log line says why or why not."""
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    requested = bool(params.get(REQUEST))
    if streaming:
        reason = streaming_maintenance_reason(run_type, requested, maintenance_schedule)
    else:
        reason = maintenance_reason(run_type, dag_run.run_after, requested, pipeline_schedule, maintenance_schedule)
    if reason is None:
        detail = (
            f"it was not started by a tick of {maintenance_schedule!r}"
            if streaming
            else f"no tick of {maintenance_schedule!r} since the previous pipeline tick"
        )
        log.info(
            "maintenance not due in this %s run (run_after %s): %s, and the param %r is false",
            run_type,
            dag_run.run_after,
            detail,
            REQUEST,
        )
        return False
    log.info("maintenance due: %s", reason)
    return True


def maintenance_tasks(settings: Settings, streaming: bool = False) -> tuple[Any, Any]:
    """The gate and the maintenance job on the configured runner; the schedules it uses must be cron expressions
    (airflow.schedule is the batch DAG's only)."""
    from airflow.providers.standard.operators.python import ShortCircuitOperator
    from croniter import croniter

    af = airflow_settings(settings)
    schedules = [("airflow.maintenance_schedule", af.maintenance_schedule)]
    if not streaming:
        schedules.insert(0, ("airflow.schedule", af.schedule))
    for key, expression in schedules:
        if not croniter.is_valid(expression):
            why = (
                "the streaming DAG maintains on each tick of airflow.maintenance_schedule, so it needs"
                if streaming
                else "maintenance runs in the first scheduled pipeline run after each tick of "
                "airflow.maintenance_schedule, so both need"
            )
            raise ConfigError(
                f"{settings.source}: key '{key}' is {expression!r}; {why} a cron expression such as '0 3 * * 0' or "
                "'@daily'"
            )
    maintenance_due = ShortCircuitOperator(
        task_id="maintenance_due",
        python_callable=maintenance_is_due,
        op_kwargs={
            "pipeline_schedule": None if streaming else af.schedule,
            "maintenance_schedule": af.maintenance_schedule,
            "streaming": streaming,
        },
        execution_timeout=timeout(settings, "checks"),
    )
    job = spark_operator(
        settings, SparkJob("maintenance"), task_id="maintenance", timeout=timeout(settings, "maintenance")
    )
    maintenance_due >> job
    return maintenance_due, job
