"""The local Kafka: Apache Kafka KRaft nodes (each broker + controller) run from Maven-resolved jars; one node for
the stack, three forming one quorum for the local cluster (config/local-cluster.yml)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from config.settings import NODE_PORT_STRIDE, LocalKafka
from scripts.stack.processes import PidFile, Port, StackError, display_path, port_answers, spawn_detached

REPO_ROOT = Path(__file__).resolve().parents[2]
JARS_DIR = REPO_ROOT / ".local" / "jars" / "kafka"
SECRET_ENV = "LAKEHOUSE_LOCAL_EVENTHUBS_CONNECTION_STRING"
SASL_USERNAME = "$ConnectionString"
_HEAP = re.compile(r"[1-9][0-9]*[kKmMgG]?")

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def new_connection_string() -> str:
    """A secret shaped like an Azure Event Hubs namespace connection string, with a random 256-bit key."""
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    return f"Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={key}"


def write_private(path: Path, text: str) -> None:
    """Replace `path` by a file created 0600, so a secret in it is never readable by others, not even briefly."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def kafka_nodes(local: LocalKafka, state_dir: Path) -> list[KafkaBroker]:
    """The stack's Kafka nodes: one, or stack.kafka.nodes forming one KRaft quorum."""
    if not 1 <= local.nodes <= 9:
        raise StackError(f"stack.kafka.nodes is {local.nodes}; expected 1 (one broker) to 9 (a quorum of brokers)")
    return [KafkaBroker(local, state_dir, node) for node in range(1, local.nodes + 1)]


class KafkaBroker:
    """Writes one node's config, formats its storage once, starts it detached and checks it answers."""

    stop_signal = signal.SIGTERM
    grace_s = 30.0

    def __init__(self, local: LocalKafka, state_dir: Path, node: int = 1):
        self.local, self.node = local, node
        self.quorum = local.nodes > 1
        self.name = f"kafka-{node}" if self.quorum else "kafka"
        shared = state_dir / "kafka"
        self.dir = shared / f"node-{node}" if self.quorum else shared
        self.shared_dir = shared
        self.port, self.sasl_port, self.controller_port = (
            self._of_node(local.port),
            self._of_node(local.sasl_port),
            self._of_node(local.controller_port),
        )
        self.properties = self.dir / "server.properties"
        self.log4j = self.dir / "log4j2.properties"
        self.data_dir = self.dir / "data"
        self.format_record = self.dir / "formatted.properties"
        self.log_file = self.dir / "server.log"
        self.secret_file = shared / "sasl.env"
        self.cluster_id_file = shared / "cluster.id"
        self.pid_file = PidFile(self.dir / "kafka.pid", self._is_ours)

    def _of_node(self, base: int) -> int:
        return base + NODE_PORT_STRIDE * (self.node - 1)

    def ports(self) -> list[Port]:
        suffix = f" + {NODE_PORT_STRIDE * (self.node - 1)} (node {self.node})" if self.node > 1 else ""
        return [
            Port(self.port, f"stack.kafka.port{suffix}", "LAKEHOUSE_KAFKA_PORT"),
            Port(self.sasl_port, f"stack.kafka.sasl_port{suffix}", "LAKEHOUSE_KAFKA_SASL_PORT"),
            Port(self.controller_port, f"stack.kafka.controller_port{suffix}", "LAKEHOUSE_KAFKA_CONTROLLER_PORT"),
        ]

    def endpoint(self) -> str:
        return f"localhost:{self.port} (SASL localhost:{self.sasl_port})"

    def _is_ours(self, cmdline: list[str]) -> bool:
        return "kafka.Kafka" in cmdline and str(self.properties) in cmdline

    def secret(self) -> str:
        """The SASL secret the broker was configured with; created once from the environment or at random."""
        from_env = os.environ.get(SECRET_ENV)
        stored = self._stored_secret()
        if stored is None:
            stored = from_env or new_connection_string()
            self._check_secret(stored)
            self._make_dir()
            write_private(self.secret_file, f"{SECRET_ENV}='{stored}'\n")
        elif from_env and from_env != stored:
            raise StackError(
                f"${SECRET_ENV} differs from the secret the local broker was configured with "
                f"({display_path(self.secret_file)}): unset it, or export the stored value "
                f"(`set -a; . {display_path(self.secret_file)}; set +a`)"
            )
        return stored

    def _make_dir(self) -> None:
        """The broker's directory (and the nodes' shared one), open to us alone: they hold the SASL secret."""
        for folder in (self.shared_dir, self.dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)

    def _stored_secret(self) -> str | None:
        if not self.secret_file.is_file():
            return None
        for line in self.secret_file.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == SECRET_ENV and value.strip():
                return value.strip().strip("'\"")
        raise StackError(
            f"{display_path(self.secret_file)} has no {SECRET_ENV}=... line: delete the file to generate a new secret"
        )

    def _check_secret(self, value: str) -> None:
        if any(ch in value for ch in "\"'\\\n\r"):
            raise StackError(
                f"${SECRET_ENV} contains a quote, backslash or newline, which the broker's JAAS config "
                "cannot hold: use a connection string like "
                "Endpoint=sb://.../;SharedAccessKeyName=...;SharedAccessKey=..."
            )

    def prepare(self) -> None:
        """Write server.properties and the logging config, and format the storage if it never was."""
        if not any(JARS_DIR.glob("kafka_2.13-*.jar")):
            raise StackError(f"Kafka jars not found in {display_path(JARS_DIR)}: run `make jars` first")
        if not _HEAP.fullmatch(self.local.heap):
            raise StackError(f"stack.kafka.heap is {self.local.heap!r}; expected a JVM size like 512m or 1g")
        self._make_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        write_private(self.properties, self._server_properties(self.secret()))
        self.log4j.write_text(_LOG4J2, encoding="utf-8")
        self._format_once()

    def quorum_setting(self) -> tuple[str, str]:
        """One node: a standalone controller found by bootstrap address. A quorum: its static voters, every node
        a voter (so a majority, two of three, keeps the cluster writable while one node is down)."""
        if not self.quorum:
            return "controller.quorum.bootstrap.servers", f"127.0.0.1:{self.controller_port}"
        voters = [
            f"{n}@127.0.0.1:{self.local.controller_port + NODE_PORT_STRIDE * (n - 1)}"
            for n in range(1, self.local.nodes + 1)
        ]
        return "controller.quorum.voters", ",".join(voters)

    def _server_properties(self, secret: str) -> str:
        port, sasl, controller = self.port, self.sasl_port, self.controller_port
        login = "org.apache.kafka.common.security.plain.PlainLoginModule required"
        jaas = f'{login} user_{SASL_USERNAME}="{secret}";'
        quorum_key, quorum = self.quorum_setting()
        replicas = str(min(3, self.local.nodes))
        in_sync = "2" if self.local.nodes >= 3 else "1"
        lines = {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            quorum_key: quorum,
            "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl},"
            f"CONTROLLER://127.0.0.1:{controller}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl},"
            f"CONTROLLER://127.0.0.1:{controller}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "default.replication.factor": replicas,
            "min.insync.replicas": in_sync,
            "offsets.topic.replication.factor": replicas,
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": in_sync,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": in_sync,
            "auto.create.topics.enable": "false",
            "message.max.bytes": "1048588",
            "group.initial.rebalance.delay.ms": "0",
        }
        header = "# Written by scripts/stack/services.py on every start; edit config/*.yml instead.\n"
        return header + "".join(f"{key}={value}\n" for key, value in lines.items())

    def _format_once(self) -> None:
        quorum = "=".join(self.quorum_setting()) + "\n"
        if (self.data_dir / "meta.properties").is_file():
            record = self.format_record
            recorded = record.read_text(encoding="utf-8") if record.is_file() else quorum
            if recorded != quorum:
                raise StackError(
                    f"the Kafka storage in {display_path(self.data_dir)} was formatted with "
                    f"{recorded.strip()}; set stack.kafka.controller_port back, or run `make stack-down` "
                    f"and delete {display_path(self.dir)} to start empty"
                )
            return
        if not self.quorum:
            cluster_id = self._storage_tool("random-uuid").strip()
            self._storage_tool("format", "--standalone", "-t", cluster_id, "-c", str(self.properties))
        else:
            self._storage_tool("format", "-t", self._cluster_id(), "-c", str(self.properties))
        self.format_record.write_text(quorum, encoding="utf-8")

    def _cluster_id(self) -> str:
        """The quorum's one cluster id, made by the first node formatted and read by the others."""
        if not self.cluster_id_file.is_file():
            self.cluster_id_file.write_text(self._storage_tool("random-uuid").strip() + "\n", encoding="ascii")
        return self.cluster_id_file.read_text(encoding="ascii").strip()

    def _storage_tool(self, *args: str) -> str:
        command = [*self._java(), "kafka.tools.StorageTool", *args]
        done = subprocess.run(command, cwd=self.dir, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise StackError(
                f"Kafka StorageTool {args[0]} failed (exit {done.returncode}) "
                f"for {display_path(self.data_dir)}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def _java(self) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java or not Path(java).is_file():
            raise StackError("java not found: install a JDK or JRE 17+ (Kafka 4 needs it) or set JAVA_HOME")
        return [java, f"-Dlog4j2.configurationFile={self.log4j}", "-cp", f"{JARS_DIR}/*"]

    def launch(self) -> int:
        java, *rest = self._java()
        heap = self.local.heap
        command = [
            java,
            f"-Xms{heap}",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            "-Dlog4j2.shutdownHookEnabled=false",
            *rest,
            "kafka.Kafka",
            str(self.properties),
        ]
        return spawn_detached(command, self.log_file, cwd=self.dir).pid

    def healthy(self) -> bool:
        """True when this node's PLAINTEXT listener answers a metadata request naming every node of the cluster
        (a restarted node counts once it has rejoined)."""
        if not port_answers(self.port):
            return False
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{self.port}", "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=5)
        except KafkaException:
            return False
        return len(metadata.brokers) == self.local.nodes
