"""A Kafka node lost twice on the local cluster: once while the producer sends, once while the streams read.

Bronze and silver run as continuous streams on the cluster's Spark workers (spark-submit as the DAG's standalone
runner builds it, one core each). The producer sends at a steady rate; mid-way the node leading the most of the
topic's partitions is SIGKILLed, and brought back once production ends. Later, while bronze is still working
through the backlog, the node leading the most partitions then is killed too, and brought back. Replication
factor 3 with min.insync.replicas 2 keeps every acknowledged record on two live nodes; the idempotent producer
(acks=all) retries without duplicating. The lake must account for every event the manifest says was sent.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psutil
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from config.catalog import BRONZE_EVENTS, SILVER_METRICS, Table
from config.settings import Settings, load_settings
from kafka import events
from kafka.admin import delete_topics, ensure_topic
from kafka.produce import ProduceRun, produce_events
from scripts.airflow_local.run_dag import isolation_env
from scripts.airflow_local.streaming_mode import Stream, stop_streams, table_version, wait_for
from scripts.packaging.spark_archive import build_archive
from scripts.reconcile import lake_rows
from scripts.stack.postgres_server import scratch_database
from tests.e2e.cluster import CLUSTER_CONFIG, REPO, kill_leader_heaviest, master_state

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

EVENTS = 24_000
RATE = 800  # events/s: production lasts ~30 s, and bronze (2,000 records a batch) trails it
STALL_S = 300


def failure_config(out: Path) -> Path:
    """The cluster's config with continuous streams of small batches, one core each (so both run at once on the
    two workers), and no lineage (a lineage parent is an Airflow template)."""
    raw = yaml.safe_load(CLUSTER_CONFIG.read_text(encoding="utf-8"))
    raw["spark"]["stream"].update(
        trigger="continuous", processing_time="2 seconds", max_offsets_per_trigger=2_000, prometheus_ports=None
    )
    raw["airflow"]["runner"]["standalone"].update(max_cores=1, executor_memory="1g")
    raw.pop("lineage")
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


def submit_operator(settings: Settings, name: str, airflow_home: Path):
    """The DAG's operator for the stream `name` on the standalone runner (Airflow imported in a throwaway home)."""
    os.environ.setdefault("AIRFLOW_HOME", str(airflow_home))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if str(REPO / "dags") not in sys.path:
        sys.path.insert(0, str(REPO / "dags"))
    from lakehouse_dags.runners import SparkJob, spark_operator

    job = SparkJob(name, ("--trigger", "continuous"))
    return spark_operator(settings, job, task_id=name, timeout=timedelta(hours=1))


class ClusterStream(Stream):
    """One stream submitted to the cluster exactly as the DAG's standalone runner submits a job: its process is
    bash running spark-submit, so a clean stop signals the Python driver under it."""

    @classmethod
    def submit(cls, settings: Settings, name: str, log: Path) -> ClusterStream:
        operator = submit_operator(settings, name, log.parent / "airflow")
        with log.open("ab") as out:
            process = subprocess.Popen(
                ["bash", "-c", operator.bash_command],
                cwd=operator.cwd,
                env={**os.environ, **operator.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, log)

    def drivers(self) -> list[psutil.Process]:
        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a Python worker exiting meanwhile
                if "python" in child.name() and f"spark/jobs/{self.name}.py" in " ".join(child.cmdline()):
                    found.append(child)
        return found


def rows(settings: Settings, table: Table) -> int:
    try:
        return DeltaTable(settings.storage.uri_of(table)).to_pyarrow_dataset().count_rows()
    except TableNotFoundError:
        return 0


def accounted_for(settings: Settings, manifest: dict) -> bool:
    """Every row of the reconciliation against the manifest matches (bronze, silver ids, quarantine, ledger)."""
    try:
        return all(row[3] for row in lake_rows(settings, manifest))
    except TableNotFoundError:
        return False


def topic_records(settings: Settings) -> int:
    """The sum of the topic's partitions' end offsets: how many records the brokers hold."""
    consumer = Consumer({"bootstrap.servers": settings.kafka.bootstrap_servers, "group.id": "broker-failure-test"})
    try:
        topic = settings.kafka.topic
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions)
    finally:
        consumer.close()


@pytest.mark.timeout(1800)
def test_streams_and_producer_survive_losing_the_leader_heaviest_kafka_node_twice(cluster, tmp_path: Path) -> None:
    stack, info = cluster
    busy = [app["name"] for app in master_state(stack.settings)["activeapps"]]
    assert not busy, f"the cluster's cores are taken by running applications {busy}: stop them first"
    topic = f"e2e-broker-loss-{uuid.uuid4().hex[:10]}"
    with scratch_database(info.postgres_dsn, "broker_loss") as dsn, pytest.MonkeyPatch.context() as patch:
        for name, value in isolation_env(tmp_path, topic, dsn).items():
            patch.setenv(name, value)
        patch.setenv("LAKEHOUSE_CONFIG", str(failure_config(tmp_path / "config.yml")))  # the file spark-submit ships
        settings = load_settings(Path(os.environ["LAKEHOUSE_CONFIG"]))
        build_archive(REPO / settings.airflow.runner.artifacts.archive_uri)
        ensure_topic(settings)
        streams: list[ClusterStream] = []
        try:

            def alive() -> None:
                for stream in streams:
                    stream.check_alive()

            for name, table in (("bronze", BRONZE_EVENTS), ("silver", SILVER_METRICS)):
                streams.append(ClusterStream.submit(settings, name, tmp_path / f"{name}.log"))
                wait_for(
                    f"{name}'s first commit",
                    lambda table=table: table_version(settings, table) is not None,
                    alive,
                    stall_s=STALL_S,
                    progress=lambda: tuple(s.log.stat().st_size for s in streams),
                )

            produced: list[ProduceRun] = []
            producer = threading.Thread(
                target=lambda: produced.append(
                    produce_events(
                        settings,
                        count=EVENTS,
                        seed=21,
                        rate=RATE,
                        anomalies=events.DEFAULT_ANOMALIES,
                        manifest_path=tmp_path / "manifest.json",
                    )
                )
            )
            producer.start()
            wait_for(
                "a third of the events on the brokers",
                lambda: topic_records(settings) >= EVENTS // 3,
                alive,
                stall_s=STALL_S,
                progress=lambda: topic_records(settings),
            )
            first = kill_leader_heaviest(stack, info.bootstrap_servers, topic)
            producing = producer.is_alive()
            producer.join()
            (run,) = produced
            assert run.result.ok, run.result
            stack.up()

            backlog = run.manifest["delivered"] - rows(settings, BRONZE_EVENTS)
            second = kill_leader_heaviest(stack, info.bootstrap_servers, topic)
            time.sleep(15)
            stack.up()

            wait_for(
                "the lake to account for every event sent",
                lambda: accounted_for(settings, run.manifest),
                alive,
                stall_s=STALL_S,
                progress=lambda: (rows(settings, BRONZE_EVENTS), rows(settings, SILVER_METRICS)),
            )
        finally:
            codes = stop_streams(streams)
            delete_topics(settings, [topic])

    assert producing, "the producer had finished before the first kill"
    assert backlog > 0, "bronze had caught up before the second kill: it did not read through a lost node"
    assert codes == {"silver": 0, "bronze": 0}, codes
    print(f"killed {first.name} while producing and {second.name} with {backlog} records unread by bronze")
