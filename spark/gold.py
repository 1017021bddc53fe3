"""Gold marts as pure DataFrame -> DataFrame functions over silver events (grain and rules: docs/data_model.md)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

MONEY = "decimal(18,2)"
RATE = "decimal(9,4)"
RATE_SCALE = 4

PAGE_VIEW = "page_view"
ADD_TO_CART = "add_to_cart"
PURCHASE = "purchase"


def _is(event_type: str) -> Column:
    return F.col("event_type") == F.lit(event_type)


def _count_of(event_type: str) -> Column:
    """How many events of one type, as a bigint (0, never null)."""
    return F.count(F.when(_is(event_type), True))


def _purchase_revenue() -> Column:
    """Line revenue of a purchase (unit price x quantity, exact decimal), null for other events."""
    return F.when(_is(PURCHASE), F.col("price_gbp") * F.col("quantity"))


def _revenue_sum() -> Column:
    """Sum of purchase revenue as decimal(18,2), 0.00 when there were no purchases."""
    return F.coalesce(F.sum(_purchase_revenue()), F.lit(0)).cast(MONEY)


def _units_sum() -> Column:
    return F.coalesce(F.sum(F.when(_is(PURCHASE), F.col("quantity").cast("bigint"))), F.lit(0)).cast("bigint")


def ratio(numerator: str, denominator: str, scale: int = RATE_SCALE) -> Column:
    """numerator / denominator of two bigint columns, rounded half-up to `scale` digits in integer arithmetic."""
    factor = 10**scale
    scaled = F.expr(f"(CAST({numerator} AS BIGINT) * {2 * factor} + {denominator}) div (2 * {denominator})")
    exact = scaled.cast("decimal(18,0)") / F.lit(factor).cast("decimal(18,0)")
    return F.when(F.col(denominator) > 0, exact.cast(f"decimal(9,{scale})"))


def dim_users(events: DataFrame) -> DataFrame:
    """One row per user_id over the user's whole history."""
    return events.groupBy("user_id").agg(
        F.min("event_ts").alias("first_seen_at"),
        F.max("event_ts").alias("last_seen_at"),
        F.count(F.lit(1)).alias("events"),
        F.countDistinct("session_id").alias("sessions"),
        _count_of(PURCHASE).alias("purchases"),
        _revenue_sum().alias("revenue_gbp"),
    )


def dim_products(events: DataFrame) -> DataFrame:
    """One row per product_id that any event names; page views without a product are not counted."""
    return (
        events.where(F.col("product_id").isNotNull())
        .groupBy("product_id")
        .agg(
            _count_of(PAGE_VIEW).alias("views"),
            _count_of(ADD_TO_CART).alias("add_to_carts"),
            _count_of(PURCHASE).alias("purchases"),
            _units_sum().alias("units"),
            _revenue_sum().alias("revenue_gbp"),
        )
    )


def fct_purchases_daily(events: DataFrame) -> DataFrame:
    """One row per event_date (UTC) that has at least one purchase."""
    return (
        events.where(_is(PURCHASE))
        .groupBy("event_date")
        .agg(
            F.count(F.lit(1)).alias("purchases"),
            _units_sum().alias("units"),
            _revenue_sum().alias("revenue_gbp"),
            F.countDistinct("user_id").alias("purchasing_users"),
        )
    )


def fct_sessions(events: DataFrame) -> DataFrame:
    """One row per session_id; its day is the UTC date of its first event, even when it runs past midnight."""
    first_event = F.struct("event_ts", "event_id")
    return (
        events.groupBy("session_id")
        .agg(
            F.min_by("user_id", first_event).alias("user_id"),
            F.min("event_ts").alias("started_at"),
            F.max("event_ts").alias("ended_at"),
            F.count(F.lit(1)).alias("events"),
            _count_of(PAGE_VIEW).alias("page_views"),
            _count_of(ADD_TO_CART).alias("add_to_carts"),
            _count_of(PURCHASE).alias("purchases"),
            _revenue_sum().alias("revenue_gbp"),
        )
        .select(
            "session_id",
            "user_id",
            "started_at",
            "ended_at",
            F.expr("(unix_micros(ended_at) - unix_micros(started_at)) div 1000000").alias("duration_s"),
            "events",
            "page_views",
            "add_to_carts",
            "purchases",
            (F.col("purchases") > 0).alias("converted"),
            "revenue_gbp",
            F.to_date("started_at").alias("session_date"),
        )
    )


def fct_funnel_daily(sessions: DataFrame) -> DataFrame:
    """One row per session day, from fct_sessions rows: `events.transform(fct_sessions).transform(fct_funnel_daily)`."""
    counts = sessions.groupBy(F.col("session_date").alias("event_date")).agg(
        F.count(F.lit(1)).alias("sessions"),
        F.count(F.when(F.col("page_views") > 0, True)).alias("sessions_with_view"),
        F.count(F.when(F.col("add_to_carts") > 0, True)).alias("sessions_with_add_to_cart"),
        F.count(F.when(F.col("purchases") > 0, True)).alias("sessions_with_purchase"),
    )
    return counts.select(
        "event_date",
        "sessions",
        "sessions_with_view",
        "sessions_with_add_to_cart",
        "sessions_with_purchase",
        ratio("sessions_with_add_to_cart", "sessions_with_view").alias("view_to_cart_rate"),
        ratio("sessions_with_purchase", "sessions_with_add_to_cart").alias("cart_to_purchase_rate"),
        ratio("sessions_with_purchase", "sessions").alias("conversion_rate"),
    )
