"""Migrations apply in order, once each, atomically per file, and refuse an edited applied file."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

from config.settings import Settings
from postgres.connection import connect
from postgres.migrate import _LOCK_ID, MIGRATIONS_DIR, MigrationError, apply_migrations, discover, main

pytestmark = pytest.mark.integration


def _tables(dsn: str, schema: str) -> set[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select tablename from pg_tables where schemaname = %s", (schema,))
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def _recorded(dsn: str) -> list[tuple[int, str]]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select version, name from pipeline.schema_migrations order by version")
            return cur.fetchall()
    finally:
        conn.close()


def _schemas(dsn: str) -> set[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select nspname from pg_namespace")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def _migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    conn = psycopg2.connect(dsn)
    try:
        return [m.file_name for m in apply_migrations(conn, directory)]
    finally:
        conn.close()


def test_applies_every_file_once_then_nothing(fresh_db: str) -> None:
    files = [m.file_name for m in discover()]
    assert _migrate(fresh_db) == files
    assert _tables(fresh_db, "serving") == {
        "dim_users",
        "dim_products",
        "fct_purchases_daily",
        "fct_funnel_daily",
        "fct_sessions",
    }
    assert {"load_audit", "schema_migrations"} <= _tables(fresh_db, "pipeline")
    recorded = _recorded(fresh_db)

    assert _migrate(fresh_db) == []
    assert _recorded(fresh_db) == recorded
    assert [v for v, _ in recorded] == [m.version for m in discover()]


def test_failed_migration_leaves_database_as_it_was(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "001_first.sql").write_text("create schema app; create table app.kept (id int primary key);")
    (tmp_path / "002_broken.sql").write_text(
        "create table app.half_done (id int); insert into app.kept values (1); select no_such_function();"
    )
    with pytest.raises(MigrationError, match=r"002_broken\.sql failed and was rolled back.*no_such_function"):
        _migrate(empty_db, tmp_path)
    assert _tables(empty_db, "app") == {"kept"}
    assert _recorded(empty_db) == [(1, "first")]
    conn = psycopg2.connect(empty_db)
    with conn.cursor() as cur:
        cur.execute("select count(*) from app.kept")
        assert cur.fetchone()[0] == 0
    conn.close()

    (tmp_path / "002_broken.sql").write_text("create table app.half_done (id int);")
    assert _migrate(empty_db, tmp_path) == ["002_broken.sql"]
    assert _tables(empty_db, "app") == {"kept", "half_done"}


def test_edited_applied_migration_is_refused(empty_db: str, tmp_path: Path) -> None:
    migration = tmp_path / "001_first.sql"
    migration.write_text("create table public.t (id int);")
    _migrate(empty_db, tmp_path)
    migration.write_text("create table public.t (id bigint);")
    with pytest.raises(MigrationError, match=r"001_first\.sql changed after it was applied"):
        _migrate(empty_db, tmp_path)


def test_misnamed_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match=r"1_first\.sql: migration files must be named NNN_"):
        discover(tmp_path)


def test_command_reports_unreachable_server(
    capsys: pytest.CaptureFixture[str],
    load_settings_for: Callable[[str], Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings_for("postgresql://postgres@127.0.0.1:1/lakehouse")
    monkeypatch.setattr("postgres.migrate.load_settings", lambda path: settings)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in err
    assert settings.postgres.dsn_env in err


def test_migrator_blocked_by_another_names_it_instead_of_hanging(
    empty_db: str,
    capsys: pytest.CaptureFixture[str],
    load_settings_for: Callable[[str], Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load_settings_for(empty_db)
    settings = dataclasses.replace(settings, postgres=dataclasses.replace(settings.postgres, lock_timeout_s=1))
    monkeypatch.setattr("postgres.migrate.load_settings", lambda path: settings)
    holder = psycopg2.connect(empty_db, application_name="other-migrator")
    # Code without a lock timeout would wait forever: the holder lets go after 15 s, so that fails instead of hanging.
    release = threading.Timer(15, holder.close)
    try:
        with holder.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (_LOCK_ID,))
        release.start()
        began = time.monotonic()
        assert main([]) == 1
        assert time.monotonic() - began < 10
    finally:
        release.cancel()
        holder.close()
    err = capsys.readouterr().err
    assert "another migrator has held the migration lock" in err and "postgres.lock_timeout_s" in err
    assert "application 'other-migrator'" in err
    assert "pipeline" not in _schemas(empty_db), "nothing may be applied while another migrator holds the lock"
    assert main([]) == 0


def test_migration_blocked_by_a_reader_fails_and_rolls_back(
    empty_db: str, load_settings_for: Callable[[str], Settings], tmp_path: Path
) -> None:
    (tmp_path / "001_table.sql").write_text("create table public.t (id int);")
    _migrate(empty_db, tmp_path)
    (tmp_path / "002_alter.sql").write_text("alter table public.t add column note text;")
    settings = load_settings_for(empty_db)
    settings = dataclasses.replace(settings, postgres=dataclasses.replace(settings.postgres, lock_timeout_s=1))
    reader = psycopg2.connect(empty_db)
    release = threading.Timer(15, reader.close)
    conn = connect(settings, "test-migrate")
    try:
        with reader.cursor() as cur:
            cur.execute("select count(*) from public.t")
        release.start()
        with pytest.raises(
            MigrationError, match=r"002_alter\.sql failed and was rolled back.*lock timeout.*lock_timeout_s"
        ):
            apply_migrations(conn, tmp_path)
    finally:
        release.cancel()
        reader.close()
        conn.close()
    assert _recorded(empty_db) == [(1, "table")]


def test_migration_that_loses_a_race_for_a_role_runs_again(empty_db: str, tmp_path: Path) -> None:
    """Roles are per server, the migration lock per database: another database's migrator can create a role first."""
    role = f"lakehouse_race_{uuid.uuid4().hex[:12]}"
    (tmp_path / "001_role.sql").write_text(
        f"do $$ begin create role {role} nologin; exception when duplicate_object then null; end $$;"
    )
    other = psycopg2.connect(empty_db)
    outcome: list[object] = []
    migrator = threading.Thread(target=lambda: outcome.append(_try_migrate(empty_db, tmp_path)))
    try:
        with other.cursor() as cur:
            cur.execute(f"create role {role} nologin")
        migrator.start()
        _wait_until_waiting_on_a_lock(empty_db, "race-migrator")
        other.commit()
        migrator.join(timeout=30)
        assert outcome == [["001_role.sql"]], "a migrator that lost the race must run the file again, not fail"
        assert _recorded(empty_db) == [(1, "role")]
    finally:
        other.rollback()
        migrator.join(timeout=30)  # the migrator may create the role after the rollback: drop it after
        with other.cursor() as cur:
            cur.execute(f"drop role if exists {role}")
        other.commit()
        other.close()


def _try_migrate(dsn: str, directory: Path) -> object:
    conn = psycopg2.connect(dsn, application_name="race-migrator")
    try:
        return [m.file_name for m in apply_migrations(conn, directory)]
    except MigrationError as exc:
        return exc
    finally:
        conn.close()


def _wait_until_waiting_on_a_lock(dsn: str, application: str) -> None:
    """Block until the session named `application` waits for a lock (here: the other's uncommitted role)."""
    watcher = psycopg2.connect(dsn)
    watcher.autocommit = True  # pg_stat_activity is read once per transaction
    deadline = time.monotonic() + 30
    try:
        with watcher.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "select count(*) from pg_stat_activity where application_name = %s and wait_event_type = 'Lock'",
                    (application,),
                )
                if cur.fetchone()[0]:
                    return
                time.sleep(0.05)
    finally:
        watcher.close()
    raise AssertionError(f"{application} never waited on the uncommitted role")
