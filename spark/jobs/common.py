"""Argument parsing and trigger handling shared by the streaming entry points."""

from __future__ import annotations

import argparse

from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

from config.settings import Settings

TRIGGERS = ("available-now", "continuous")


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


def run_until_done(query: StreamingQuery) -> None:
    """Wait for the query; stop it cleanly on Ctrl-C; re-raise its failure so the exit code is non-zero."""
    try:
        query.awaitTermination()
    except KeyboardInterrupt:
        query.stop()
