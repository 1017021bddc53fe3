"""Gold marts written by delta-rs with the Arrow types of Spark's gold tables (decimal(18,2), UTC µs)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from config.settings import Settings
from postgres.mart_publish import load_marts

TS = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(9, 4)
CDF = {"delta.enableChangeDataFeed": "true"}

SCHEMAS = {
    "dim_users": pa.schema(
        [
            pa.field("user_id", pa.string(), nullable=False),
            ("first_seen_at", TS),
            ("last_seen_at", TS),
            ("events", pa.int64()),
            ("sessions", pa.int64()),
            ("purchases", pa.int64()),
            ("revenue_gbp", MONEY),
        ]
    ),
    "dim_products": pa.schema(
        [
            pa.field("product_id", pa.string(), nullable=False),
            ("views", pa.int64()),
            ("add_to_carts", pa.int64()),
            ("purchases", pa.int64()),
            ("units", pa.int64()),
            ("revenue_gbp", MONEY),
        ]
    ),
    "fct_purchases_daily": pa.schema(
        [
            pa.field("event_date", pa.date32(), nullable=False),
            ("purchases", pa.int64()),
            ("units", pa.int64()),
            ("revenue_gbp", MONEY),
            ("purchasing_users", pa.int64()),
        ]
    ),
    "fct_funnel_daily": pa.schema(
        [
            pa.field("event_date", pa.date32(), nullable=False),
            ("sessions", pa.int64()),
            ("sessions_with_view", pa.int64()),
            ("sessions_with_add_to_cart", pa.int64()),
            ("sessions_with_purchase", pa.int64()),
            ("view_to_cart_rate", RATE),
            ("cart_to_purchase_rate", RATE),
            ("conversion_rate", RATE),
        ]
    ),
    "fct_sessions": pa.schema(
        [
            pa.field("session_id", pa.string(), nullable=False),
            ("user_id", pa.string()),
            ("started_at", TS),
            ("ended_at", TS),
            ("duration_s", pa.int64()),
            ("events", pa.int64()),
            ("page_views", pa.int64()),
            ("add_to_carts", pa.int64()),
            ("purchases", pa.int64()),
            ("converted", pa.bool_()),
            ("revenue_gbp", MONEY),
            ("session_date", pa.date32()),
        ]
    ),
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def user(user_id: str, revenue: str = "10.00", last_seen: str = "2024-03-02T10:00:00.123456") -> dict[str, Any]:
    return {
        "user_id": user_id,
        "first_seen_at": ts("2024-03-01T09:00:00"),
        "last_seen_at": ts(last_seen),
        "events": 5,
        "sessions": 2,
        "purchases": 1,
        "revenue_gbp": Decimal(revenue),
    }


SAMPLE_ROWS: dict[str, list[dict[str, Any]]] = {
    "dim_users": [user("u1", "12.34"), user("u2", "0.00"), user("u-3", "99999999.99")],
    "dim_products": [
        {
            "product_id": "p1",
            "views": 10,
            "add_to_carts": 3,
            "purchases": 2,
            "units": 4,
            "revenue_gbp": Decimal("40.10"),
        },
        {
            "product_id": "p2",
            "views": 1,
            "add_to_carts": 0,
            "purchases": 0,
            "units": 0,
            "revenue_gbp": Decimal("0.00"),
        },
    ],
    "fct_purchases_daily": [
        {
            "event_date": date(2024, 3, 1),
            "purchases": 2,
            "units": 3,
            "revenue_gbp": Decimal("30.05"),
            "purchasing_users": 2,
        },
        {
            "event_date": date(2024, 3, 2),
            "purchases": 1,
            "units": 1,
            "revenue_gbp": Decimal("10.05"),
            "purchasing_users": 1,
        },
    ],
    "fct_funnel_daily": [
        {
            "event_date": date(2024, 3, 1),
            "sessions": 4,
            "sessions_with_view": 3,
            "sessions_with_add_to_cart": 2,
            "sessions_with_purchase": 1,
            "view_to_cart_rate": Decimal("0.6667"),
            "cart_to_purchase_rate": Decimal("0.5000"),
            "conversion_rate": Decimal("0.2500"),
        },
        {
            "event_date": date(2024, 3, 2),
            "sessions": 1,
            "sessions_with_view": 0,
            "sessions_with_add_to_cart": 0,
            "sessions_with_purchase": 0,
            "view_to_cart_rate": None,
            "cart_to_purchase_rate": None,
            "conversion_rate": Decimal("0.0000"),
        },
    ],
    "fct_sessions": [
        {
            "session_id": "s1",
            "user_id": "u1",
            "started_at": ts("2024-03-01T23:59:00"),
            "ended_at": ts("2024-03-02T00:01:30.5"),
            "duration_s": 150,
            "events": 3,
            "page_views": 1,
            "add_to_carts": 1,
            "purchases": 1,
            "converted": True,
            "revenue_gbp": Decimal("12.34"),
            "session_date": date(2024, 3, 1),
        }
    ],
}


def write_gold(uri: str, table: str, rows: list[dict[str, Any]], mode: str = "append") -> DeltaTable:
    """Write rows of one mart with its gold schema and the change data feed on."""
    data = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
    write_deltalake(uri, data, mode=mode, configuration=CDF)
    return DeltaTable(uri)


def loaded_then_changed(settings: Settings, first: list[dict[str, Any]], change: Callable[[str], None]) -> str:
    """gold.dim_users written as `first` and loaded into serving, then changed in gold by `change`; its uri."""
    uri = settings.storage.table_uri("gold", "dim_users")
    write_gold(uri, "dim_users", first)
    load_marts(settings, ["dim_users"])
    change(uri)
    return uri
