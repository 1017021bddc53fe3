"""The executor side of silver parsing: every bronze value judged by the contract's own validator, in Arrow batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC
from decimal import Decimal, Inexact, InvalidOperation, localcontext
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

from kafka.contract import REASON_CODES, UNREPRESENTABLE
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
    scales = tuple(
        (f.name, f.type.scale) for f in arrow_schema if pa.types.is_decimal(f.type) and f.name in parsed.names
    )
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
            _at_silver_scale(document, scales)
            accepted.append(document)
            event_ids.append(document["event_id"])
            reasons.append(None)
            continue
        accepted.append(None)
        readable = document.get("event_id") if document is not None else None
        event_ids.append(_text(readable) if isinstance(readable, str) else None)
        ordered = sorted(violations, key=lambda v: _PRIORITY.get(v.reason, len(_PRIORITY)))
        reasons.append([{"reason": v.reason, "field": v.field, "detail": _text(v.detail)} for v in ordered])
    targets = [arrow_schema.field(name) for name in parsed.names]
    try:
        columns = _contract_columns(accepted, parsed, targets)
    except CONVERSION_ERRORS:
        columns = _isolate_unrepresentable(accepted, reasons, parsed, targets)
    columns["event_id"] = pa.array(event_ids, type=pa.string())
    rejected = pa.array([r is not None for r in reasons], type=pa.bool_())
    arrays = [_only_where(rejected, batch.column(name)) if name in RAW else batch.column(name) for name in PASSTHROUGH]
    arrays += [columns[field.name] for field in arrow_schema if field.name in columns]
    arrays.append(pa.array(reasons, type=arrow_schema.field("reasons").type))
    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema)


CONVERSION_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    OverflowError,
    ValueError,
    TypeError,
)
"""What turning values into Arrow raises when a value does not fit its type; a MemoryError or a broken worker is
the platform's failure and is never caught."""


def _contract_columns(
    documents: list[dict[str, Any] | None], parsed: pa.StructType, targets: list[pa.Field]
) -> dict[str, pa.Array]:
    """The silver-typed column of every contract field (event_id aside) for `documents`, null where a row is None."""
    columns = pa.array(documents, type=parsed).flatten()
    return {field.name: column.cast(field.type) for field, column in zip(targets, columns, strict=True)}


def _isolate_unrepresentable(
    accepted: list[dict[str, Any] | None],
    reasons: list[list[dict[str, str | None]] | None],
    parsed: pa.StructType,
    targets: list[pa.Field],
) -> dict[str, pa.Array]:
    """The batch's columns once every contract-valid row that cannot be typed is found (by bisection, so the cause
    need not be known) and turned into a quarantine row with reason UNREPRESENTABLE."""
    documents = list(accepted)
    for index, error in _unconvertible(documents, list(range(len(documents))), parsed, targets):
        documents[index] = None
        reasons[index] = [
            {"reason": UNREPRESENTABLE, "field": None, "detail": _text(f"{type(error).__name__}: {error}")}
        ]
    return _contract_columns(documents, parsed, targets)


def _unconvertible(
    documents: list[dict[str, Any] | None], indices: list[int], parsed: pa.StructType, targets: list[pa.Field]
) -> Iterator[tuple[int, Exception]]:
    """The indices among `indices` whose document alone fails _contract_columns, with the error: halves that
    convert are cleared in one call each."""
    try:
        _contract_columns([documents[i] for i in indices], parsed, targets)
    except CONVERSION_ERRORS as error:
        if len(indices) == 1:
            yield indices[0], error
            return
        middle = len(indices) // 2
        yield from _unconvertible(documents, indices[:middle], parsed, targets)
        yield from _unconvertible(documents, indices[middle:], parsed, targets)


def _at_silver_scale(document: dict[str, Any], scales: tuple[tuple[str, int], ...]) -> None:
    """Write each decimal field with more places than its column's scale at that scale, in place. The contract has
    already checked the places, so only trailing zeros go; Arrow would otherwise refuse 1.000...0 (40 digits) and
    silently turn 0.0100...0 (41 digits) into 0.00."""
    for name, scale in scales:
        value = document.get(name)
        if type(value) is Decimal and value.as_tuple().exponent < -scale:
            exact = _quantized(value, scale)
            if exact is not None:
                document[name] = exact


def _quantized(value: Decimal, scale: int) -> Decimal | None:
    """`value` with exactly `scale` places if that loses nothing, else None (left for Arrow to refuse)."""
    with localcontext() as context:
        context.prec = max(38, len(value.as_tuple().digits) + scale + 2)
        context.traps[Inexact] = True
        try:
            return value.quantize(Decimal(1).scaleb(-scale))
        except (Inexact, InvalidOperation):
            return None


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
