"""The local stack on its own state dir and free ports, so it never collides with the default stack."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg2
import pytest
import yaml
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from config.settings import Settings, load_settings
from scripts.stack.kafka_broker import SECRET_ENV
from scripts.stack.processes import Port, port_advice, port_answers
from scripts.stack.services import Stack, StackError, StackInfo, main
from tests.shared_stack import shared_stack

pytestmark = pytest.mark.integration

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "local.yml"
PORT_VARS = (
    "LAKEHOUSE_KAFKA_PORT",
    "LAKEHOUSE_KAFKA_SASL_PORT",
    "LAKEHOUSE_KAFKA_CONTROLLER_PORT",
    "LAKEHOUSE_POSTGRES_PORT",
)
CONNECTION_STRING = re.compile(
    r"Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=[A-Za-z0-9+/]{43}="
)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _isolated_settings(mp: pytest.MonkeyPatch, root: Path) -> Settings:
    """local.yml with state under `root` and every port moved to a free one through its env var."""
    for name, port in zip(PORT_VARS, _free_ports(len(PORT_VARS)), strict=True):
        mp.setenv(name, str(port))
    mp.delenv("LAKEHOUSE_POSTGRES_DSN", raising=False)
    mp.delenv(SECRET_ENV, raising=False)
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["stack"].update(state_dir=str(root / "state"), start_timeout_s=60)
    raw["stack"]["kafka"]["heap"] = "512m"
    config = root / "stack.yml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_settings(config)


def _pids(stack: Stack) -> list[int]:
    return [int(svc.pid_file.path.read_text()) for svc in (stack.kafka, stack.postgres)]


@pytest.fixture(scope="module")
def isolated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as mp:
        yield _isolated_settings(mp, tmp_path_factory.mktemp("stack"))


@pytest.fixture(scope="module")
def over_stale_pids(isolated: Settings) -> Iterator[tuple[Stack, StackInfo, subprocess.Popen[bytes], int]]:
    """The stack started over stale pid files: kafka's names an unrelated process, postgres's a dead one."""
    stack = Stack(isolated)
    unrelated = subprocess.Popen(["sleep", "600"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    for svc, pid in ((stack.kafka, unrelated.pid), (stack.postgres, dead.pid)):
        svc.pid_file.path.parent.mkdir(parents=True, exist_ok=True)
        svc.pid_file.write(pid)
    stack.kafka.properties.write_text("# written by an older version, world-readable\n", encoding="utf-8")
    stack.kafka.properties.chmod(0o644)
    try:
        yield stack, stack.up(), unrelated, dead.pid
    finally:
        stack.down()
        unrelated.kill()
        unrelated.wait()


def test_taken_port_is_named_and_nothing_starts(tmp_path, monkeypatch, capsys):
    settings = _isolated_settings(monkeypatch, tmp_path)
    stack = Stack(settings)
    port = settings.stack.postgres.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(StackError, match=rf"port {port} .*LAKEHOUSE_POSTGRES_PORT"):
            stack.up()
        assert main(["up", "--config", settings.source]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot start postgres: port ") and "Traceback" not in err
    assert not stack.kafka.pid_file.path.exists() and not stack.postgres.pid_file.path.exists()
    assert not port_answers(settings.stack.kafka.port)


@pytest.mark.parametrize("config", ["local.yml", "local-cluster.yml"])
def test_a_taken_port_names_what_the_config_reads_it_from(config: str) -> None:
    """config/local.yml reads each port from an environment variable; the cluster config sets literal ports, where
    exporting the variable would change nothing."""
    source = str(Path(__file__).resolve().parents[2] / "config" / config)
    advice = port_advice(Port(9092, "stack.kafka.port", "LAKEHOUSE_KAFKA_PORT"), source)
    assert f"stack.kafka.port in {source}" in advice
    assert ("export LAKEHOUSE_KAFKA_PORT=<free port>" in advice) == (config == "local.yml")


def test_pid_file_is_kept_when_its_port_is_taken(tmp_path, monkeypatch):
    """A pid file this tree does not recognise (another checkout's broker, sharing the state dir) must survive a
    refused start: deleting it would orphan a live server that its own tree can then never stop."""
    settings = _isolated_settings(monkeypatch, tmp_path)
    stack = Stack(settings)
    holder = subprocess.Popen(["sleep", "600"])
    try:
        stack.postgres.pid_file.path.parent.mkdir(parents=True, exist_ok=True)
        stack.postgres.pid_file.write(holder.pid)
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", settings.stack.postgres.port))
            squatter.listen()
            with pytest.raises(StackError, match="already in use"):
                stack.up()
        assert stack.postgres.pid_file.path.read_text().strip() == str(holder.pid)
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("password", ["Sup3r%zzS3cret", "Sup3r@S3cret", "Sup3r%ffS3cret"])
def test_bad_external_dsn_is_reported_without_its_password(password, tmp_path, monkeypatch, capsys):
    settings = _isolated_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("LAKEHOUSE_POSTGRES_DSN", f"postgresql://loader:{password}@127.0.0.1:{_free_ports(1)[0]}/x")
    assert main(["up", "--config", settings.source]) == 1
    output = capsys.readouterr()
    assert output.err.startswith("error: PostgreSQL named by $LAKEHOUSE_POSTGRES_DSN"), output.err
    assert "S3cret" not in output.out + output.err and "Traceback" not in output.err
    assert not Stack(settings).kafka.pid_file.path.exists()


def test_stale_pid_files_are_neither_trusted_nor_killed(over_stale_pids):
    stack, info, unrelated, dead_pid = over_stale_pids
    assert info.started == ["kafka", "postgres"]
    assert unrelated.poll() is None, "the unrelated process named by a stale pid file was killed"
    kafka_pid, postgres_pid = _pids(stack)
    assert kafka_pid != unrelated.pid and postgres_pid != dead_pid
    assert "kafka.Kafka" in psutil.Process(kafka_pid).cmdline()
    assert Path(psutil.Process(postgres_pid).cmdline()[0]).name == "postgres"


def test_second_up_starts_nothing_and_all_is_healthy(over_stale_pids):
    stack, _, _, _ = over_stale_pids
    before = _pids(stack)
    began = time.monotonic()
    again = stack.up()
    assert again.started == []
    assert time.monotonic() - began < 10
    assert _pids(stack) == before
    status = stack.status()
    assert all(item["running"] and item["healthy"] for item in status.values()), status
    assert status["kafka"]["pid"] == before[0] and status["postgres"]["pid"] == before[1]


def test_postgres_serves_the_configured_database(over_stale_pids, isolated):
    _, info, _, _ = over_stale_pids
    assert info.postgres_dsn == f"postgresql://postgres@127.0.0.1:{isolated.stack.postgres.port}/lakehouse"
    conn = psycopg2.connect(info.postgres_dsn, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("select current_database()")
            assert cur.fetchone() == ("lakehouse",)
    finally:
        conn.close()


def test_sasl_listener_takes_the_connection_string_and_rejects_others(over_stale_pids, isolated):
    stack, info, _, _ = over_stale_pids
    assert CONNECTION_STRING.fullmatch(info.sasl_secret)
    assert stack.kafka.secret_file.stat().st_mode & 0o777 == 0o600
    assert info.sasl_bootstrap_servers == f"localhost:{isolated.stack.kafka.sasl_port}"
    sasl = {
        "bootstrap.servers": info.sasl_bootstrap_servers,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": info.sasl_username,
    }
    metadata = AdminClient({**sasl, "sasl.password": info.sasl_secret}).list_topics(timeout=10)
    assert list(metadata.brokers) == [1]

    errors: list[KafkaError] = []
    wrong = info.sasl_secret[:-5] + "AAAA="
    producer = Producer({**sasl, "sasl.password": wrong, "error_cb": errors.append, "log_level": 0})
    with pytest.raises(KafkaException):
        producer.list_topics(timeout=3)
    deadline = time.monotonic() + 5
    while not any(e.code() == KafkaError._AUTHENTICATION for e in errors) and time.monotonic() < deadline:
        producer.poll(0.2)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), [e.str() for e in errors]


def test_only_private_files_hold_the_sasl_secret(over_stale_pids):
    stack, info, _, _ = over_stale_pids
    key = info.sasl_secret.rpartition("SharedAccessKey=")[2].encode()
    holders = sorted(
        path.relative_to(stack.state_dir)
        for path in stack.state_dir.rglob("*")
        if path.is_file() and key in path.read_bytes()
    )
    assert holders == [Path("kafka/sasl.env"), Path("kafka/server.properties")]
    for path in holders:
        assert (stack.state_dir / path).stat().st_mode & 0o777 == 0o600, f"{path} is readable by others"
    assert stack.kafka.dir.stat().st_mode & 0o777 == 0o700


def test_down_stops_our_processes_and_is_repeatable(over_stale_pids):
    stack, _, unrelated, _ = over_stale_pids
    pids = _pids(stack)
    stack.down()
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not stack.kafka.pid_file.path.exists() and not stack.postgres.pid_file.path.exists()
    stack.down()
    assert not any(item["running"] for item in stack.status().values())
    assert unrelated.poll() is None


def test_xdist_workers_share_one_stack_and_the_last_to_finish_stops_it(tmp_path, monkeypatch):
    """tests/shared_stack.py: the first worker finishing must not stop the broker under the other, and a crashed
    worker's entry must not keep it running."""
    settings = _isolated_settings(monkeypatch, tmp_path)
    stack = Stack(settings)
    crashed = subprocess.Popen(["true"])  # a worker that died without its teardown: it must not keep the stack up
    crashed.wait()
    (tmp_path / "stack-users.json").write_text(json.dumps({"users": [f"gw2:{crashed.pid}"], "started": []}))
    starter, other = shared_stack(settings, tmp_path, "gw0"), shared_stack(settings, tmp_path, "gw1")
    try:
        assert sorted(starter.__enter__().started) == ["kafka", "postgres"]
        pids = _pids(stack)
        assert other.__enter__().started == []
        starter.__exit__(None, None, None)
        assert _pids(stack) == pids and port_answers(settings.stack.kafka.port), "the starter stopped it under gw1"
        other.__exit__(None, None, None)
        assert not any(item["running"] for item in stack.status().values())
        assert not port_answers(settings.stack.kafka.port) and not port_answers(settings.stack.postgres.port)
    finally:
        stack.down()
