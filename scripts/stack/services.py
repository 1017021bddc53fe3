"""Usage: python -m scripts.stack.services up|down|status [--config PATH]

Runs the local services a config's `stack` section describes (a Kafka broker or a quorum of them, PostgreSQL unless
a DSN is given, and a Spark standalone cluster when `stack.spark` is set), detached from this process, so laptops
and tests get real components without Docker. `make cluster-up` is this with config/local-cluster.yml.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg2

from config.settings import ConfigError, Settings, load_settings
from scripts.stack.kafka_broker import REPO_ROOT, SASL_USERNAME, SECRET_ENV, KafkaBroker, kafka_nodes
from scripts.stack.postgres_server import EmbeddedPostgres, query_one
from scripts.stack.processes import (
    StackError,
    display_path,
    ensure_ports_free,
    stop_processes,
    wait_until_healthy,
)
from scripts.stack.spark_cluster import SparkMaster, SparkWorker, spark_services

__all__ = ["Stack", "StackError", "StackInfo"]

Service = KafkaBroker | EmbeddedPostgres | SparkMaster | SparkWorker


@dataclass
class StackInfo:
    """How clients reach the running stack, and which services this call started."""

    bootstrap_servers: str
    sasl_bootstrap_servers: str
    sasl_username: str
    sasl_secret_env: str
    sasl_secret: str
    postgres_dsn: str
    started: list[str] = field(default_factory=list)


class Stack:
    """Starts, checks and stops one config's local services, tracked by pid files under stack.state_dir."""

    def __init__(self, settings: Settings):
        if settings.stack is None:
            raise StackError(f"{settings.source} has no `stack` section: its services are not run locally")
        self.settings = settings
        state_dir = Path(settings.stack.state_dir).expanduser()
        self.state_dir = state_dir if state_dir.is_absolute() else REPO_ROOT / state_dir
        self.kafka_nodes = kafka_nodes(settings.stack.kafka, self.state_dir)
        self.kafka = self.kafka_nodes[0]
        self.postgres = EmbeddedPostgres(settings.stack.postgres, settings.postgres.database, self.state_dir)
        local_spark = settings.stack.spark
        self.spark = spark_services(local_spark, self.state_dir) if local_spark else []
        self._check_bootstrap_servers()

    def _check_bootstrap_servers(self) -> None:
        kafka = self.settings.kafka
        sasl = kafka.security.protocol.startswith("SASL")
        key = "stack.kafka.sasl_port" if sasl else "stack.kafka.port"
        listening = {str(node.sasl_port if sasl else node.port) for node in self.kafka_nodes}
        ports = {server.rpartition(":")[2] for server in kafka.bootstrap_servers.split(",")}
        if not ports or not ports <= listening:
            raise StackError(
                f"{self.settings.source}: kafka.bootstrap_servers is {kafka.bootstrap_servers!r} but the "
                f"local {kafka.security.protocol} listeners are on port(s) {', '.join(sorted(listening))} ({key}, "
                f"one per node): align them"
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise stack commands on one state_dir, so two `up`s never start two brokers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "stack.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _services(self) -> list[Service]:
        """In start order: Kafka's nodes, PostgreSQL (unless external), the Spark master, its workers."""
        postgres = [self.postgres] if self.settings.uses_embedded_postgres() else []
        return [*self.kafka_nodes, *postgres, *self.spark]

    def _all(self) -> list[Service]:
        return [*self.kafka_nodes, self.postgres, *self.spark]

    def up(self) -> StackInfo:
        """Start whatever is not running yet and wait until every service answers a real request."""
        timeout_s = self.settings.stack.start_timeout_s
        with self._locked():
            services = self._services()
            running = {svc.name: svc.pid_file.process() for svc in services}
            missing = [svc for svc in services if running[svc.name] is None]
            for svc in missing:
                ensure_ports_free(svc.name, svc.ports(), self.settings.source)
            for svc in missing:
                svc.pid_file.remove()
            if not self.settings.uses_embedded_postgres():
                self._check_external_postgres()
            secret = self.kafka.secret()
            started: list[Service] = []
            try:
                for svc in missing:
                    svc.prepare()
                    pid = svc.launch()
                    svc.pid_file.write(pid)
                    started.append(svc)
                    running[svc.name] = psutil.Process(pid)
                for svc in services:
                    wait_until_healthy(svc.name, running[svc.name], svc.healthy, timeout_s, svc.log_file)
                if self.settings.uses_embedded_postgres():
                    self.postgres.ensure_database()
            except BaseException:
                self._stop([svc.name for svc in started])
                raise
            return self._info(secret, [svc.name for svc in started])

    def _check_external_postgres(self) -> None:
        env = self.settings.postgres.dsn_env
        try:
            query_one(self.settings.postgres_dsn())
        except psycopg2.Error as exc:
            raise StackError(
                f"PostgreSQL named by ${env} (postgres.dsn_env) did not answer `select 1`: "
                f"{' '.join(str(exc).split())}; fix the DSN or unset {env} to use the embedded server"
            ) from exc

    def _info(self, secret: str, started: list[str]) -> StackInfo:
        return StackInfo(
            bootstrap_servers=",".join(f"localhost:{node.port}" for node in self.kafka_nodes),
            sasl_bootstrap_servers=",".join(f"localhost:{node.sasl_port}" for node in self.kafka_nodes),
            sasl_username=SASL_USERNAME,
            sasl_secret_env=SECRET_ENV,
            sasl_secret=secret,
            postgres_dsn=self.settings.postgres_dsn(),
            started=started,
        )

    def down(self, services: Sequence[str] | None = None) -> None:
        """Stop the services (all, or those named) whose pid files we wrote and that still run our command."""
        self._down(services)

    def _down(self, services: Sequence[str] | None) -> list[tuple[str, int | None]]:
        with self._locked():
            return self._stop(services)

    def _stop(self, names: Sequence[str] | None) -> list[tuple[str, int | None]]:
        chosen = [svc for svc in reversed(self._all()) if names is None or svc.name in names]
        procs = {svc.name: svc.pid_file.process() for svc in chosen}
        stop_processes([(proc, svc.stop_signal, svc.grace_s) for svc in chosen if (proc := procs[svc.name])])
        for svc in chosen:
            svc.pid_file.remove()
        return [(svc.name, proc.pid if (proc := procs[svc.name]) else None) for svc in chosen]

    def status(self) -> dict[str, dict[str, object]]:
        """Per service: running, healthy, pid, port and log file (external PostgreSQL: healthy only)."""
        report: dict[str, dict[str, object]] = {}
        for svc in self._all():
            if svc is self.postgres and not self.settings.uses_embedded_postgres():
                report[svc.name] = self._external_postgres_status()
                continue
            proc = svc.pid_file.process()
            report[svc.name] = {
                "running": proc is not None,
                "healthy": proc is not None and svc.healthy(),
                "pid": proc.pid if proc else None,
                "port": svc.ports()[0].number,
                "endpoint": svc.endpoint(),
                "log": str(svc.log_file),
            }
        return report

    def _external_postgres_status(self) -> dict[str, object]:
        try:
            query_one(self.settings.postgres_dsn())
            healthy = True
        except psycopg2.Error:
            healthy = False
        endpoint = f"${self.settings.postgres.dsn_env}"
        return {
            "running": healthy,
            "healthy": healthy,
            "pid": None,
            "port": None,
            "endpoint": endpoint,
            "log": None,
        }


def _line(name: str, state: str, pid: object, endpoint: str, log: object) -> str:
    pid_text = f"pid {pid}" if pid else "-"
    log_text = f"  log {display_path(Path(str(log)))}" if log else ""
    return f"{name:<15} {state:<9} {pid_text:<10} {endpoint}{log_text}"


def _print_status(stack: Stack, started: Sequence[str] = ()) -> bool:
    all_healthy = True
    for name, item in stack.status().items():
        if item["healthy"]:
            state = "started" if name in started else "running"
        else:
            state = "unhealthy" if item["running"] else "down"
            all_healthy = False
        if item["log"] is None:
            state = f"external {state}"
        print(_line(name, state, item["pid"], str(item["endpoint"]), item["log"]))
    return all_healthy


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.stack.services", description="Start, stop or check the local Kafka and PostgreSQL."
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        if settings.stack is None:
            print(f"{settings.source} has no stack section: its services are not started here (nothing to do)")
            return 0
        stack = Stack(settings)
        if args.command == "up":
            info = stack.up()
            _print_status(stack, info.started)
            secret = display_path(stack.kafka.secret_file)
            print(f"SASL user {info.sasl_username}, secret in {secret} (export: set -a; . {secret}; set +a)")
            return 0
        if args.command == "down":
            for name, pid in stack._down(None):
                print(f"{name:<15} stopped   pid {pid}" if pid else f"{name:<15} not running")
            return 0
        return 0 if _print_status(stack) else 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
