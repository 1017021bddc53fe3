"""Silver: contract-valid events, typed and deduplicated by event_id; everything else to quarantine with reasons."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark.contract_schema import event_struct
from spark.validation import PASSTHROUGH, validate_batches, validated_schema

COORDINATE = ("topic", "partition", "offset")


def validated_records(bronze: DataFrame) -> DataFrame:
    """Each bronze row with the contract's verdict: typed fields if valid, reasons if not (one row out per row in).

    Only the columns the verdict keeps cross to the Python worker: bronze's Kafka `headers` (a list of structs,
    which Arrow converts slowly on the JVM side) cost more than the validator itself when they were sent along
    (docs/benchmarks.md, bench-spark, fifteenth session)."""
    kept = bronze.select(*PASSTHROUGH)
    schema = validated_schema(kept.schema)
    return kept.mapInArrow(validate_batches(schema), schema)


def valid_events(validated: DataFrame) -> DataFrame:
    """The rows the contract accepted, with event_date: the UTC day of event_ts."""
    return validated.where(F.col("reasons").isNull()).withColumn("event_date", F.to_date("event_ts"))


def repeated_ids(events: DataFrame) -> DataFrame:
    """The event_ids seen more than once in `events`: a shuffle of ids only, never of the wide rows."""
    return events.groupBy("event_id").count().where("count > 1").select("event_id")


def first_per_event_id(events: DataFrame, repeated: DataFrame | None = None) -> DataFrame:
    """One row per event_id within a batch: the one at the lowest Kafka coordinate.

    Only the ids in `repeated` (default: repeated_ids(events)) are ranked, so the rows of the usual unique ids are
    never shuffled; a caller that knows `repeated` is small passes it broadcast, and then nothing wide moves at all.
    """
    repeated = repeated_ids(events) if repeated is None else repeated
    unique = events.join(repeated, "event_id", "left_anti")
    order = Window.partitionBy("event_id").orderBy(*COORDINATE)
    ranked = events.join(repeated, "event_id", "left_semi").withColumn("_rank", F.row_number().over(order))
    return unique.unionByName(ranked.where("_rank = 1").drop("_rank"))


def not_in(events: DataFrame, existing_ids: DataFrame) -> DataFrame:
    """The events whose event_id is not among `existing_ids` (a one-column event_id frame)."""
    return events.join(existing_ids, "event_id", "left_anti")


def silver_rows(events: DataFrame, batch_id: int, app_id: str) -> DataFrame:
    """Events in the silver table's column order, stamped with the micro-batch that inserted them."""
    contract = [f.name for f in event_struct().fields]
    ordered = [contract[0], contract[1], "event_date", *contract[2:]]
    return events.select(
        *ordered,
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        "ingested_at",
        F.lit(batch_id).cast("long").alias("silver_batch_id"),
        F.lit(app_id).alias("silver_app_id"),
    )


def quarantine_rows(validated: DataFrame, batch_id: int, app_id: str) -> DataFrame:
    """The rows the contract rejected: raw bytes, coordinates, the id if readable, every reason and the first."""
    return validated.where(F.col("reasons").isNotNull()).select(
        "value",
        "key",
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        "ingested_at",
        "ingest_date",
        "event_id",
        "reasons",
        F.col("reasons")[0]["reason"].alias("reason"),
        F.current_timestamp().alias("quarantined_at"),
        F.lit(batch_id).cast("long").alias("batch_id"),
        F.lit(app_id).alias("app_id"),
    )


def offset_ranges(validated: DataFrame) -> DataFrame:
    """Per topic-partition in a batch: lowest and highest Kafka offset, rows, and rows the contract accepted."""
    return validated.groupBy("topic", "partition").agg(
        F.min("offset").alias("min_offset"),
        F.max("offset").alias("max_offset"),
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(F.col("reasons").isNull(), 1)).alias("valid"),
    )
