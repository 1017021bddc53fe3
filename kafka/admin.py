"""Topic administration: create the configured topic once, delete throwaway ones, fail fast when the broker is
unreachable."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from config.settings import Settings
from kafka.client_config import QUIET_LOG_LEVEL, client_config, error_text, is_event_hubs

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


class KafkaUnavailable(RuntimeError):
    """The broker could not be reached, or refused us, within the bounded wait."""


def ensure_topic(settings: Settings, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> bool:
    """Create kafka.topic with the configured partitions if missing; True when this call created it."""
    kafka = settings.kafka
    errors: list[KafkaError] = []
    admin = AdminClient(client_config(settings, "admin", error_cb=errors.append, log_level=QUIET_LOG_LEVEL))
    metadata = cluster_metadata(admin, settings, errors, timeout_s)
    existing = metadata.topics.get(kafka.topic)
    if existing is not None and existing.error is None:
        have = len(existing.partitions)
        if have < kafka.partitions:
            log.warning(
                "topic %s exists with %d partitions but kafka.partitions in %s asks for %d; "
                "consumers get less parallelism. Kafka never shrinks a topic and we do not grow it: "
                "add partitions with kafka-topics --alter or point kafka.topic at a new topic",
                kafka.topic,
                have,
                settings.source,
                kafka.partitions,
            )
        return False
    new = NewTopic(kafka.topic, num_partitions=kafka.partitions, replication_factor=kafka.replication_factor)
    future = admin.create_topics([new], request_timeout=timeout_s)[kafka.topic]
    try:
        future.result(timeout=timeout_s)
    except TimeoutError:
        raise unreachable(settings, timeout_s, errors) from None
    except KafkaException as exc:
        err = exc.args[0]
        if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        hint = (
            "Event Hubs does not support topic management through the Kafka AdminClient: create the event "
            "hub in the Azure portal, CLI or ARM/Bicep with the partition count you need"
            if is_event_hubs(kafka.bootstrap_servers)
            else "check kafka.partitions / kafka.replication_factor against the cluster"
        )
        raise KafkaUnavailable(
            f"could not create topic {kafka.topic} ({kafka.partitions} partitions, replication factor "
            f"{kafka.replication_factor}, from {settings.source}) on {kafka.bootstrap_servers}: {err.str()}. "
            f"{hint}"
        ) from None
    log.info("created topic %s with %d partitions", kafka.topic, kafka.partitions)
    return True


def delete_topics(settings: Settings, topics: list[str], *, timeout_s: float = 60.0) -> list[str]:
    """Delete those of `topics` that exist (a demo run's, a benchmark's, a test's), waiting for the broker to
    confirm each; the names deleted."""
    admin = AdminClient(client_config(settings, "admin", log_level=QUIET_LOG_LEVEL))
    existing = admin.list_topics(timeout=timeout_s).topics
    doomed = [topic for topic in dict.fromkeys(topics) if topic in existing]
    if doomed:
        for future in admin.delete_topics(doomed, operation_timeout=30).values():
            future.result(timeout=timeout_s)
    return doomed


def cluster_metadata(
    admin: AdminClient, settings: Settings, errors: list[KafkaError], timeout_s: float
) -> ClusterMetadata:
    """All topics' metadata (never a single-topic request, which can auto-create the topic)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
        except KafkaException as exc:
            admin.poll(0)
            refused = any(e.code() == KafkaError._AUTHENTICATION or e.fatal() for e in errors)
            if refused or time.monotonic() >= deadline:
                raise unreachable(settings, timeout_s, errors, None if refused else exc.args[0]) from None


def unreachable(
    settings: Settings, timeout_s: float, errors: list[KafkaError], err: KafkaError | None = None
) -> KafkaUnavailable:
    """The error for a broker that did not answer: names the servers, the config file and the cause."""
    causes = [error_text(e) for e in errors if e.code() != KafkaError._ALL_BROKERS_DOWN]
    if err is not None:
        causes.append(err.str())
    auth = any(e.code() == KafkaError._AUTHENTICATION for e in errors)
    hint = (
        f"check the secret in ${settings.kafka.security.sasl_password_env} (named by kafka.security.sasl_password_env)"
        if auth
        else "start it with `make stack-up`, or fix kafka.bootstrap_servers"
    )
    verdict = "refused the credentials" if auth else f"did not answer within {timeout_s:g} s"
    return KafkaUnavailable(
        f"Kafka at {settings.kafka.bootstrap_servers} (kafka.bootstrap_servers in {settings.source}) "
        f"{verdict}: {'; '.join(dict.fromkeys(causes)) or 'no response'}. {hint}"
    )
