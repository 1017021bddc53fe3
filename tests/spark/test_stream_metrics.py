"""Per-batch streaming progress: one row per batch in the lake with its rows and event-time lag, a failing write
that leaves the stream running, and the driver's Prometheus endpoint serving the streaming gauges."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyspark
from pyspark.sql import Row
from pyspark.sql import functions as F

from spark.jobs.common import run_until_done
from spark.session import session_conf
from spark.stream_metrics import (
    PROGRESS_TABLE_CONF,
    STREAMS,
    batch_progress,
    batches_after,
    observed_event_time,
    stream_driver_conf,
)

REPO = Path(__file__).resolve().parents[2]
BATCH_SIZES = (2, 3, 4)
"""Rows per source file; each file is one micro-batch (maxFilesPerTrigger 1)."""
MINUTES_OLD = (30, 20, 10)
"""How long before the run each file's newest event happened."""
PRECISION_S = 1.0 if pyspark.__version__.startswith("3.") else 0.001
"""Spark 3.5 reports an observed timestamp in whole seconds (rounded down); Spark 4 to the microsecond."""


def progress_json(batch_id: int, *, ran: bool, observed: object = None) -> dict:
    """A progress as Spark's JSON has it (PySpark 3.5's form; PySpark 4 gives the same keys)."""
    durations = {"triggerExecution": 1500, "latestOffset": 3}
    if ran:
        durations.update(addBatch=1200, walCommit=100)
    progress = {
        "id": "q-1",
        "runId": "r-1",
        "name": "silver",
        "timestamp": "2026-01-02T03:04:05.000Z",
        "batchId": batch_id,
        "numInputRows": 40 if ran else 0,
        "inputRowsPerSecond": 20.0,
        "processedRowsPerSecond": "NaN" if not ran else 26.7,
        "durationMs": durations,
    }
    if observed is not None:
        progress["observedMetrics"] = {"event_time": observed}
    return progress


def test_a_batch_is_read_from_its_progress_with_the_lag_from_its_newest_event_to_its_end():
    newest = "2026-01-02T03:03:50.250Z"
    batch = batch_progress(progress_json(7, ran=True, observed={"max_event_time": newest}))
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert batch.batch_id == 7 and batch.input_rows == 40 and batch.stream == "silver"
    assert batch.committed_at == started + timedelta(milliseconds=1500)
    assert batch.event_to_commit_lag_s == 16.25


def test_an_observed_row_from_pyspark_4_reads_like_the_json_of_pyspark_3_5():
    naive = datetime(2026, 1, 2, 3, 4, 0)
    batch = batch_progress(progress_json(1, ran=True, observed=Row(max_event_time=naive)))
    assert batch.max_event_time == naive.replace(tzinfo=UTC)
    assert batch.event_to_commit_lag_s == 6.5


def test_triggers_without_a_batch_and_batches_already_recorded_are_left_out():
    progresses = [
        progress_json(3, ran=True),
        progress_json(4, ran=True),
        progress_json(5, ran=False),
        progress_json(5, ran=True),
        progress_json(4, ran=True),
    ]
    assert batch_progress(progress_json(5, ran=False)) is None
    assert [b.batch_id for b in batches_after(progresses, 3)] == [4, 5]
    no_event_time = batches_after(progresses, -1)[0]
    assert no_event_time.max_event_time is None and no_event_time.event_to_commit_lag_s is None


def test_only_a_stream_driver_gets_a_progress_table_and_its_own_port(settings):
    for stream in STREAMS:
        conf = stream_driver_conf(settings, stream)
        assert conf[PROGRESS_TABLE_CONF] == settings.storage.table_uri("metrics", "streaming_progress")
        assert conf["spark.ui.port"] == str(getattr(settings.spark.stream.prometheus_ports, stream))
        assert conf["spark.sql.streaming.metricsEnabled"] == "true"
    assert stream_driver_conf(settings, "gold") == {}


def source_table(spark, root: Path, now: datetime) -> str:
    """A Delta table of len(BATCH_SIZES) one-file commits, the newest event of file i MINUTES_OLD[i] old."""
    path = str(root / "source")
    for index, (size, minutes) in enumerate(zip(BATCH_SIZES, MINUTES_OLD, strict=True)):
        newest = now - timedelta(minutes=minutes)
        rows = [(f"e{index}-{n}", newest - timedelta(seconds=n * 7)) for n in range(size)]
        frame = spark.createDataFrame(rows, "event_id string, event_ts timestamp").coalesce(1)
        frame.write.format("delta").mode("append").save(path)
    return path


def run_stream(spark, source: str, root: Path, name: str) -> str:
    """The source through an event-time observation into a Delta sink, one file per batch, waited for by the
    streaming jobs' own loop; returns the sink's path."""
    sink = str(root / f"sink-{name}")
    query = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", 1)
        .load(source)
        .transform(observed_event_time("event_ts"))
        .writeStream.format("delta")
        .queryName(name)
        .option("checkpointLocation", str(root / f"checkpoint-{name}"))
        .trigger(availableNow=True)
        .start(sink)
    )
    run_until_done(query, poll_s=0.2)
    return sink


def test_a_stream_records_one_row_per_batch_with_its_rows_and_event_time_lag(spark, tmp_path):
    now = datetime.now(UTC)
    source = source_table(spark, tmp_path, now)
    table = str(tmp_path / "streaming_progress")
    with session_conf(spark, PROGRESS_TABLE_CONF, table):
        run_stream(spark, source, tmp_path, "silver")
        ended = datetime.now(UTC)
        rows = spark.read.format("delta").load(table).orderBy("batch_id").collect()

    assert [r.batch_id for r in rows] == [0, 1, 2]
    assert [r.input_rows for r in rows] == list(BATCH_SIZES)
    assert {r.stream for r in rows} == {"silver"} and len({r.query_id for r in rows}) == 1
    for row, minutes in zip(rows, MINUTES_OLD, strict=True):
        newest = now - timedelta(minutes=minutes)
        assert 0 <= (newest - row.max_event_time.replace(tzinfo=UTC)).total_seconds() < PRECISION_S
        committed = row.committed_at.replace(tzinfo=UTC)
        assert now <= committed <= ended
        assert row.event_to_commit_lag_s == (committed - row.max_event_time.replace(tzinfo=UTC)).total_seconds()
        elapsed = (ended - now).total_seconds()
        assert minutes * 60 <= row.event_to_commit_lag_s <= minutes * 60 + elapsed + PRECISION_S
        assert row.batch_duration_ms >= 0 and row.processed_rows_per_s > 0


def test_a_restarted_stream_adds_only_its_new_batches(spark, tmp_path):
    now = datetime.now(UTC)
    source = source_table(spark, tmp_path, now)
    table = str(tmp_path / "streaming_progress")
    with session_conf(spark, PROGRESS_TABLE_CONF, table):
        run_stream(spark, source, tmp_path, "bronze")
        more = spark.createDataFrame([("late", now)], "event_id string, event_ts timestamp").coalesce(1)
        more.write.format("delta").mode("append").save(source)
        run_stream(spark, source, tmp_path, "bronze")
        rows = spark.read.format("delta").load(table).orderBy("batch_id").collect()
    assert [(r.batch_id, r.input_rows) for r in rows] == [(0, 2), (1, 3), (2, 4), (3, 1)]
    assert len({r.run_id for r in rows}) == 2


def test_a_failing_metrics_write_does_not_stop_the_stream(spark, tmp_path, caplog):
    source = source_table(spark, tmp_path, datetime.now(UTC))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the progress table should be")
    with caplog.at_level(logging.WARNING), session_conf(spark, PROGRESS_TABLE_CONF, str(blocked / "progress")):
        sink = run_stream(spark, source, tmp_path, "silver")
    assert spark.read.format("delta").load(sink).count() == sum(BATCH_SIZES)
    warnings = [r.getMessage() for r in caplog.records if "could not record the progress" in r.getMessage()]
    assert warnings and str(blocked / "progress") in warnings[-1]
    assert "failed writes so far: 1" in warnings[0]


DRIVER = textwrap.dedent(
    """
    import dataclasses, sys
    from config.settings import DEFAULT_CONFIG, StreamPorts, load_settings
    from spark.jobs.common import run_until_done
    from spark.session import build_session
    from spark.stream_metrics import observed_event_time

    lake, port = sys.argv[1], int(sys.argv[2])
    base = load_settings(DEFAULT_CONFIG)
    stream = dataclasses.replace(base.spark.stream, prometheus_ports=StreamPorts(bronze=port, silver=port))
    spark_conf = dataclasses.replace(base.spark, driver_memory="1g", shuffle_partitions=2, stream=stream)
    storage = dataclasses.replace(base.storage, lake_uri=lake, checkpoint_uri=lake + "/_checkpoints")
    settings = dataclasses.replace(base, spark=spark_conf, storage=storage)
    spark = build_session(settings, "silver")
    query = (
        spark.readStream.format("rate").option("rowsPerSecond", 200).load()
        .transform(observed_event_time("timestamp"))
        .writeStream.format("noop").queryName("silver")
        .option("checkpointLocation", settings.storage.checkpoint("silver"))
        .trigger(processingTime="1 second").start()
    )
    print("started", flush=True)
    run_until_done(query)
    """
)
GAUGES = ("inputRate_total", "processingRate_total", "latency")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gauges(body: str) -> dict[str, float]:
    """The silver stream's gauges from a Prometheus text page, by Spark's name for them."""
    found = {}
    for line in body.splitlines():
        for gauge in GAUGES:
            if line.startswith(f"metrics_lakehouse_driver_spark_streaming_silver_{gauge}_Value{{"):
                found[gauge] = float(line.rsplit(" ", 1)[1])
    return found


def test_the_stream_driver_serves_its_streaming_metrics_to_prometheus(spark, tmp_path):
    port, lake = free_port(), tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    log = tmp_path / "driver.log"
    with log.open("wb") as out:
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(lake), str(port)], cwd=REPO, env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}/metrics/prometheus/"
    seen: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 150
        while not (seen.get("inputRate_total", 0) > 0 and seen.get("latency", 0) > 0):
            assert driver.poll() is None, f"driver exited ({driver.returncode}): {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no streaming gauges at {url}: {seen}; {log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.headers.get_content_type() == "text/plain":
                        seen = gauges(response.read().decode())
            except urllib.error.URLError:
                pass  # the UI is not up yet; before its metrics handler is, it answers with its HTML pages
            time.sleep(1)
        driver.send_signal(signal.SIGTERM)
        assert driver.wait(timeout=90) == 0, log.read_text()[-3000:]
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()

    assert set(seen) == set(GAUGES)
    progress = spark.read.format("delta").load(str(lake / "metrics" / "streaming_progress"))
    assert progress.count() >= 1
    lags = [r.event_to_commit_lag_s for r in progress.where(F.col("input_rows") > 0).collect()]
    assert lags and all(0 <= lag < 60 for lag in lags), lags
