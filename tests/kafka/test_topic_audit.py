"""The topic read-back times out on a stall, never on total time, and reports its progress; a clock is injected."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from kafka import topic_audit
from kafka.admin import delete_topics
from kafka.produce import produce_events
from kafka.topic_audit import ReadProgress, TopicReadError, read_topic

TOPIC = "audit-unit"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_slow_steady_read_longer_than_any_total_limit_completes():
    clock, lines = FakeClock(), []
    progress = ReadProgress(TOPIC, 10_000, stall_timeout_s=30, report_every_s=60, clock=clock, report=lines.append)
    for _ in range(1_000):  # one record every 20 s: 20,000 s in all, never 30 s without a record
        clock.now += 20
        progress.advance(10, dict)
    assert progress.read == 10_000
    assert len(lines) == 333  # every 60 s
    assert lines[0] == f"reading {TOPIC}: 30 / 10,000 records (0 records/s)"
    assert lines[-1] == f"reading {TOPIC}: 9,990 / 10,000 records (0 records/s)"


def test_no_record_for_longer_than_the_stall_timeout_fails_naming_what_is_unread():
    clock = FakeClock()
    progress = ReadProgress(TOPIC, 500, stall_timeout_s=30, report_every_s=1e9, clock=clock, report=print)
    clock.now += 5
    progress.advance(200, dict)
    for _ in range(30):
        clock.now += 1
        progress.advance(0, lambda: {0: 100, 2: 200})
    clock.now += 1
    with pytest.raises(TopicReadError) as caught:
        progress.advance(0, lambda: {0: 100, 2: 200})
    assert str(caught.value).startswith(
        f"no record from topic {TOPIC} for 31 s after reading 200 of 500; "
        "records still unread per partition: {0: 100, 2: 200}. Check that the broker is up"
    )


def test_the_rate_is_records_per_second_since_the_start():
    clock, lines = FakeClock(), []
    progress = ReadProgress(TOPIC, 1_000_000, stall_timeout_s=30, report_every_s=10, clock=clock, report=lines.append)
    for _ in range(4):
        clock.now += 5
        progress.advance(125_000, dict)
    assert lines == [
        f"reading {TOPIC}: 250,000 / 1,000,000 records (25,000 records/s)",
        f"reading {TOPIC}: 500,000 / 1,000,000 records (25,000 records/s)",
    ]


class FakeMessage:
    def __init__(self, partition: int, offset: int) -> None:
        self._partition, self._offset = partition, offset

    def error(self):
        return None

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return f"{self._partition}:{self._offset}".encode()


class FakeConsumer:
    """Partition 0 holds offsets 0..high-1, the last one a transaction marker when `marker`; partition 1 is empty.
    Each consume() takes a second of the fake clock."""

    batches: list[list[FakeMessage]] = []
    clock = FakeClock()
    high, marker = 6, True

    def __init__(self, conf: dict) -> None:
        self.delivered: dict[int, int] = {}

    def list_topics(self, topic: str, timeout: float):
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions={0: None, 1: None})})

    def get_watermark_offsets(self, partition, timeout: float) -> tuple[int, int]:
        return (0, self.high) if partition.partition == 0 else (0, 0)

    def assign(self, partitions) -> None:
        assert [(p.partition, p.offset) for p in partitions] == [(0, 0)]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.clock.now += 1
        batch = self.batches.pop(0) if self.batches else []
        for msg in batch:
            self.delivered[msg.partition()] = msg.offset() + 1
        return batch

    def position(self, partitions):
        marker = int(self.marker and self.delivered.get(0) == self.high - 1)  # position steps over the control record
        return [
            SimpleNamespace(partition=p.partition, offset=self.delivered.get(p.partition, -1001) + marker)
            for p in partitions
        ]

    def close(self) -> None:
        pass


@pytest.fixture
def fake_consumer(monkeypatch) -> Iterator[type[FakeConsumer]]:
    monkeypatch.setattr(topic_audit, "Consumer", FakeConsumer)
    FakeConsumer.clock = FakeClock()
    yield FakeConsumer
    FakeConsumer.batches, FakeConsumer.high, FakeConsumer.marker = [], 6, True


def test_read_topic_ends_at_the_high_watermark_past_a_trailing_control_record(fake_consumer, settings):
    fake_consumer.batches = [[], [FakeMessage(0, 0), FakeMessage(0, 1)], [], [FakeMessage(0, o) for o in (2, 3, 4)]]
    lines = []
    values = list(read_topic(settings, clock=fake_consumer.clock, report=lines.append, report_every_s=2))
    assert values == [b"0:0", b"0:1", b"0:2", b"0:3", b"0:4"]
    assert lines[-1].startswith(f"reading {settings.kafka.topic}: 5 / 6 records")


def test_read_topic_keeps_reading_a_slow_topic_for_longer_than_the_old_total_timeout(fake_consumer, settings):
    fake_consumer.high, fake_consumer.marker = 60, False
    fake_consumer.batches = [[FakeMessage(0, i // 10)] if i % 10 == 9 else [] for i in range(600)]  # one per 10 s
    values = list(read_topic(settings, stall_timeout_s=30, clock=fake_consumer.clock, report=lambda line: None))
    assert len(values) == 60
    assert fake_consumer.clock.now == 1_000 + 600


def test_read_topic_fails_after_the_stall_timeout_of_the_injected_clock(fake_consumer, settings):
    fake_consumer.batches = [[FakeMessage(0, 0)]]
    values = []
    with pytest.raises(TopicReadError, match=r"for 11 s after reading 1 of 6; .* \{0: 5\}"):
        for value in read_topic(settings, stall_timeout_s=10, clock=fake_consumer.clock, report=print):
            values.append(value)
    assert values == [b"0:0"]
    assert fake_consumer.clock.now == 1_000 + 12


@pytest.mark.integration
def test_read_topic_reads_a_real_topic_back_and_reports_progress(stack, settings, tmp_path):
    kafka = dataclasses.replace(
        settings.kafka, bootstrap_servers=stack.bootstrap_servers, topic=f"it-audit-{uuid.uuid4().hex[:10]}"
    )
    local = dataclasses.replace(settings, kafka=kafka)
    try:
        run = produce_events(local, count=3_000, seed=5, manifest_path=tmp_path / "manifest.json")
        assert run.result.delivered == 3_000
        lines: list[str] = []
        values = list(read_topic(local, report_every_s=0, report=lines.append))
        assert len(values) == len(set(values)) == 3_000
        assert lines[-1].startswith(f"reading {kafka.topic}: 3,000 / 3,000 records (")
    finally:
        delete_topics(local, [kafka.topic])
