"""One real run of the lakehouse_pipeline DAG (airflow dags test) on an isolated topic, lake, database and Airflow
home, shared by every end-to-end test of the session: the run takes minutes, and each test reads a different
part of what it left (the marts, the task logs, the Airflow API, the lineage events, the report)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import load_settings
from kafka import events
from kafka.admin import delete_topics
from kafka.produce import produce_events
from scripts.airflow_local.run_dag import isolation_env
from scripts.packaging.spark_archive import build_archive
from scripts.stack.postgres_server import scratch_database
from scripts.stack.services import Stack, StackInfo
from tests.e2e.cluster import CLUSTER_CONFIG
from tests.e2e.pipeline_run import PipelineRun, run_dag

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config" / "local.yml"
EVENTS = 3_000


@pytest.fixture(scope="session")
def shared_pipeline_run(stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineRun]:
    """Produce EVENTS events with the demo's anomalies to a fresh topic and run the DAG over them once.

    The isolation lives in the environment the DAG run gets, and in this process only while the settings are
    loaded, so other tests of the session keep the default topic, lake and database."""
    run_dir = tmp_path_factory.mktemp("pipeline_run")
    topic = f"e2e-{uuid.uuid4().hex[:12]}"
    with scratch_database(stack.postgres_dsn) as dsn:
        isolation = isolation_env(run_dir, topic, dsn)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in isolation.items():
                patch.setenv(name, value)
            settings = load_settings(CONFIG)
        try:
            produced = produce_events(
                settings,
                count=EVENTS,
                seed=11,
                anomalies=events.DEFAULT_ANOMALIES,
                manifest_path=run_dir / "manifest.json",
            )
            assert produced.result.ok, f"{produced.result.failed} events not delivered: {produced.result.first_error}"
            build_archive(REPO / settings.airflow.runner.artifacts.archive_uri)
            airflow_home = run_dir / "airflow"
            dag = run_dag(CONFIG, airflow_home, isolation)
            yield PipelineRun(settings, isolation, run_dir, airflow_home, produced, dag)
        finally:
            delete_topics(settings, [topic])


@pytest.fixture
def pipeline_run(shared_pipeline_run: PipelineRun, monkeypatch: pytest.MonkeyPatch) -> PipelineRun:
    """The session's DAG run, with this test's environment pointed at its topic, lake and database."""
    for name, value in shared_pipeline_run.isolation.items():
        monkeypatch.setenv(name, value)
    return shared_pipeline_run


@pytest.fixture(scope="session")
def cluster() -> Iterator[tuple[Stack, StackInfo]]:
    """The local cluster (make cluster-up), started if it is not running; afterwards what this fixture started is
    stopped, by name, so a node that a failure test killed and brought back is stopped too."""
    stack = Stack(load_settings(CLUSTER_CONFIG))
    info = stack.up()
    yield stack, info
    if info.started:
        stack.down(info.started)
