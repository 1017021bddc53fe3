"""Read serving tables back as the same Python values the gold fixtures are written with."""

from __future__ import annotations

from typing import Any

import psycopg2
from psycopg2 import sql


def serving_rows(dsn: str, table: str) -> list[dict[str, Any]]:
    """Every row of serving.<table>, ordered by its first column (the key), in UTC."""
    conn = psycopg2.connect(dsn, options="-c timezone=UTC")
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("select * from serving.{} order by 1").format(sql.Identifier(table)))
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def audit(dsn: str, table: str) -> list[tuple]:
    """(mode, delta_version, inserted, updated, deleted, status) of each load of `table`, oldest first."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                select mode, delta_version, rows_inserted, rows_updated, rows_deleted, status
                from pipeline.load_audit where table_name = %s order by load_id
                """,
                (table,),
            )
            return cur.fetchall()
    finally:
        conn.close()


def stage_tables(dsn: str) -> list[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select tablename from pg_tables where schemaname = 'pipeline' and tablename like 'stage%'")
            return [row[0] for row in cur.fetchall()]
    finally:
        conn.close()
