"""The executor side of silver parsing: every bronze value judged by the contract's own validator, in Arrow batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from kafka.contract import REASON_CODES
from kafka.contract_fast import check_payload
from spark.contract_schema import event_struct

REASONS_TYPE = ArrayType(
    StructType(
        [
            StructField("reason", StringType(), True),
            StructField("field", StringType(), True),
            StructField("detail", StringType(), True),
        ]
    ),
    True,
)
PASSTHROUGH = ("key", "value", "topic", "partition", "offset", "ingested_at", "ingest_date")
RAW = ("key", "value")
"""Kept only on rejected rows: quarantine stores the raw record, silver never reads it, and a batch's cached
verdicts stay a fraction of the size of its payloads."""
MAX_TEXT = 200
_PRIORITY = {code: rank for rank, code in enumerate(REASON_CODES)}


def validated_schema(bronze_schema: StructType) -> StructType:
    """Bronze's columns (key and value only on rejected rows, see RAW), every contract field (null unless valid;
    event_id whenever readable), then the reasons, ordered as kafka.contract.REASON_CODES so the first is the
    earliest stage that failed."""
    kept = [
        StructField(name, bronze_schema[name].dataType, True) if name in RAW else bronze_schema[name]
        for name in PASSTHROUGH
    ]
    fields = [StructField(f.name, f.dataType, True) for f in event_struct().fields]
    return StructType([*kept, *fields, StructField("reasons", REASONS_TYPE, True)])


def validate_batches(schema: StructType) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The mapInArrow function producing `schema` (from validated_schema) for batches of bronze rows."""
    contract_fields = [f for f in schema.fields if f.name not in PASSTHROUGH and f.name != "reasons"]
    for field in contract_fields:
        _check_convertible(field)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        arrow_schema = to_arrow_schema(schema)
        parsed = pa.struct([_parsed_field(arrow_schema.field(f.name)) for f in contract_fields if f.name != "event_id"])
        for batch in batches:
            yield _validate(batch, arrow_schema, parsed)

    return run


def _validate(batch: pa.RecordBatch, arrow_schema: pa.Schema, parsed: pa.StructType) -> pa.RecordBatch:
    values = batch.column("value").to_pylist()
    ingested = batch.column("ingested_at").dictionary_encode()
    instants = [instant.astimezone(UTC) for instant in ingested.dictionary.to_pylist()]
    nows = [instants[i] for i in ingested.indices.to_pylist()]
    accepted: list[dict[str, Any] | None] = []
    event_ids: list[str | None] = []
    reasons: list[list[dict[str, str | None]] | None] = []
    for raw, now in zip(values, nows, strict=True):
        document, violations = check_payload(raw, now=now)
        if not violations:
            accepted.append(document)
            event_ids.append(document["event_id"])
            reasons.append(None)
            continue
        accepted.append(None)
        readable = document.get("event_id") if document is not None else None
        event_ids.append(_text(readable) if isinstance(readable, str) else None)
        ordered = sorted(violations, key=lambda v: _PRIORITY.get(v.reason, len(_PRIORITY)))
        reasons.append([{"reason": v.reason, "field": v.field, "detail": _text(v.detail)} for v in ordered])
    columns = dict(zip(parsed.names, pa.array(accepted, type=parsed).flatten(), strict=True))
    columns["event_id"] = pa.array(event_ids, type=pa.string())
    rejected = pa.array([r is not None for r in reasons], type=pa.bool_())
    arrays = [_only_where(rejected, batch.column(name)) if name in RAW else batch.column(name) for name in PASSTHROUGH]
    for field in arrow_schema:
        if field.name in columns:
            arrays.append(columns[field.name].cast(field.type))
    arrays.append(pa.array(reasons, type=arrow_schema.field("reasons").type))
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def _parsed_field(field: pa.Field) -> pa.Field:
    """How Arrow reads one contract field from the valid JSON objects: a timestamp as its text, which the contract
    fixes as RFC 3339 UTC milliseconds and the output cast then reads exactly; every other type as itself."""
    return pa.field(field.name, pa.string()) if pa.types.is_timestamp(field.type) else field


def _only_where(mask: pa.Array, column: pa.Array) -> pa.Array:
    """`column` where `mask` is true, null elsewhere."""
    return pc.if_else(mask, column, pa.nulls(len(column), type=column.type))


def _check_convertible(field: StructField) -> None:
    """The contract types a valid JSON value converts to exactly: text, a timestamp's text, exact decimals from
    the parser's Decimal or int, integers from int (never bool). Anything else is an error naming the field."""
    if not isinstance(field.dataType, (TimestampType, DecimalType, IntegerType, LongType, StringType)):
        raise ValueError(
            f"no conversion from a JSON value to {field.dataType.simpleString()} for contract field {field.name!r}; "
            "extend spark/validation.py"
        )


def _text(value: str) -> str:
    """Short, encodable text: lone surrogates from JSON escapes cannot be written as UTF-8."""
    return value[:MAX_TEXT].encode("utf-8", "replace").decode("utf-8")
