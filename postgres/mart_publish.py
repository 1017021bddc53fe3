"""Gold Delta -> PostgreSQL serving: COPY into a staging table, then publish and audit in one transaction.

Exactly-once by Delta version: pipeline.load_audit records the gold table id and version each load
published, in the publish transaction itself, so a crash leaves the previous data and the next run redoes it.
Each mart is published atomically and independently: one mart that cannot be loaded never holds back the others.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql
from psycopg2.extensions import connection, cursor

from config.catalog import MARTS, mart
from config.settings import Settings
from postgres.connection import PostgresConnectError, connect
from postgres.copy_arrow import RowRejected, copy_arrow
from postgres.gold_source import Changes, GoldSnapshot, GoldSourceError
from postgres.migrate import pending
from postgres.serving_schema import (
    SERVING_SCHEMA,
    SchemaMismatchError,
    ServingTable,
    check_schema,
    read_serving_table,
)

LOADER_ROLE = "lakehouse_loader"
PIPELINE_SCHEMA = "pipeline"
APPLICATION_NAME = "lakehouse-loader"
_WRITE_BLOCKING_MODES = ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]
_VALUE_CHARS = 200

log = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]
_NOT_A_LOADER = (
    "login user {user!r} is not a member of " + LOADER_ROLE + ": run `GRANT " + LOADER_ROLE + " TO {user}` "
    "as the database owner (docs/runbook.md, Serving (PostgreSQL))"
)


class LoadError(RuntimeError):
    """A load could not run or failed and was rolled back; the message says what to fix."""


_EXPLAINED = (LoadError, GoldSourceError, SchemaMismatchError, PostgresConnectError)


class UnrepresentableValueError(LoadError):
    """One gold row cannot be stored in its serving table; names the table, the row's key, column and value."""

    def __init__(self, message: str, table: str, key: dict[str, object], column: str | None, value: object):
        super().__init__(message)
        self.table = table
        self.key = key
        self.column = column
        self.value = value


class PublishBlockedError(LoadError):
    """Another session held a lock the load needed for longer than lock_timeout; names it and its query."""


@dataclass(frozen=True)
class MartFailure:
    """One mart that was not published; `message` starts with serving.<table>, `error` is what its load raised."""

    table: str
    uri: str
    message: str
    error: Exception


class MartsNotPublished(LoadError):
    """Some marts failed after every mart was tried; `results` holds the loads that succeeded."""

    def __init__(self, failures: Sequence[MartFailure], results: Sequence[LoadResult]):
        lines = "\n".join(f"  {f.message}" for f in failures)
        loaded = ", ".join(r.table for r in results) or "none"
        super().__init__(
            f"{len(failures)} of {len(failures) + len(results)} marts not published (each is unchanged in "
            f"serving; loaded: {loaded}):\n{lines}"
        )
        self.failures = list(failures)
        self.results = list(results)


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


def _lock_key(table: str) -> str:
    return f"lakehouse.load.{table}"


def _begin(cur: cursor, table: str) -> None:
    """Act as the loader role, serialise loads of this table, and remove a stage an older run left."""
    try:
        cur.execute(sql.SQL("set local role {}").format(sql.Identifier(LOADER_ROLE)))
    except psycopg2.errors.InsufficientPrivilege as exc:
        raise LoadError(_NOT_A_LOADER.format(user=cur.connection.info.user)) from exc
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (_lock_key(table),))
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
    snapshot: GoldSnapshot, target: ServingTable, last: tuple[str, int] | None, full: bool
) -> tuple[Changes | None, str]:
    """The changes for an incremental load, or None and the reason the load must be full."""
    if full:
        return None, "--full requested"
    if last is None:
        return None, "first load of this table"
    if last[0] != snapshot.table_id:
        reason = f"gold table was recreated (table id {last[0]} -> {snapshot.table_id})"
    else:
        changes, reason = snapshot.changes(last[1], target.columns, target.key)
        if changes is not None:
            return changes, reason
    log.warning("gold table %s falls back to a full load: %s", snapshot.uri, reason)
    return None, reason


def _shown(value: object) -> str:
    """A value as an operator should read it in an error: strings quoted with escapes, times in ISO 8601."""
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + "..."


def _value_at(values: pa.ChunkedArray, row: int) -> object:
    """The Python value, or Arrow's own text where Python has none (a year before 1, text that is not UTF-8)."""
    scalar = values[row]
    try:
        return scalar.as_py()
    except (OverflowError, ValueError):
        try:
            return scalar.cast(pa.string()).as_py()
        except (pa.ArrowException, ValueError):
            return scalar.cast(pa.binary()).as_py()


def _row_key(rows: pa.Table, row: int, key: Sequence[str]) -> dict[str, object]:
    return {k: _value_at(rows.column(k), row) for k in key}


def _refuse_repeated_keys(rows: pa.Table, table: str, key: Sequence[str], uri: str, version: int) -> None:
    """A mart has one row per key; the upsert would silently keep one of two rows whose other columns differ."""
    if len(key) == 1 and len(pc.unique(rows.column(key[0]))) == rows.num_rows:
        return
    counts = rows.select(list(key)).group_by(list(key)).aggregate([([], "count_all")])
    repeated = counts.filter(pc.field("count_all") > 1)
    if not repeated.num_rows:
        return
    found = _row_key(repeated, 0, key)
    shown = ", ".join(f"{k}={_shown(v)}" for k, v in found.items())
    raise UnrepresentableValueError(
        f"{SERVING_SCHEMA}.{table}: gold table {uri} (version {version}) has {repeated.column('count_all')[0]} rows "
        f"with {shown} ({repeated.num_rows} keys repeated), but the mart has one row per key: fix the gold job; "
        f"{SERVING_SCHEMA}.{table} is unchanged",
        table,
        found,
        None,
        None,
    )


def _stage_rows(
    cur: cursor, target: ServingTable, stage: sql.Composable, rows: pa.Table, uri: str, version: int
) -> int:
    """COPY rows into the stage; a row PostgreSQL refuses becomes an error naming its key, column and value."""
    _refuse_repeated_keys(rows, target.name, target.key, uri, version)
    try:
        return copy_arrow(cur, stage, rows, list(target.columns))
    except RowRejected as rejected:
        where = f"{SERVING_SCHEMA}.{target.name}"
        fix = f"correct it upstream (silver/gold) or change {where} with a migration, then re-run the load"
        if rejected.row is None:
            raise LoadError(
                f"{where}: gold table {uri} (version {version}) holds data PostgreSQL refuses, in no single row: "
                f"{rejected.reason}; {where} is unchanged"
            ) from rejected
        key = _row_key(rows, rejected.row, target.key)
        shown_key = ", ".join(f"{k}={_shown(v)}" for k, v in key.items())
        value = _value_at(rows.column(rejected.column), rejected.row) if rejected.column in rows.column_names else None
        field = f"column {rejected.column} = {_shown(value)}" if rejected.column else "a value"
        raise UnrepresentableValueError(
            f"{where}: the row with {shown_key} of gold table {uri} (version {version}) cannot be stored: "
            f"{field}: {rejected.reason}. {where} is unchanged; {fix}",
            target.name,
            key,
            rejected.column,
            value,
        ) from rejected


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
    except psycopg2.errors.LockNotAvailable as exc:
        conn.rollback()
        raise PublishBlockedError(_blocked(conn, table)) from exc
    except BaseException:
        with contextlib.suppress(psycopg2.Error):
            conn.rollback()
        raise


def _blocked(conn: connection, table: str) -> str:
    """Who holds locks on serving.<table> or its load lock, conflicting ones first: the sessions to look at."""
    with conn.cursor() as cur:
        cur.execute("show lock_timeout")
        timeout = cur.fetchone()[0]
        cur.execute(
            """
            select l.pid, l.locktype, l.mode, l.granted, a.application_name, a.state,
                extract(epoch from clock_timestamp() - coalesce(a.xact_start, a.query_start))::bigint, a.query
            from pg_locks l join pg_stat_activity a on a.pid = l.pid
            where l.pid <> pg_backend_pid() and (
                l.relation = to_regclass(format('%%I.%%I', %s::text, %s::text))
                or (l.locktype = 'advisory' and l.objsubid = 1
                    and ((l.classid::bigint << 32) | l.objid::bigint) = hashtext(%s)::bigint))
            order by l.locktype = 'advisory' or l.mode = any(%s) desc, l.granted desc, l.pid
            """,
            (SERVING_SCHEMA, table, _lock_key(table), _WRITE_BLOCKING_MODES),
        )
        rows = cur.fetchall()
    conn.rollback()
    target = f"{SERVING_SCHEMA}.{table}"
    sessions: dict[int, str] = {}
    for pid, locktype, mode, granted, application, state, seconds, query in rows:
        if pid in sessions:
            continue
        lock = f"the load lock of {target} (another load)" if locktype == "advisory" else f"{mode} on {target}"
        if query == "<insufficient privilege>":
            query = "(query hidden: grant pg_read_all_stats to the loader's login user to see it)"
        sessions[pid] = (
            f"pid {pid} (application {application or '-'!r}, {state}, transaction open {seconds} s, "
            f"{'holds' if granted else 'waits for'} {lock}) running: {' '.join((query or '').split())[:300]}"
        )
    head = f"{target} was not loaded: a lock it needs was not granted within lock_timeout ({timeout})"
    if not sessions:
        return f"{head}, and no session holds a lock on {target} any more: re-run the load"
    return (
        f"{head}; blocked by {'; '.join(sessions.values())}. Let that session finish or end it "
        f"(select pg_terminate_backend(pid)), then re-run the load; {target} is unchanged"
    )


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
        changes, reason = _plan(snapshot, target, last, full)
        cur.execute(sql.SQL("create unlogged table {} (like {})").format(stage.rows, _target(table)))
        if changes is None:
            staged = _stage_rows(cur, target, stage.rows, snapshot.read(list(target.columns)), uri, version)
        else:
            keys = list(target.key)
            cur.execute(
                sql.SQL("create unlogged table {} as select {} from {} with no data").format(
                    stage.deleted, _names(keys), _target(table)
                )
            )
            staged = _stage_rows(cur, target, stage.rows, changes.rows, uri, version)
            copy_arrow(cur, stage.deleted, changes.removed, keys)
        if checkpoint:
            checkpoint("staged")
        publish = _publish_full if changes is None else _publish_incremental
        inserted, updated, deleted = publish(cur, target, stage)
        mode = "full" if changes is None else "incremental"
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


def _failure(conn: connection, table: str, uri: str, exc: Exception) -> MartFailure:
    """Describe and audit one mart's failed load, and log it where the task log shows it."""
    if isinstance(exc, psycopg2.Error):
        detail = " ".join((getattr(exc, "pgerror", None) or str(exc)).split())
        message = f"loading from {uri} failed and was rolled back (serving data unchanged): {detail}"
    elif isinstance(exc, _EXPLAINED):
        message = str(exc)
    else:
        message = f"loading from {uri} failed and was rolled back (serving data unchanged): {type(exc).__name__}: {exc}"
    target = f"{SERVING_SCHEMA}.{table}"
    if not message.startswith(target):
        message = f"{target}: {message}"
    _record_failure(conn, table, uri, message)
    log.error("not published: %s", message, exc_info=None if isinstance(exc, _EXPLAINED) else exc)
    return MartFailure(table, uri, message, exc)


def load_marts(settings: Settings, tables: Sequence[str] | None = None, full: bool = False) -> list[LoadResult]:
    """Load the gold marts (all, or `tables`), each once per gold version and each on its own.

    Every mart is tried; if any failed, MartsNotPublished lists each with its cause after the others are published.
    """
    chosen = list(tables or MARTS)
    unknown = [t for t in chosen if t not in MARTS]
    if unknown:
        raise LoadError(f"unknown table {unknown[0]!r}: choose from {', '.join(MARTS)}")
    conn = connect(settings, APPLICATION_NAME)
    results: list[LoadResult] = []
    failures: list[MartFailure] = []
    try:
        check_ready(conn)
        for table in chosen:
            uri = settings.storage.uri_of(mart(table))
            try:
                if conn.closed:
                    conn = connect(settings, APPLICATION_NAME)
                results.append(load_table(conn, table, uri, full=full))
            except Exception as exc:
                failures.append(_failure(conn, table, uri, exc))
    finally:
        conn.close()
    if failures:
        raise MartsNotPublished(failures, results)
    return results
