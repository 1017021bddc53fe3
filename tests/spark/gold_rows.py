"""Silver-shaped rows for the gold tests, built from the few fields a test cares about."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from unittest import mock

from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual

from spark.silver_tables import silver_schema


def ts(text: str) -> datetime:
    """A naive UTC datetime from 'YYYY-MM-DD HH:MM:SS', as Spark returns timestamps in a UTC session."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).replace(tzinfo=None)


def event(
    event_id: str,
    at: str,
    user: str,
    session: str,
    event_type: str,
    product: str | None = None,
    price: str | None = None,
    quantity: int | None = None,
    offset: int = 0,
) -> tuple:
    """One silver row in silver_schema() order; lineage columns get fixed placeholder values."""
    moment = ts(at)
    return (
        f"00000000-0000-4000-8000-{int(event_id):012d}",
        moment,
        moment.date(),
        "1.0",
        user,
        session,
        event_type,
        product,
        Decimal(price) if price is not None else None,
        quantity,
        "mobile",
        "GB",
        "events",
        0,
        offset or int(event_id),
        moment,
        0,
        "00000000-0000-4000-8000-000000000000",
    )


def events(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, silver_schema())


def day(text: str) -> date:
    return date.fromisoformat(text)


def assert_frames_equal(actual: DataFrame, expected: DataFrame) -> None:
    """assertDataFrameEqual with pyarrow hidden: it imports pyspark.pandas, which fails under pandas 3."""
    with mock.patch.dict(sys.modules, {"pyarrow": None}):
        assertDataFrameEqual(actual, expected)
