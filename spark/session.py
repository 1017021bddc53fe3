"""The one SparkSession builder, so every job and test runs with the same Delta and sizing settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark import SparkContext
from pyspark.sql import SparkSession

from config.local_spark import driver_java_options, local_driver_conf, local_jars
from config.settings import Settings
from spark.stream_metrics import stream_driver_conf

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
PARQUET_TIMESTAMPS = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
}
"""Every instant the contract accepts (0001-01-01 on) written so every reader reads it back: INT96, Spark's
default, comes out of delta-rs as nanoseconds that overflow before 1677-09-21, and Spark 3.5 refuses to write
dates before 1582 (or read files without Spark's metadata) unless the proleptic calendar is chosen. The Scala job
sets the same (spark-scala GoldSession; tests/spark/test_spark_session.py checks they agree)."""


def build_session(settings: Settings, app_name: str) -> SparkSession:
    """Delta, UTC, Spark 4 SQL semantics and sized shuffles; local master, memory, JVM flags and jars only if no
    cluster set them; a stream's driver (app_name bronze or silver) its progress table and Prometheus endpoint.

    ANSI mode and the CORRECTED datetime parser are Spark 4's defaults, set so Spark 3.5 (Synapse) behaves the same:
    an overflow or a bad cast fails instead of writing null, and try_to_timestamp returns null instead of raising."""
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.legacy.timeParserPolicy", "CORRECTED")
        .config("spark.sql.shuffle.partitions", str(settings.spark.shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
    )
    for key, value in PARQUET_TIMESTAMPS.items():
        builder = builder.config(key, value)
    if not _master_already_set():
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(settings.spark.master).config("spark.driver.memory", settings.spark.driver_memory)
        for key, value in local_driver_conf(settings).items():
            builder = builder.config(key, value)
        jars = local_jars(settings)
        java_options = driver_java_options(settings, settings.spark.jars_dir, jars)
        if java_options:
            builder = builder.config("spark.driver.extraJavaOptions", java_options)
        if jars:
            builder = builder.config("spark.jars", ",".join(jars))
    for key, value in stream_driver_conf(settings, app_name).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _master_already_set() -> bool:
    """True under spark-submit or a cluster runtime, whose master and jars must not be overridden."""
    return (
        SparkContext._active_spark_context is not None
        or "PYSPARK_GATEWAY_PORT" in os.environ
        or "--master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    )


@contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """`key` set to `value` for the block, then back to what it was (unset if it was unset), even on error."""
    previous = spark.conf.get(key, None)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)
