"""Maintenance runs in the first scheduled pipeline run after each tick of its schedule, or when a run asks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import ConfigError, load_settings

PIPELINES = ["@daily", "15 * * * *", "0 */6 * * *", "0 0 * * 1", "30 23 * * *"]
MAINTENANCE = ["0 3 * * 0", "@weekly", "30 2 * * 3", "0 0 * * *", "0 0 1 * *"]


def _ticks(expression: str, after: datetime, until: datetime) -> list[datetime]:
    found, it = [], croniter(expression, after)
    while (tick := it.get_next(datetime)) <= until:
        found.append(tick)
    return found


@settings(max_examples=60, deadline=None)
@given(
    pipeline=st.sampled_from(PIPELINES),
    maintenance=st.sampled_from(MAINTENANCE),
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
)
def test_each_maintenance_tick_is_served_by_the_first_scheduled_run_at_or_after_it(pipeline, maintenance, start):
    from lakehouse_dags.maintenance import maintenance_reason

    runs = _ticks(pipeline, start, start + timedelta(days=45))
    due = {run for run in runs[1:] if maintenance_reason("scheduled", run, False, pipeline, maintenance)}
    served = {next(run for run in runs if run >= tick) for tick in _ticks(maintenance, runs[0], runs[-1])}
    assert due == served


def test_daily_pipeline_with_sunday_maintenance_does_it_in_mondays_run() -> None:
    from lakehouse_dags.maintenance import maintenance_reason

    def due(day: int) -> bool:
        run_after = datetime(2025, 3, day, tzinfo=UTC)
        return maintenance_reason("scheduled", run_after, False, "@daily", "0 3 * * 0") is not None

    assert [day for day in range(1, 15) if due(day)] == [3, 10]


def test_other_runs_do_it_only_when_their_param_asks() -> None:
    from lakehouse_dags.maintenance import maintenance_reason

    monday = datetime(2025, 3, 3, tzinfo=UTC)
    for run_type in ("manual", "backfill", "asset_triggered"):
        assert maintenance_reason(run_type, monday, False, "@daily", "0 3 * * 0") is None
        assert (
            maintenance_reason(run_type, monday, True, "@daily", "0 3 * * 0") == "the run's param 'maintenance' is true"
        )
    assert maintenance_reason("scheduled", monday + timedelta(days=1), True, "@daily", "0 3 * * 0")


def test_the_gate_reads_the_run_and_logs_why(monkeypatch) -> None:
    from airflow.utils.types import DagRunType

    from lakehouse_dags import maintenance

    lines: list[str] = []
    monkeypatch.setattr(maintenance, "log", SimpleNamespace(info=lambda message, *args: lines.append(message % args)))

    def run(day: int, run_type: DagRunType = DagRunType.SCHEDULED):
        return SimpleNamespace(run_type=run_type, run_after=datetime(2025, 3, day, tzinfo=UTC))

    assert maintenance.maintenance_is_due("@daily", "0 3 * * 0", run(3), {"maintenance": False}) is True
    assert maintenance.maintenance_is_due("@daily", "0 3 * * 0", run(4), {"maintenance": False}) is False
    assert maintenance.maintenance_is_due("@daily", "0 3 * * 0", run(4, DagRunType.MANUAL), {"maintenance": True})
    assert lines == [
        "maintenance due: airflow.maintenance_schedule '0 3 * * 0' ticked at 2025-03-02T03:00:00+00:00, after the "
        "previous pipeline tick 2025-03-02T00:00:00+00:00",
        "maintenance not due in this scheduled run (run_after 2025-03-04 00:00:00+00:00): no tick of '0 3 * * 0' "
        "since the previous pipeline tick, and the param 'maintenance' is false",
        "maintenance due: the run's param 'maintenance' is true",
    ]


@pytest.mark.parametrize("key", ["schedule", "maintenance_schedule"])
def test_a_schedule_that_is_not_cron_is_a_config_error_naming_the_key(write_config, key: str) -> None:
    from lakehouse_dags.maintenance import maintenance_tasks

    def edit(data):
        data["airflow"][key] = "@once"

    with pytest.raises(ConfigError, match=f"key 'airflow.{key}' is '@once'; maintenance runs in the first scheduled"):
        maintenance_tasks(load_settings(write_config("local", edit)))


def test_streaming_dag_maintains_in_its_cron_runs_and_when_asked(monkeypatch) -> None:
    from airflow.utils.types import DagRunType

    from lakehouse_dags import maintenance

    lines: list[str] = []
    monkeypatch.setattr(maintenance, "log", SimpleNamespace(info=lambda message, *args: lines.append(message % args)))
    at = datetime(2025, 3, 5, 12, 7, tzinfo=UTC)

    def due(run_type: DagRunType, asked: bool) -> bool:
        run = SimpleNamespace(run_type=run_type, run_after=at)
        return maintenance.maintenance_is_due(None, "0 3 * * 0", run, {"maintenance": asked}, streaming=True)

    assert due(DagRunType.SCHEDULED, False) is True
    assert due(DagRunType.ASSET_TRIGGERED, False) is False
    assert due(DagRunType.MANUAL, False) is False
    assert due(DagRunType.ASSET_TRIGGERED, True) is True
    assert lines == [
        "maintenance due: this run is a tick of airflow.maintenance_schedule '0 3 * * 0'",
        "maintenance not due in this asset_triggered run (run_after 2025-03-05 12:07:00+00:00): it was not started "
        "by a tick of '0 3 * * 0', and the param 'maintenance' is false",
        "maintenance not due in this manual run (run_after 2025-03-05 12:07:00+00:00): it was not started by a tick "
        "of '0 3 * * 0', and the param 'maintenance' is false",
        "maintenance due: the run's param 'maintenance' is true",
    ]


def test_streaming_mode_needs_only_the_maintenance_schedule_as_cron(write_config) -> None:
    from lakehouse_dags.maintenance import maintenance_tasks

    def edit(data):
        data["airflow"]["schedule"] = "@once"

    from airflow.sdk import DAG

    with DAG(dag_id="probe", schedule=None):
        gate, job = maintenance_tasks(load_settings(write_config("local", edit)), streaming=True)
    assert gate.op_kwargs == {"pipeline_schedule": None, "maintenance_schedule": "0 3 * * 0", "streaming": True}
    assert job.task_id == "maintenance"

    def bad(data):
        data["airflow"]["maintenance_schedule"] = "@once"

    with pytest.raises(ConfigError, match="'@once'; the streaming DAG maintains on each tick of airflow.maintenance"):
        maintenance_tasks(load_settings(write_config("local", bad)), streaming=True)
