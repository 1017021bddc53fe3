"""The silver, quarantine and metrics Delta tables: schemas, partitioning, properties and contract constraints."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
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

from kafka.contract import CrossFieldRule, cross_field_rules, ecma_regex
from spark.contract_schema import contract_document, event_struct
from spark.validation import REASONS_TYPE

_log = logging.getLogger(__name__)
JAVA_END_OF_INPUT = r"\z"
CDF = {"delta.enableChangeDataFeed": "true"}
SILVER_STATS_COLUMNS = ("event_ts", "silver_batch_id", "silver_app_id")
"""The silver columns Delta keeps file statistics for: time-range queries, and finding one micro-batch's files
(SilverBatchWriter counts what it inserted). Statistics on every column cost ~3 s per million rows appended."""
SILVER_PLAIN_COLUMNS = ("event_id", "event_ts", "user_id", "session_id", "kafka_offset")
"""The silver columns Parquet writes without trying a dictionary. Their values are nearly all distinct within a
file, so the dictionary overflows its page and Parquet falls back to plain encoding anyway, after hashing the
first tens of thousands of values of every column chunk: ~15% of a warm append (docs/benchmarks.md)."""


def silver_schema() -> StructType:
    """Contract fields (required ones NOT NULL) with event_date after event_ts, then lineage columns."""
    fields = event_struct().fields
    return StructType(
        [
            fields[0],
            fields[1],
            StructField("event_date", DateType(), False),
            *fields[2:],
            StructField("kafka_topic", StringType(), False),
            StructField("kafka_partition", IntegerType(), False),
            StructField("kafka_offset", LongType(), False),
            StructField("ingested_at", TimestampType(), False),
            StructField("silver_batch_id", LongType(), False),
            StructField("silver_app_id", StringType(), False),
        ]
    )


def quarantine_schema() -> StructType:
    return StructType(
        [
            StructField("value", BinaryType(), True),
            StructField("key", BinaryType(), True),
            StructField("kafka_topic", StringType(), False),
            StructField("kafka_partition", IntegerType(), False),
            StructField("kafka_offset", LongType(), False),
            StructField("ingested_at", TimestampType(), False),
            StructField("ingest_date", DateType(), False),
            StructField("event_id", StringType(), True),
            StructField("reasons", REASONS_TYPE, False),
            StructField("reason", StringType(), False),
            StructField("quarantined_at", TimestampType(), False),
            StructField("batch_id", LongType(), False),
            StructField("app_id", StringType(), False),
        ]
    )


OFFSET_RANGE = StructType(
    [
        StructField("topic", StringType(), True),
        StructField("partition", IntegerType(), True),
        StructField("min_offset", LongType(), True),
        StructField("max_offset", LongType(), True),
    ]
)


def metrics_schema() -> StructType:
    return StructType(
        [
            StructField("stream", StringType(), False),
            StructField("batch_id", LongType(), False),
            StructField("app_id", StringType(), False),
            StructField("rows_in", LongType(), False),
            StructField("inserted", LongType(), False),
            StructField("quarantined", LongType(), False),
            StructField("duplicates", LongType(), False),
            StructField("offsets", ArrayType(OFFSET_RANGE, True), False),
            StructField("processed_at", TimestampType(), False),
        ]
    )


def ensure_silver_tables(spark: SparkSession, silver: str, quarantine: str, metrics: str) -> None:
    """Create the three tables if absent (idempotent) and add any contract constraint an older silver lacks."""
    constraints = contract_constraints()
    _create(
        spark,
        silver,
        silver_schema(),
        ["event_date"],
        {
            **CDF,
            "delta.dataSkippingStatsColumns": ",".join(SILVER_STATS_COLUMNS),
            **plain_encoded(SILVER_PLAIN_COLUMNS),
            **{f"delta.constraints.{name}": check for name, check in constraints.items()},
        },
    )
    _create(spark, quarantine, quarantine_schema(), ["ingest_date"], {})
    _create(spark, metrics, metrics_schema(), [], {})
    existing = {
        key.removeprefix("delta.constraints."): value
        for key, value in DeltaTable.forPath(spark, silver).detail().first()["properties"].items()
        if key.startswith("delta.constraints.")
    }
    for name, expression in constraints.items():
        if name not in existing:
            spark.sql(f"ALTER TABLE delta.`{silver}` ADD CONSTRAINT {name} CHECK ({expression})")
        elif existing[name] != expression:
            _replace_constraint(spark, silver, name, existing[name], expression)


def _replace_constraint(spark: SparkSession, table: str, name: str, old: str, new: str) -> None:
    """Swap a constraint for the contract's current one; if rows already in the table break the new one, keep the
    old and warn (silver keeps flowing, the validator still gates every new row) so an operator can repair them."""
    spark.sql(f"ALTER TABLE delta.`{table}` DROP CONSTRAINT {name}")
    try:
        spark.sql(f"ALTER TABLE delta.`{table}` ADD CONSTRAINT {name} CHECK ({new})")
    except AnalysisException as exc:
        spark.sql(f"ALTER TABLE delta.`{table}` ADD CONSTRAINT {name} CHECK ({old})")
        _log.warning(
            "silver %s: rows already there break the contract's current constraint %s (%s), so the old check (%s) "
            "stays; find them with SELECT * FROM delta.`%s` WHERE NOT (%s) and see docs/runbook.md. Cause: %s",
            table,
            name,
            new,
            old,
            table,
            new,
            str(exc).splitlines()[0],
        )


def plain_encoded(columns: tuple[str, ...]) -> dict[str, str]:
    """Table properties that turn Parquet's dictionary off for `columns`: Delta hands a table's properties to the
    Parquet writer of its writes (appends and OPTIMIZE's rewrites are tested), which reads them per column."""
    return {f"parquet.enable.dictionary#{name}": "false" for name in columns}


def contract_constraints(contract: dict[str, Any] | None = None) -> dict[str, str]:
    """Delta CHECK constraints for the contract's enums, bounds, cross-field rules and patterns of string columns."""
    contract = contract or contract_document()
    checks: dict[str, str] = {}
    for name, definition in contract["properties"].items():
        parts = []
        if "enum" in definition:
            parts.append(f"{name} IN ({', '.join(_sql_literal(v) for v in definition['enum'])})")
        if "pattern" in definition and definition.get("x-logical-type") == "string":
            java_regex = ecma_regex(definition["pattern"], end_of_input=JAVA_END_OF_INPUT)
            parts.append(f"{name} RLIKE {_sql_literal(java_regex)}")
        for keyword, operator in (
            ("minimum", ">="),
            ("exclusiveMinimum", ">"),
            ("maximum", "<="),
            ("exclusiveMaximum", "<"),
        ):
            if keyword in definition:
                parts.append(f"{name} {operator} {Decimal(str(definition[keyword]))}")
        if parts:
            checks[f"contract_{name}"] = f"{name} IS NULL OR ({' AND '.join(parts)})"
    for index, rule in enumerate(cross_field_rules(contract)):
        checks[f"contract_rule_{index}"] = _rule_check(rule)
    return checks


def _rule_check(rule: CrossFieldRule) -> str:
    """`NOT condition OR consequence`: a column is null whether its property was absent or null."""
    clauses = [f"{name} IS NOT NULL" for name in (*rule.required, *rule.not_null)]
    clauses += [f"{name} IS NULL" for name in rule.null]
    values = ", ".join(_sql_literal(v) for v in rule.values)
    return f"{rule.key} IS NULL OR {rule.key} NOT IN ({values}) OR ({' AND '.join(dict.fromkeys(clauses))})"


def _create(spark: SparkSession, path: str, schema: StructType, partitions: list[str], props: dict) -> None:
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partitions:
        builder = builder.partitionedBy(*partitions)
    for key, value in props.items():
        builder = builder.property(key, value)
    builder.execute()


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return str(value)
