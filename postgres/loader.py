"""Gold Delta -> PostgreSQL serving: COPY into a staging table, then publish and audit in one transaction.

Exactly-once by Delta version: pipeline.load_audit records the gold table id and version each load
published, in the publish transaction itself, so a crash leaves the previous data and the next run redoes it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import psycopg2
import pyarrow as pa
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from config.settings import Settings
from postgres.connection import connect
from postgres.copy_arrow import copy_arrow
from postgres.gold_source import GoldSnapshot
from postgres.migrate import pending
from postgres.serving_schema import SERVING_SCHEMA, ServingTable, check_schema, read_serving_table

MARTS = ("dim_users", "dim_products", "fct_purchases_daily", "fct_funnel_daily", "fct_sessions")
LOADER_ROLE = "lakehouse_loader"
PIPELINE_SCHEMA = "pipeline"
APPLICATION_NAME = "lakehouse-loader"

Checkpoint = Callable[[str], None]
_NOT_A_LOADER = (
    "login user {user!r} is not a member of " + LOADER_ROLE + ": run `GRANT " + LOADER_ROLE + " TO {user}` "
    "as the database owner (docs/runbook.md, Serving (PostgreSQL))"
)


class LoadError(RuntimeError):
    """A load could not run or failed and was rolled back; the message says what to fix."""


@dataclass(frozen=True)
class LoadResult:
    """What one table's load did; mode 'skipped' means the gold version was already published."""

    table: str
    mode: Literal["full", "incremental", "skipped"]
    delta_version: int
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0
    rows_staged: int = 0
    seconds: float = 0.0
    reason: str = field(default="", compare=False)


@dataclass(frozen=True)
class _Stage:
    rows: sql.Composed
    deleted: sql.Composed

    @classmethod
    def of(cls, table: str) -> _Stage:
        return cls(
            sql.SQL("{}.{}").format(sql.Identifier(PIPELINE_SCHEMA), sql.Identifier(f"stage_{table}")),
            sql.SQL("{}.{}").format(sql.Identifier(PIPELINE_SCHEMA), sql.Identifier(f"stage_{table}_deleted")),
        )


def _target(table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SERVING_SCHEMA), sql.Identifier(table))


def _names(columns: Sequence[str], prefix: str | None = None) -> sql.Composed:
    if prefix is None:
        return sql.SQL(", ").join(map(sql.Identifier, columns))
    return sql.SQL(", ").join(sql.Identifier(prefix, c) for c in columns)


def _keys_equal(key: Sequence[str], left: str, right: str) -> sql.Composed:
    return sql.SQL(" and ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, k), sql.Identifier(right, k)) for k in key
    )


def _begin(cur: cursor, table: str) -> None:
    """Act as the loader role, serialise loads of this table, and remove a stage an older run left."""
    try:
        cur.execute(sql.SQL("set local role {}").format(sql.Identifier(LOADER_ROLE)))
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise LoadError(_NOT_A_LOADER.format(user=cur.connection.info.user)) from exc
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"lakehouse.load.{table}",))
    stage = _Stage.of(table)
    cur.execute(sql.SQL("drop table if exists {}, {}").format(stage.rows, stage.deleted))


def _last_loaded(cur: cursor, table: str) -> tuple[str, int] | None:
    cur.execute(
        """
        select delta_table_id, delta_version from pipeline.load_audit
        where table_name = %s and status = 'succeeded' order by load_id desc limit 1
        """,
        (table,),
    )
    row = cur.fetchone()
    return (row[0], row[1]) if row else None


def _upsert(cur: cursor, target: ServingTable, stage: sql.Composed) -> tuple[int, int]:
    """INSERT ... ON CONFLICT from the stage, rewriting only rows that differ; (inserted, updated)."""
    columns = list(target.columns)
    if target.non_key:
        on_conflict = sql.SQL("do update set {} where ({}) is distinct from ({})").format(
            sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(c), sql.Identifier("excluded", c)) for c in target.non_key
            ),
            _names(target.non_key, "t"),
            _names(target.non_key, "excluded"),
        )
    else:
        on_conflict = sql.SQL("do nothing")
    cur.execute(
        sql.SQL(
            """
            with upserted as (
                insert into {target} as t ({columns}) select {columns} from {stage}
                on conflict ({key}) {on_conflict}
                returning (xmax = 0) as inserted
            )
            select count(*) filter (where inserted), count(*) filter (where not inserted) from upserted
            """
        ).format(
            target=_target(target.name),
            columns=_names(columns),
            stage=stage,
            key=_names(target.key),
            on_conflict=on_conflict,
        )
    )
    inserted, updated = cur.fetchone()
    return inserted, updated


def _publish_full(cur: cursor, target: ServingTable, stage: _Stage) -> tuple[int, int, int]:
    """Make serving equal the stage: delete absent keys, upsert the rest (MVCC-safe, readers never wait)."""
    cur.execute(sql.SQL("select exists (select from {})").format(_target(target.name)))
    if not cur.fetchone()[0]:
        cur.execute(
            sql.SQL("insert into {} ({}) select {} from {}").format(
                _target(target.name), _names(target.columns), _names(target.columns), stage.rows
            )
        )
        return cur.rowcount, 0, 0
    cur.execute(
        sql.SQL("delete from {} as t where not exists (select from {} as s where {})").format(
            _target(target.name), stage.rows, _keys_equal(target.key, "s", "t")
        )
    )
    deleted = cur.rowcount
    inserted, updated = _upsert(cur, target, stage.rows)
    return inserted, updated, deleted


def _publish_incremental(cur: cursor, target: ServingTable, stage: _Stage) -> tuple[int, int, int]:
    """Delete the keys gold removed, then upsert the keys gold changed or added."""
    cur.execute(
        sql.SQL("delete from {} as t using {} as d where {}").format(
            _target(target.name), stage.deleted, _keys_equal(target.key, "t", "d")
        )
    )
    deleted = cur.rowcount
    inserted, updated = _upsert(cur, target, stage.rows)
    return inserted, updated, deleted


def _plan(
    snapshot: GoldSnapshot, key: Sequence[str], last: tuple[str, int] | None, full: bool
) -> tuple[pa.Table | None, str]:
    """Changed keys for an incremental load, or None and the reason the load must be full."""
    if full:
        return None, "--full requested"
    if last is None:
        return None, "first load of this table"
    if last[0] != snapshot.table_id:
        return None, f"gold table was recreated (table id {last[0]} -> {snapshot.table_id})"
    return snapshot.changed_keys(last[1], key)


def load_table(
    conn: connection,
    table: str,
    uri: str,
    *,
    full: bool = False,
    checkpoint: Checkpoint | None = None,
) -> LoadResult:
    """Publish gold table `uri`, pinned at its current version, into serving.<table> once per version.

    `checkpoint`, if given, is called with "staged" after the COPY and "published" just before the commit.
    """
    clock = time.perf_counter()
    snapshot = GoldSnapshot.latest(uri)
    try:
        return _load(conn, table, snapshot, full, checkpoint, clock)
    except BaseException:
        with contextlib.suppress(psycopg2.Error):
            conn.rollback()
        raise


def _load(
    conn: connection,
    table: str,
    snapshot: GoldSnapshot,
    full: bool,
    checkpoint: Checkpoint | None,
    clock: float,
) -> LoadResult:
    version = snapshot.version
    uri = snapshot.uri
    stage = _Stage.of(table)
    with conn.cursor() as cur:
        cur.execute("select clock_timestamp()")
        started_at = cur.fetchone()[0]
        _begin(cur, table)
        target = read_serving_table(cur, table)
        if target is None:
            raise LoadError(f"{SERVING_SCHEMA}.{table} does not exist: run `python -m postgres.migrate`")
        check_schema(snapshot.schema(), target, uri)
        last = _last_loaded(cur, table)
        if last is not None and last[0] == snapshot.table_id and last[1] >= version:
            conn.rollback()
            return LoadResult(table, "skipped", version, reason=f"version {last[1]} already published")
        changed, reason = _plan(snapshot, target.key, last, full)
        rows = snapshot.read(list(target.columns))
        cur.execute(sql.SQL("create unlogged table {} (like {})").format(stage.rows, _target(table)))
        if changed is None:
            staged = copy_arrow(cur, stage.rows, rows, list(target.columns))
        else:
            keys = list(target.key)
            changed_rows = rows.join(changed, keys=keys, join_type="left semi")
            removed = changed.join(rows.select(keys), keys=keys, join_type="left anti")
            cur.execute(
                sql.SQL("create unlogged table {} as select {} from {} with no data").format(
                    stage.deleted, _names(keys), _target(table)
                )
            )
            staged = copy_arrow(cur, stage.rows, changed_rows, list(target.columns))
            copy_arrow(cur, stage.deleted, removed, keys)
        if checkpoint:
            checkpoint("staged")
        publish = _publish_full if changed is None else _publish_incremental
        inserted, updated, deleted = publish(cur, target, stage)
        mode = "full" if changed is None else "incremental"
        cur.execute(
            """
            insert into pipeline.load_audit (table_name, delta_table_id, delta_version, mode, rows_inserted,
                rows_updated, rows_deleted, started_at, finished_at, status)
            values (%s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp(), 'succeeded')
            """,
            (table, snapshot.table_id, version, mode, inserted, updated, deleted, started_at),
        )
        cur.execute(sql.SQL("drop table if exists {}, {}").format(stage.rows, stage.deleted))
        if checkpoint:
            checkpoint("published")
    conn.commit()
    return LoadResult(table, mode, version, inserted, updated, deleted, staged, time.perf_counter() - clock, reason)


def _record_failure(conn: connection, table: str, uri: str, error: str) -> None:
    """Best effort: a 'failed' audit row in its own transaction (impossible when the connection is gone)."""
    with contextlib.suppress(psycopg2.Error):
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(
                """
                insert into pipeline.load_audit (table_name, started_at, finished_at, status, error)
                values (%s, clock_timestamp(), clock_timestamp(), 'failed', %s)
                """,
                (table, f"{uri}: {error}"[:4000]),
            )
        conn.commit()


def check_ready(conn: connection) -> None:
    """Raise LoadError when the login user cannot act as the loader or the database lacks a migration."""
    with conn.cursor() as cur:
        cur.execute(
            "select exists (select from pg_roles where rolname = %s) and not pg_has_role(%s, 'member')",
            (LOADER_ROLE, LOADER_ROLE),
        )
        outsider = cur.fetchone()[0]
    conn.rollback()
    if outsider:
        raise LoadError(_NOT_A_LOADER.format(user=conn.info.user))
    missing = pending(conn)
    if missing:
        names = ", ".join(m.file_name for m in missing)
        raise LoadError(
            f"the serving database lacks migrations {names}: run `python -m postgres.migrate` "
            "(make migrate) with the same --config first"
        )


def load_marts(settings: Settings, tables: Sequence[str] | None = None, full: bool = False) -> list[LoadResult]:
    """Load the gold marts (all, or `tables`), each once per gold version; stop at the first failure."""
    chosen = list(tables or MARTS)
    unknown = [t for t in chosen if t not in MARTS]
    if unknown:
        raise LoadError(f"unknown table {unknown[0]!r}: choose from {', '.join(MARTS)}")
    conn = connect(settings, APPLICATION_NAME)
    try:
        check_ready(conn)
        results = []
        for table in chosen:
            uri = settings.storage.table_uri("gold", table)
            try:
                results.append(load_table(conn, table, uri, full=full))
            except psycopg2.Error as exc:
                detail = (getattr(exc, "pgerror", None) or str(exc)).strip()
                _record_failure(conn, table, uri, detail)
                raise LoadError(
                    f"loading {SERVING_SCHEMA}.{table} from {uri} failed and was rolled back (serving data "
                    f"unchanged): {detail}"
                ) from exc
            except Exception as exc:
                _record_failure(conn, table, uri, str(exc))
                raise
        return results
    finally:
        conn.close()
