"""The executor-side validator on plain Arrow batches (no JVM): typed columns of valid rows, ids of rejected ones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import BooleanType, DecimalType, StructField, StructType

from kafka.contract import validate_payload
from kafka.contract_fast import check_payload
from spark.bronze import BRONZE_SCHEMA
from spark.validation import validate_batches, validated_schema
from tests.contract_events import event, event_id
from tests.hostile_payloads import payloads
from tests.property_budget import examples

INGESTED = datetime(2025, 6, 1, 13, 0, tzinfo=UTC)


def validated(values: list[bytes | None], schema: StructType | None = None) -> list[dict]:
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
            pa.array([[]] * n, to_arrow_schema(BRONZE_SCHEMA).field("headers").type),
        ],
        schema=to_arrow_schema(BRONZE_SCHEMA),
    )
    (out,) = validate_batches(schema or validated_schema(BRONZE_SCHEMA))(iter([batch]))
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


def with_price(text: str, n: int) -> bytes:
    return event(n, price_gbp=None).replace(b'"price_gbp": null', b'"price_gbp": ' + text.encode())


def test_a_valid_price_with_more_digits_than_arrow_holds_is_typed_exactly_at_silver_scale():
    """Found by hypothesis: Arrow refused the first (the stream stopped) and silently wrote the second as 0.00."""
    rows = validated(
        [
            event(1),
            with_price("1.000000000000000000000000000000000000000", 2),
            with_price("0.01000000000000000000000000000000000000000", 3),
            with_price("2E+1", 4),
        ]
    )
    assert [row["reasons"] for row in rows] == [None] * 4
    assert [row["price_gbp"] for row in rows] == [Decimal("19.99"), Decimal("1.00"), Decimal("0.01"), Decimal("20.00")]
    assert str(rows[1]["price_gbp"]) == "1.00"


def test_a_valid_row_that_cannot_be_typed_is_quarantined_as_unrepresentable_and_the_rest_kept():
    """Silver's decimal narrowed below the contract's maximum: the net must find the one row, whatever the cause."""
    fields = [
        StructField("price_gbp", DecimalType(5, 2), True) if f.name == "price_gbp" else f
        for f in validated_schema(BRONZE_SCHEMA).fields
    ]
    values = [event(n) for n in range(1, 8)]
    values[5] = with_price("100000", 6)
    rows = validated(values, StructType(fields))
    bad = rows[5]
    assert [r["reason"] for r in bad["reasons"]] == ["unrepresentable"]
    assert "ArrowInvalid" in bad["reasons"][0]["detail"]
    assert bad["event_id"] == event_id(6) and bad["value"] == values[5] and bad["price_gbp"] is None
    assert [row["reasons"] for i, row in enumerate(rows) if i != 5] == [None] * 6
    assert [row["price_gbp"] for i, row in enumerate(rows) if i != 5] == [Decimal("19.99")] * 6


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(payloads, min_size=1, max_size=12))
def test_every_value_gets_one_verdict_and_valid_ones_keep_their_exact_values(values):
    rows = validated(values)
    assert len(rows) == len(values)
    for raw, row in zip(values, rows, strict=True):
        document, violations = check_payload(raw, now=INGESTED)
        assert violations == validate_payload(raw, now=INGESTED)
        if violations:
            assert {r["reason"] for r in row["reasons"]} == {v.reason for v in violations}
            assert row["value"] == raw
            continue
        assert row["reasons"] is None and row["value"] is None
        assert row["event_id"] == document["event_id"]
        assert row["price_gbp"] == document.get("price_gbp")
        assert row["quantity"] == document.get("quantity")
        assert row["event_ts"].isoformat(timespec="milliseconds").replace("+00:00", "Z") == document["event_ts"]
