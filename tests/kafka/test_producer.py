"""Producer unit tests: config mapping, manifest content, per-event failures; librdkafka's mock cluster."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
import time
from datetime import datetime
from pathlib import Path

import pytest

from config.reconciliation import ids_sha256
from config.settings import ConfigError, Settings, load_settings
from kafka import events, produce
from kafka.client_config import client_config, is_event_hubs
from kafka.delivery import EventProducer
from kafka.manifest import KindTally

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
MOCK = {"test.mock.num.brokers": 1}


def with_kafka(settings: Settings, **changes) -> Settings:
    return dataclasses.replace(settings, kafka=dataclasses.replace(settings.kafka, **changes))


def with_producer(settings: Settings, **changes) -> Settings:
    return with_kafka(settings, producer=dataclasses.replace(settings.kafka.producer, **changes))


@pytest.fixture
def local() -> Settings:
    return load_settings(CONFIG_DIR / "local.yml")


@pytest.fixture
def azure(monkeypatch) -> Settings:
    monkeypatch.setenv("EVENTHUBS_CONNECTION_STRING", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=k")
    return load_settings(CONFIG_DIR / "azure.example.yml")


def test_local_producer_config_is_idempotent_acks_all_plaintext(local):
    conf = client_config(local, "producer")
    assert conf["bootstrap.servers"] == local.kafka.bootstrap_servers
    assert conf["security.protocol"] == "PLAINTEXT"
    assert conf["enable.idempotence"] is True
    assert conf["acks"] == "all"
    p = local.kafka.producer
    assert conf["compression.codec"] == p.compression
    assert conf["linger.ms"] == p.linger_ms
    assert conf["batch.size"] == p.batch_bytes
    assert conf["batch.num.messages"] == p.batch_messages
    assert conf["queue.buffering.max.messages"] == p.queue_max_messages
    assert conf["request.timeout.ms"] == p.request_timeout_ms
    assert conf["message.timeout.ms"] == p.delivery_timeout_ms
    assert conf["message.max.bytes"] == p.message_max_bytes
    assert not any(key.startswith("sasl.") for key in conf)


def test_admin_and_consumer_configs_carry_no_producer_settings(local):
    admin = client_config(local, "admin")
    consumer = client_config(local, "consumer", **{"group.id": "g1"})
    for conf in (admin, consumer):
        assert "enable.idempotence" not in conf and "compression.codec" not in conf
    assert consumer["group.id"] == "g1" and consumer["enable.auto.commit"] is False
    with pytest.raises(ValueError, match="unknown Kafka client role"):
        client_config(local, "streams")


def test_event_hubs_config_follows_microsofts_librdkafka_recommendations(azure):
    conf = client_config(azure, "producer")
    assert is_event_hubs(conf["bootstrap.servers"])
    assert conf["bootstrap.servers"].endswith(".servicebus.windows.net:9093")
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "PLAIN"
    assert conf["sasl.username"] == "$ConnectionString"
    assert conf["sasl.password"].startswith("Endpoint=sb://")
    assert conf["compression.codec"] in ("none", "gzip")
    assert conf["request.timeout.ms"] == 60_000
    assert conf["metadata.max.age.ms"] == 180_000
    assert conf["connections.max.idle.ms"] == 180_000
    assert conf["socket.keepalive.enable"] is True
    assert conf["message.max.bytes"] == 1_000_000
    consumer = client_config(azure, "consumer", **{"group.id": "g"})
    assert consumer["socket.keepalive.enable"] is True and consumer["metadata.max.age.ms"] == 180_000


def test_missing_secret_names_the_variable_and_the_config_file(azure, monkeypatch):
    monkeypatch.delenv("EVENTHUBS_CONNECTION_STRING")
    with pytest.raises(ConfigError, match="EVENTHUBS_CONNECTION_STRING") as err:
        client_config(azure, "producer")
    assert "azure.example.yml" in str(err.value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"compression": "lz4"}, "kafka.producer.compression"),
        ({"message_max_bytes": 1_048_576}, "kafka.producer.message_max_bytes"),
        ({"request_timeout_ms": 5_000}, "kafka.producer.request_timeout_ms"),
        ({"connections_max_idle_ms": 300_000}, "kafka.producer.connections_max_idle_ms"),
        ({"metadata_max_age_ms": None}, "kafka.producer.metadata_max_age_ms"),
        ({"socket_keepalive": False}, "kafka.producer.socket_keepalive"),
    ],
)
def test_settings_event_hubs_documents_as_broken_are_refused(azure, change, named):
    with pytest.raises(ConfigError, match=named):
        client_config(with_producer(azure, **change), "producer")


def test_manifest_counts_and_hashes_per_kind_and_outcome():
    records = [
        (b"u1", b"{}", "valid", "a"),
        (b"u1", b"{}", "valid", "b"),
        (b"u2", b"{}", "late", "c"),
        (b"u1", b"{}", "duplicate", "a"),
        (b"u3", b"{", "malformed_json", None),
        (b"u3", b"{}", "negative_price", "d"),
    ]
    tally = KindTally(["valid", "late", "duplicate", "malformed_json", "negative_price"])
    assert list(tally.wrap(records)) == records
    kinds = tally.kinds()
    assert kinds["valid"] == {"count": 2, "with_event_id": 2, "ids_sha256": ids_sha256(["b", "a"])}
    assert kinds["valid"]["ids_sha256"] == hashlib.sha256(b"a\nb").hexdigest()
    assert kinds["malformed_json"] == {
        "count": 1,
        "with_event_id": 0,
        "ids_sha256": hashlib.sha256(b"").hexdigest(),
    }
    counts, hashes = tally.expected(events.EXPECTED_OUTCOME)
    assert counts == {
        "silver": 3,
        "quarantine": {"invalid_json": 1, "out_of_range": 1},
        "duplicates": 1,
    }
    assert hashes["silver"] == ids_sha256(["a", "b", "c"])
    assert hashes["duplicates"] == ids_sha256(["a"])
    assert hashes["quarantine"]["out_of_range"] == ids_sha256(["d"])


def test_command_function_writes_a_complete_manifest(local, tmp_path, monkeypatch):
    monkeypatch.setattr(produce, "ensure_topic", lambda settings: True)
    monkeypatch.setattr(produce, "EventProducer", lambda settings: EventProducer(settings, **MOCK))
    path = tmp_path / "run" / "manifest.json"
    run = produce.produce_events(
        with_kafka(local, topic="unit"),
        count=5_000,
        seed=11,
        anomalies=events.DEFAULT_ANOMALIES,
        manifest_path=path,
    )
    assert run.result.ok and run.manifest_path == path
    manifest = json.loads(path.read_text())
    assert manifest["seed"] == 11 and manifest["count"] == 5_000 and manifest["topic"] == "unit"
    assert manifest["delivered"] == 5_000 and manifest["failed"] == 0
    assert manifest["contract_version"] == "1.0.1"
    assert set(manifest["kinds"]) == set(events.KINDS)
    assert sum(k["count"] for k in manifest["kinds"].values()) == 5_000
    kinds = manifest["kinds"]
    expected = manifest["expected"]
    silver_kinds = ("valid", "late", "long_decimal", "ancient_timestamp")
    assert expected["silver"] == sum(kinds[kind]["count"] for kind in silver_kinds)
    assert expected["duplicates"] == kinds["duplicate"]["count"]
    assert expected["quarantine"]["invalid_json"] == kinds["malformed_json"]["count"]
    assert expected["silver"] + expected["duplicates"] + sum(expected["quarantine"].values()) == 5_000
    regenerated: dict[str, list[str]] = {kind: [] for kind in events.KINDS}
    now = datetime.fromisoformat(manifest["generated_now"])
    for _, _, kind, event_id in events.generate(5_000, seed=11, anomalies=events.DEFAULT_ANOMALIES, now=now):
        if event_id is not None:
            regenerated[kind].append(event_id)
    for kind, ids in regenerated.items():
        assert kinds[kind]["ids_sha256"] == ids_sha256(ids), kind


def test_oversized_event_is_reported_with_its_id_and_the_rest_delivered(local):
    settings = with_producer(with_kafka(local, topic="sizes"), message_max_bytes=10_000)
    big = b'{"event_id":"big-1","pad":"' + b"x" * 20_000 + b'"}'
    records = [(b"k", b'{"event_id":"ok-%d"}' % i, "valid", f"ok-{i}") for i in range(100)]
    records.insert(50, (b"k", big, "valid", "big-1"))
    started = time.monotonic()
    with EventProducer(settings, **MOCK) as producer:
        result = producer.send(records)
    assert time.monotonic() - started < 30
    assert (result.sent, result.delivered, result.failed) == (101, 100, 1)
    assert not result.stopped_early and not result.ok
    [error] = result.event_errors
    assert error.event_id == "big-1" and error.code == "MSG_SIZE_TOO_LARGE"
    assert "big-1" in result.first_error and "MSG_SIZE_TOO_LARGE" in result.first_error


def test_unreachable_broker_fails_within_the_message_timeout(local):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = with_producer(with_kafka(local, bootstrap_servers=f"127.0.0.1:{port}"), delivery_timeout_ms=3_000)
    records = [(b"k", b'{"event_id":"e%d"}' % i, "valid", f"e{i}") for i in range(2_000)]
    started = time.monotonic()
    with EventProducer(settings) as producer:
        result = producer.send(records)
    assert time.monotonic() - started < 20
    assert result.delivered == 0 and result.failed == result.sent > 0
    assert "MSG_TIMED_OUT" in result.first_error and f"127.0.0.1:{port}" in result.first_error
