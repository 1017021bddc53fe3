"""Usage: python -m postgres.migrate [--config PATH]

Applies postgres/migrations/NNN_*.sql in order, each once and each in its own transaction, recorded in
pipeline.schema_migrations with a checksum so an edited, already-applied file is refused.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2
from psycopg2.extensions import connection

from config.settings import ConfigError, load_settings
from postgres.connection import PostgresConnectError, connect

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# One lock id for every migrator of a database, so two concurrent runs apply each file once.
_LOCK_ID = 7_262_104_001
# A unique violation in a system catalog is a lost race for a name (within one database the lock rules it out).
_CATALOG_RACE_ATTEMPTS = 3

_BOOTSTRAP = """
create schema if not exists pipeline;
create table if not exists pipeline.schema_migrations (
    version integer primary key,
    name text not null,
    checksum text not null,
    applied_at timestamptz not null default now()
);
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, failed, or disagrees with what the database recorded."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str

    @property
    def file_name(self) -> str:
        return self.path.name


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of a directory in version order; misnamed or duplicate versions are errors."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNN_lowercase_name.sql")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path} and {migrations[version].path} share version {version}: renumber one")
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        migrations[version] = Migration(version, match.group(2), path, checksum)
    return [migrations[v] for v in sorted(migrations)]


def applied(conn: connection) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of the migrations the database recorded; empty if never migrated."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('pipeline.schema_migrations') is not null")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("select version, name, checksum from pipeline.schema_migrations")
        return {version: (name, checksum) for version, name, checksum in cur.fetchall()}


def pending(conn: connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations not applied yet, after checking every applied one still has its recorded checksum."""
    done = applied(conn)
    conn.rollback()
    files = discover(directory)
    for migration in files:
        recorded = done.get(migration.version)
        if recorded and recorded[1] != migration.checksum:
            raise MigrationError(
                f"{migration.path} changed after it was applied (checksum {migration.checksum[:12]} != "
                f"recorded {recorded[1][:12]}): never edit an applied migration; restore the file and add "
                "a new NNN_*.sql migration with the change"
            )
    known = {m.version for m in files}
    unknown = sorted(v for v in done if v not in known)
    if unknown:
        names = ", ".join(f"{v:03d}_{done[v][0]}.sql" for v in unknown)
        raise MigrationError(
            f"the database has migrations {names} that {directory} lacks: this code is older than the "
            "database; deploy the newer postgres/ folder"
        )
    return [m for m in files if m.version not in done]


def apply_migrations(conn: connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the pending migrations, each in its own transaction; return the ones applied now."""
    conn.autocommit = False
    _lock(conn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_BOOTSTRAP)
        done = []
        for migration in pending(conn, directory):
            _apply_one(conn, migration)
            done.append(migration)
        return done
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock(%s)", (_LOCK_ID,))
        conn.commit()


def _lock(conn: connection) -> None:
    """Take the migrators' advisory lock, or say who holds it once the session's lock_timeout has passed."""
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (_LOCK_ID,))
    except psycopg2.errors.LockNotAvailable as exc:
        conn.rollback()
        raise MigrationError(
            f"another migrator has held the migration lock (advisory lock {_LOCK_ID}) for longer than "
            f"postgres.lock_timeout_s{_holders(conn)}: wait for it to finish and run again"
        ) from exc


def _holders(conn: connection) -> str:
    """' (held by pid N, application NAME)' for the session holding the migration lock, or '' if it is gone."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select a.pid, a.application_name from pg_locks l join pg_stat_activity a using (pid)
            where l.locktype = 'advisory' and l.granted and l.classid = %s and l.objid = %s and l.objsubid = 1
            """,
            (_LOCK_ID >> 32, _LOCK_ID & 0xFFFFFFFF),
        )
        rows = cur.fetchall()
    conn.rollback()
    return "".join(f" (held by pid {pid}, application {app!r})" for pid, app in rows)


def _apply_one(conn: connection, migration: Migration) -> None:
    """Apply one file in one transaction; run it again if it lost a race for a cluster-wide name.

    The migration lock is per database, but roles are per cluster: when two databases on one server are migrated
    at once, both `create role` the same name, the later waits on the earlier's uncommitted row and then fails
    with unique_violation, not the duplicate_object a migration can tolerate. The file was rolled back whole, so
    running it again is safe, and the second run sees the committed role.
    """
    for attempt in range(1, _CATALOG_RACE_ATTEMPTS + 1):
        try:
            _run_file(conn, migration)
            return
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.schema_name != "pg_catalog" or attempt == _CATALOG_RACE_ATTEMPTS:
                raise _failed(migration, exc) from exc
        except psycopg2.Error as exc:
            raise _failed(migration, exc) from exc


def _run_file(conn: connection, migration: Migration) -> None:
    text = migration.path.read_text(encoding="utf-8")
    with conn, conn.cursor() as cur:
        cur.execute(text)
        cur.execute(
            "insert into pipeline.schema_migrations (version, name, checksum) values (%s, %s, %s)",
            (migration.version, migration.name, migration.checksum),
        )


def _failed(migration: Migration, exc: psycopg2.Error) -> MigrationError:
    detail = (exc.pgerror or str(exc)).strip()
    if isinstance(exc, psycopg2.errors.LockNotAvailable):
        detail += (
            " (another session held a table this file changes for longer than postgres.lock_timeout_s: "
            "pg_stat_activity shows it; run again when it is done)"
        )
    elif isinstance(exc, psycopg2.errors.QueryCanceled):
        detail += " (a statement ran longer than postgres.statement_timeout_s: raise it for this run)"
    return MigrationError(
        f"{migration.path} failed and was rolled back (the database is as before this file): {detail}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m postgres.migrate", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        conn = connect(settings, application_name="lakehouse-migrate")
    except (ConfigError, PostgresConnectError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        done = apply_migrations(conn)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg2.Error as exc:
        print(f"error: PostgreSQL failed while migrating: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    for migration in done:
        print(f"applied {migration.file_name}")
    if not done:
        print("up to date: no pending migrations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
