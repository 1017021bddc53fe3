"""Every value a mart can hold goes gold Delta -> Arrow -> COPY -> PostgreSQL and back unchanged.

Generated marts (extreme timestamps, decimals at their precision, any Unicode text but NUL) are written with
delta-rs in the gold layout, loaded, and read back from serving; a NUL is refused naming the table, key and column.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.catalog import MARTS
from config.settings import Settings
from postgres.mart_publish import MartsNotPublished, UnrepresentableValueError, load_marts
from tests.postgres.gold_fixtures import CDF, SAMPLE_ROWS, SCHEMAS, ts, user
from tests.postgres.serving_rows import serving_rows

pytestmark = pytest.mark.integration

FIRST = datetime(1, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
NULLABLE = {"fct_funnel_daily": {"view_to_cart_rate", "cart_to_purchase_rate", "conversion_rate"}}
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)
EDGE_TEXT = [
    "",
    " ",
    '"',
    '""',
    ",",
    "\\",
    "\\.",
    "\n\\.\n",
    "a\r\nb",
    "\t",
    "NULL",
    "\\N",
    "é",
    "🙂",
    "\u202e",
    "\ufeff",
]
PROPERTY_SETTINGS = hypothesis_settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _decimal_bound(field_type: pa.Decimal128Type) -> Decimal:
    return Decimal(10) ** (field_type.precision - field_type.scale) - Decimal(1).scaleb(-field_type.scale)


def _values(table: str, field: pa.Field) -> st.SearchStrategy[Any]:
    """Every value the field's Arrow type allows that its serving column stores (no NUL, no year 0)."""
    kind = field.type
    if pa.types.is_string(kind):
        values = st.one_of(TEXT, st.sampled_from(EDGE_TEXT))
    elif pa.types.is_timestamp(kind):
        values = st.one_of(
            st.sampled_from([FIRST, LAST]),
            st.datetimes(FIRST.replace(tzinfo=None), LAST.replace(tzinfo=None), timezones=st.just(UTC)),
        )
    elif pa.types.is_date32(kind):
        values = st.one_of(st.sampled_from([date.min, date.max]), st.dates())
    elif pa.types.is_decimal(kind):
        bound = _decimal_bound(kind)
        values = st.one_of(
            st.sampled_from([bound, -bound, Decimal(0), Decimal(1).scaleb(-kind.scale)]),
            st.decimals(-bound, bound, places=kind.scale, allow_nan=False, allow_infinity=False),
        )
    elif pa.types.is_int64(kind):
        values = st.one_of(st.sampled_from([-(2**63), 2**63 - 1, 0]), st.integers(-(2**63), 2**63 - 1))
    elif pa.types.is_boolean(kind):
        values = st.booleans()
    else:
        raise AssertionError(f"no strategy for {table}.{field.name} ({kind})")
    return st.one_of(st.none(), values) if field.name in NULLABLE.get(table, set()) else values


def mart_rows(table: str, min_size: int = 0) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Rows of one mart, one per key."""
    schema = SCHEMAS[table]
    row = st.fixed_dictionaries({field.name: _values(table, field) for field in schema})
    return st.lists(row, min_size=min_size, max_size=12, unique_by=lambda r: r[schema.names[0]])


@st.composite
def mart_and_rows(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    table = draw(st.sampled_from(MARTS))
    return table, draw(mart_rows(table))


def _write(settings: Settings, table: str, rows: list[dict[str, Any]]) -> None:
    data = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
    write_deltalake(settings.storage.table_uri("gold", table), data, mode="overwrite", configuration=CDF)


def _by_key(rows: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
    key = SCHEMAS[table].names[0]
    return sorted(rows, key=lambda r: r[key])


def _round_trip(serving_db: str, settings: Settings, table: str, rows: list[dict[str, Any]]) -> None:
    _write(settings, table, rows)
    load_marts(settings, [table])
    assert _by_key(serving_rows(serving_db, table), table) == _by_key(rows, table)


def test_extreme_values_round_trip_exactly(serving_db: str, load_settings_for: Callable[[str], Settings]) -> None:
    settings = load_settings_for(serving_db)
    money = Decimal("9999999999999999.99")
    users = [
        dict(user(text, str(amount)), first_seen_at=FIRST, last_seen_at=LAST)
        for text, amount in zip(EDGE_TEXT, [money, -money, Decimal("0.01"), Decimal("-0.01")] * 4, strict=True)
    ]
    users.append(dict(user("1600", "1.00"), first_seen_at=ts("1600-01-01T00:00:00"), last_seen_at=LAST))
    funnel = [
        dict(SAMPLE_ROWS["fct_funnel_daily"][0], event_date=day, view_to_cart_rate=rate, conversion_rate=None)
        for day, rate in [(date.min, Decimal("99999.9999")), (date.max, Decimal("-99999.9999"))]
    ]

    _round_trip(serving_db, settings, "dim_users", users)
    _round_trip(serving_db, settings, "fct_funnel_daily", funnel)


@PROPERTY_SETTINGS
@given(generated=mart_and_rows())
def test_any_mart_round_trips_through_the_loader(
    serving_db: str, load_settings_for: Callable[[str], Settings], generated: tuple[str, list[dict[str, Any]]]
) -> None:
    """Each example overwrites gold and loads it (in full or from the change feed): serving equals gold."""
    table, rows = generated
    _round_trip(serving_db, load_settings_for(serving_db), table, rows)


@st.composite
def rows_with_a_nul(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]], int, str]:
    """Valid rows of a mart with text columns, one text value of one row holding a NUL somewhere."""
    table = draw(st.sampled_from([t for t in MARTS if pa.string() in SCHEMAS[t].types]))
    rows = draw(mart_rows(table, min_size=1))
    texts = [f.name for f in SCHEMAS[table] if pa.types.is_string(f.type)]
    row, column = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from(texts))
    text = rows[row][column]
    position = draw(st.integers(0, len(text)))
    rows[row][column] = text[:position] + "\x00" + text[position:]
    return table, rows, row, column


@PROPERTY_SETTINGS
@given(generated=rows_with_a_nul())
def test_a_nul_in_text_is_refused_naming_table_key_and_column(
    serving_db: str, load_settings_for: Callable[[str], Settings], generated: tuple[str, list[dict[str, Any]], int, str]
) -> None:
    table, rows, row, column = generated
    settings = load_settings_for(serving_db)
    _write(settings, table, rows)
    before = serving_rows(serving_db, table)

    with pytest.raises(MartsNotPublished) as raised:
        load_marts(settings, [table])

    [failure] = raised.value.failures
    error = failure.error
    assert isinstance(error, UnrepresentableValueError)
    key = SCHEMAS[table].names[0]
    assert (error.table, error.key, error.column, error.value) == (
        table,
        {key: rows[row][key]},
        column,
        rows[row][column],
    )
    assert f"serving.{table}: the row with {key}=" in failure.message
    assert "PostgreSQL text cannot hold the NUL character (U+0000)" in failure.message
    assert serving_rows(serving_db, table) == before
