"""Read a topic back to its end and judge every record as silver would, to reconcile it with a manifest."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from config.settings import Settings
from kafka.client_config import client_config, error_text
from kafka.contract import REASON_CODES, validate_payload
from kafka.manifest import ids_sha256


class TopicReadError(RuntimeError):
    """The topic could not be read to its end."""


def read_topic(settings: Settings, *, timeout_s: float = 120.0) -> Iterator[bytes | None]:
    """Every record value on the topic, from the earliest offset to the high watermark taken at the start."""
    topic = settings.kafka.topic
    consumer = Consumer(client_config(settings, "consumer", **{"group.id": f"audit-{uuid.uuid4().hex}"}))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise TopicReadError(f"topic {topic} not found on {settings.kafka.bootstrap_servers}")
        ends = {}
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        positions = dict.fromkeys(ends, -1)
        deadline = time.monotonic() + timeout_s
        while any(positions[p] < ends[p] - 1 for p in ends):
            if time.monotonic() > deadline:
                behind = {p: ends[p] - 1 - positions[p] for p in ends if positions[p] < ends[p] - 1}
                raise TopicReadError(f"timed out reading {topic}; records still unread per partition: {behind}")
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error() is not None:
                    raise TopicReadError(f"reading {topic} partition {msg.partition()}: {error_text(msg.error())}")
                partition, offset = msg.partition(), msg.offset()
                if offset < ends[partition]:
                    positions[partition] = offset
                    yield msg.value()
    finally:
        consumer.close()


def _event_id(value: bytes | None) -> str | None:
    try:
        document = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return None
    event_id = document.get("event_id") if isinstance(document, dict) else None
    return event_id if isinstance(event_id, str) else None


@dataclass
class Outcomes:
    """Event ids per outcome ('silver', 'duplicate', 'quarantine:<reason>'); None where no id was readable."""

    ids: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def count(self, outcome: str) -> int:
        return len(self.ids.get(outcome, []))

    def quarantine(self) -> dict[str, int]:
        return {k.split(":", 1)[1]: len(v) for k, v in sorted(self.ids.items()) if k.startswith("quarantine:")}

    def sha256(self, outcome: str) -> str:
        return ids_sha256(i for i in self.ids.get(outcome, []) if i is not None)


def classify(values: Iterator[bytes | None], *, now: datetime) -> Outcomes:
    """The contract first (primary reason = first in REASON_CODES order), then exact dedup by event_id."""
    outcomes = Outcomes()
    seen: set[str] = set()
    for value in values:
        violations = validate_payload(value, now=now)
        event_id = _event_id(value)
        if violations:
            reasons = {v.reason for v in violations}
            primary = next(code for code in REASON_CODES if code in reasons)
            outcomes.ids[f"quarantine:{primary}"].append(event_id)
        elif event_id in seen:
            outcomes.ids["duplicate"].append(event_id)
        else:
            seen.add(event_id)
            outcomes.ids["silver"].append(event_id)
    return outcomes


def reconcile(manifest: dict[str, Any], outcomes: Outcomes) -> list[tuple[str, int, int, bool]]:
    """Rows of (what, expected by the manifest, found, counts and id sets agree)."""
    expected, hashes = manifest["expected"], manifest["expected_ids_sha256"]
    rows = [("delivered", manifest["delivered"], outcomes.total, manifest["delivered"] == outcomes.total)]
    rows.append(
        (
            "silver (valid, unique)",
            expected["silver"],
            outcomes.count("silver"),
            expected["silver"] == outcomes.count("silver") and hashes["silver"] == outcomes.sha256("silver"),
        )
    )
    rows.append(
        (
            "duplicates",
            expected["duplicates"],
            outcomes.count("duplicate"),
            expected["duplicates"] == outcomes.count("duplicate")
            and hashes["duplicates"] == outcomes.sha256("duplicate"),
        )
    )
    found = outcomes.quarantine()
    for code in sorted(set(expected["quarantine"]) | set(found)):
        want, got = expected["quarantine"].get(code, 0), found.get(code, 0)
        same_ids = hashes["quarantine"].get(code, ids_sha256([])) == outcomes.sha256(f"quarantine:{code}")
        rows.append((f"quarantine: {code}", want, got, want == got and same_ids))
    return rows
