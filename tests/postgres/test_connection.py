"""Connection failures name the cause and the config key or environment variable to fix."""

from __future__ import annotations

import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import make_dsn

from config.settings import Settings
from postgres.connection import PostgresConnectError, connect, translate_connect_error
from postgres.load import main as load_main
from scripts.stack.postgres_server import BIN_DIR, _grant_traverse, _system_user

pytestmark = pytest.mark.integration

MakeSettings = Callable[[str], Settings]
RIGHT_PASSWORD = "right-password"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_names_host_port_and_variable(load_settings_for: MakeSettings) -> None:
    port = _closed_port()
    settings = load_settings_for(f"postgresql://postgres@127.0.0.1:{port}/lakehouse")
    with pytest.raises(PostgresConnectError) as raised:
        connect(settings, "test")
    message = str(raised.value)
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in message
    assert f"environment variable {settings.postgres.dsn_env} (named by postgres.dsn_env" in message


def test_load_command_exits_non_zero_with_the_reason(
    load_settings_for: MakeSettings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    settings = load_settings_for(f"postgresql://postgres@127.0.0.1:{port}/lakehouse")
    monkeypatch.setattr("postgres.load.load_settings", lambda path: settings)
    assert load_main(["--table", "dim_users"]) == 1
    assert f"error: cannot reach PostgreSQL at 127.0.0.1:{port}" in capsys.readouterr().err


def test_missing_database_is_named(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(make_dsn(serving_db, dbname="no_such_db"))
    with pytest.raises(PostgresConnectError, match=r"database 'no_such_db' does not exist on 127\.0\.0\.1:\d+"):
        connect(settings, "test")


def test_missing_login_user_is_named(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(make_dsn(serving_db, user="no_such_user"))
    with pytest.raises(PostgresConnectError, match=r"user 'no_such_user' does not exist"):
        connect(settings, "test")


def test_tls_required_by_config_is_enforced(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    settings = dataclasses.replace(settings, postgres=dataclasses.replace(settings.postgres, sslmode="require"))
    with pytest.raises(PostgresConnectError, match=r"TLS to PostgreSQL at .* failed: check postgres\.sslmode"):
        connect(settings, "test")


def test_missing_root_certificate_names_the_key(serving_db: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(serving_db)
    postgres = dataclasses.replace(settings.postgres, sslmode="verify-full", sslrootcert="/nonexistent/ca.pem")
    with pytest.raises(PostgresConnectError, match=r"postgres\.sslrootcert in .* names /nonexistent/ca\.pem"):
        connect(dataclasses.replace(settings, postgres=postgres), "test")


def test_wrong_password_message_never_echoes_the_password() -> None:
    error = psycopg2.OperationalError(
        'connection to server at "db.example.com" (10.0.0.5), port 5432 failed: '
        'FATAL:  password authentication failed for user "loader"\n'
    )
    dsn = "postgresql://loader:s3cret-Value@db.example.com:5432/lakehouse"
    message = str(translate_connect_error(error, dsn, "environment variable AZURE_POSTGRES_DSN"))
    assert message.startswith("PostgreSQL at db.example.com:5432 rejected the password for user 'loader'")
    assert "environment variable AZURE_POSTGRES_DSN" in message
    assert "s3cret-Value" not in message


@pytest.fixture(scope="module")
def password_server() -> Iterator[int]:
    """A private PostgreSQL (pgserver's binaries) with scram-sha-256 auth; the port it listens on."""
    user = _system_user()
    root = Path(tempfile.mkdtemp(prefix="lakehouse-pw-"))
    (root / "pw").write_text(RIGHT_PASSWORD)
    if user:
        _grant_traverse(root / "data")
        entry = pwd.getpwnam(user)
        for path in (root, root / "pw"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    run_as = {"user": user, "group": user, "extra_groups": []} if user else {}
    subprocess.run(
        [
            str(BIN_DIR / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={root / 'pw'}",
            "--no-instructions",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=300,
        cwd=root,
        **run_as,
    )
    port = _closed_port()
    server = subprocess.Popen(
        [
            str(BIN_DIR / "postgres"),
            "-D",
            str(root / "data"),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "shared_buffers=16MB",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
        **run_as,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg2.connect(_dsn(port, RIGHT_PASSWORD), connect_timeout=2).close()
                break
            except psycopg2.OperationalError:
                assert server.poll() is None and time.monotonic() < deadline, "private PostgreSQL did not start"
                time.sleep(0.2)
        yield port
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def _dsn(port: int, password: str) -> str:
    return f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"


def test_wrong_password_on_a_real_server_is_named(password_server: int, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(_dsn(password_server, "wrong-password"))
    with pytest.raises(PostgresConnectError) as raised:
        connect(settings, "test")
    message = str(raised.value)
    assert message.startswith(f"PostgreSQL at 127.0.0.1:{password_server} rejected the password for user 'postgres'")
    assert settings.postgres.dsn_env in message
    assert "wrong-password" not in message
    connect(load_settings_for(_dsn(password_server, RIGHT_PASSWORD)), "test").close()


# A real-looking secret: percent-escapes make its written and decoded forms differ.
SECRET = "Sup3r-S3cret%2Fpw"
SECRET_FORMS = {SECRET, "Sup3r-S3cret/pw", "Sup3r-S3cret", "S3cret"}
REPO_ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {
    "load": ["postgres.load", "--table", "dim_users"],
    "migrate": ["postgres.migrate"],
}


def _run(command: str, dsn: str) -> subprocess.CompletedProcess[str]:
    """Run a CLI as an operator would, the DSN in the variable local.yml names."""
    env = {**os.environ, "LAKEHOUSE_POSTGRES_DSN": dsn}
    env.pop("LAKEHOUSE_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", *COMMANDS[command], "--config", str(REPO_ROOT / "config" / "local.yml")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_clean_failure(done: subprocess.CompletedProcess[str], expected: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    leaked = [form for form in SECRET_FORMS if form in output]
    assert not leaked, f"the password leaked ({leaked}): {output}"
    assert done.stderr.startswith("error: ") and "LAKEHOUSE_POSTGRES_DSN" in done.stderr, output
    assert expected in done.stderr, output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_with_a_bad_percent_escape_never_prints_the_password(command: str) -> None:
    dsn = f"postgresql://postgres:{SECRET.replace('%2F', '%zz')}@127.0.0.1:{_closed_port()}/lakehouse"
    _assert_clean_failure(_run(command, dsn), "is not a valid PostgreSQL URI")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_with_an_unencoded_at_sign_never_prints_part_of_the_password(command: str) -> None:
    dsn = f"postgresql://postgres:{SECRET.replace('-', '@')}@127.0.0.1:{_closed_port()}/lakehouse"
    _assert_clean_failure(_run(command, dsn), "unencoded '@' or '/'")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_with_a_closed_port_never_prints_the_password(command: str) -> None:
    port = _closed_port()
    _assert_clean_failure(
        _run(command, f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/lakehouse"),
        f"cannot reach PostgreSQL at 127.0.0.1:{port}",
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_with_a_wrong_password_never_prints_it(command: str, password_server: int) -> None:
    _assert_clean_failure(
        _run(command, _dsn(password_server, SECRET)),
        f"PostgreSQL at 127.0.0.1:{password_server} rejected the password for user 'postgres'",
    )


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://loader:Sup3r-S3cret%zz@db.example.com/lakehouse",
        "postgresql://loader:Sup3r-S3cret@pw@db.example.com/lakehouse",
        "postgresql://loader:Sup3r-S3cret/pw@db.example.com/lakehouse",
        "postgresql://loader:Sup3r?S3cret/pw@db.example.com/lakehouse",
        "postgresql://loader:Sup3r%ffS3cret@db.example.com/lakehouse",
        "postgresql://loader@db.example.com/lakehouse?password=Sup3r-S3cret%zz",
        "host=db.example.com password=Sup3r-S3cret pw user=loader",
        "host=db.example.com password=Sup3r-S3cret cret=pw user=loader",
        "host=db.example.com password='Sup3r-S3cret user=loader",
        "postgresql://loader:Sup3r-S3cret@[db.example.com/lakehouse",
    ],
)
def test_malformed_dsn_error_has_no_trace_of_the_password(dsn: str, load_settings_for: MakeSettings) -> None:
    settings = load_settings_for(dsn)
    with pytest.raises(PostgresConnectError) as raised:
        connect(settings, "test")
    message = str(raised.value)
    assert "S3cret" not in message and "Sup3r" not in message, message
    assert settings.postgres.dsn_env in message
    assert raised.value.__cause__ is None and raised.value.__context__ is None, "libpq's text must not be chained"
