"""Bronze: the Kafka records exactly as received, with their coordinates, so any later layer can be rebuilt."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DateType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

BRONZE_SCHEMA = StructType(
    [
        StructField("key", BinaryType()),
        StructField("value", BinaryType()),
        StructField("topic", StringType()),
        StructField("partition", IntegerType()),
        StructField("offset", LongType()),
        StructField("kafka_timestamp", TimestampType()),
        StructField("ingested_at", TimestampType()),
        StructField("ingest_date", DateType()),
        StructField(
            "headers",
            ArrayType(StructType([StructField("key", StringType()), StructField("value", BinaryType())])),
        ),
    ]
)
"""The columns bronze_records gives, for frames that stand in for bronze without a broker (tests, training runs)."""


def bronze_records(kafka_df: DataFrame) -> DataFrame:
    """One row per Kafka record: raw key and value, coordinates, broker and ingestion time and the record's headers
    (the record as received; the source needs includeHeaders); nothing parsed."""
    return kafka_df.withColumn("ingested_at", F.current_timestamp()).select(
        F.col("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        F.col("ingested_at"),
        F.to_date("ingested_at").alias("ingest_date"),
        F.col("headers"),
    )
