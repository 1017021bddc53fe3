"""The card's streaming shape on this machine: bronze and silver as continuous Spark streams, and Airflow's
components running lakehouse_streaming (airflow.mode: streaming) whenever silver commits.

A run gets its own folder: the config (config/local.yml with the streaming keys set), the lake and checkpoints,
the Airflow home and each stream's log. Used by make bench-freshness and the streaming-mode end-to-end test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import yaml
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from config.catalog import BRONZE_EVENTS, SILVER_EVENTS, SILVER_METRICS, Table
from config.settings import DEFAULT_CONFIG, Settings, load_settings
from kafka.admin import ensure_topic
from scripts.airflow_local.run_dag import ROOT
from scripts.airflow_local.services import AirflowServices, start_services
from scripts.packaging.spark_archive import build_archive
from scripts.reconcile import lake_rows
from scripts.stack.processes import spawn_detached

STREAMS = ("bronze", "silver")
DAG_ID = "lakehouse_streaming"
STREAM_STOP_TIMEOUT_S = 120
AIRFLOW_NICE = 10
"""Airflow and the batch tasks it runs (gold, load, checks) yield the CPU to the streams. A deployment runs the
streams on their own cluster; on one 2-core machine this is the nearest thing to that separation."""


class StreamingModeError(RuntimeError):
    """A stream or an Airflow component stopped, or the pipeline made no progress; the message says which."""


def streaming_config(out: Path, *, processing_time_s: int, poll_s: int, base: Path = DEFAULT_CONFIG) -> Path:
    """`base` with the streams continuous at `processing_time_s`, Airflow in streaming mode polling silver every
    `poll_s`, and the DAG starting now; every other key (and its ${VAR} references) as in `base`.

    Starting now matters: with catchup off, Airflow runs a DAG's latest past schedule tick as soon as it is
    unpaused when that tick is after the start date, so a start date in the past would begin with the weekly
    OPTIMIZE/VACUUM whenever the week's tick has passed (docs/runbook.md, Deploying the DAGs)."""
    raw = yaml.safe_load(base.read_text(encoding="utf-8"))
    raw["spark"]["stream"].update(trigger="continuous", processing_time=f"{processing_time_s} seconds")
    raw["airflow"].update(
        mode="streaming", stream_poll_s=poll_s, start_date=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


def table_version(settings: Settings, table: Table) -> int | None:
    try:
        return DeltaTable(settings.storage.uri_of(table)).version()
    except TableNotFoundError:
        return None


@dataclass
class Stream:
    """One continuous stream's driver process (its own process group) and its log."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            raise StreamingModeError(
                f"the {self.name} stream exited with {self.process.returncode}; its log ({self.log}) ends:\n"
                + "\n".join(tail)
            )

    def drivers(self) -> list[Any]:
        """The processes a clean stop signals: the Python driver, which this stream's process is."""
        return [self.process]

    def signal_stop(self) -> None:
        """SIGTERM to the Python driver alone (as a supervisor sends it): it finishes the running batch, stops the
        query and its JVM cleanly (spark.jobs.common.run_until_done). Signalling the group would kill the JVM
        under it mid-batch."""
        if self.process.poll() is None:
            for driver in self.drivers():
                with contextlib.suppress(psutil.Error, ProcessLookupError):  # a process exiting meanwhile
                    driver.send_signal(signal.SIGTERM)

    def wait_stopped(self, deadline: float) -> int:
        """The exit code once the stream has stopped; what outlives the clean stop (or the deadline, in
        time.monotonic()) in its group is killed."""
        try:
            self.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        return self.process.returncode


def stop_streams(streams: list[Stream]) -> dict[str, int]:
    """Stop every stream at once (each finishes its running batch in parallel); each one's exit code."""
    for stream in streams:
        stream.signal_stop()
    deadline = time.monotonic() + STREAM_STOP_TIMEOUT_S
    return {stream.name: stream.wait_stopped(deadline) for stream in streams}


def start_stream(name: str, config: Path, log: Path, env: dict[str, str]) -> Stream:
    command = [sys.executable, "-m", f"spark.jobs.{name}", "--config", str(config), "--trigger", "continuous"]
    return Stream(name, spawn_detached(command, log, ROOT, env=env), log)


@dataclass
class StreamingMode:
    """What a streaming-mode run started: its settings, its streams and Airflow's components."""

    settings: Settings
    config: Path
    run_dir: Path
    streams: list[Stream]
    airflow: AirflowServices | None = None

    def check_alive(self) -> None:
        for stream in self.streams:
            stream.check_alive()
        if self.airflow is not None:
            self.airflow.check_alive()

    def dag_runs(self) -> list[dict[str, Any]]:
        """lakehouse_streaming's runs, oldest first, each with its gold task's start and its load's end."""
        if self.airflow is None:
            return []
        query = """
            select r.run_id, r.run_type, r.state, g.start_date as gold_started, l.end_date as load_finished
            from dag_run r
            left join task_instance g on g.dag_id = r.dag_id and g.run_id = r.run_id and g.task_id = 'gold'
            left join task_instance l on l.dag_id = r.dag_id and l.run_id = r.run_id and l.task_id = 'load_serving'
            where r.dag_id = ? order by r.id"""
        uri = f"file:{self.airflow.home / 'airflow.db'}?mode=ro"
        for attempt in range(10):
            try:
                with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
                    db.row_factory = sqlite3.Row
                    return [dict(row) for row in db.execute(query, (DAG_ID,))]
            except sqlite3.OperationalError:
                if attempt == 9:
                    raise
                time.sleep(1)
        return []


def wait_for(what: str, ready: Any, alive: Any, *, stall_s: float, progress: Any = None) -> None:
    """Poll `ready()` every 2 s; fail when `alive()` finds a process exited, or when `progress()` (a value that
    changes while the pipeline works) has not changed for `stall_s`: no fixed total timeout, so a bigger run is
    waited for."""
    last, since = None, time.monotonic()
    while not ready():
        alive()
        now = progress() if progress else None
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise StreamingModeError(f"no progress for {stall_s:.0f} s waiting for {what} (last seen: {last})")
        time.sleep(2)


@contextlib.contextmanager
def streaming_mode(
    run_dir: Path,
    isolation: dict[str, str],
    *,
    processing_time_s: int = 5,
    poll_s: int = 5,
    stall_s: float = 600,
) -> Iterator[StreamingMode]:
    """Build the code archive the DAG's Spark tasks run, start bronze, then silver once bronze's table exists, then
    Airflow's components; stop all of them on exit (streams first, so no commit lands after Airflow's last look).
    `isolation` holds the LAKEHOUSE_* variables naming this run's topic, lake and database; they are in this
    process's environment for the block too, since settings read the database's DSN from it at each use."""
    with environment(isolation):
        config = streaming_config(run_dir / "config.yml", processing_time_s=processing_time_s, poll_s=poll_s)
        settings = load_settings(config)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("PYSPARK_GATEWAY_PORT", None)
        logs = run_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        ensure_topic(settings)  # bronze's Kafka source fails on a topic that does not exist yet
        build_archive(ROOT / settings.airflow.runner.artifacts.archive_uri)  # the DAG's Spark tasks import it
        mode = StreamingMode(settings, config, run_dir, [])
        try:
            for name, ready in (("bronze", BRONZE_EVENTS), ("silver", SILVER_METRICS)):
                stream = start_stream(name, config, logs / f"{name}.log", env)
                mode.streams.append(stream)
                wait_for(  # silver reads bronze's table, so it starts once bronze has made it
                    f"the {name} stream's table {ready.qualified}",
                    lambda ready=ready: table_version(settings, ready) is not None,
                    mode.check_alive,
                    stall_s=stall_s,
                    progress=lambda stream=stream: stream.log.stat().st_size,
                )
            mode.airflow = start_services(config, run_dir / "airflow", nice=AIRFLOW_NICE)
            yield mode
        finally:
            stop_streams(mode.streams)
            if mode.airflow is not None:
                mode.airflow.stop()


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block (the config's ${VAR} references and the Airflow children read them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def caught_up_run(runs: list[dict[str, Any]], after: datetime) -> dict[str, Any] | None:
    """The first successful run whose gold task started after `after` (so it read every silver commit before it)."""
    for run in runs:
        started = airflow_time(run["gold_started"])
        if run["state"] == "success" and started is not None and started > after:
            return run
    return None


def airflow_time(value: str | None) -> datetime | None:
    """Airflow's SQLite timestamps ('YYYY-MM-DD HH:MM:SS.ffffff', UTC, sometimes with an offset) as aware UTC."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def last_silver_commit(settings: Settings) -> datetime:
    """When silver's newest commit that added rows was made (its Delta log entry). Not the batch's metrics row:
    that is written after the silver append, so the run the append's asset event started can begin its gold
    task in between, having read every row, and a caught-up check against the metrics would wait for a run
    that never comes. The log is read newest first, a page at a time: a long-running silver has a long history."""
    table = DeltaTable(settings.storage.uri_of(SILVER_EVENTS))
    for limit in (50, 2000, None):
        entries = table.history(limit)
        for entry in entries:
            if int((entry.get("operationMetrics") or {}).get("numOutputRows", 0)) > 0:
                return datetime.fromtimestamp(entry["timestamp"] / 1000, UTC)
        if limit is None or len(entries) < limit:
            break
    raise StreamingModeError(f"silver ({settings.storage.uri_of(SILVER_EVENTS)}) has no commit with rows")


def wait_until_published(mode: StreamingMode, manifest: dict, stall_s: float) -> dict[str, Any]:
    """Until every produced event is in the lake's ledger and a DAG run that started after silver's last commit
    has succeeded; returns that run."""
    settings = mode.settings

    def progress() -> tuple:
        runs = mode.dag_runs()
        return (table_version(settings, SILVER_METRICS), len(runs), tuple(r["state"] for r in runs[-2:]))

    wait_for(
        "silver to account for every produced event",
        lambda: all(ok for *_, ok in lake_rows(settings, manifest)),
        mode.check_alive,
        stall_s=stall_s,
        progress=progress,
    )
    after = last_silver_commit(settings)
    found: dict[str, Any] = {}

    def published() -> bool:
        run = caught_up_run(mode.dag_runs(), after)
        if run:
            found.update(run)
        return bool(run)

    what = f"a {DAG_ID} run started after {after:%H:%M:%S}"
    wait_for(what, published, mode.check_alive, stall_s=stall_s, progress=progress)
    return found
