"""Connections to the serving database, with errors that say which config key or variable to fix."""

from __future__ import annotations

from pathlib import Path

import psycopg2
from psycopg2.extensions import connection, parse_dsn

from config.settings import Settings


class PostgresConnectError(RuntimeError):
    """The serving database could not be reached or refused us; the message says what to change."""


def dsn_origin(settings: Settings) -> str:
    """Where the DSN came from, in the words an operator needs to change it."""
    if settings.uses_embedded_postgres():
        return (
            f"the embedded server of the local stack (stack.postgres.port in {settings.source}; "
            f"start it with `make stack-up`, or set {settings.postgres.dsn_env} to use another server)"
        )
    return f"environment variable {settings.postgres.dsn_env} (named by postgres.dsn_env in {settings.source})"


def connect_params(settings: Settings) -> dict[str, object]:
    """libpq keywords the config adds to the DSN (they override the DSN's own values)."""
    pg = settings.postgres
    params: dict[str, object] = {"connect_timeout": pg.connect_timeout_s}
    if pg.sslmode:
        params["sslmode"] = pg.sslmode
    if pg.sslrootcert:
        root = Path(pg.sslrootcert).expanduser()
        if not root.is_file():
            raise PostgresConnectError(
                f"postgres.sslrootcert in {settings.source} names {root}, which does not exist: "
                "download the server's root CA certificate there or fix the path"
            )
        params["sslrootcert"] = str(root)
    return params


def connect(settings: Settings, application_name: str) -> connection:
    """Open a connection (autocommit off) to the configured database, translating failures."""
    dsn = settings.postgres_dsn()
    try:
        return psycopg2.connect(dsn, application_name=application_name, **connect_params(settings))
    except psycopg2.OperationalError as exc:
        raise translate_connect_error(exc, dsn, dsn_origin(settings)) from exc


def describe(dsn: str) -> tuple[str, str, str]:
    """(host:port, database, user) of a DSN, never its password."""
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "<unparseable DSN>", "?", "?"
    where = f"{parts.get('host', 'localhost')}:{parts.get('port', '5432')}"
    return where, parts.get("dbname", parts.get("user", "?")), parts.get("user", "?")


def translate_connect_error(exc: psycopg2.OperationalError, dsn: str, origin: str) -> PostgresConnectError:
    """Map libpq's connection failure text to a message naming the cause and the setting to fix."""
    text = str(exc).strip()
    where, database, user = describe(dsn)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return PostgresConnectError(
            f"PostgreSQL at {where} rejected the password for user {user!r}: fix the password in the DSN "
            f"from {origin} (the error was: {text})"
        )
    if "does not exist" in lowered and "database" in lowered:
        return PostgresConnectError(
            f"database {database!r} does not exist on {where}: create it, or fix the database in the DSN from {origin}"
        )
    if "does not exist" in lowered and "role" in lowered:
        return PostgresConnectError(
            f"user {user!r} does not exist on {where}: create the login user (docs/runbook.md, "
            f"Serving) or fix the user in the DSN from {origin}"
        )
    if "certificate" in lowered or "ssl" in lowered:
        return PostgresConnectError(
            f"TLS to PostgreSQL at {where} failed: check postgres.sslmode / postgres.sslrootcert and the "
            f"host name in the DSN from {origin} (the error was: {text})"
        )
    unreachable = (
        "connection refused",
        "could not connect",
        "timeout expired",
        "could not translate host name",
        "no route to host",
        "network is unreachable",
        "connection timed out",
    )
    if any(marker in lowered for marker in unreachable):
        return PostgresConnectError(
            f"cannot reach PostgreSQL at {where}: is the server running and is the host/port right? "
            f"The DSN comes from {origin} (the error was: {text})"
        )
    return PostgresConnectError(f"cannot connect to PostgreSQL at {where} ({origin}): {text}")
