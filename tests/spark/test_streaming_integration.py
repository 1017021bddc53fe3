"""Bronze and silver against the real broker: the manifest's ledger holds, and a SIGKILLed silver stream recovers
to exactly the tables of an uninterrupted run."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from confluent_kafka import Producer
from pyspark.sql import functions as F

from config.reconciliation import ids_sha256
from config.settings import DEFAULT_CONFIG, Settings, load_settings
from kafka import events
from kafka.admin import ensure_topic
from kafka.produce import produce_events
from spark.jobs import bronze as bronze_job
from spark.jobs import silver as silver_job

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EVENTS = 3_000
VOLATILE = {"quarantined_at", "processed_at", "app_id", "silver_app_id"}


def lake_settings(base: Settings, lake: Path) -> Settings:
    storage = dataclasses.replace(base.storage, lake_uri=str(lake), checkpoint_uri=str(lake / "_checkpoints"))
    return dataclasses.replace(base, storage=storage)


@pytest.fixture(scope="module")
def produced(spark, spark_settings, stack, tmp_path_factory):
    """A unique topic with EVENTS events (default anomalies), copied to bronze; then silver run uninterrupted."""
    root = tmp_path_factory.mktemp("streaming")
    kafka = dataclasses.replace(
        spark_settings.kafka, bootstrap_servers=stack.bootstrap_servers, topic=f"it-silver-{uuid.uuid4().hex[:10]}"
    )
    # Three bronze batches: Kafka splits the limit over partitions rounding down, so 1,000 left an 8-row fourth.
    stream = dataclasses.replace(spark_settings.spark.stream, max_offsets_per_trigger=1_050, max_files_per_trigger=4)
    spark_conf = dataclasses.replace(spark_settings.spark, stream=stream)
    settings = lake_settings(dataclasses.replace(spark_settings, kafka=kafka, spark=spark_conf), root / "reference")
    run = produce_events(
        settings, count=EVENTS, seed=20250601, anomalies=events.DEFAULT_ANOMALIES, manifest_path=root / "manifest.json"
    )
    assert run.result.delivered == EVENTS
    bronze_job.start(spark, settings, "available-now").awaitTermination()
    silver_job.start(spark, settings, "available-now").awaitTermination()
    return settings, run.manifest, root


def table(spark, settings: Settings, layer: str, name: str):
    return spark.read.format("delta").load(settings.storage.table_uri(layer, name))


def snapshot(spark, settings: Settings) -> dict[str, list[str]]:
    out = {}
    for name in ("events", "quarantine", "metrics"):
        df = table(spark, settings, "silver", name)
        out[name] = sorted(map(repr, df.drop(*(VOLATILE & set(df.columns))).collect()))
    return out


def test_bronze_silver_and_quarantine_match_the_manifest(spark, produced):
    settings, manifest, _ = produced
    expected, hashes = manifest["expected"], manifest["expected_ids_sha256"]
    bronze = table(spark, settings, "bronze", "events")
    assert bronze.count() == manifest["delivered"]
    assert bronze.select("topic", "partition", "offset").distinct().count() == manifest["delivered"]

    silver = table(spark, settings, "silver", "events")
    silver_ids = [r.event_id for r in silver.select("event_id").collect()]
    assert len(silver_ids) == len(set(silver_ids)) == expected["silver"]
    assert ids_sha256(silver_ids) == hashes["silver"]

    quarantine = table(spark, settings, "silver", "quarantine")
    by_reason = {r.reason: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    assert by_reason == expected["quarantine"]
    for code in expected["quarantine"]:
        ids = [r.event_id for r in quarantine.where(F.col("reason") == code).where("event_id IS NOT NULL").collect()]
        if ids:
            assert ids_sha256(ids) == hashes["quarantine"][code], code

    totals = (
        table(spark, settings, "silver", "metrics")
        .agg(*(F.sum(c).alias(c) for c in ("rows_in", "inserted", "quarantined", "duplicates")))
        .first()
    )
    assert totals.rows_in == bronze.count()
    assert totals.inserted == silver.count()
    assert totals.quarantined == quarantine.count()
    assert totals.duplicates == expected["duplicates"]


def test_rerunning_with_no_new_input_changes_nothing(spark, produced):
    settings, _, _ = produced
    before = snapshot(spark, settings)
    bronze_count = table(spark, settings, "bronze", "events").count()
    bronze_job.start(spark, settings, "available-now").awaitTermination()
    silver_job.start(spark, settings, "available-now").awaitTermination()
    assert table(spark, settings, "bronze", "events").count() == bronze_count
    assert snapshot(spark, settings) == before


def test_bronze_reads_the_event_hubs_style_sasl_listener(spark, spark_settings, stack, monkeypatch, tmp_path):
    monkeypatch.setenv(stack.sasl_secret_env, stack.sasl_secret)
    profile = load_settings(REPO / "config" / "local-eventhubs.yml")
    kafka = dataclasses.replace(
        profile.kafka, bootstrap_servers=stack.sasl_bootstrap_servers, topic=f"it-sasl-{uuid.uuid4().hex[:10]}"
    )
    settings = lake_settings(dataclasses.replace(spark_settings, kafka=kafka), tmp_path / "lake")
    assert settings.kafka.security.protocol == "SASL_PLAINTEXT"
    run = produce_events(settings, count=500, seed=11, manifest_path=tmp_path / "manifest.json")
    assert run.result.delivered == 500
    bronze_job.start(spark, settings, "available-now").awaitTermination()
    bronze = table(spark, settings, "bronze", "events")
    assert bronze.select("partition", "offset").distinct().count() == bronze.count() == 500


def test_bronze_keeps_each_record_as_received_headers_included(spark, spark_settings, stack, tmp_path):
    kafka = dataclasses.replace(
        spark_settings.kafka, bootstrap_servers=stack.bootstrap_servers, topic=f"it-headers-{uuid.uuid4().hex[:10]}"
    )
    settings = lake_settings(dataclasses.replace(spark_settings, kafka=kafka), tmp_path / "lake")
    ensure_topic(settings)
    producer = Producer({"bootstrap.servers": stack.bootstrap_servers})
    sent = {
        b"a": [("trace-id", b"\x00\xff"), ("trace-id", b"second"), ("empty", None)],
        b"b": [],
    }
    for value, headers in sent.items():
        producer.produce(kafka.topic, value=value, key=None, headers=headers or None)
    assert producer.flush(30) == 0
    bronze_job.start(spark, settings, "available-now").awaitTermination()
    rows = table(spark, settings, "bronze", "events").select("value", "headers").collect()
    got = {
        bytes(r.value): [(h.key, None if h.value is None else bytes(h.value)) for h in r.headers or []] for r in rows
    }
    assert got == {value: list(headers) for value, headers in sent.items()}


def commits(table_path: str) -> int:
    return len(list(Path(table_path, "_delta_log").glob("*.json")))


def test_sigkilled_silver_stream_recovers_to_the_uninterrupted_result(spark, produced):
    reference, _, root = produced
    settings = lake_settings(reference, root / "killed")
    shutil.copytree(reference.storage.table_uri("bronze", "events"), settings.storage.table_uri("bronze", "events"))
    config = write_config(settings, root / "killed.yml")
    metrics = settings.storage.table_uri("silver", "metrics")
    silver = settings.storage.table_uri("silver", "events")

    log = root / "killed.log"
    first = start_silver(config, log)
    wait_for(lambda: commits(metrics) >= 2, first, "the first metrics commit", log)
    kill(first)
    second = start_silver(config, log)
    seen = commits(silver)
    wait_for(lambda: commits(silver) > seen, second, "a silver commit after the restart", log)
    kill(second)
    last = start_silver(config, log)
    assert last.wait(timeout=600) == 0, log.read_text()[-3000:]

    assert snapshot(spark, settings) == snapshot(spark, reference)
    app_ids = table(spark, settings, "silver", "metrics").select("app_id").distinct().count()
    assert app_ids == 1


def write_config(settings: Settings, path: Path) -> Path:
    """A config file for a subprocess: local.yml with this test's broker, topic, lake and batch sizes."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["kafka"].update(bootstrap_servers=settings.kafka.bootstrap_servers, topic=settings.kafka.topic)
    raw["storage"] = {"lake_uri": settings.storage.lake_uri, "checkpoint_uri": settings.storage.checkpoint_uri}
    raw["spark"].update(master="local[2]", driver_memory="1g", shuffle_partitions=settings.spark.shuffle_partitions)
    raw["spark"]["stream"] = {
        "max_offsets_per_trigger": settings.spark.stream.max_offsets_per_trigger,
        "max_files_per_trigger": settings.spark.stream.max_files_per_trigger,
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def start_silver(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "spark.jobs.silver", "--config", str(config), "--trigger", "available-now"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(condition, process: subprocess.Popen, what: str, log: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"silver exited ({process.returncode}) before {what}: {log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            kill(process)
            pytest.fail(f"no {what} within {timeout_s} s")
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the driver and its JVM together, as a lost machine would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
