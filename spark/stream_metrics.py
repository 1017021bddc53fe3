"""Per-micro-batch progress of the bronze and silver streams, kept in the lake and served to Prometheus.

Each batch's input rows, rates, duration and the lag from its newest event time to its commit come from the
query's own StreamingQueryProgress (Spark computes them whatever we do), so recording costs no pass over the data.
The driver's main thread copies them into <lake>/metrics/streaming_progress between waits for the query
(spark.jobs.common.run_until_done), not from a StreamingQueryListener: a listener runs on Spark's listener bus,
where a slow or failing Delta write would delay every later event, and in PySpark it needs a callback server.
The main thread only waits for the query, so a metrics write can neither fail nor stall the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType, TimestampType

from config.catalog import STREAMING_PROGRESS
from config.settings import Settings
from spark.idempotent_writes import idempotent_append

_log = logging.getLogger(__name__)

STREAMS = ("bronze", "silver")
"""The streaming jobs; each builds its session with its stream's name as the app name (spark.jobs.bronze, .silver)."""
PROGRESS_TABLE_CONF = "spark.lakehouse.streamingProgressTable"
"""The session conf naming the progress table: set by build_session for a stream's driver from the config."""
OBSERVATION = "event_time"
"""The name of the observation (Dataset.observe) whose max_event_time a stream reports with each batch."""
METRICS_NAMESPACE = "lakehouse"
"""Replaces the application id in metric names, so a restarted stream keeps its Prometheus series."""
PROMETHEUS_PATH = "/metrics/prometheus"
FLUSH_EVERY_S = 10.0
"""At most one progress commit per this many seconds while the stream runs (and one when it ends): a Delta commit
per 5 s batch would cost the two cores more than the batches it describes."""


def progress_schema() -> StructType:
    """One row per micro-batch that ran: key (query_id, batch_id); a restarted query keeps its id (checkpoint)."""
    return StructType(
        [
            StructField("stream", StringType(), False),
            StructField("query_id", StringType(), False),
            StructField("run_id", StringType(), False),
            StructField("batch_id", LongType(), False),
            StructField("started_at", TimestampType(), False),
            StructField("committed_at", TimestampType(), False),
            StructField("batch_duration_ms", LongType(), False),
            StructField("input_rows", LongType(), False),
            StructField("input_rows_per_s", DoubleType(), True),
            StructField("processed_rows_per_s", DoubleType(), True),
            StructField("max_event_time", TimestampType(), True),
            StructField("event_to_commit_lag_s", DoubleType(), True),
        ]
    )


def observed_event_time(column: str) -> Callable[[DataFrame], DataFrame]:
    """A transform making the stream report its newest `column` value with each batch's progress: Spark collects
    it while the batch's rows flow past (no second pass), also through foreachBatch. A maximum is the same however
    often the batch function reads its batch; a count would not be (Spark adds up every read, as numInputRows does)."""

    def observe(df: DataFrame) -> DataFrame:
        newest: Column = F.max(column).alias("max_event_time")
        return df.observe(OBSERVATION, newest)

    return observe


def prometheus_conf(port: int) -> dict[str, str]:
    """Spark settings that serve the driver's metrics, the streaming ones included, in Prometheus' text format at
    http://<driver>:<port>/metrics/prometheus/ (Spark's PrometheusServlet on the driver UI, 3.0 and later)."""
    return {
        "spark.ui.enabled": "true",
        "spark.ui.port": str(port),
        "spark.ui.prometheus.enabled": "true",
        "spark.metrics.namespace": METRICS_NAMESPACE,
        "spark.metrics.conf.*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        "spark.metrics.conf.*.sink.prometheusServlet.path": PROMETHEUS_PATH,
        "spark.sql.streaming.metricsEnabled": "true",
    }


def stream_driver_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """What a stream's driver adds to its session: where its progress goes, and its Prometheus endpoint if the
    config gives the stream a port (spark.stream.prometheus_ports); nothing for any other driver."""
    if app_name not in STREAMS:
        return {}
    conf = {PROGRESS_TABLE_CONF: settings.storage.uri_of(STREAMING_PROGRESS)}
    ports = settings.spark.stream.prometheus_ports
    port = getattr(ports, app_name) if ports is not None else None
    if port is not None:
        conf.update(prometheus_conf(port))
    return conf


def _timestamp(value: Any) -> datetime | None:
    """A progress timestamp as an aware UTC datetime: PySpark 4 gives datetimes (naive, session-zone UTC) inside
    observed rows and ISO text elsewhere; PySpark 3.5 gives text everywhere, observed ones in whole seconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00").replace(" ", "T")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _observed(progress: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event-time observation of a progress (a Row in PySpark 4, a dict in 3.5), or an empty mapping."""
    row = (progress.get("observedMetrics") or {}).get(OBSERVATION)
    if row is None:
        return {}
    return row.asDict() if hasattr(row, "asDict") else dict(row)


@dataclass(frozen=True)
class BatchProgress:
    """One micro-batch that ran, from its StreamingQueryProgress."""

    stream: str
    query_id: str
    run_id: str
    batch_id: int
    started_at: datetime
    committed_at: datetime
    batch_duration_ms: int
    input_rows: int
    input_rows_per_s: float | None
    processed_rows_per_s: float | None
    max_event_time: datetime | None
    event_to_commit_lag_s: float | None


def batch_progress(progress: Mapping[str, Any]) -> BatchProgress | None:
    """The batch a progress reports, or None for a trigger that found no data (no addBatch duration).

    The commit is the end of the trigger (its start plus triggerExecution): the sink's commit and the checkpoint's
    are its last steps, so the lag is what a reader of the table waits for an event, plus the event's own delay.
    input_rows is Spark's numInputRows: every read of the batch counts (silver's are in its ledger's rows_in)."""
    durations = progress.get("durationMs") or {}
    if "addBatch" not in durations:
        return None
    started = _timestamp(progress["timestamp"])
    duration_ms = int(durations.get("triggerExecution", progress.get("batchDuration", 0)))
    committed = started + timedelta(milliseconds=duration_ms)
    newest = _timestamp(_observed(progress).get("max_event_time"))
    return BatchProgress(
        stream=progress.get("name") or str(progress["id"]),
        query_id=str(progress["id"]),
        run_id=str(progress["runId"]),
        batch_id=int(progress["batchId"]),
        started_at=started,
        committed_at=committed,
        batch_duration_ms=duration_ms,
        input_rows=int(progress.get("numInputRows") or 0),
        input_rows_per_s=_rate(progress.get("inputRowsPerSecond")),
        processed_rows_per_s=_rate(progress.get("processedRowsPerSecond")),
        max_event_time=newest,
        event_to_commit_lag_s=(committed - newest).total_seconds() if newest is not None else None,
    )


def _rate(value: Any) -> float | None:
    """Spark reports NaN for a rate over no time; the table keeps null there."""
    rate = float(value) if value is not None else None
    return None if rate is None or rate != rate else rate


def batches_after(progresses: Iterable[Mapping[str, Any]], last_batch_id: int) -> list[BatchProgress]:
    """The batches that ran with an id above `last_batch_id`, each once, in order."""
    found = {b.batch_id: b for b in map(batch_progress, progresses) if b is not None and b.batch_id > last_batch_id}
    return [found[key] for key in sorted(found)]


class ProgressRecorder:
    """Appends a query's finished batches to the progress table; a failed write is logged, counted and retried at
    the next flush (the rows stay in the query's recent progress), never raised into the wait for the query."""

    def __init__(self, spark: SparkSession, table: str, *, flush_every_s: float = FLUSH_EVERY_S):
        self.spark, self.table, self.flush_every_s = spark, table, flush_every_s
        self.failed_writes = 0
        self._last: dict[str, int] = {}
        self._flushed_at: datetime | None = None

    @classmethod
    def active(cls) -> ProgressRecorder | None:
        """The recorder the active session is configured for (PROGRESS_TABLE_CONF), or None. A classic PySpark
        query does not expose its session; a stream job's one session is the active one in its main thread."""
        spark = SparkSession.getActiveSession()
        table = spark.conf.get(PROGRESS_TABLE_CONF, None) if spark is not None else None
        return cls(spark, table) if table else None

    def poll(self, query: StreamingQuery) -> None:
        """Record() if the last flush is at least flush_every_s old."""
        now = datetime.now(UTC)
        if self._flushed_at is None or (now - self._flushed_at).total_seconds() >= self.flush_every_s:
            self.record(query)

    def record(self, query: StreamingQuery) -> int:
        """Append the query's batches not yet in the table; returns how many were written (0 after a failure)."""
        self._flushed_at = datetime.now(UTC)
        try:
            query_id = str(query.id)
            if query_id not in self._last:
                self._last[query_id] = self._recorded_up_to(query_id)
            batches = batches_after(query.recentProgress, self._last[query_id])
            if not batches:
                return 0
            rows = self.spark.createDataFrame([astuple(b) for b in batches], progress_schema())
            version = batches[-1].batch_id
            idempotent_append(rows.coalesce(1), self.table, f"streaming-progress-{query_id}", version)
            self._last[query_id] = version
            return len(batches)
        except Exception as exc:  # whatever the cause, a progress row is never worth stopping the stream for
            self.failed_writes += 1
            _log.warning(
                "could not record the progress of stream %s in %s (failed writes so far: %d); the stream goes on "
                "and the next flush retries. Check that the lake is writable. Cause: %s",
                query.name or query.id,
                self.table,
                self.failed_writes,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
            return 0

    def _recorded_up_to(self, query_id: str) -> int:
        """The highest batch id already in the table for this query (a restart resumes from it), else -1."""
        try:
            rows = self.spark.read.format("delta").load(self.table).where(F.col("query_id") == query_id)
        except PySparkException:
            return -1
        newest = rows.agg(F.max("batch_id")).first()[0]
        return -1 if newest is None else int(newest)
