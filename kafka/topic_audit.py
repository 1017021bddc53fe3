"""The topic's side of a reconciliation: read it back to its end and judge every record as silver would."""

from __future__ import annotations

import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from confluent_kafka import Consumer, TopicPartition

from config.reconciliation import Found, ids_sha256
from config.settings import Settings
from kafka.client_config import client_config, error_text
from kafka.contract import REASON_CODES
from kafka.contract_fast import check_payload

STALL_TIMEOUT_S = 60.0
PROGRESS_EVERY_S = 10.0


class TopicReadError(RuntimeError):
    """The topic could not be read to its end."""


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class ReadProgress:
    """Records read towards the topic's end: fails when no record arrives for stall_timeout_s (never on total time,
    so any size can be read) and reports the count and rate every report_every_s."""

    def __init__(
        self,
        topic: str,
        total: int,
        *,
        stall_timeout_s: float = STALL_TIMEOUT_S,
        report_every_s: float = PROGRESS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        report: Callable[[str], None] = _to_stderr,
    ) -> None:
        self.topic, self.total = topic, total
        self.stall_timeout_s, self.report_every_s = stall_timeout_s, report_every_s
        self.clock, self.report = clock, report
        self.read = 0
        self.started = self.last_record_at = self.last_report_at = clock()

    def advance(self, records: int, unread: Callable[[], dict[int, int]]) -> None:
        """Count `records` more; raise if none came for too long (`unread` names what is missing per partition)."""
        now = self.clock()
        if records:
            self.read += records
            self.last_record_at = now
        elif now - self.last_record_at > self.stall_timeout_s:
            raise TopicReadError(
                f"no record from topic {self.topic} for {now - self.last_record_at:.0f} s after reading "
                f"{self.read:,} of {self.total:,}; records still unread per partition: {unread()}. "
                "Check that the broker is up and the topic's partitions have a leader, then run again"
            )
        if now - self.last_report_at >= self.report_every_s:
            self.report(self.line(now))
            self.last_report_at = now

    def line(self, now: float | None = None) -> str:
        elapsed = (self.clock() if now is None else now) - self.started
        rate = self.read / elapsed if elapsed > 0 else 0.0
        return f"reading {self.topic}: {self.read:,} / {self.total:,} records ({rate:,.0f} records/s)"


def read_topic(
    settings: Settings,
    *,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    report_every_s: float = PROGRESS_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
    report: Callable[[str], None] = _to_stderr,
) -> Iterator[bytes | None]:
    """Every record value on the topic, from the earliest offset to the high watermark taken at the start."""
    topic = settings.kafka.topic
    consumer = Consumer(client_config(settings, "consumer", **{"group.id": f"audit-{uuid.uuid4().hex}"}))
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        if topic not in metadata.topics or metadata.topics[topic].error is not None:
            raise TopicReadError(f"topic {topic} not found on {settings.kafka.bootstrap_servers}")
        starts, ends = {}, {}
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                starts[partition], ends[partition] = low, high
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in ends])
        next_offsets = dict(starts)
        progress = ReadProgress(
            topic,
            sum(ends[p] - starts[p] for p in ends),
            stall_timeout_s=stall_timeout_s,
            report_every_s=report_every_s,
            clock=clock,
            report=report,
        )

        def unread() -> dict[int, int]:
            return {p: ends[p] - next_offsets[p] for p in ends if next_offsets[p] < ends[p]}

        while unread():
            records = 0
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error() is not None:
                    raise TopicReadError(f"reading {topic} partition {msg.partition()}: {error_text(msg.error())}")
                partition, offset = msg.partition(), msg.offset()
                if offset < ends[partition]:
                    next_offsets[partition] = offset + 1
                    records += 1
                    yield msg.value()
            if not records:
                for position in consumer.position([TopicPartition(topic, p) for p in unread()]):
                    next_offsets[position.partition] = max(next_offsets[position.partition], position.offset)
            progress.advance(records, unread)
        if progress.last_report_at > progress.started:
            report(progress.line())
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

    def found(self) -> Found:
        """What config.reconciliation compares with the manifest: counts and id hashes, duplicates' included."""
        quarantine = self.quarantine()
        return Found(
            delivered=self.total,
            silver=self.count("silver"),
            silver_sha256=self.sha256("silver"),
            duplicates=self.count("duplicate"),
            quarantine=quarantine,
            duplicates_sha256=self.sha256("duplicate"),
            quarantine_sha256={code: self.sha256(f"quarantine:{code}") for code in quarantine},
        )


def classify(values: Iterator[bytes | None], *, now: datetime) -> Outcomes:
    """The contract (its fast path: the same verdict, ~15x cheaper; primary reason = first in REASON_CODES order),
    then exact dedup by event_id."""
    outcomes = Outcomes()
    seen: set[str] = set()
    for value in values:
        _, violations = check_payload(value, now=now)
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
