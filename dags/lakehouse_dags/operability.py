"""What the person on call sees of each DAG: its doc, tags, run timeout and deadline alert, and which mode defines it.

airflow.mode picks the one DAG a deployment runs: `batch` (lakehouse_pipeline runs every step) or `streaming`
(bronze and silver stream outside Airflow; lakehouse_streaming runs gold onwards when silver changes). Both DAGs
writing the same tables, or a batch bronze/silver beside the streams on the same checkpoints, would race, so the
other mode's DAG is built but not registered (auto_register=False, never bound to a module name).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from config.settings import ConfigError, Settings
from lakehouse_dags.callbacks import DeadlineMissedAlert
from lakehouse_dags.defaults import airflow_settings

DAG_IDS = {"batch": "lakehouse_pipeline", "streaming": "lakehouse_streaming"}
RUNBOOK_SECTIONS = {
    "streams": "Bronze and silver streams",
    "gold": "Gold",
    "maintenance": "Maintenance",
    "serving": "Serving (PostgreSQL)",
    "dags": "Deploying the DAGs",
}
"""Headings of docs/runbook.md the DAG docs send the operator to."""


def see(section: str) -> str:
    return f"(docs/runbook.md, *{RUNBOOK_SECTIONS[section]}*)"


SUMMARIES = {
    "batch": (
        "Runs the whole pipeline on `airflow.schedule`: bronze and silver (available-now: what Kafka holds, then "
        "stop), gold, the serving load, quality checks, then OPTIMIZE/VACUUM when `airflow.maintenance_schedule` "
        "ticked (or the run's `maintenance` param is true). One run at a time; never backfill it.",
        ("airflow.schedule", "airflow.maintenance_schedule"),
    ),
    "streaming": (
        "Bronze and silver stream continuously outside Airflow (`--trigger continuous`). The triggerer polls "
        "both tables' Delta versions every `airflow.stream_poll_s` and records an asset event when a stream "
        "committed rows; silver's events run gold, the serving load and the quality checks (bronze's are recorded "
        "and listed with the run that consumed them, but start no run). The DAG also runs on each tick "
        "of `airflow.maintenance_schedule`, and those runs (or one whose `maintenance` param is true) end with "
        "OPTIMIZE/VACUUM. One run at a time: events during a run queue one more. No new runs while data arrives "
        f"means a stopped stream: its own log says why {see('streams')}.",
        ("airflow.stream_poll_s", "airflow.maintenance_schedule"),
    ),
}

ON_FAILURE = f"""
**A task failed.** Its log (Logs tab) ends with the cause; the `LAKEHOUSE TASK FAILED` alert line names the task.
- `bronze`, `silver` {see("streams")}, `gold`, `gold_scala` {see("gold")}, `maintenance` {see("maintenance")}:
  the Spark job's exception. Every job is idempotent: fix the cause and clear the task.
- `migrate`, `load_serving` {see("serving")}: PostgreSQL; a failed load leaves the old data published.
- `quality.*` {see("dags")}: a data mismatch fails at once, without retries, and its message lists each
  difference; clear it only once the cause is understood. A connection error retries.
- A `LAKEHOUSE DEADLINE MISSED` alert: the run is slower than `airflow.deadline_s`; look at the running task.
"""


def check_run_limits(settings: Settings) -> None:
    """The run timeout, deadline and streams' poll interval are positive, and the deadline comes before the timeout."""
    af = airflow_settings(settings)
    for key in ("dagrun_timeout_s", "deadline_s", "stream_poll_s"):
        value = getattr(af, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{settings.source}: key 'airflow.{key}' is {value}; expected seconds > 0")
    if af.deadline_s is not None and af.deadline_s >= af.dagrun_timeout_s:
        raise ConfigError(
            f"{settings.source}: key 'airflow.deadline_s' is {af.deadline_s}, not below airflow.dagrun_timeout_s "
            f"({af.dagrun_timeout_s}): the alert must come before the timeout fails the run"
        )


def tags(settings: Settings, mode: str) -> list[str]:
    """Tags an operator filters by: the project, the environment, the runner and the mode."""
    af = airflow_settings(settings)
    return ["lakehouse", f"env:{settings.environment}", f"runner:{af.runner.kind}", f"mode:{mode}"]


def deadline_alert(settings: Settings) -> Any:
    """Alert (callbacks.DeadlineMissedAlert, in the triggerer) when a run is unfinished airflow.deadline_s after it
    was queued; the run goes on until airflow.dagrun_timeout_s. None when deadline_s is null."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    af = airflow_settings(settings)
    if af.deadline_s is None:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=af.deadline_s),
        callback=AsyncCallback(DeadlineMissedAlert, kwargs={"alert_conn_id": af.alert_conn_id}),
        name="lakehouse_run_deadline",
    )


def config_lines(settings: Settings, keys: tuple[str, ...]) -> str:
    af = airflow_settings(settings)
    values = {"airflow.runner.kind": af.runner.kind, **{f"airflow.{key}": getattr(af, key) for key in vars(af)}}
    return "\n".join(f"- `{key}`: `{'null' if values[key] is None else values[key]}`" for key in keys)


def dag_doc(settings: Settings, mode: str) -> str:
    """doc_md: what the DAG does, the config keys it runs on (with their values), what to do when a task fails."""
    summary, keys = SUMMARIES[mode]
    shown = ("airflow.mode", "airflow.runner.kind", *keys, "airflow.dagrun_timeout_s", "airflow.deadline_s")
    return (
        f"### {DAG_IDS[mode]}\n\n{summary}\n\n"
        f"**Config** (`{settings.source.rsplit('/', 1)[-1]}`, environment `{settings.environment}`):\n"
        f"{config_lines(settings, shown)}\n{ON_FAILURE}"
    )


def dag_arguments(settings: Settings, mode: str) -> dict[str, Any]:
    """The DAG(...) arguments every lakehouse DAG shares: doc_md, tags, dagrun_timeout, deadline, auto_register."""
    check_run_limits(settings)
    af = airflow_settings(settings)
    return {
        "doc_md": dag_doc(settings, mode),
        "tags": tags(settings, mode),
        "dagrun_timeout": timedelta(seconds=af.dagrun_timeout_s),
        "deadline": deadline_alert(settings),
        "auto_register": af.mode == mode,
    }
