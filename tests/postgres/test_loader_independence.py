"""One mart that cannot be loaded is reported with its table, key and value; every other mart is still published."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

import postgres.load
from config.catalog import MARTS
from config.settings import Settings
from postgres.mart_publish import MartsNotPublished, UnrepresentableValueError, load_marts
from tests.postgres.gold_fixtures import CDF, SAMPLE_ROWS, SCHEMAS, TS, user, write_gold
from tests.postgres.serving_rows import audit, serving_rows

pytestmark = pytest.mark.integration

YEAR_1_US = -62_135_596_800_000_000
DAY_US = 86_400 * 10**6


def _products(count: int) -> list[dict[str, Any]]:
    base = SAMPLE_ROWS["dim_products"][0]
    return [dict(base, product_id=f"p{i:03d}\nline two" if i % 7 == 0 else f"p{i:03d}") for i in range(count)]


def _overwrite(settings: Settings, table: str, data: pa.Table) -> None:
    write_deltalake(settings.storage.table_uri("gold", table), data, mode="overwrite", configuration=CDF)


def _sessions_before_year_1() -> pa.Table:
    """fct_sessions whose second row started on 31 December of year 0, which PostgreSQL has no name for."""
    rows = [dict(SAMPLE_ROWS["fct_sessions"][0], session_id=f"s{i}") for i in range(3)]
    data = pa.Table.from_pylist(rows, schema=SCHEMAS["fct_sessions"])
    started = pa.array([YEAR_1_US, YEAR_1_US - DAY_US, YEAR_1_US], pa.int64()).cast(TS)
    return data.set_column(data.schema.get_field_index("started_at"), "started_at", started)


@pytest.fixture
def published(serving_db: str, load_settings_for: Callable[[str], Settings]) -> Settings:
    """Every mart published once from SAMPLE_ROWS."""
    settings = load_settings_for(serving_db)
    for table in MARTS:
        write_gold(settings.storage.table_uri("gold", table), table, SAMPLE_ROWS[table])
    load_marts(settings)
    return settings


def _make_three_marts_unloadable(settings: Settings) -> None:
    dim_users = [user("u1"), user("u\x00nul"), user("u3")]
    _overwrite(settings, "dim_users", pa.Table.from_pylist(dim_users, schema=SCHEMAS["dim_users"]))
    products = _products(50)
    products[37]["views"] = None
    _overwrite(settings, "dim_products", pa.Table.from_pylist(products, schema=SCHEMAS["dim_products"]))
    _overwrite(settings, "fct_sessions", _sessions_before_year_1())
    changed = [dict(r, purchases=r["purchases"] + 1) for r in SAMPLE_ROWS["fct_purchases_daily"]]
    write_gold(settings.storage.table_uri("gold", "fct_purchases_daily"), "fct_purchases_daily", changed, "overwrite")


def test_each_unloadable_mart_is_named_with_key_and_value_and_the_others_publish(
    serving_db: str, published: Settings
) -> None:
    settings = published
    before = {table: serving_rows(serving_db, table) for table in MARTS}
    _make_three_marts_unloadable(settings)

    with pytest.raises(MartsNotPublished) as raised:
        load_marts(settings)

    users, products, sessions = raised.value.failures
    assert all(isinstance(f.error, UnrepresentableValueError) for f in raised.value.failures)
    assert (users.table, users.error.key, users.error.column) == ("dim_users", {"user_id": "u\x00nul"}, "user_id")
    assert "the row with user_id='u\\x00nul'" in users.message
    assert "PostgreSQL text cannot hold the NUL character (U+0000)" in users.message
    assert (products.table, products.error.key) == ("dim_products", {"product_id": "p037"})
    assert (products.error.column, products.error.value) == ("views", None)
    assert "column views = None: null, but the serving column is NOT NULL" in products.message
    assert (sessions.table, sessions.error.key, sessions.error.column) == (
        "fct_sessions",
        {"session_id": "s1"},
        "started_at",
    )
    assert "column started_at = '0000-12-31 00:00:00.000000Z': date/time field value out of range" in sessions.message
    assert [(r.table, r.mode) for r in raised.value.results] == [
        ("fct_purchases_daily", "incremental"),
        ("fct_funnel_daily", "skipped"),
    ]
    assert (
        serving_rows(serving_db, "fct_purchases_daily")[0]["purchases"]
        == before["fct_purchases_daily"][0]["purchases"] + 1
    )
    for table in ("dim_users", "dim_products", "fct_sessions"):
        assert serving_rows(serving_db, table) == before[table]
        assert audit(serving_db, table)[-1][-1] == "failed"


def test_the_load_command_exits_non_zero_listing_every_failed_mart(
    published: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _make_three_marts_unloadable(published)
    monkeypatch.setattr(postgres.load, "load_settings", lambda _config: published)

    assert postgres.load.main([]) == 1

    err = capsys.readouterr().err
    assert "3 of 5 marts not published" in err
    for table, key in (
        ("dim_users", "user_id='u\\x00nul'"),
        ("dim_products", "product_id='p037'"),
        ("fct_sessions", "session_id='s1'"),
    ):
        assert f"\n  serving.{table}: the row with {key}" in err


@pytest.mark.parametrize("loaded_before", [False, True], ids=["first-load", "reload"])
def test_a_repeated_key_in_gold_names_the_key(
    serving_db: str, load_settings_for: Callable[[str], Settings], loaded_before: bool
) -> None:
    settings = load_settings_for(serving_db)
    uri = settings.storage.table_uri("gold", "dim_users")
    if loaded_before:
        write_gold(uri, "dim_users", [user("u1")])
        load_marts(settings, ["dim_users"])
    before = serving_rows(serving_db, "dim_users")
    write_gold(uri, "dim_users", [user("u1"), user("u2"), user("u1", "2.00")], mode="overwrite")

    with pytest.raises(MartsNotPublished) as raised:
        load_marts(settings, ["dim_users"])

    [failure] = raised.value.failures
    assert isinstance(failure.error, UnrepresentableValueError) and failure.error.key == {"user_id": "u1"}
    assert "has 2 rows with user_id='u1' (1 keys repeated), but the mart has one row per key" in failure.message
    assert serving_rows(serving_db, "dim_users") == before
