"""Each DAG tells the person on call what it does and what to do, times out and alerts from config, and exactly one
DAG, the one airflow.mode names, is registered per deployment."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from mode_reports import mode_report

from config.settings import ConfigError, load_settings
from tests.dags.dag_configs import REPO

DAG_IDS = {"batch": "lakehouse_pipeline", "streaming": "lakehouse_streaming"}
RUNNERS = {"local.yml": "local", "azure.example.yml": "databricks", "gcp.example.yml": "dataproc"}


@pytest.fixture(scope="module")
def reports(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("modes")
    return lambda config, mode: mode_report(config, mode, airflow_home, folder)


def _airflow(config: str) -> dict:
    return yaml.safe_load((REPO / "config" / config).read_text())["airflow"]


@pytest.mark.parametrize(
    ("config", "mode"),
    [
        ("local.yml", "batch"),
        ("local.yml", "streaming"),
        ("azure.example.yml", "streaming"),
        ("gcp.example.yml", "batch"),
    ],
)
def test_the_mode_registers_exactly_its_dag_with_timeout_deadline_and_tags(reports, config, mode) -> None:
    report = reports(config, mode)
    assert report["errors"] == {}
    assert set(report["dags"]) == {DAG_IDS[mode]}
    dag = report["dags"][DAG_IDS[mode]]
    settings = load_settings(REPO / "config" / config)
    af = _airflow(config)
    assert dag["tags"] == sorted(
        ["lakehouse", f"env:{settings.environment}", f"runner:{RUNNERS[config]}", f"mode:{mode}"]
    )
    assert dag["dagrun_timeout_s"] == af["dagrun_timeout_s"]
    alert = {
        "reference": "DagRunQueuedAtDeadline",
        "interval_s": af["deadline_s"],
        "callback": "AsyncCallback",
        "path": "lakehouse_dags.callbacks.DeadlineMissedAlert",
        "kwargs": {"alert_conn_id": af.get("alert_conn_id")},
    }
    assert dag["deadlines"] == ([] if af["deadline_s"] is None else [alert])
    assert (af["deadline_s"] is None) == (config == "local.yml"), "local: make demo's `airflow dags test` needs none"
    assert dag["max_active_runs"] == 1


@pytest.mark.parametrize("mode", ["batch", "streaming"])
def test_doc_md_names_the_config_values_and_the_runbook_sections_that_exist(reports, mode) -> None:
    doc = reports("local.yml", mode)["dags"][DAG_IDS[mode]]["doc_md"]
    af = {**_airflow("local.yml"), "mode": mode}
    assert doc.startswith(f"### {DAG_IDS[mode]}\n")
    for key in ("mode", "dagrun_timeout_s", "maintenance_schedule"):
        assert f"- `airflow.{key}`: `{af[key]}`" in doc, key
    assert "- `airflow.deadline_s`: `null`" in doc
    assert "- `airflow.runner.kind`: `local`" in doc
    assert ("`airflow.schedule`: `@daily`" in doc) == (mode == "batch")
    assert ("`airflow.stream_poll_s`: `30`" in doc) == (mode == "streaming")
    assert "**A task failed.**" in doc and "LAKEHOUSE DEADLINE MISSED" in doc and "without retries" in doc
    from lakehouse_dags.operability import RUNBOOK_SECTIONS

    runbook = (REPO / "docs" / "runbook.md").read_text().splitlines()
    headings = {line.lstrip("#").strip() for line in runbook if line.startswith("##")}
    for section in RUNBOOK_SECTIONS.values():
        assert section in headings, f"docs/runbook.md has no heading {section!r}"
    cited = set(re.findall(r"\(docs/runbook\.md, \*([^*]+)\*\)", doc))
    assert cited and cited <= set(RUNBOOK_SECTIONS.values())


def _edit(**changes):
    def edit(data):
        data["airflow"].update(changes)

    return edit


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"deadline_s": 7200, "dagrun_timeout_s": 3600}, "key 'airflow.deadline_s' is 7200, not below"),
        ({"dagrun_timeout_s": 0}, "key 'airflow.dagrun_timeout_s' is 0; expected seconds > 0"),
        ({"stream_poll_s": -5}, "key 'airflow.stream_poll_s' is -5; expected seconds > 0"),
        ({"deadline_s": "soon"}, "key 'airflow.deadline_s' must be an integer"),
        ({"mode": "stream"}, "key 'airflow.mode' is 'stream'; expected one of batch, streaming"),
    ],
)
def test_bad_run_limits_name_the_key_and_file(write_config, changes, message) -> None:
    from lakehouse_dags.operability import dag_arguments

    path = write_config("local", _edit(**changes))
    with pytest.raises(ConfigError) as caught:
        dag_arguments(load_settings(path), "batch")
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_the_deadline_alert_follows_the_config_and_null_turns_it_off(write_config) -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    from lakehouse_dags.operability import dag_arguments

    alert = dag_arguments(load_settings(write_config("local", _edit(deadline_s=900, alert_conn_id="hooks"))), "batch")
    deadline = alert["deadline"]
    assert deadline.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert deadline.interval.total_seconds() == 900
    assert isinstance(deadline.callback, AsyncCallback)
    assert deadline.callback.path == "lakehouse_dags.callbacks.DeadlineMissedAlert"
    assert deadline.callback.kwargs == {"alert_conn_id": "hooks"}
    assert alert["dagrun_timeout"].total_seconds() == 14400
    assert dag_arguments(load_settings(write_config("local", _edit(deadline_s=None))), "batch")["deadline"] is None


def test_the_other_modes_dag_is_built_but_not_registered(write_config) -> None:
    from lakehouse_dags.operability import dag_arguments

    settings = load_settings(write_config("dataproc", _edit(mode="streaming")))
    assert dag_arguments(settings, "streaming")["auto_register"] is True
    assert dag_arguments(settings, "batch")["auto_register"] is False
