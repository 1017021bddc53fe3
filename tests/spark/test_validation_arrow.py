"""The executor-side validator on plain Arrow batches (no JVM): typed columns of valid rows, ids of rejected ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BooleanType, StructField, StructType

from spark.bronze import BRONZE_SCHEMA
from spark.validation import validate_batches, validated_schema
from tests.contract_events import event, event_id

INGESTED = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)


def validated(values: list[bytes | None]) -> list[dict]:
    n = len(values)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([b"u_1"] * n, pa.binary()),
            pa.array(values, pa.binary()),
            pa.array(["events"] * n),
            pa.array([0] * n, pa.int32()),
            pa.array(range(n), pa.int64()),
            pa.array([INGESTED] * n, pa.timestamp("us", tz="UTC")),
            pa.array([INGESTED] * n, pa.timestamp("us", tz="UTC")),
            pa.array([date(2025, 6, 1)] * n, pa.date32()),
        ],
        schema=to_arrow_schema(BRONZE_SCHEMA),
    )
    (out,) = validate_batches(validated_schema(BRONZE_SCHEMA))(iter([batch]))
    return out.to_pylist()


def test_valid_rows_are_typed_exactly_and_rejected_rows_keep_raw_bytes_and_readable_id():
    rows = validated(
        [
            event(1, extra={"nested": [1, 2]}),
            event(2, price_gbp=20, event_type="add_to_cart"),
            event(3, event_type="page_view", price_gbp=None, quantity=None),
            event(4, country="gb"),
            b"not json",
        ]
    )
    first, integer_price, view, bad_country, not_json = rows
    assert first["event_ts"] == datetime(2025, 6, 1, 12, 34, 56, 789000, tzinfo=UTC)
    assert (first["price_gbp"], first["quantity"], first["event_id"]) == (Decimal("19.99"), 2, event_id(1))
    assert first["reasons"] is None and first["value"] is None and first["key"] is None
    assert integer_price["price_gbp"] == Decimal("20.00") and integer_price["event_type"] == "add_to_cart"
    assert (view["price_gbp"], view["quantity"], view["product_id"]) == (None, None, "p_1")
    assert bad_country["event_id"] == event_id(4) and bad_country["country"] is None
    assert [r["reason"] for r in bad_country["reasons"]] == ["invalid_format"]
    assert bad_country["value"] == event(4, country="gb") and bad_country["key"] == b"u_1"
    assert not_json["event_id"] is None and [r["reason"] for r in not_json["reasons"]] == ["invalid_json"]


def test_a_contract_type_without_an_exact_conversion_is_an_error_naming_the_field():
    fields = [
        StructField("device", BooleanType(), True) if f.name == "device" else f
        for f in validated_schema(BRONZE_SCHEMA).fields
    ]
    with pytest.raises(ValueError, match="'device'.*extend spark/validation.py"):
        validate_batches(StructType(fields))
