"""No record stops silver: hostile values through the real micro-batch land in silver, quarantine or the duplicates."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable as RustDeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from config.catalog import MARTS
from kafka.contract import validate_payload
from spark.gold_refresh import GoldPaths, refresh_gold
from spark.silver_batch import SilverBatchWriter
from spark.silver_tables import ensure_silver_tables
from tests.contract_events import event, event_id
from tests.hostile_payloads import payloads
from tests.property_budget import examples
from tests.spark.silver_inputs import INGESTED, bronze_frame

FORTY_DIGITS = "1.000000000000000000000000000000000000000"


@pytest.fixture(scope="module")
def tables(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("poison")
    paths = {name: str(root / name) for name in ("silver", "quarantine", "metrics")}
    ensure_silver_tables(spark, **paths)
    return paths


batch_ids = itertools.count(100)


def with_price(text: str, n: int) -> bytes:
    return event(n, price_gbp=None).replace(b'"price_gbp": null', b'"price_gbp": ' + text.encode())


def run_batch(spark, tables, values: list[bytes | None]) -> int:
    batch_id = next(batch_ids)
    writer = SilverBatchWriter(**tables, app_id="poison")
    writer(bronze_frame(spark, values, partition=batch_id), batch_id)
    return batch_id


def test_the_issue_poison_records_land_where_they_belong_and_old_instants_read_back_in_delta_rs(spark, tables):
    values = [
        with_price(FORTY_DIGITS, 1),
        event(2, event_ts="1600-01-01T00:00:00.000Z"),
        event(3, event_ts="0001-01-01T00:00:00.000Z"),
        event(4, user_id="u_1\n"),
        event(5),
    ]
    batch_id = run_batch(spark, tables, values)
    silver = spark.read.format("delta").load(tables["silver"]).where(f"kafka_partition = {batch_id}")
    prices = {r.event_id: r.price_gbp for r in silver.select("event_id", "price_gbp").collect()}
    assert set(prices) == {event_id(n) for n in (1, 2, 3, 5)}
    assert prices[event_id(1)] == Decimal("1.00")
    quarantine = spark.read.format("delta").load(tables["quarantine"]).where(f"kafka_partition = {batch_id}")
    assert [(r.event_id, r.reason) for r in quarantine.collect()] == [(event_id(4), "invalid_format")]
    rust = RustDeltaTable(tables["silver"]).to_pyarrow_table(filters=[("kafka_partition", "=", batch_id)])
    instants = {row["event_id"]: row["event_ts"] for row in rust.to_pylist()}
    assert instants[event_id(2)] == datetime(1600, 1, 1, tzinfo=UTC)
    assert instants[event_id(3)] == datetime(1, 1, 1, tzinfo=UTC)
    gold = GoldPaths(silver=tables["silver"], gold_dir=str(Path(tables["silver"]).parent / "gold"))
    refresh_gold(spark, gold, full_refresh=True)
    users = RustDeltaTable(gold.mart("dim_users")).to_pyarrow_table().to_pylist()
    assert min(row["first_seen_at"] for row in users) == datetime(1, 1, 1, tzinfo=UTC)
    for name in MARTS:
        RustDeltaTable(gold.mart(name)).to_pyarrow_table()


def test_silver_constraints_read_the_contract_patterns_as_ecma_262(spark, tables):
    """The Delta CHECK is the last gate: Java's `$` would also let "u_1\\n" through."""
    batch_id = run_batch(spark, tables, [event(990_001)])
    silver = spark.read.format("delta").load(tables["silver"]).where(f"kafka_partition = {batch_id}")
    rows = silver.withColumn("user_id", F.lit("u_1\n"))
    assert rows.count() == 1
    with pytest.raises(Exception, match="contract_user_id"):
        rows.write.format("delta").mode("append").save(tables["silver"])


@settings(max_examples=examples(6), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(payloads, min_size=1, max_size=40))
def test_every_value_in_a_micro_batch_ends_in_exactly_one_place(spark, tables, values):
    known = {r.event_id for r in spark.read.format("delta").load(tables["silver"]).select("event_id").collect()}
    batch_id = run_batch(spark, tables, values)
    silver = (
        spark.read.format("delta")
        .load(tables["silver"])
        .where(f"kafka_partition = {batch_id}")
        .select("event_id")
        .collect()
    )
    quarantine = spark.read.format("delta").load(tables["quarantine"]).where(f"kafka_partition = {batch_id}")
    (ledger,) = spark.read.format("delta").load(tables["metrics"]).where(f"batch_id = {batch_id}").collect()
    verdicts = [validate_payload(raw, now=INGESTED) for raw in values]
    bad = {offset for offset, found in enumerate(verdicts) if found}
    assert {r.kafka_offset for r in quarantine.collect()} == bad
    assert {r.kafka_offset for r in quarantine.where("reason = 'unrepresentable'").collect()} == set()
    valid_ids = [_id(values[o]) for o in range(len(values)) if o not in bad]
    first_new = {i for i in valid_ids if i not in known}
    assert sorted(r.event_id for r in silver) == sorted(first_new)
    assert (ledger.rows_in, ledger.quarantined, ledger.inserted) == (len(values), len(bad), len(first_new))
    assert ledger.duplicates == len(valid_ids) - len(first_new)


def _id(raw: bytes) -> str:
    return json.loads(raw)["event_id"]
