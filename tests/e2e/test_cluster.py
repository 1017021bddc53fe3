"""The pipeline on the local cluster (make cluster-up): three Kafka nodes, a Spark master and two workers.

The session's local DAG run (tests/e2e/conftest.py) left a bronze table: its exact records are produced again, to
the same partitions in the same order, to the cluster's replicated topic, and the same DAG runs there with the
standalone runner. While silver runs, the worker running one of its tasks is SIGKILLed with its executor. Marts
equal to the local run's row for row, and the ledger against the same manifest, show the jobs work when executors
are separate processes that see only what spark-submit shipped, and that a lost executor's tasks are redone on
the other worker without losing or duplicating a row. `make test-cluster`.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import uuid
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource
from deltalake import DeltaTable

from config.catalog import MARTS
from config.settings import Settings, load_settings
from kafka.admin import delete_topics, ensure_topic
from scripts.airflow_local.run_dag import isolation_env
from scripts.reconcile import lake_rows, revenue_rows
from scripts.stack.postgres_server import scratch_database
from tests.e2e.cluster import CLUSTER_CONFIG, WorkerKiller, master_state
from tests.e2e.pipeline_run import PipelineRun, gold_rows, run_dag
from tests.e2e.test_pipeline_dag import task_states

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def test_the_cluster_is_three_kafka_nodes_and_two_spark_workers(cluster, tmp_path) -> None:
    stack, info = cluster
    settings = stack.settings
    for node in stack.kafka_nodes:
        metadata = AdminClient({"bootstrap.servers": f"127.0.0.1:{node.port}"}).list_topics(timeout=10)
        assert sorted(metadata.brokers) == [1, 2, 3], f"{node.name} sees brokers {sorted(metadata.brokers)}"
    topic = f"cluster-shape-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEHOUSE_TOPIC", topic)
        isolated = load_settings(CLUSTER_CONFIG)
    try:
        ensure_topic(isolated)
        admin = AdminClient({"bootstrap.servers": info.bootstrap_servers})
        partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions
        assert len(partitions) == isolated.kafka.partitions
        assert {len(p.replicas) for p in partitions.values()} == {3}
        assert {len({p.leader for p in partitions.values()})} == {3}, "leaders not spread over the three nodes"
        (configs,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
        assert configs.result()["min.insync.replicas"].value == "2"
    finally:
        delete_topics(isolated, [topic])
    workers = [w for w in master_state(settings)["workers"] if w["state"] == "ALIVE"]
    assert len(workers) == 2 and {w["cores"] for w in workers} == {1}
    for worker in stack.spark[1:]:
        environment = psutil.Process(worker.pid_file.process().pid).environ()
        assert "PYTHONPATH" not in environment, f"{worker.name}'s executors could import the checkout"


def bronze_records(settings: Settings) -> list[dict]:
    """The local run's bronze records in Kafka order: (partition, offset) ascending."""
    table = DeltaTable(settings.storage.table_uri("bronze", "events")).to_pyarrow_table(
        columns=["partition", "offset", "key", "value"]
    )
    return sorted(table.to_pylist(), key=lambda r: (r["partition"], r["offset"]))


def produce_exactly(settings: Settings, records: list[dict]) -> None:
    """Each record's key and value to its own partition number, in order, acks=all and idempotent."""
    producer = Producer(
        {"bootstrap.servers": settings.kafka.bootstrap_servers, "enable.idempotence": True, "acks": "all"}
    )
    failures: list[str] = []

    def delivered(error, message) -> None:
        if error is not None:
            failures.append(str(error))

    for record in records:
        producer.produce(
            settings.kafka.topic,
            key=record["key"],
            value=record["value"],
            partition=record["partition"],
            on_delivery=delivered,
        )
        producer.poll(0)
    assert producer.flush(60) == 0 and not failures, failures[:3]


LOST_TASK = re.compile(
    r"task (\d+)\.(\d+) in stage (\S+) \(TID (\d+)\) failed because while it was being computed, its executor exited"
)


def rerun_tasks(driver_log: str) -> set[str]:
    """The ids (TID) of tasks the driver lost with their executor and then finished on a later attempt."""
    return {
        tid
        for index, attempt, stage, tid in LOST_TASK.findall(driver_log)
        if f"Finished task {index}.{int(attempt) + 1} in stage {stage} " in driver_log
    }


def tries(airflow_home: Path) -> dict[str, int]:
    """task_id -> the try the lakehouse_pipeline run's task instance ended on."""
    with contextlib.closing(sqlite3.connect(airflow_home / "airflow.db")) as db:
        query = "select task_id, try_number from task_instance where dag_id = 'lakehouse_pipeline'"
        return dict(db.execute(query).fetchall())


@pytest.mark.timeout(2400)
def test_the_dag_on_the_cluster_loses_a_worker_and_builds_the_local_runs_marts_row_for_row(
    cluster, pipeline_run: PipelineRun, tmp_path: Path
) -> None:
    assert pipeline_run.dag.returncode == 0, "the local run failed; see test_pipeline_dag"
    stack, info = cluster
    local = pipeline_run.settings
    records = bronze_records(local)
    started_ms = int(time.time() * 1000)
    run_dir = tmp_path / "cluster-run"
    topic = f"e2e-cluster-{uuid.uuid4().hex[:10]}"
    with scratch_database(info.postgres_dsn, "cluster_run") as dsn, pytest.MonkeyPatch.context() as patch:
        isolation = isolation_env(run_dir, topic, dsn)
        for name, value in isolation.items():
            patch.setenv(name, value)
        settings = load_settings(CLUSTER_CONFIG)
        try:
            ensure_topic(settings)
            produce_exactly(settings, records)
            airflow_home = run_dir / "airflow"
            killer = WorkerKiller(stack, "silver")
            killer.start()
            try:
                dag = run_dag(CLUSTER_CONFIG, airflow_home, isolation)
            finally:
                killer.done.set()
                killer.join()
                stack.up()  # the killed worker back, for the tests after this one
            assert killer.error is None, killer.error
            assert killer.loss is not None, "silver ran no task on a worker's executor that the test could kill"
            assert dag.returncode == 0, f"DAG run on the cluster failed:\n{dag.stdout[-6000:]}\n{dag.stderr[-6000:]}"
            states = task_states(airflow_home)
            assert {t: s for t, s in states.items() if s != "success"} == {"maintenance": "skipped"}, states
            assert tries(airflow_home)["silver"] == 1, "Airflow retried silver: Spark did not recover from the loss"
            silver_log = "\n".join(p.read_text() for p in (airflow_home / "logs").rglob("task_id=silver/*.log"))
            redone = rerun_tasks(silver_log)
            assert redone & killer.loss.task_ids, f"{killer.loss}: its tasks were not run again ({redone})"

            for mart in MARTS:
                assert gold_rows(settings, mart) == gold_rows(local, mart), f"{mart} differs from the local run"
            mismatched = [row for row in lake_rows(settings, pipeline_run.produced.manifest) if not row[3]]
            assert not mismatched, mismatched
            money, verdict = revenue_rows(settings)
            assert verdict == "agree", money

            apps = master_state(stack.settings)["completedapps"]
            ran = {app["name"] for app in apps if app["starttime"] >= started_ms and app["state"] == "FINISHED"}
            assert {"bronze", "silver", "gold", "lakehouse-gold-purchases-daily"} <= ran, f"on the master: {ran}"
        finally:
            delete_topics(settings, [topic])
