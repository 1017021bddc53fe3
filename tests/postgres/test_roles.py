"""lakehouse_reporting reads serving and nothing else; lakehouse_loader writes serving and pipeline."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2.errors import InsufficientPrivilege

pytestmark = pytest.mark.integration

FORBIDDEN_TO_REPORTING = [
    "insert into serving.fct_purchases_daily values ('2024-01-01', 1, 1, 1.00, 1)",
    "update serving.dim_users set events = 0",
    "delete from serving.dim_products",
    "truncate serving.fct_sessions",
    "create table serving.sneaky (id int)",
    "create table pipeline.sneaky (id int)",
    "create table public.sneaky (id int)",
    "create view serving.sneaky as select 1",
    "select count(*) from pipeline.load_audit",
    "insert into pipeline.load_audit (table_name, started_at, finished_at, status, error) "
    "values ('x', now(), now(), 'failed', 'x')",
]


def _as_role(conn: psycopg2.extensions.connection, role: str, statement: str) -> list[tuple]:
    """Run one statement as `role` in a transaction that is always rolled back."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"set local role {role}")
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.rollback()


@pytest.mark.parametrize("statement", FORBIDDEN_TO_REPORTING)
def test_reporting_cannot_write_or_create(db: psycopg2.extensions.connection, statement: str) -> None:
    with pytest.raises(InsufficientPrivilege):
        _as_role(db, "lakehouse_reporting", statement)


def test_reporting_can_read_every_serving_table(db: psycopg2.extensions.connection) -> None:
    with db.cursor() as cur:
        cur.execute("select tablename from pg_tables where schemaname = 'serving' order by 1")
        tables = [row[0] for row in cur.fetchall()]
    db.rollback()
    assert len(tables) == 5
    for table in tables:
        assert _as_role(db, "lakehouse_reporting", f"select count(*) from serving.{table}") == [(0,)]


def test_reporting_reads_tables_created_by_later_migrations(db: psycopg2.extensions.connection) -> None:
    with db.cursor() as cur:
        cur.execute("create table serving.later_mart (id int primary key)")
        cur.execute("set local role lakehouse_reporting")
        cur.execute("select count(*) from serving.later_mart")
        assert cur.fetchone() == (0,)
    db.rollback()


def test_roles_cannot_log_in(db: psycopg2.extensions.connection) -> None:
    with db.cursor() as cur:
        cur.execute(
            "select rolname, rolcanlogin from pg_roles where rolname in ('lakehouse_loader', 'lakehouse_reporting')"
        )
        assert sorted(cur.fetchall()) == [("lakehouse_loader", False), ("lakehouse_reporting", False)]
    db.rollback()


def test_loader_writes_serving_and_stages_in_pipeline(db: psycopg2.extensions.connection) -> None:
    _as_role(
        db,
        "lakehouse_loader",
        "create unlogged table pipeline.stage_probe (like serving.dim_products);"
        "insert into serving.dim_products values ('p', 1, 1, 1, 1, 1.00);"
        "update serving.dim_products set views = 2; delete from serving.dim_products;"
        "insert into pipeline.load_audit (table_name, started_at, finished_at, status, error) "
        "values ('x', now(), now(), 'failed', 'probe')",
    )
    with pytest.raises(InsufficientPrivilege):
        _as_role(db, "lakehouse_loader", "create table serving.sneaky (id int)")
