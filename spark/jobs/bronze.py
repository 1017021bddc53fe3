"""Usage: python -m spark.jobs.bronze [--config PATH] [--trigger available-now|continuous]

Copies the events topic into the bronze Delta table (storage.table_uri('bronze', 'events')), raw bytes plus
Kafka coordinates, partitioned by ingest_date; exactly once per Kafka offset through the Delta sink and the
checkpoint at storage.checkpoint('bronze'). The first run starts at spark.stream.starting_offsets; later runs
resume from the checkpoint. failOnDataLoss is on: if Kafka retention deleted offsets the checkpoint still
needs, the stream fails instead of skipping them silently (see docs/runbook.md to recover from bronze).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from config.catalog import BRONZE_EVENTS
from config.settings import Settings, load_settings, run_main
from kafka.client_config import DEFAULT_SASL_USERNAME
from spark.bronze import bronze_records
from spark.jobs.common import run_until_done, stream_arguments, with_trigger
from spark.session import build_session
from spark.stream_metrics import observed_event_time

PLAIN_LOGIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
DATABRICKS_PLAIN_LOGIN = f"kafkashaded.{PLAIN_LOGIN}"


def plain_login_module(environ: Mapping[str, str] = os.environ) -> str:
    """The PLAIN login module class the driver's Kafka client loads: Databricks Runtime relocates its Kafka client
    under `kafkashaded.` (and sets DATABRICKS_RUNTIME_VERSION on its drivers); everywhere else the stock class."""
    return DATABRICKS_PLAIN_LOGIN if environ.get("DATABRICKS_RUNTIME_VERSION") else PLAIN_LOGIN


def kafka_options(settings: Settings, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Kafka source options from the config; the SASL secret comes from the environment variable it names."""
    kafka, stream = settings.kafka, settings.spark.stream
    options = {
        "kafka.bootstrap.servers": kafka.bootstrap_servers,
        "subscribe": kafka.topic,
        "startingOffsets": stream.starting_offsets,
        "failOnDataLoss": "true",
        "includeHeaders": "true",
        "maxOffsetsPerTrigger": str(stream.max_offsets_per_trigger),
        "kafka.security.protocol": kafka.security.protocol,
    }
    if kafka.security.protocol != "PLAINTEXT":
        username = kafka.security.sasl_username or DEFAULT_SASL_USERNAME
        password = kafka.security.sasl_password().replace("\\", "\\\\").replace('"', '\\"')
        options["kafka.sasl.mechanism"] = kafka.security.sasl_mechanism or "PLAIN"
        login = plain_login_module(environ)
        options["kafka.sasl.jaas.config"] = f'{login} required username="{username}" password="{password}";'
    return options


def kafka_stream(spark: SparkSession, settings: Settings) -> DataFrame:
    return spark.readStream.format("kafka").options(**kafka_options(settings)).load()


def start(spark: SparkSession, settings: Settings, trigger: str) -> StreamingQuery:
    """Start the Kafka-to-bronze query with the given trigger; mergeSchema adds the headers column to a bronze
    written before bronze kept them (its columns are bronze_records', never the data's)."""
    storage = settings.storage
    writer = (
        bronze_records(kafka_stream(spark, settings))
        .transform(observed_event_time("kafka_timestamp"))
        .writeStream.format("delta")
        .queryName("bronze")
        .partitionBy("ingest_date")
        .option("checkpointLocation", storage.checkpoint("bronze"))
        .option("mergeSchema", "true")
    )
    return with_trigger(writer, trigger, settings).start(storage.uri_of(BRONZE_EVENTS))


def main(argv: list[str] | None = None) -> None:
    args = stream_arguments(__doc__, argv)
    settings = load_settings(args.config)
    spark = build_session(settings, "bronze")
    run_until_done(start(spark, settings, args.trigger or settings.spark.stream.trigger))


if __name__ == "__main__":
    run_main(main)
