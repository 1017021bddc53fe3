"""Delivery of already-serialised events: bounded, every delivery report checked, failures named per event."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from config.settings import Settings
from kafka.client_config import QUIET_LOG_LEVEL, client_config, error_text

log = logging.getLogger(__name__)

Record = tuple[bytes, bytes, str, "str | None"]
PER_EVENT_CODES = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD})
MAX_EVENT_ERRORS = 1000
CHUNK = 1000
FLUSH_GRACE_S = 5.0
_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([^"\\]{1,200})"')


@dataclass(frozen=True)
class EventError:
    """One event the broker or the client refused for a reason of its own (e.g. too large)."""

    event_id: str | None
    code: str
    error: str


@dataclass
class DeliveryResult:
    """What happened to every event handed to the producer."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    first_error: str | None = None
    event_errors: list[EventError] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.delivered == self.sent and not self.stopped_early

    @property
    def events_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.elapsed_s if self.elapsed_s else 0.0


class _Reports:
    """Failure reports and client errors; successes produce no report, so they cost nothing here."""

    __slots__ = ("failed", "first_error", "event_errors", "stop", "abort", "client_errors")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new count; the previous send has drained, so no report of its events is outstanding."""
        self.failed = 0
        self.first_error: str | None = None
        self.event_errors: list[EventError] = []
        self.stop = False
        self.abort = False
        self.client_errors: list[str] = []

    def on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failure(err, _event_id_of(msg.value()))

    def failure(self, err: KafkaError, event_id: str | None) -> None:
        self.failed += 1
        if err.code() in PER_EVENT_CODES:
            if len(self.event_errors) < MAX_EVENT_ERRORS:
                self.event_errors.append(EventError(event_id, err.name(), err.str()))
            if self.first_error is None:
                self.first_error = f"event {event_id}: {err.name()}: {err.str()}"
            return
        if self.first_error is None:
            recent = "; ".join(dict.fromkeys(self.client_errors))
            last = f" (recent client errors: {recent})" if recent else ""
            self.first_error = f"{err.name()}: {err.str()}{last}"
        self.stop = True

    def on_error(self, err: KafkaError) -> None:
        text = error_text(err)
        if err.fatal() or err.code() == KafkaError._AUTHENTICATION:
            if self.first_error is None:
                self.first_error = f"{err.name()}: {text}"
            self.stop = self.abort = True
        elif not self.client_errors or self.client_errors[-1] != text:
            log.warning("Kafka client: %s (retrying until kafka.producer.delivery_timeout_ms)", text)
        self.client_errors.append(text)
        del self.client_errors[:-5]


def _event_id_of(value: bytes | None) -> str | None:
    match = _EVENT_ID.search(value or b"")
    return match.group(1).decode("utf-8", "replace") if match else None


class EventProducer:
    """A librdkafka producer whose one producer-level callback sees only failed deliveries.

    A callback per produce() call, or a report per success, each cost ~20-30% of delivery throughput
    (measured, docs/benchmarks.md). With delivery.report.only.error, once the queue is empty every event
    handed over and not reported failed was acknowledged (acks=all): delivered = sent - failed, exactly.
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        self.topic = settings.kafka.topic
        self._reports = _Reports()
        conf = client_config(
            settings,
            "producer",
            on_delivery=self._reports.on_delivery,
            **{"delivery.report.only.error": True},
            error_cb=self._reports.on_error,
            log_level=QUIET_LOG_LEVEL,
            **overrides,
        )
        self._producer = Producer(conf)
        self.flush_timeout_s = settings.kafka.producer.delivery_timeout_ms / 1000 + FLUSH_GRACE_S

    def send(
        self,
        records: Iterable[Record],
        *,
        rate: float | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> DeliveryResult:
        """Produce every record (paced to `rate` events/s if given), flush within a bound, report it all."""
        reports, producer, topic = self._reports, self._producer, self.topic
        reports.reset()
        produce, poll = producer.produce, producer.poll
        chunk = CHUNK if rate is None else max(1, min(CHUNK, int(rate // 100)))
        sent = nbytes = 0
        next_check = chunk
        started = time.perf_counter()
        for key, value, _kind, event_id in records:
            try:
                produce(topic, value, key)
            except BufferError:
                self._produce_when_room(key, value)
            except KafkaException as exc:
                reports.failure(exc.args[0], event_id)
            sent += 1
            nbytes += len(value)
            if sent >= next_check:
                next_check += chunk
                poll(0)
                if on_progress is not None:
                    on_progress(sent)
                if reports.stop:
                    break
                if rate is not None:
                    ahead = sent / rate - (time.perf_counter() - started)
                    if ahead > 0:
                        poll(ahead)
        if on_progress is not None:
            on_progress(sent)
        unreported = self._drain()
        failed = reports.failed + unreported
        result = DeliveryResult(
            sent=sent,
            delivered=sent - failed,
            failed=failed,
            bytes=nbytes,
            elapsed_s=time.perf_counter() - started,
            first_error=reports.first_error,
            event_errors=list(reports.event_errors),
            stopped_early=reports.stop,
        )
        if unreported and result.first_error is None:
            result.first_error = f"{unreported} events had no delivery report after {self.flush_timeout_s:g} s"
        return result

    def _produce_when_room(self, key: bytes, value: bytes) -> None:
        """The local queue is full: serve reports until there is room; after a failure, count it failed."""
        while not self._reports.stop:
            self._producer.poll(0.05)
            try:
                self._producer.produce(self.topic, value, key)
                return
            except BufferError:
                continue
        self._reports.failed += 1

    def _drain(self) -> int:
        """Flush within the delivery timeout (at once if retrying is pointless); purge the rest.

        Returns how many events are still unaccounted for (no report even after the purge).
        """
        deadline = time.monotonic() + self.flush_timeout_s
        while len(self._producer) and not self._reports.abort and time.monotonic() < deadline:
            self._producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        if len(self._producer):
            log.error("purging %d undelivered events", len(self._producer))
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.flush(FLUSH_GRACE_S)
        return len(self._producer)

    def close(self) -> None:
        """Flush what is left (bounded); the producer object is released with this instance."""
        self._producer.flush(FLUSH_GRACE_S)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
