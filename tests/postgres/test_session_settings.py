"""Loader and migrator sessions carry the config's statement and lock timeouts and TCP keepalives."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterator

import psycopg2
import psycopg2.errors
import pytest

from config.settings import Settings
from postgres.connection import connect

pytestmark = pytest.mark.integration

# A blocked statement on code without the limits would wait forever: the holder lets go after this long, so such
# a regression fails the test instead of hanging it.
RELEASE_AFTER_S = 15.0


@pytest.fixture
def limited(empty_db: str, load_settings_for: Callable[[str], Settings]) -> Settings:
    """Settings for a fresh database with short, distinctive limits."""
    settings = load_settings_for(empty_db)
    postgres = dataclasses.replace(
        settings.postgres,
        statement_timeout_s=2,
        lock_timeout_s=1,
        keepalives_idle_s=7,
        keepalives_interval_s=3,
        keepalives_count=4,
    )
    return dataclasses.replace(settings, postgres=postgres)


@contextlib.contextmanager
def holding(dsn: str, statement: str) -> Iterator[None]:
    """Another session runs `statement` (taking a lock) in an open transaction until the block ends."""
    holder = psycopg2.connect(dsn, application_name="lock-holder")
    release = threading.Timer(RELEASE_AFTER_S, holder.rollback)
    try:
        with holder.cursor() as cur:
            cur.execute(statement)
        release.start()
        yield
    finally:
        release.cancel()
        holder.close()


def _show(conn: psycopg2.extensions.connection, name: str) -> str:
    with conn.cursor() as cur:
        cur.execute(f"show {name}")
        return cur.fetchone()[0]


def test_session_shows_the_configured_limits(limited: Settings) -> None:
    conn = connect(limited, "test-session")
    try:
        assert _show(conn, "statement_timeout") == "2s"
        assert _show(conn, "lock_timeout") == "1s"
        assert _show(conn, "tcp_keepalives_idle") == "7"
        assert _show(conn, "tcp_keepalives_interval") == "3"
        assert _show(conn, "tcp_keepalives_count") == "4"
        conn.rollback()
        assert _show(conn, "lock_timeout") == "1s", "a rolled-back transaction must not undo the session settings"
    finally:
        conn.close()


def test_client_socket_has_the_configured_keepalives(limited: Settings) -> None:
    conn = connect(limited, "test-session")
    try:
        with socket.socket(fileno=socket.dup(conn.fileno())) as sock:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
    finally:
        conn.close()


def test_local_config_limits_reach_the_session(empty_db: str, load_settings_for: Callable[[str], Settings]) -> None:
    configured = load_settings_for(empty_db)
    assert (configured.postgres.statement_timeout_s, configured.postgres.lock_timeout_s) == (600, 30)
    conn = connect(configured, "test-session")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select extract(epoch from current_setting('statement_timeout')::interval),"
                " extract(epoch from current_setting('lock_timeout')::interval)"
            )
            assert cur.fetchone() == (600, 30)
    finally:
        conn.close()


def test_statement_blocked_by_a_lock_fails_after_lock_timeout(limited: Settings, empty_db: str) -> None:
    setup = psycopg2.connect(empty_db)
    with setup, setup.cursor() as cur:
        cur.execute("create table held (id int)")
    setup.close()
    conn = connect(limited, "test-session")
    try:
        with holding(empty_db, "lock table held in access exclusive mode"):
            began = time.monotonic()
            with pytest.raises(psycopg2.errors.LockNotAvailable) as raised, conn.cursor() as cur:
                cur.execute("select count(*) from held")
            waited = time.monotonic() - began
        assert raised.value.pgcode == "55P03"
        assert 0.9 <= waited < 5, f"waited {waited:.1f} s for a lock_timeout of 1 s"
    finally:
        conn.close()


def test_statement_longer_than_statement_timeout_is_cancelled(limited: Settings) -> None:
    conn = connect(limited, "test-session")
    try:
        began = time.monotonic()
        with pytest.raises(psycopg2.errors.QueryCanceled) as raised, conn.cursor() as cur:
            cur.execute("select pg_sleep(10)")
        assert raised.value.pgcode == "57014"
        assert time.monotonic() - began < 5
    finally:
        conn.close()
