"""Gold Delta -> serving: full, idempotent, incremental as changes, and clear errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from decimal import Decimal

import psycopg2
import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from psycopg2.extensions import make_dsn

from config.catalog import MARTS
from config.settings import Settings
from postgres.mart_publish import LoadError, LoadResult, MartsNotPublished, load_marts, load_table
from postgres.serving_schema import SchemaMismatchError
from tests.postgres.gold_fixtures import SAMPLE_ROWS, SCHEMAS, user, write_gold
from tests.postgres.serving_rows import audit, serving_rows, stage_tables

pytestmark = pytest.mark.integration

MakeSettings = Callable[[str], Settings]


def _gold_uri(settings: Settings, table: str) -> str:
    return settings.storage.table_uri("gold", table)


def _by_key(rows: list[dict], key: str) -> list[dict]:
    return sorted(rows, key=lambda r: r[key])


def test_full_load_of_every_mart_then_reload_changes_nothing(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    for table in MARTS:
        write_gold(_gold_uri(settings, table), table, SAMPLE_ROWS[table])

    first = load_marts(settings)
    assert [(r.table, r.mode, r.delta_version) for r in first] == [(t, "full", 0) for t in MARTS]
    for table in MARTS:
        key = SCHEMAS[table].names[0]
        assert serving_rows(serving_db, table) == _by_key(SAMPLE_ROWS[table], key)
    before = {table: serving_rows(serving_db, table) for table in MARTS}

    second = load_marts(settings)
    assert [(r.table, r.mode) for r in second] == [(t, "skipped") for t in MARTS]
    for table in MARTS:
        assert audit(serving_db, table) == [("full", 0, len(SAMPLE_ROWS[table]), 0, 0, "succeeded")]
        assert serving_rows(serving_db, table) == before[table]
    assert stage_tables(serving_db) == []


def test_money_sums_are_exact(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    cents = ["0.01", "0.10", "0.20", "1234567890123456.78", "-0.01", "99.99"]
    rows = [user(f"u{i}", amount) for i, amount in enumerate(cents)]
    write_gold(_gold_uri(settings, "dim_users"), "dim_users", rows)
    load_marts(settings, ["dim_users"])
    conn = psycopg2.connect(serving_db)
    with conn.cursor() as cur:
        cur.execute("select sum(revenue_gbp) from serving.dim_users")
        assert cur.fetchone()[0] == sum(Decimal(c) for c in cents) == Decimal("1234567890123557.07")
    conn.close()


def test_incremental_load_applies_exactly_the_changes(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    uri = _gold_uri(settings, "dim_users")
    originals = [user(f"u{i}", f"{i}.00") for i in range(1, 6)]
    write_gold(uri, "dim_users", originals)
    load_marts(settings, ["dim_users"])

    gold = DeltaTable(uri)
    gold.update(updates={"revenue_gbp": "CAST('77.70' AS DECIMAL(18,2))"}, predicate="user_id = 'u2'")
    gold.delete("user_id = 'u4'")
    write_gold(uri, "dim_users", [user("u9", "9.99")])
    conn = psycopg2.connect(serving_db)
    with conn.cursor() as cur:
        cur.execute("select user_id, xmin::text from serving.dim_users")
        xmin_before = dict(cur.fetchall())
    conn.close()

    [result] = load_marts(settings, ["dim_users"])

    assert (result.mode, result.delta_version) == ("incremental", 3)
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 1)
    assert result.rows_staged == 2
    expected = [r for r in originals if r["user_id"] != "u4"] + [user("u9", "9.99")]
    expected[1] = user("u2", "77.70")
    assert serving_rows(serving_db, "dim_users") == _by_key(expected, "user_id")
    conn = psycopg2.connect(serving_db)
    with conn.cursor() as cur:
        cur.execute("select user_id, xmin::text from serving.dim_users")
        xmin_after = dict(cur.fetchall())
    conn.close()
    untouched = {"u1", "u3", "u5"}
    assert {u: xmin_after[u] for u in untouched} == {u: xmin_before[u] for u in untouched}
    assert audit(serving_db, "dim_users") == [
        ("full", 0, 5, 0, 0, "succeeded"),
        ("incremental", 3, 1, 1, 1, "succeeded"),
    ]


def test_incremental_updates_after_a_full_load_stay_on_their_pages(
    serving_db: str, load_settings_for: MakeSettings
) -> None:
    """The serving tables keep free space on each page (migration 004), so an incremental load's updates of
    unindexed columns are heap-only: no new index entries. At fillfactor 100 a full load packs every page and
    these updates move to other pages."""
    settings = load_settings_for(serving_db)
    uri = _gold_uri(settings, "dim_users")
    write_gold(uri, "dim_users", [user(f"u{i:05}", f"{i}.00") for i in range(3000)])
    load_marts(settings, ["dim_users"])
    DeltaTable(uri).update(updates={"purchases": "purchases + 1"}, predicate="user_id LIKE '%0'")
    conn = psycopg2.connect(serving_db)
    counted: list[tuple[int, int]] = []

    def before_commit(step: str) -> None:
        if step == "published":
            with conn.cursor() as cur:
                cur.execute(
                    "select n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables "
                    "where schemaname = 'serving' and relname = 'dim_users'"
                )
                counted.append(cur.fetchone())

    try:
        result = load_table(conn, "dim_users", uri, checkpoint=before_commit)
    finally:
        conn.close()
    assert (result.mode, result.rows_updated) == ("incremental", 300)
    assert counted == [(300, 300)]


def test_without_change_feed_a_full_load_still_publishes_only_differences(
    serving_db: str, load_settings_for: MakeSettings
) -> None:
    settings = load_settings_for(serving_db)
    uri = _gold_uri(settings, "dim_products")
    rows = SAMPLE_ROWS["dim_products"]
    write_deltalake(uri, pa.Table.from_pylist(rows, schema=SCHEMAS["dim_products"]))
    load_marts(settings, ["dim_products"])
    changed = [dict(rows[0], views=11)]
    write_deltalake(uri, pa.Table.from_pylist(changed, schema=SCHEMAS["dim_products"]), mode="overwrite")

    [result] = load_marts(settings, ["dim_products"])

    assert result.mode == "full" and "delta.enableChangeDataFeed" in result.reason
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (0, 1, 1)
    assert serving_rows(serving_db, "dim_products") == changed


def test_recreated_gold_table_is_loaded_in_full(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    uri = _gold_uri(settings, "fct_purchases_daily")
    write_gold(uri, "fct_purchases_daily", SAMPLE_ROWS["fct_purchases_daily"])
    load_marts(settings, ["fct_purchases_daily"])
    shutil.rmtree(uri)
    write_gold(uri, "fct_purchases_daily", SAMPLE_ROWS["fct_purchases_daily"][:1])

    [result] = load_marts(settings, ["fct_purchases_daily"])

    assert (result.mode, result.delta_version, result.rows_deleted) == ("full", 0, 1)
    assert "recreated" in result.reason
    assert serving_rows(serving_db, "fct_purchases_daily") == SAMPLE_ROWS["fct_purchases_daily"][:1]


@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            pa.field("revenue_gbp", pa.decimal128(18, 3)),
            r"column revenue_gbp: gold dim_users has decimal128\(18, 3\) but "
            r"serving\.dim_users\.revenue_gbp is numeric\(18,2\)",
        ),
        (
            pa.field("events", pa.string()),
            r"column events: gold dim_users has string but serving\.dim_users\.events is bigint",
        ),
        (
            pa.field("country", pa.string()),
            r"gold column dim_users\.country \(string, in .*\) has no column in serving\.dim_users",
        ),
    ],
)
def test_schema_mismatch_names_the_column_and_both_types(
    serving_db: str, load_settings_for: MakeSettings, field: pa.Field, message: str
) -> None:
    settings = load_settings_for(serving_db)
    schema = SCHEMAS["dim_users"]
    index = schema.get_field_index(field.name)
    schema = schema.set(index, field) if index >= 0 else schema.append(field)
    rows = [{name: None for name in schema.names} | {"user_id": "u1"}]
    write_deltalake(_gold_uri(settings, "dim_users"), pa.Table.from_pylist(rows, schema=schema))

    with pytest.raises(MartsNotPublished, match=message) as raised:
        load_marts(settings, ["dim_users"])
    [failure] = raised.value.failures
    assert isinstance(failure.error, SchemaMismatchError)
    assert "add a migration under postgres/migrations" in failure.message
    assert serving_rows(serving_db, "dim_users") == []
    [failure] = audit(serving_db, "dim_users")
    assert failure[-1] == "failed"


def test_missing_column_in_gold_is_named(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    schema = SCHEMAS["dim_users"].remove(SCHEMAS["dim_users"].get_field_index("sessions"))
    write_deltalake(_gold_uri(settings, "dim_users"), pa.Table.from_pylist([], schema=schema))
    message = r"serving\.dim_users\.sessions \(bigint\) has no column in gold"
    with pytest.raises(MartsNotPublished, match=message) as raised:
        load_marts(settings, ["dim_users"])
    assert isinstance(raised.value.failures[0].error, SchemaMismatchError)


def test_missing_migration_says_to_run_migrate(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    conn = psycopg2.connect(serving_db)
    with conn, conn.cursor() as cur:
        cur.execute("delete from pipeline.schema_migrations where version = 3")
    conn.close()
    message = r"lacks migrations 003_serving_marts\.sql: run `python -m postgres\.migrate`"
    with pytest.raises(LoadError, match=message):
        load_marts(settings, ["dim_users"])


def test_never_migrated_database_says_to_run_migrate(empty_db: str, load_settings_for: MakeSettings) -> None:
    with pytest.raises(LoadError, match=r"lacks migrations 001_.*: run `python -m postgres\.migrate`"):
        load_marts(load_settings_for(empty_db), ["dim_users"])


def test_unknown_table_is_refused(serving_db: str, load_settings_for: MakeSettings) -> None:
    with pytest.raises(LoadError, match=r"unknown table 'dim_user': choose from dim_users"):
        load_marts(load_settings_for(serving_db), ["dim_user"])


def test_login_user_needs_the_loader_role(serving_db: str, load_settings_for: MakeSettings) -> None:
    admin = psycopg2.connect(serving_db)
    admin.autocommit = True
    member, outsider = f"test_loader_{id(admin)}", f"test_outsider_{id(admin)}"
    with admin.cursor() as cur:
        cur.execute(f"create role {member} login in role lakehouse_loader")
        cur.execute(f"create role {outsider} login")
    try:
        settings = load_settings_for(make_dsn(serving_db, user=member))
        write_gold(_gold_uri(settings, "dim_users"), "dim_users", SAMPLE_ROWS["dim_users"])
        [result] = load_marts(settings, ["dim_users"])
        assert isinstance(result, LoadResult) and result.rows_inserted == 3

        outsider_settings = load_settings_for(make_dsn(serving_db, user=outsider))
        write_gold(_gold_uri(outsider_settings, "dim_users"), "dim_users", [user("u7")])
        with pytest.raises(
            LoadError,
            match=r"is not a member of lakehouse_loader: run `GRANT lakehouse_loader TO test_outsider_",
        ):
            load_marts(outsider_settings, ["dim_users"])
    finally:
        with admin.cursor() as cur:
            cur.execute(f"drop owned by {member}, {outsider}")
            cur.execute(f"drop role {member}")
            cur.execute(f"drop role {outsider}")
        admin.close()
