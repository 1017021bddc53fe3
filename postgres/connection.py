"""Connections to the serving database: bounded sessions, and errors that name what to fix but never the password."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg2
from psycopg2.extensions import connection, parse_dsn

from config.settings import Settings

_URI = re.compile(r"^postgres(?:ql)?://", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"\bpassword\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))")
_QUERY_PASSWORD = re.compile(r"[?&]password=([^&]*)")
_QUOTED = re.compile(r'"[^"]*"')
# Where libpq's DSN syntax errors echo the DSN: the echo runs to the last quote, so it may itself hold quotes.
_SYNTAX_ECHOES = (
    re.compile(r'(after ")(.*)(" in connection info string)$', re.DOTALL),
    re.compile(r'(character ")(.)(" at position)', re.DOTALL),
    re.compile(r'(: ")(.*)(")$', re.DOTALL),
    re.compile(r'(option ")(.*)(")$', re.DOTALL),
)
_HIDDEN = "***"
_ENCODING_HINT = (
    "a user name or password holding % @ / or : must be percent-encoded (% as %25, @ as %40, / as %2F, : as %3A), "
    "e.g. with python -c \"import getpass, urllib.parse; print(urllib.parse.quote(getpass.getpass(), safe=''))\""
)


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
    params: dict[str, object] = {
        "connect_timeout": pg.connect_timeout_s,
        "keepalives": 1,
        "keepalives_idle": pg.keepalives_idle_s,
        "keepalives_interval": pg.keepalives_interval_s,
        "keepalives_count": pg.keepalives_count,
    }
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


def session_settings(settings: Settings) -> dict[str, str]:
    """Server settings of every session we open, so no statement, lock wait or dead peer can hang a run."""
    pg = settings.postgres
    return {
        "statement_timeout": f"{pg.statement_timeout_s}s",
        "lock_timeout": f"{pg.lock_timeout_s}s",
        "tcp_keepalives_idle": str(pg.keepalives_idle_s),
        "tcp_keepalives_interval": str(pg.keepalives_interval_s),
        "tcp_keepalives_count": str(pg.keepalives_count),
    }


def connect(settings: Settings, application_name: str) -> connection:
    """Open a connection (autocommit off) with the config's session limits, translating failures."""
    dsn = settings.postgres_dsn()
    origin = dsn_origin(settings)
    params = connect_params(settings)
    check_dsn(dsn, origin)
    failure = None
    try:
        conn = psycopg2.connect(dsn, application_name=application_name, **params)
    except psycopg2.Error as exc:
        failure = translate_connect_error(exc, dsn, origin)
    if failure is not None:
        # Raised outside the handler so that libpq's text, which may echo the DSN, is not chained to it.
        raise failure
    try:
        _apply_session_settings(conn, settings)
    except BaseException:
        conn.close()
        raise
    return conn


def _apply_session_settings(conn: connection, settings: Settings) -> None:
    values = session_settings(settings)
    calls = ", ".join(["set_config(%s, %s, false)"] * len(values))
    try:
        with conn.cursor() as cur:
            cur.execute(f"select {calls}", [item for pair in values.items() for item in pair])
        conn.commit()
    except psycopg2.Error as exc:
        raise PostgresConnectError(
            f"PostgreSQL refused the session settings from postgres.statement_timeout_s, lock_timeout_s and "
            f"keepalives_* in {settings.source}: {(exc.pgerror or str(exc)).strip()}"
        ) from exc


def check_dsn(dsn: str, origin: str) -> dict[str, str]:
    """The DSN's keywords, or an error that explains its syntax problem without echoing any part of it."""
    reason = None
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError as exc:
        reason = _mask_syntax_echo(str(exc).strip().removeprefix("invalid dsn: "))
    except UnicodeDecodeError:
        reason = "a percent-escape decodes to bytes that are not UTF-8"
    if reason is not None:
        # Only libpq's reason comes from the DSN: redacting the whole message would mask a one-character
        # password such as "_" in the variable's name too, and hide the setting to fix.
        raise PostgresConnectError(
            f"the DSN in {origin} is not a valid PostgreSQL URI or key=value string ({redact(reason, dsn)}): "
            f"fix it; {_ENCODING_HINT}"
        )
    if _misparsed(dsn, parts):
        raise PostgresConnectError(
            f"the DSN in {origin} has an unencoded '@' or '/' in its user name, password or database name, so "
            f"part of the password would be read as the host or the database: {_ENCODING_HINT}"
        )
    return parts


def _misparsed(dsn: str, parts: dict[str, str]) -> bool:
    """True when libpq split a URI at an '@' or '/' inside the password, so its host or database holds part of it."""
    return bool(_URI.match(dsn)) and any("@" in parts.get(key, "") for key in ("host", "port", "dbname"))


def password_forms(dsn: str) -> set[str]:
    """Every spelling of the DSN's password that an error could echo: as written, decoded, re-encoded."""
    forms: set[str] = set()
    try:
        parsed = parse_dsn(dsn).get("password")
    except (psycopg2.ProgrammingError, UnicodeDecodeError):
        parsed = None
    if parsed:
        forms |= {parsed, quote(parsed, safe=""), quote(parsed)}
    if _URI.match(dsn):
        authority = _URI.sub("", dsn)
        userinfo = authority.rpartition("@")[0]
        if ":" in userinfo:
            forms.add(userinfo.partition(":")[2])
        forms |= {match.group(1) for match in _QUERY_PASSWORD.finditer(authority)}
    else:
        for match in _KEYWORD_PASSWORD.finditer(dsn):
            forms.add(match.group(1) if match.group(1) is not None else match.group(2))
    forms |= {unquote(form) for form in forms}
    return {form for form in forms if form}


def redact(text: str, dsn: str) -> str:
    """`text` with the DSN's password replaced by *** in every spelling, longest first."""
    for form in sorted(password_forms(dsn), key=len, reverse=True):
        text = text.replace(form, _HIDDEN)
    return text


def _mask_syntax_echo(text: str) -> str:
    """libpq's DSN syntax error with the part of the DSN it quotes masked; all of it if the shape is unknown."""
    for echo in _SYNTAX_ECHOES:
        text = echo.sub(lambda m: f"{m.group(1)}…{m.group(3)}", text)
    rest = text
    for literal in ('"…"', '"="', '"]"', '":"', '"/"'):
        rest = rest.replace(literal, "")
    return text if '"' not in rest else text[: text.index('"')] + "…"


def _mask_quoted(text: str, safe: set[str]) -> str:
    """libpq quotes the DSN fragments it echoes: keep those known to be harmless, mask the rest."""

    def mask(match: re.Match[str]) -> str:
        token = match.group(0)[1:-1]
        punctuation = len(token) == 1 and not token.isalnum()
        return match.group(0) if token in safe or punctuation else '"…"'

    return _QUOTED.sub(mask, text)


def _harmless(dsn: str) -> set[str]:
    """DSN values an operator needs to see in an error: host names, user, database, keyword names."""
    try:
        parts = parse_dsn(dsn)
    except (psycopg2.ProgrammingError, UnicodeDecodeError):
        return set()
    if _misparsed(dsn, parts):
        return set(parts)
    safe = set(parts) | {parts.get("user", ""), parts.get("dbname", "")}
    for key in ("host", "hostaddr"):
        safe |= set(parts.get(key, "").split(","))
    return {value for value in safe if value} - password_forms(dsn)


def scrub(text: str, dsn: str) -> str:
    """libpq's error text with no trace of the DSN's password and no unvetted fragment of the DSN."""
    return _mask_quoted(redact(" ".join(text.split()), dsn), _harmless(dsn))


def describe(dsn: str) -> tuple[str, str, str]:
    """(host:port, database, user) of a DSN, never its password."""
    try:
        parts = parse_dsn(dsn)
    except (psycopg2.ProgrammingError, UnicodeDecodeError):
        return "<unparseable DSN>", "?", "?"
    where = f"{parts.get('host', 'localhost')}:{parts.get('port', '5432')}"
    return where, parts.get("dbname", parts.get("user", "?")), parts.get("user", "?")


def translate_connect_error(exc: psycopg2.Error, dsn: str, origin: str) -> PostgresConnectError:
    """Map libpq's connection failure to a message naming the cause and the setting to fix, without the password."""
    marker = "\x00origin\x00"
    message = _describe_failure(scrub(str(exc), dsn), dsn, marker)
    # The origin (which variable or file the DSN came from) is ours, not the DSN's: redacted too, a
    # one-character password such as "_" would mask the variable's name.
    return PostgresConnectError(origin.join(redact(part, dsn) for part in message.split(marker)))


def _describe_failure(text: str, dsn: str, origin: str) -> str:
    where, database, user = describe(dsn)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return (
            f"PostgreSQL at {where} rejected the password for user {user!r}: fix the password in the DSN "
            f"from {origin} (the error was: {text})"
        )
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"database {database!r} does not exist on {where}: create it, or fix the database in the DSN from {origin}"
        )
    if "does not exist" in lowered and "role" in lowered:
        return (
            f"user {user!r} does not exist on {where}: create the login user (docs/runbook.md, "
            f"Serving) or fix the user in the DSN from {origin}"
        )
    if "certificate" in lowered or "ssl" in lowered:
        return (
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
        return (
            f"cannot reach PostgreSQL at {where}: is the server running and is the host/port right? "
            f"The DSN comes from {origin} (the error was: {text})"
        )
    return f"cannot connect to PostgreSQL at {where} ({origin}): {text}"
