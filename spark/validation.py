"""The executor side of silver parsing: every bronze value judged by the contract's own validator, in Arrow batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    DataType,
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
    converters = [(f.name, _converter(f.dataType)) for f in contract_fields]

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        arrow_schema = to_arrow_schema(schema)
        for batch in batches:
            yield _validate(batch, arrow_schema, converters)

    return run


def _validate(
    batch: pa.RecordBatch, arrow_schema: pa.Schema, converters: list[tuple[str, Callable[[Any], Any] | None]]
) -> pa.RecordBatch:
    values = batch.column("value").to_pylist()
    ingested = batch.column("ingested_at").dictionary_encode()
    instants = [instant.astimezone(UTC) for instant in ingested.dictionary.to_pylist()]
    nows = [instants[i] for i in ingested.indices.to_pylist()]
    accepted: list[dict[str, Any] | None] = []
    rejected_ids: dict[int, str] = {}
    reasons: list[list[dict[str, str | None]] | None] = []
    for row, (raw, now) in enumerate(zip(values, nows, strict=True)):
        document, violations = check_payload(raw, now=now)
        if not violations:
            accepted.append(document)
            reasons.append(None)
            continue
        accepted.append(None)
        if document is not None and isinstance(document.get("event_id"), str):
            rejected_ids[row] = _text(document["event_id"])
        ordered = sorted(violations, key=lambda v: _PRIORITY.get(v.reason, len(_PRIORITY)))
        reasons.append([{"reason": v.reason, "field": v.field, "detail": _text(v.detail)} for v in ordered])
    columns = {name: _column(accepted, name, convert) for name, convert in converters}
    for row, event_id in rejected_ids.items():
        columns["event_id"][row] = event_id
    rejected = pa.array([r is not None for r in reasons], type=pa.bool_())
    arrays = [_only_where(rejected, batch.column(name)) if name in RAW else batch.column(name) for name in PASSTHROUGH]
    for field in arrow_schema:
        if field.name in columns:
            arrays.append(pa.array(columns[field.name], type=field.type))
    arrays.append(pa.array(reasons, type=arrow_schema.field("reasons").type))
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


def _column(documents: list[dict[str, Any] | None], name: str, convert: Callable[[Any], Any] | None) -> list[Any]:
    """One contract field of every row (None where the row was rejected or the field is null), converted."""
    values = [None if document is None else document.get(name) for document in documents]
    if convert is None:
        return values
    return [None if value is None else convert(value) for value in values]


def _only_where(mask: pa.Array, column: pa.Array) -> pa.Array:
    """`column` where `mask` is true, null elsewhere."""
    return pc.if_else(mask, column, pa.nulls(len(column), type=column.type))


def _converter(data_type: DataType) -> Callable[[Any], Any] | None:
    """How one valid JSON value becomes the Python value Arrow stores for its contract type (None: as it is)."""
    if isinstance(data_type, TimestampType):
        return datetime.fromisoformat
    if isinstance(data_type, DecimalType):
        return Decimal
    if isinstance(data_type, (IntegerType, LongType)):
        return int
    if isinstance(data_type, StringType):
        return None
    raise ValueError(f"no converter from a JSON value to {data_type.simpleString()}; extend spark/validation.py")


def _text(value: str) -> str:
    """Short, encodable text: lone surrogates from JSON escapes cannot be written as UTF-8."""
    return value[:MAX_TEXT].encode("utf-8", "replace").decode("utf-8")
