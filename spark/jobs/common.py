"""Argument parsing, trigger handling, signal-driven shutdown and progress recording shared by the streaming jobs."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from config.settings import Settings
from spark.stream_metrics import ProgressRecorder

TRIGGERS = ("available-now", "continuous")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.5


def stream_arguments(doc: str, argv: list[str] | None) -> argparse.Namespace:
    """--config (else $LAKEHOUSE_CONFIG, else config/local.yml) and --trigger (else spark.stream.trigger)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", help="config YAML (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--trigger", choices=TRIGGERS, help="default: spark.stream.trigger from the config")
    return parser.parse_args(argv)


def with_trigger(writer: DataStreamWriter, trigger: str, settings: Settings) -> DataStreamWriter:
    """available-now: process what is there and stop; continuous: a batch every spark.stream.processing_time."""
    if trigger == "available-now":
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=settings.spark.stream.processing_time)


class StopRequest:
    """A signal handler that only records the first SIGINT/SIGTERM (no JVM call inside a JVM call); a second exits."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:
            name = signal.Signals(signum).name
            os.write(2, f"{name} again: exiting at once without waiting for the stream to stop\n".encode())
            os._exit(128 + signum)
        self.signum = signum


def run_until_done(query: StreamingQuery, *, poll_s: float = POLL_S) -> None:
    """Wait for the query; on SIGINT or SIGTERM stop it after its running batch and return; re-raise its failure.
    Meanwhile, and once more at the end (also after a failure), record its finished batches' progress if its
    session names a progress table (spark.stream_metrics).

    PySpark's own SIGINT handler calls into the JVM while the main thread is blocked in a JVM call, so it is
    replaced while we wait, and the wait is a loop of short awaitTermination calls that checks for a signal.
    """
    request = StopRequest()
    recorder = ProgressRecorder.active()
    previous = {sig: signal.signal(sig, request) for sig in STOP_SIGNALS}
    try:
        while request.signum is None:
            if query.awaitTermination(poll_s):
                return
            if recorder is not None:
                recorder.poll(query)
        while query.status["isTriggerActive"]:
            if query.awaitTermination(poll_s):
                break
        query.stop()
        query.awaitTermination()
        progress = query.lastProgress or {}
        print(
            f"{signal.Signals(request.signum).name} received: stopped the {query.name or query.id} stream cleanly"
            f" (last batch {progress.get('batchId', 'none')}); a restart resumes from its checkpoint",
            file=sys.stderr,
            flush=True,
        )
    finally:
        if recorder is not None:
            recorder.record(query)
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
