"""Each gold mart against hand-computed rows, including a session across midnight and exact pence."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, SparkSession

from spark.gold import dim_products, dim_users, fct_funnel_daily, fct_purchases_daily, fct_sessions, ratio
from tests.spark.gold_rows import assert_frames_equal, day, event, events, ts

COLUMNS = {
    dim_users: "user_id:string first_seen_at:timestamp last_seen_at:timestamp events:bigint sessions:bigint "
    "purchases:bigint revenue_gbp:decimal(18,2)",
    dim_products: "product_id:string views:bigint add_to_carts:bigint purchases:bigint units:bigint "
    "revenue_gbp:decimal(18,2)",
    fct_purchases_daily: "event_date:date purchases:bigint units:bigint revenue_gbp:decimal(18,2) "
    "purchasing_users:bigint",
    fct_sessions: "session_id:string user_id:string started_at:timestamp ended_at:timestamp duration_s:bigint "
    "events:bigint page_views:bigint add_to_carts:bigint purchases:bigint converted:boolean "
    "revenue_gbp:decimal(18,2) session_date:date",
}
FUNNEL_COLUMNS = (
    "event_date:date sessions:bigint sessions_with_view:bigint sessions_with_add_to_cart:bigint "
    "sessions_with_purchase:bigint view_to_cart_rate:decimal(9,4) cart_to_purchase_rate:decimal(9,4) "
    "conversion_rate:decimal(9,4)"
)

# s1: u1 buys 2 x p1 at 19.99 on 1 March; s2: u2 starts at 23:59:30 on 1 March and buys after midnight;
# s3: u1 only looks at p2 on 2 March. Event 4 is a page view without a product.
SILVER = [
    event("1", "2024-03-01 10:00:00", "u1", "s1", "page_view", "p1"),
    event("2", "2024-03-01 10:01:00", "u1", "s1", "add_to_cart", "p1", "19.99", 2),
    event("3", "2024-03-01 10:02:30", "u1", "s1", "purchase", "p1", "19.99", 2),
    event("4", "2024-03-01 23:59:30", "u2", "s2", "page_view"),
    event("5", "2024-03-02 00:00:10", "u2", "s2", "add_to_cart", "p2", "0.10", 3),
    event("6", "2024-03-02 00:01:00", "u2", "s2", "purchase", "p2", "0.10", 3),
    event("7", "2024-03-02 00:01:05", "u2", "s2", "purchase", "p1", "19.99", 1),
    event("8", "2024-03-02 09:00:00", "u1", "s3", "page_view", "p2"),
]


def _columns(df: DataFrame) -> str:
    return " ".join(f"{f.name}:{f.dataType.simpleString()}" for f in df.schema.fields)


def _check(spark: SparkSession, actual: DataFrame, columns: str, rows: list[tuple]) -> None:
    assert _columns(actual) == columns
    assert_frames_equal(actual, spark.createDataFrame(rows, actual.schema))


@pytest.fixture(scope="module")
def silver(spark: SparkSession) -> DataFrame:
    return events(spark, SILVER)


def test_dim_users_one_row_per_user_with_lifetime_revenue(spark, silver):
    _check(spark, silver.transform(dim_users), COLUMNS[dim_users], [
        ("u1", ts("2024-03-01 10:00:00"), ts("2024-03-02 09:00:00"), 4, 2, 1, Decimal("39.98")),
        ("u2", ts("2024-03-01 23:59:30"), ts("2024-03-02 00:01:05"), 4, 1, 2, Decimal("20.29")),
    ])  # fmt: skip


def test_dim_products_skips_views_without_a_product(spark, silver):
    _check(spark, silver.transform(dim_products), COLUMNS[dim_products], [
        ("p1", 1, 1, 2, 3, Decimal("59.97")),
        ("p2", 1, 1, 1, 3, Decimal("0.30")),
    ])  # fmt: skip


def test_fct_purchases_daily_counts_purchases_on_their_own_day(spark, silver):
    _check(spark, silver.transform(fct_purchases_daily), COLUMNS[fct_purchases_daily], [
        (day("2024-03-01"), 1, 2, Decimal("39.98"), 1),
        (day("2024-03-02"), 2, 4, Decimal("20.29"), 1),
    ])  # fmt: skip


def test_fct_sessions_dates_a_session_across_midnight_by_its_first_event(spark, silver):
    _check(spark, silver.transform(fct_sessions), COLUMNS[fct_sessions], [
        ("s1", "u1", ts("2024-03-01 10:00:00"), ts("2024-03-01 10:02:30"), 150, 3, 1, 1, 1, True,
         Decimal("39.98"), day("2024-03-01")),
        ("s2", "u2", ts("2024-03-01 23:59:30"), ts("2024-03-02 00:01:05"), 95, 4, 1, 1, 2, True,
         Decimal("20.29"), day("2024-03-01")),
        ("s3", "u1", ts("2024-03-02 09:00:00"), ts("2024-03-02 09:00:00"), 0, 1, 1, 0, 0, False,
         Decimal("0.00"), day("2024-03-02")),
    ])  # fmt: skip


def test_fct_funnel_daily_counts_sessions_on_their_first_day_and_nulls_rates_over_zero(spark, silver):
    _check(spark, silver.transform(fct_sessions).transform(fct_funnel_daily), FUNNEL_COLUMNS, [
        (day("2024-03-01"), 2, 2, 2, 2, Decimal("1.0000"), Decimal("1.0000"), Decimal("1.0000")),
        (day("2024-03-02"), 1, 1, 0, 0, Decimal("0.0000"), None, Decimal("0.0000")),
    ])  # fmt: skip


def test_fct_funnel_daily_day_without_views(spark):
    silver = events(spark, [event("1", "2024-03-05 08:00:00", "u9", "s9", "add_to_cart", "p1", "1.00", 1)])
    _check(spark, silver.transform(fct_sessions).transform(fct_funnel_daily), FUNNEL_COLUMNS, [
        (day("2024-03-05"), 1, 0, 1, 0, None, Decimal("0.0000"), Decimal("0.0000")),
    ])  # fmt: skip


def test_ratio_rounds_half_up_at_four_places_without_floats(spark):
    pairs = spark.createDataFrame([(1, 3), (2, 3), (1, 32), (3, 32), (5, 0), (0, 5), (7, 7)], "n bigint, d bigint")
    actual = pairs.select("n", "d", ratio("n", "d").alias("rate"))
    assert actual.schema["rate"].dataType.simpleString() == "decimal(9,4)"
    assert_frames_equal(actual, spark.createDataFrame([
        (1, 3, Decimal("0.3333")), (2, 3, Decimal("0.6667")), (1, 32, Decimal("0.0313")),
        (3, 32, Decimal("0.0938")), (5, 0, None), (0, 5, Decimal("0.0000")), (7, 7, Decimal("1.0000")),
    ], actual.schema))  # fmt: skip


def test_revenue_sums_are_exact_pence(spark):
    rows = [event(str(i), f"2024-03-03 12:00:{i:02d}", "u1", "s1", "purchase", "p1", "0.10", 1) for i in range(1, 11)]
    rows.append(event("11", "2024-03-03 12:00:11", "u1", "s1", "purchase", "p2", "99999999.99", 7))
    silver = events(spark, rows)
    expected = Decimal("1.00") + Decimal("99999999.99") * 7
    for mart in (dim_users, fct_purchases_daily, fct_sessions):
        assert silver.transform(mart).first()["revenue_gbp"] == expected
    assert {r["product_id"]: r["revenue_gbp"] for r in silver.transform(dim_products).collect()} == {
        "p1": Decimal("1.00"),
        "p2": Decimal("699999999.93"),
    }


@pytest.mark.parametrize("mart", list(COLUMNS), ids=lambda mart: mart.__name__)
def test_empty_silver_gives_an_empty_mart_with_its_columns(spark, mart):
    actual = events(spark, []).transform(mart)
    assert _columns(actual) == COLUMNS[mart]
    assert actual.count() == 0


def test_empty_sessions_give_an_empty_funnel(spark):
    actual = events(spark, []).transform(fct_sessions).transform(fct_funnel_daily)
    assert _columns(actual) == FUNNEL_COLUMNS
    assert actual.count() == 0


def test_marts_reconcile_revenue_and_purchases(spark, silver):
    totals = [
        silver.transform(mart).selectExpr("sum(revenue_gbp)", "sum(purchases)").first()
        for mart in (dim_users, dim_products, fct_purchases_daily, fct_sessions)
    ]
    assert set(totals) == {(Decimal("60.27"), 3)}
