"""The one place that turns Settings into librdkafka configs, so producer, admin and consumers agree."""

from __future__ import annotations

import re
from typing import Any, Literal

from confluent_kafka import KafkaError

from config.settings import ConfigError, Settings

Role = Literal["producer", "admin", "consumer"]

EVENT_HUBS_SUFFIX = ".servicebus.windows.net"
EVENT_HUBS_CODECS = ("none", "gzip")
EVENT_HUBS_MAX_REQUEST_BYTES = 1_046_528
EVENT_HUBS_MIN_REQUEST_TIMEOUT_MS = 20_000
EVENT_HUBS_IDLE_CLOSE_MS = 240_000
DEFAULT_SASL_USERNAME = "$ConnectionString"
QUIET_LOG_LEVEL = 2  # librdkafka's log lines repeat what error_cb reports, once per reconnect attempt
_ATTEMPT = re.compile(r" \(after \d+ms in state \w+\)")


def client_config(settings: Settings, role: Role, **overrides: Any) -> dict[str, Any]:
    """librdkafka properties for one client role; overrides (e.g. group.id) are applied last."""
    kafka = settings.kafka
    if is_event_hubs(kafka.bootstrap_servers):
        check_event_hubs(settings)
    conf: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap_servers, **_security(settings)}
    producer = kafka.producer
    if producer.socket_keepalive:
        conf["socket.keepalive.enable"] = True
    if producer.metadata_max_age_ms is not None:
        conf["metadata.max.age.ms"] = producer.metadata_max_age_ms
    if producer.connections_max_idle_ms is not None:
        conf["connections.max.idle.ms"] = producer.connections_max_idle_ms
    if role == "producer":
        conf.update(
            {
                "enable.idempotence": True,
                "acks": producer.acks,
                "compression.codec": producer.compression,
                "linger.ms": producer.linger_ms,
                "batch.size": producer.batch_bytes,
                "batch.num.messages": producer.batch_messages,
                "queue.buffering.max.messages": producer.queue_max_messages,
                "request.timeout.ms": producer.request_timeout_ms,
                "message.timeout.ms": producer.delivery_timeout_ms,
                "message.max.bytes": producer.message_max_bytes,
            }
        )
    elif role == "consumer":
        conf.update({"enable.auto.commit": False, "auto.offset.reset": "earliest"})
    elif role != "admin":
        raise ValueError(f"unknown Kafka client role {role!r}; expected producer, admin or consumer")
    conf.update(overrides)
    return conf


def error_text(err: KafkaError) -> str:
    """A client error without the per-attempt timing, so repeats of one cause read as one."""
    return _ATTEMPT.sub("", err.str())


def is_event_hubs(bootstrap_servers: str) -> bool:
    """True when every bootstrap host is an Azure Event Hubs namespace endpoint."""
    hosts = [s.strip().rsplit(":", 1)[0] for s in bootstrap_servers.split(",") if s.strip()]
    return bool(hosts) and all(h.endswith(EVENT_HUBS_SUFFIX) for h in hosts)


def check_event_hubs(settings: Settings) -> None:
    """Refuse settings that Microsoft documents as broken against the Event Hubs Kafka endpoint."""
    kafka, producer, source = settings.kafka, settings.kafka.producer, settings.source or "the config"
    problems = []
    if kafka.security.protocol != "SASL_SSL":
        problems.append(f"kafka.security.protocol is {kafka.security.protocol}; Event Hubs requires SASL_SSL")
    if producer.compression not in EVENT_HUBS_CODECS:
        problems.append(f"kafka.producer.compression is {producer.compression}; Event Hubs accepts only none or gzip")
    if producer.message_max_bytes >= EVENT_HUBS_MAX_REQUEST_BYTES:
        problems.append(
            f"kafka.producer.message_max_bytes is {producer.message_max_bytes}; Event Hubs closes the "
            f"connection on requests of {EVENT_HUBS_MAX_REQUEST_BYTES} bytes or more (use 1000000)"
        )
    if producer.request_timeout_ms <= EVENT_HUBS_MIN_REQUEST_TIMEOUT_MS:
        problems.append(
            f"kafka.producer.request_timeout_ms is {producer.request_timeout_ms}; Event Hubs needs more than "
            f"{EVENT_HUBS_MIN_REQUEST_TIMEOUT_MS} (use 60000)"
        )
    for key, value in (
        ("metadata_max_age_ms", producer.metadata_max_age_ms),
        ("connections_max_idle_ms", producer.connections_max_idle_ms),
    ):
        if value is None or value >= EVENT_HUBS_IDLE_CLOSE_MS:
            problems.append(
                f"kafka.producer.{key} is {value}; Event Hubs closes idle connections after "
                f"{EVENT_HUBS_IDLE_CLOSE_MS} ms (use 180000)"
            )
    if not producer.socket_keepalive:
        problems.append("kafka.producer.socket_keepalive is false; Event Hubs needs TCP keepalive (set true)")
    if problems:
        raise ConfigError(f"{source}: not valid for Azure Event Hubs: " + "; ".join(problems))


def _security(settings: Settings) -> dict[str, Any]:
    security = settings.kafka.security
    if security.protocol == "PLAINTEXT":
        return {"security.protocol": "PLAINTEXT"}
    try:
        password = security.sasl_password()
    except ConfigError as exc:
        raise ConfigError(f"{settings.source or 'the config'}: {exc}") from None
    return {
        "security.protocol": security.protocol,
        "sasl.mechanism": security.sasl_mechanism or "PLAIN",
        "sasl.username": security.sasl_username or DEFAULT_SASL_USERNAME,
        "sasl.password": password,
    }
