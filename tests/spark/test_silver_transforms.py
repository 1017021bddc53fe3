"""Silver parsing: every hostile input ends valid and exactly typed, or quarantined with the contract's reasons."""

from __future__ import annotations

import json
from decimal import Decimal

from pyspark.sql import functions as F

from kafka.contract import validate_payload
from spark.silver import (
    first_per_event_id,
    not_in,
    quarantine_rows,
    repeated_ids,
    silver_rows,
    valid_events,
    validated_records,
)
from spark.silver_tables import quarantine_schema, silver_schema
from tests.contract_events import event, event_id
from tests.spark.silver_inputs import INGESTED, bronze_frame


def without(raw: bytes, field: str) -> bytes:
    """The event `raw` with `field` removed."""
    return json.dumps({k: v for k, v in json.loads(raw).items() if k != field}).encode()


HOSTILE = [
    (b'{"event_id": "\xff"}', "invalid_utf8"),
    (event(1, user_id="u\x00").replace(b"\\u0000", b"\x00"), "invalid_json"),
    (event(2, user_id="u\x00"), "invalid_format"),
    (event(3, pad="x" * 1_000_000), None),
    (b"[1, 2]", "not_an_object"),
    (event(4, price_gbp="19.99"), "wrong_type"),
    (event(5).replace(b"19.99", b"NaN"), "invalid_json"),
    (event(6).replace(b"19.99", b"Infinity"), "invalid_json"),
    (event(7, event_ts="2025-06-01T13:34:56.789+01:00"), "invalid_format"),
    (event(8, event_ts="2025-06-01 12:34:56"), "invalid_format"),
    (event(9, extra={"nested": [1]}), None),
    (b"", "invalid_json"),
    (None, "invalid_json"),
    (event(10, event_ts="2025-06-01T13:05:00.001Z"), "future_timestamp"),
    (event(11, event_type="page_view"), "rule_violation"),
    (event(12).replace(b"19.99", b"19.999"), "out_of_range"),
    (event(13, event_type="refund"), "invalid_enum"),
    (event(14, quantity=None), "rule_violation"),
    (event(event_id="\ud800abc"), "invalid_format"),
    (without(event(15), "session_id"), "missing_field"),
]


def test_every_hostile_input_is_valid_or_quarantined_with_the_contract_reasons(spark):
    validated = validated_records(bronze_frame(spark, [raw for raw, _ in HOSTILE])).collect()
    assert len(validated) == len(HOSTILE)
    for row, (raw, primary) in zip(sorted(validated, key=lambda r: r.offset), HOSTILE, strict=True):
        expected = validate_payload(raw, now=INGESTED)
        if primary is None:
            assert row.reasons is None and expected == []
            continue
        assert row.reasons[0].reason == primary, (raw[:80] if raw else raw, row.reasons)
        assert {(r.reason, r.field) for r in row.reasons} == {(v.reason, v.field) for v in expected}


def test_valid_events_are_typed_exactly(spark):
    values = [
        event(1, price_gbp=0.1),
        event(2).replace(b"19.99", b"99999.99"),
        event(3, event_type="page_view", price_gbp=None, quantity=None, product_id=None),
    ]
    rows = {r.event_id: r for r in valid_events(validated_records(bronze_frame(spark, values))).collect()}
    assert rows[event_id(1)].price_gbp == Decimal("0.10")
    assert rows[event_id(2)].price_gbp == Decimal("99999.99")
    assert rows[event_id(3)].price_gbp is None and rows[event_id(3)].quantity is None
    first = rows[event_id(1)]
    assert first.quantity == 2
    assert str(first.event_date) == "2025-06-01"
    stamped = spark.createDataFrame([(1,)], "x int").select(F.to_timestamp(F.lit("2025-06-01 12:34:56.789")))
    assert first.event_ts == stamped.first()[0]


def test_timestamps_near_midnight_get_the_utc_date(spark):
    values = [event(1, event_ts="2025-05-31T23:59:59.999Z"), event(2, event_ts="2025-06-01T00:00:00.000Z")]
    rows = valid_events(validated_records(bronze_frame(spark, values))).select("event_id", "event_date")
    assert {r.event_id: str(r.event_date) for r in rows.collect()} == {
        event_id(1): "2025-05-31",
        event_id(2): "2025-06-01",
    }


def test_first_per_event_id_keeps_the_lowest_coordinate(spark):
    same = [event(1, quantity=1), event(1, quantity=2), event(2), event(1, quantity=3)]
    bronze = bronze_frame(spark, same, partition=1, first_offset=10).unionByName(
        bronze_frame(spark, [event(1, quantity=4)], partition=0, first_offset=99)
    )
    kept = first_per_event_id(valid_events(validated_records(bronze))).select("event_id", "partition", "quantity")
    assert sorted(tuple(r) for r in kept.collect()) == [(event_id(1), 0, 4), (event_id(2), 1, 1 + 1)]


def test_first_per_event_id_with_a_broadcast_repeated_set_keeps_the_same_rows(spark):
    same = [event(1, quantity=1), event(2), event(1, quantity=3), event(3)]
    events = valid_events(validated_records(bronze_frame(spark, same, partition=2, first_offset=5)))
    repeated = repeated_ids(events)
    assert [r.event_id for r in repeated.collect()] == [event_id(1)]
    kept = first_per_event_id(events, F.broadcast(repeated)).select("event_id", "offset", "quantity")
    assert sorted(tuple(r) for r in kept.collect()) == [(event_id(1), 5, 1), (event_id(2), 6, 2), (event_id(3), 8, 2)]


def test_raw_key_and_value_are_kept_only_on_rejected_rows(spark):
    rows = validated_records(bronze_frame(spark, [event(1), b"oops"])).orderBy("offset").collect()
    assert (rows[0].reasons, rows[0].key, rows[0].value) == (None, None, None)
    assert (rows[1].reasons[0].reason, bytes(rows[1].value)) == ("invalid_json", b"oops")
    assert rows[1].key is not None


def test_not_in_drops_known_ids(spark):
    events = valid_events(validated_records(bronze_frame(spark, [event(1), event(2)])))
    known = spark.createDataFrame([(event_id(2),)], "event_id string")
    assert [r.event_id for r in not_in(events, known).collect()] == [event_id(1)]


def test_output_frames_match_the_table_schemas(spark):
    validated = validated_records(bronze_frame(spark, [event(1), b"oops"]))
    silver = silver_rows(valid_events(validated), 3, "app")
    quarantine = quarantine_rows(validated, 3, "app")
    assert [(f.name, f.dataType) for f in silver.schema] == [(f.name, f.dataType) for f in silver_schema()]
    assert [(f.name, f.dataType) for f in quarantine.schema] == [(f.name, f.dataType) for f in quarantine_schema()]
    row = quarantine.first()
    assert (row.reason, row.kafka_offset, bytes(row.value), row.batch_id) == ("invalid_json", 1, b"oops", 3)
