"""The producer against the real local broker: every event back, classified exactly as the manifest says."""

from __future__ import annotations

import dataclasses
import json
import socket
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from config.reconciliation import against_manifest, ids_sha256
from config.settings import Settings, load_settings
from kafka import events, produce, topic_audit
from kafka.admin import KafkaUnavailable, delete_topics, ensure_topic
from kafka.client_config import QUIET_LOG_LEVEL

pytestmark = pytest.mark.integration

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def topics(stack):
    """Unique topic names for one test, deleted from the shared broker afterwards."""
    names: list[str] = []

    def new(prefix: str) -> str:
        names.append(f"{prefix}-{uuid.uuid4().hex[:10]}")
        return names[-1]

    yield new
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers, "log_level": QUIET_LOG_LEVEL})
    for future in admin.delete_topics(names, operation_timeout=30).values():
        try:
            future.result(timeout=60)
        except KafkaException:
            pass


def on_topic(settings: Settings, topic: str, bootstrap: str) -> Settings:
    return dataclasses.replace(
        settings, kafka=dataclasses.replace(settings.kafka, topic=topic, bootstrap_servers=bootstrap)
    )


def test_50k_events_come_back_exactly_as_the_manifest_says(stack, settings, topics, tmp_path):
    local = on_topic(settings, topics("it-produce"), stack.bootstrap_servers)
    run = produce.produce_events(
        local, count=50_000, seed=2024, anomalies=events.DEFAULT_ANOMALIES, manifest_path=tmp_path / "m.json"
    )
    assert run.result.ok, run.result.first_error
    manifest = json.loads(run.manifest_path.read_text())
    assert manifest["delivered"] == manifest["sent"] == 50_000 and manifest["failed"] == 0

    outcomes = topic_audit.classify(topic_audit.read_topic(local), now=datetime.now(UTC))
    assert outcomes.total == 50_000
    rows = against_manifest(manifest, outcomes.found())
    assert [row for row in rows if not row[3]] == []
    assert {r[0] for r in rows} >= {"delivered", "silver (ids match)", "duplicates", "quarantine: invalid_json"}

    kinds = manifest["kinds"]
    by_outcome = Counter()
    for kind, entry in kinds.items():
        by_outcome[events.EXPECTED_OUTCOME[kind]] += entry["count"]
    assert by_outcome == Counter({outcome: len(ids) for outcome, ids in outcomes.ids.items()})
    all_ids = {i for ids in outcomes.ids.values() for i in ids if i is not None}
    regenerated = {kind: [] for kind in events.KINDS}
    now = datetime.fromisoformat(manifest["generated_now"])
    for _, _, kind, event_id in events.generate(50_000, seed=2024, anomalies=events.DEFAULT_ANOMALIES, now=now):
        if event_id is not None:
            regenerated[kind].append(event_id)
    assert {i for ids in regenerated.values() for i in ids} == all_ids
    for kind, ids in regenerated.items():
        assert kinds[kind]["ids_sha256"] == ids_sha256(ids), kind


def test_ensure_topic_is_idempotent_and_reports_too_few_partitions(stack, settings, topics, caplog):
    topic = on_topic(settings, topics("it-admin"), stack.bootstrap_servers)
    small = dataclasses.replace(topic, kafka=dataclasses.replace(topic.kafka, partitions=2))
    assert ensure_topic(small) is True
    assert ensure_topic(small) is False
    with caplog.at_level("WARNING", logger="kafka.admin"):
        assert ensure_topic(topic) is False
    assert f"{topic.kafka.topic} exists with 2 partitions" in caplog.text
    assert "kafka.partitions" in caplog.text and "asks for 6" in caplog.text


def test_delete_topics_deletes_exactly_the_named_topics_that_exist(stack, settings, topics):
    doomed, kept = (on_topic(settings, topics(prefix), stack.bootstrap_servers) for prefix in ("it-del", "it-keep"))
    assert ensure_topic(doomed) and ensure_topic(kept)
    never_created = f"it-absent-{uuid.uuid4().hex[:10]}"
    assert delete_topics(doomed, [doomed.kafka.topic, never_created, doomed.kafka.topic]) == [doomed.kafka.topic]
    admin = AdminClient({"bootstrap.servers": stack.bootstrap_servers, "log_level": QUIET_LOG_LEVEL})
    deadline = time.monotonic() + 30
    while doomed.kafka.topic in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    existing = admin.list_topics(timeout=10).topics
    assert doomed.kafka.topic not in existing and never_created not in existing
    assert kept.kafka.topic in existing
    assert delete_topics(doomed, [doomed.kafka.topic]) == []


def test_sasl_listener_works_end_to_end_with_the_event_hubs_profile(stack, topics, monkeypatch, tmp_path):
    monkeypatch.setenv(stack.sasl_secret_env, stack.sasl_secret)
    profile = load_settings(CONFIG_DIR / "local-eventhubs.yml")
    sasl = on_topic(profile, topics("it-sasl"), stack.sasl_bootstrap_servers)
    assert sasl.kafka.security.protocol == "SASL_PLAINTEXT" and sasl.kafka.security.sasl_username == "$ConnectionString"
    run = produce.produce_events(sasl, count=2_000, seed=5, manifest_path=tmp_path / "m.json")
    assert run.result.ok, run.result.first_error
    assert sum(1 for _ in topic_audit.read_topic(sasl)) == 2_000


def test_wrong_secret_is_rejected_as_an_authentication_error(stack, topics, monkeypatch):
    monkeypatch.setenv(stack.sasl_secret_env, "Endpoint=sb://wrong/;SharedAccessKey=not-the-key")
    profile = load_settings(CONFIG_DIR / "local-eventhubs.yml")
    sasl = on_topic(profile, topics("it-badauth"), stack.sasl_bootstrap_servers)
    started = time.monotonic()
    with pytest.raises(KafkaUnavailable, match="(?i)authentication") as err:
        ensure_topic(sasl)
    assert time.monotonic() - started < 15
    assert stack.sasl_secret_env in str(err.value)
    with produce.EventProducer(sasl) as producer:
        result = producer.send([(b"k", b'{"event_id":"x"}', "valid", "x")] * 10)
    assert time.monotonic() - started < 30
    assert result.delivered == 0 and result.failed == 10
    assert "_AUTHENTICATION" in result.first_error


def test_unreachable_broker_fails_the_command_quickly_and_clearly(monkeypatch, tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LAKEHOUSE_KAFKA_PORT", str(port))
    started = time.monotonic()
    code = produce.main(
        [
            "--config",
            str(CONFIG_DIR / "local.yml"),
            "--events",
            "1000",
            "--no-progress",
            "--manifest",
            str(tmp_path / "m.json"),
        ]
    )
    assert time.monotonic() - started < 30
    assert code != 0
    err = capsys.readouterr().err
    assert f"localhost:{port}" in err and "local.yml" in err and "kafka.bootstrap_servers" in err
