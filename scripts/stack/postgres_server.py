"""The embedded PostgreSQL: pgserver's bundled binaries on a loopback TCP port, detached from the caller."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from config.settings import LocalPostgres
from postgres.connection import scrub
from scripts.stack.processes import PidFile, Port, StackError, display_path, port_answers, spawn_detached

# Located without importing pgserver, whose import starts its own server machinery.
BIN_DIR = Path(importlib.util.find_spec("pgserver").submodule_search_locations[0]) / "pginstall" / "bin"
SUPERUSER = "postgres"
# initdb and postgres refuse to run as root; as root they run as the system user pgserver itself would create.
SYSTEM_USER_WHEN_ROOT = "pgserver"


def _system_user() -> str | None:
    """The unprivileged user to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)
    except KeyError:
        done = subprocess.run(
            ["useradd", "--system", "--shell", "/usr/sbin/nologin", SYSTEM_USER_WHEN_ROOT],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise StackError(
                f"running as root, PostgreSQL needs an unprivileged user, and `useradd "
                f"{SYSTEM_USER_WHEN_ROOT}` failed ({done.stderr.strip()}); create that user, "
                "or run the stack as a normal user"
            ) from None
    return SYSTEM_USER_WHEN_ROOT


def _grant_traverse(path: Path) -> None:
    """Let another user reach `path` by adding search (x) permission on its ancestors that lack it."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXGRP | stat.S_IXOTH)


def query_one(dsn: str | None = None, **params: object) -> None:
    """Run `select 1`, raising psycopg2.Error, its text free of the DSN's password, when the server does not answer."""
    failure = None
    try:
        conn = psycopg2.connect(dsn, connect_timeout=3, **params)
    except (psycopg2.Error, UnicodeDecodeError) as exc:
        failure = psycopg2.OperationalError(scrub(str(exc), dsn or ""))
    if failure is not None:
        # Raised outside the handler so that libpq's own text, which may echo the DSN, is not chained to it.
        raise failure
    try:
        with conn.cursor() as cur:
            cur.execute("select 1")
    finally:
        conn.close()


class EmbeddedPostgres:
    """Initialises the data directory once, starts `postgres` detached, and creates the project database."""

    name = "postgres"
    stop_signal = signal.SIGINT
    grace_s = 30.0

    def __init__(self, local: LocalPostgres, database: str, state_dir: Path):
        self.local = local
        self.database = database
        self.dir = state_dir / "postgres"
        self.data_dir = self.dir / "data"
        self.log_file = self.dir / "postgres.log"
        self.pid_file = PidFile(self.dir / "postgres.pid", self._is_ours)

    def ports(self) -> list[Port]:
        return [Port(self.local.port, "stack.postgres.port", "LAKEHOUSE_POSTGRES_PORT")]

    def endpoint(self) -> str:
        return f"127.0.0.1:{self.local.port}/{self.database}"

    def _is_ours(self, cmdline: list[str]) -> bool:
        return bool(cmdline) and Path(cmdline[0]).name == "postgres" and str(self.data_dir) in cmdline

    def prepare(self) -> None:
        """Create the data directory with initdb if it was never initialised."""
        if (self.data_dir / "PG_VERSION").is_file():
            return
        user = _system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if user:
            _grant_traverse(self.data_dir)
            entry = pwd.getpwnam(user)
            for path in (self.dir, self.data_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        command = [
            str(BIN_DIR / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ]
        done = subprocess.run(
            command,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=300,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )
        if done.returncode != 0:
            raise StackError(
                f"initdb failed (exit {done.returncode}) for {display_path(self.data_dir)}:\n{done.stdout}{done.stderr}"
            )

    def launch(self) -> int:
        command = [
            str(BIN_DIR / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.local.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
        ]
        return spawn_detached(command, self.log_file, cwd=self.dir, user=_system_user()).pid

    def _params(self, database: str) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.local.port, "user": SUPERUSER, "dbname": database}

    def healthy(self) -> bool:
        """True when the server accepts a connection and answers `select 1`."""
        if not port_answers(self.local.port):
            return False
        try:
            query_one(**self._params("postgres"))
        except psycopg2.Error:
            return False
        return True

    def ensure_database(self) -> None:
        """Create postgres.database if it does not exist yet."""
        conn = psycopg2.connect(connect_timeout=3, **self._params("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (self.database,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("create database {}").format(sql.Identifier(self.database)))
        finally:
            conn.close()


@contextlib.contextmanager
def scratch_database(server_dsn: str, prefix: str = "scratch") -> Iterator[str]:
    """URI of a new empty database `<prefix>_<random>` on the server of the URI `server_dsn` (Airflow connections
    need a URI), dropped with its sessions on exit: tests and benchmarks never touch the served database."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(make_dsn(server_dsn, dbname="postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield urlunsplit(urlsplit(server_dsn)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.close()
