"""The Scala gold job (spark-scala/) writes exactly the PySpark gold job's fct_purchases_daily, full and incremental."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from config.settings import Settings
from scripts.bench.generated_silver import append_batch, build_silver
from scripts.bench.scala_job import build_jar, submit
from spark.gold_refresh import GoldPaths, refresh_gold

pytestmark = pytest.mark.integration

EVENTS = 20_000
SEED = 20_250_601
MART = "fct_purchases_daily"


def _table(spark: SparkSession, uri: str) -> tuple[str, list[str], dict[str, str]]:
    """Schema (names, types, nullability), every row as text (so 1.10 and 1.1 differ) and table properties."""
    df = spark.read.format("delta").load(uri)
    rows = sorted(repr(tuple(row)) for row in df.collect())
    properties = DeltaTable.forPath(spark, uri).detail().first()["properties"]
    return df.schema.json(), rows, dict(properties)


def _late_purchase(spark: SparkSession, silver: str) -> tuple[bytes, str]:
    """A new purchase on silver's first purchase day, as a Kafka payload, and that day."""
    purchases = spark.read.format("delta").load(silver).where("event_type = 'purchase'").orderBy("event_ts")
    columns = ("event_date", "schema_version", "product_id", "price_gbp", "device", "country")
    first = purchases.select(*columns).first()  # not event_ts: PySpark cannot collect an instant on 0001-01-01
    day = first["event_date"].isoformat()
    doc = {
        "event_id": "ffffffff-ffff-4fff-bfff-000000000001",
        "event_ts": f"{day}T23:59:59.999Z",
        "schema_version": first["schema_version"],
        "user_id": "u_late",
        "session_id": "s_late",
        "event_type": "purchase",
        "product_id": first["product_id"],
        "price_gbp": "PRICE",
        "quantity": 3,
        "device": first["device"],
        "country": first["country"],
    }
    payload = json.dumps(doc).replace('"PRICE"', str(first["price_gbp"]))
    return payload.encode(), day


@pytest.fixture(scope="module")
def jar() -> Path:
    return build_jar()


def test_scala_job_matches_pyspark_row_for_row(
    spark: SparkSession, spark_settings: Settings, jar: Path, tmp_path: Path
) -> None:
    tables = build_silver(spark, tmp_path / "lake", EVENTS, SEED)
    silver = tables["silver"]
    python_gold = GoldPaths(silver, str(tmp_path / "gold_python"))
    scala_mart = str(tmp_path / "gold_scala" / MART)

    refresh_gold(spark, python_gold, full_refresh=True)
    submit(spark_settings, ["--silver", silver, "--gold", scala_mart, "--full-refresh"])
    full = _table(spark, python_gold.mart(MART))
    assert len(full[1]) >= 3, "the generated silver should span several purchase days"
    assert _table(spark, scala_mart) == full

    totals = spark.read.format("delta").load(scala_mart).selectExpr("sum(purchases)", "sum(revenue_gbp)").first()
    silver_totals = (
        spark.read.format("delta").load(silver).where("event_type = 'purchase'")
        .selectExpr("count(*)", "cast(sum(price_gbp * quantity) as decimal(18,2))").first()
    )  # fmt: skip
    assert tuple(totals) == tuple(silver_totals)

    payload, day = _late_purchase(spark, silver)
    append_batch(spark, tables, [payload], batch_id=1)
    result = refresh_gold(spark, python_gold)
    assert result.plan.mode == "incremental" and result.recomputed[MART] == 1
    output, _ = submit(spark_settings, ["--silver", silver, "--gold", scala_mart, "--from-date", day, "--to-date", day])
    assert f"days {day}..{day}" in output

    late = _table(spark, python_gold.mart(MART))
    changed = set(late[1]) ^ set(full[1])
    assert len(changed) == 2 and all(repr(date.fromisoformat(day)) in row for row in changed), changed
    assert _table(spark, scala_mart) == late


def test_scala_job_in_the_dags_mode_builds_the_mart_at_golds_recorded_version(
    spark: SparkSession, spark_settings: Settings, jar: Path, tmp_path: Path
) -> None:
    """--gold-state, as the DAG runs it: silver read at the version gold's state row records (not silver's latest),
    and on the next run only the days with purchases committed since."""
    tables = build_silver(spark, tmp_path / "lake", EVENTS, SEED + 1)
    silver = tables["silver"]
    python_gold = GoldPaths(silver, str(tmp_path / "gold_python"))
    scala_mart = str(tmp_path / "gold_scala" / MART)
    dag_args = ["--silver", silver, "--gold", scala_mart, "--gold-state", python_gold.state]

    refresh_gold(spark, python_gold, full_refresh=True)
    reference = _table(spark, python_gold.mart(MART))
    payload, day = _late_purchase(spark, silver)
    append_batch(spark, tables, [payload], batch_id=1)  # after gold's run: the Scala job must not read it yet
    output, _ = submit(spark_settings, dag_args)
    assert "full refresh" in output
    assert _table(spark, scala_mart)[:2] == reference[:2]

    result = refresh_gold(spark, python_gold)
    assert result.plan.mode == "incremental" and result.recomputed[MART] == 1
    output, _ = submit(spark_settings, dag_args)
    assert f"1 day(s) {day}..{day} with new purchases" in output
    assert _table(spark, scala_mart)[:2] == _table(spark, python_gold.mart(MART))[:2]
