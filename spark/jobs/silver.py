"""Usage: python -m spark.jobs.silver [--config PATH] [--trigger available-now|continuous]

Streams the bronze Delta table into silver events (valid under kafka/schemas/event.schema.json, one row per
event_id ever), the quarantine table (everything else, with reason codes) and the per-batch metrics ledger.
Each micro-batch's three appends are idempotent on (app id, batch id), the app id living in the checkpoint at
storage.checkpoint('silver'), so a crash and re-run gives the same tables as a run without the crash.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from config.catalog import BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, SILVER_METRICS
from config.settings import Settings, load_settings, run_main
from spark.idempotent_writes import stream_app_id
from spark.jobs.common import run_until_done, stream_arguments, with_trigger
from spark.session import build_session
from spark.silver_batch import SilverBatchWriter
from spark.silver_tables import ensure_silver_tables
from spark.stream_metrics import observed_event_time


def start(spark: SparkSession, settings: Settings, trigger: str) -> StreamingQuery:
    """Create the silver tables if needed and start the bronze-to-silver query with the given trigger."""
    storage = settings.storage
    bronze = storage.uri_of(BRONZE_EVENTS)
    if not DeltaTable.isDeltaTable(spark, bronze):
        raise SystemExit(f"no bronze Delta table at {bronze}: run the bronze job (make bronze) first")
    tables = {
        "silver": storage.uri_of(SILVER_EVENTS),
        "quarantine": storage.uri_of(QUARANTINE),
        "metrics": storage.uri_of(SILVER_METRICS),
    }
    ensure_silver_tables(spark, **tables)
    checkpoint = storage.checkpoint("silver")
    writer = SilverBatchWriter(**tables, app_id=stream_app_id(spark, checkpoint))
    stream = (
        spark.readStream.format("delta")
        .option("maxFilesPerTrigger", settings.spark.stream.max_files_per_trigger)
        .load(bronze)
        .transform(observed_event_time("kafka_timestamp"))
        .writeStream.queryName("silver")
        .foreachBatch(writer)
        .option("checkpointLocation", checkpoint)
    )
    return with_trigger(stream, trigger, settings).start()


def main(argv: list[str] | None = None) -> None:
    args = stream_arguments(__doc__, argv)
    settings = load_settings(args.config)
    spark = build_session(settings, "silver")
    run_until_done(start(spark, settings, args.trigger or settings.spark.stream.trigger))


if __name__ == "__main__":
    run_main(main)
