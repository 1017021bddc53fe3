"""The serving tables the migrations create are the catalog's marts, keyed as the catalog says."""

from __future__ import annotations

from config.catalog import MART_TABLES

PRIMARY_KEYS = """
    select tc.table_schema || '.' || tc.table_name, array_agg(kcu.column_name::text order by kcu.ordinal_position)
    from information_schema.table_constraints tc
    join information_schema.key_column_usage kcu
      on kcu.constraint_schema = tc.constraint_schema and kcu.constraint_name = tc.constraint_name
    where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = 'serving'
    group by 1
"""


def test_the_migrations_serving_tables_and_primary_keys_are_the_catalogs(db) -> None:
    with db.cursor() as cur:
        cur.execute(PRIMARY_KEYS)
        migrated = {table: tuple(columns) for table, columns in cur.fetchall()}
    assert migrated == {mart.serving: mart.key for mart in MART_TABLES}
