"""Typed, validated settings loaded from one YAML file per environment, with ${ENV} interpolation."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from config.catalog import Table

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "local.yml"
PROJECT_ROOT = CONFIG_DIR.parent if CONFIG_DIR.is_dir() else Path.cwd()
"""What relative local paths in a config are relative to: the checkout this module lives in, or, when it runs
from the spark-submit archive (a zip, so no folder), the working directory, which a DAG task sets to the
checkout (a path inside the zip would be no place to write a lake)."""
CONFIG_ENV_VAR = "LAKEHOUSE_CONFIG"

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# Variables whose values are never echoed in an error, besides those a *_env key names.
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|DSN|CONNECTION_STRING|KEY", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?[0-9]+")
_BOOLEANS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class ConfigError(ValueError):
    """A config file is missing, malformed, or names a key or variable that is wrong."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN"] | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None

    def sasl_password(self) -> str:
        """The SASL secret, read from the environment variable the config names; never empty."""
        if not self.sasl_password_env:
            raise ConfigError("kafka.security.sasl_password_env is required when the protocol is SASL_*")
        value = os.environ.get(self.sasl_password_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.sasl_password_env} (named by kafka.security.sasl_password_env) "
                "is not set: export the Kafka / Event Hubs connection string before running"
            )
        return value


@dataclass(frozen=True)
class ProducerSettings:
    acks: Literal["all"] = "all"
    compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    linger_ms: int = 20
    batch_bytes: int = 1_000_000
    batch_messages: int = 10_000
    queue_max_messages: int = 500_000
    request_timeout_ms: int = 30_000
    delivery_timeout_ms: int = 120_000
    message_max_bytes: int = 1_000_000
    metadata_max_age_ms: int | None = None
    connections_max_idle_ms: int | None = None
    socket_keepalive: bool = False


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topic: str
    partitions: int = 6
    replication_factor: int = 1
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    producer: ProducerSettings = field(default_factory=ProducerSettings)


@dataclass(frozen=True)
class LocalKafka:
    """The local Kafka: one combined broker and controller, or `nodes` of them forming one KRaft quorum, node n
    listening on each port + NODE_PORT_STRIDE x (n - 1)."""

    port: int = 9092
    sasl_port: int = 9094
    controller_port: int = 9093
    heap: str = "1g"
    nodes: int = 1


NODE_PORT_STRIDE = 100


@dataclass(frozen=True)
class LocalSpark:
    """A Spark standalone cluster run from the installed PySpark: a master and `workers` workers, each its own JVM;
    worker n listens on worker_port + n - 1 and its UI on worker_ui_port + n - 1."""

    master_port: int = 7077
    master_ui_port: int = 8080
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "3g"
    worker_port: int = 7078
    worker_ui_port: int = 8081
    daemon_memory: str = "512m"


@dataclass(frozen=True)
class LocalPostgres:
    port: int = 5433


@dataclass(frozen=True)
class StackSettings:
    """The local services `make stack-up` runs; absent in cloud configs."""

    state_dir: str = ".local/stack"
    start_timeout_s: int = 90
    kafka: LocalKafka = field(default_factory=LocalKafka)
    postgres: LocalPostgres = field(default_factory=LocalPostgres)
    spark: LocalSpark | None = None
    """A local Spark standalone cluster (config/local-cluster.yml); absent: jobs run in local mode."""


@dataclass(frozen=True)
class PostgresSettings:
    """The serving database, and the limits every loader and migrator session sets (a timeout of 0 is no limit)."""

    dsn_env: str
    database: str = "lakehouse"
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] | None = None
    sslrootcert: str | None = None
    connect_timeout_s: int = 10
    # Longest single statement. The biggest is a mart's COPY or upsert: at the measured ~107k rows/s (the slower
    # of the two), 600 s is ~60M rows in one statement, far above any mart; and it is under the load task's
    # execution timeout, so a runaway statement fails with PostgreSQL's own error before Airflow kills the task.
    statement_timeout_s: int = 600
    # Longest wait for a lock: a publish or a migration blocked by another session (a long report holding a
    # table, a stuck load) fails and says so, instead of hanging with every later reader of that table queued behind it.
    lock_timeout_s: int = 30
    # TCP keepalives on both ends: a dead server is noticed by the client, and a dead client's session (with its
    # locks) dropped by the server, after idle + interval x count = 60 + 10 x 6 = 120 s.
    keepalives_idle_s: int = 60
    keepalives_interval_s: int = 10
    keepalives_count: int = 6


@dataclass(frozen=True)
class StorageSettings:
    """Where the lake lives: local paths here, abfss:// or gs:// URIs in the cloud."""

    lake_uri: str
    checkpoint_uri: str

    def root_uri(self) -> str:
        """The lake's absolute URI."""
        return _absolute_uri(self.lake_uri)

    def layer_uri(self, layer: str) -> str:
        """URI of one layer's folder, e.g. layer_uri('gold'), where gold's marts sit side by side."""
        return f"{self.root_uri()}/{layer}"

    def table_uri(self, layer: str, name: str) -> str:
        """URI of one Delta table, e.g. table_uri('silver', 'events')."""
        return f"{self.layer_uri(layer)}/{name}"

    def uri_of(self, table: Table) -> str:
        """URI of a table of config/catalog.py."""
        return self.table_uri(table.layer, table.name)

    def checkpoint(self, stream: str) -> str:
        """URI of one streaming query's checkpoint directory."""
        return f"{_absolute_uri(self.checkpoint_uri)}/{stream}"


@dataclass(frozen=True)
class StreamPorts:
    """Each stream driver's UI port, where Prometheus scrapes /metrics/prometheus/ (spark/stream_metrics.py)."""

    bronze: int
    silver: int


@dataclass(frozen=True)
class StreamSettings:
    trigger: Literal["available-now", "continuous"] = "available-now"
    processing_time: str = "30 seconds"
    max_offsets_per_trigger: int = 200_000
    max_files_per_trigger: int = 1000
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    prometheus_ports: StreamPorts | None = None


@dataclass(frozen=True)
class SparkSettings:
    """Applied only when no cluster provides them (local runs); a cluster's own settings win."""

    master: str = "local[2]"
    driver_memory: str = "4g"
    driver_java_options: str = ""
    shuffle_partitions: int = 4
    min_scan_partitions: int = 8
    jars_dir: str | None = ".local/jars/spark"
    stream: StreamSettings = field(default_factory=StreamSettings)


@dataclass(frozen=True)
class ArtifactSettings:
    """Where the cluster finds our code and config; each runner checks the URI schemes it can read."""

    jobs_uri: str
    archive_uri: str
    config_uri: str
    packages: tuple[str, ...] = ()
    jar_uri: str | None = None
    jar_main_class: str | None = None


@dataclass(frozen=True)
class LocalRunner:
    """spark-submit on this machine; master and jars_dir default to spark.master and spark.jars_dir."""

    spark_submit: str = ".venv/bin/spark-submit"
    python: str = ".venv/bin/python"
    master: str | None = None
    jars_dir: str | None = None


@dataclass(frozen=True)
class StandaloneRunner:
    """spark-submit (client mode) to a Spark standalone master such as `make cluster-up`'s: the executors are the
    workers' processes and get only what is shipped (the code archive, the jars, the config file)."""

    master: str | None = None  # else spark.master
    spark_submit: str = ".venv/bin/spark-submit"
    python: str = ".venv/bin/python"
    jars_dir: str | None = None
    executor_memory: str = "2g"
    executor_cores: int = 1
    max_cores: int = 2


@dataclass(frozen=True)
class DatabricksCluster:
    spark_version: str
    node_type_id: str
    num_workers: int = 2
    secret_scope: str | None = None


@dataclass(frozen=True)
class DatabricksRunner:
    """One of existing_cluster_id or new_cluster; the Kafka secret comes from the cluster's secret scope."""

    conn_id: str
    existing_cluster_id: str | None = None
    new_cluster: DatabricksCluster | None = None


@dataclass(frozen=True)
class SynapseRunner:
    conn_id: str
    spark_pool: str
    executor_size: Literal["Small", "Medium", "Large", "XLarge", "XXLarge"] = "Small"
    executor_count: int = 2


@dataclass(frozen=True)
class DataprocRunner:
    """Dataproc Serverless batches; without network settings the project's default network is used."""

    project_id: str
    region: str
    runtime_version: str = "3.0"
    gcp_conn_id: str = "google_cloud_default"
    service_account: str | None = None
    subnetwork_uri: str | None = None
    network_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunnerSettings:
    """Which platform runs the Spark jobs; only the section named by `kind` is read."""

    kind: Literal["local", "standalone", "databricks", "synapse", "dataproc"]
    artifacts: ArtifactSettings
    local: LocalRunner | None = None
    standalone: StandaloneRunner | None = None
    databricks: DatabricksRunner | None = None
    synapse: SynapseRunner | None = None
    dataproc: DataprocRunner | None = None


@dataclass(frozen=True)
class TaskTimeouts:
    """Execution timeout of each pipeline task, in seconds."""

    bronze_s: int = 3600
    silver_s: int = 3600
    gold_s: int = 3600
    load_s: int = 1800
    checks_s: int = 600
    maintenance_s: int = 7200


@dataclass(frozen=True)
class AirflowSettings:
    """Schedules, retries and the runner of the DAGs in dags/; secrets stay in Airflow connections."""

    runner: RunnerSettings
    serving_asset_uri: str
    postgres_conn_id: str = "lakehouse_postgres"
    alert_conn_id: str | None = None
    schedule: str = "@daily"
    maintenance_schedule: str = "0 3 * * 0"
    start_date: str = "2025-01-01T00:00:00Z"
    retries: int = 2
    retry_delay_s: int = 300
    max_retry_delay_s: int = 3600
    retry_backoff_multiplier: int = 2
    timeouts: TaskTimeouts = field(default_factory=TaskTimeouts)
    mode: Literal["batch", "streaming"] = "batch"
    dagrun_timeout_s: int = 14400
    deadline_s: int | None = 7200
    stream_poll_s: int = 30


@dataclass(frozen=True)
class LineageTransport:
    """Where OpenLineage events go: local files (one per emitter, under `directory`), an HTTP endpoint (Marquez,
    or a Purview / Fabric ingestion function), or Google's Data Lineage API (gcplineage); see docs/lineage.md."""

    kind: Literal["file", "http", "gcplineage"]
    directory: str | None = None
    url: str | None = None
    endpoint: str = "api/v1/lineage"
    api_key_env: str | None = None
    project_id: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class LineageSettings:
    """OpenLineage from Airflow's tasks and from the Spark jobs they start, in one job namespace."""

    namespace: str
    transport: LineageTransport


@dataclass(frozen=True)
class Settings:
    environment: str
    kafka: KafkaSettings
    postgres: PostgresSettings
    storage: StorageSettings
    spark: SparkSettings = field(default_factory=SparkSettings)
    stack: StackSettings | None = None
    airflow: AirflowSettings | None = None
    lineage: LineageSettings | None = None
    source: str = ""

    def postgres_dsn(self) -> str:
        """The DSN from the environment variable the config names, else the embedded local server's."""
        dsn = os.environ.get(self.postgres.dsn_env)
        if dsn:
            return dsn
        if self.stack is None:
            raise ConfigError(
                f"environment variable {self.postgres.dsn_env} (named by postgres.dsn_env in {self.source}) "
                "is not set and this config has no local stack to fall back on"
            )
        return f"postgresql://postgres@127.0.0.1:{self.stack.postgres.port}/{self.postgres.database}"

    def uses_embedded_postgres(self) -> bool:
        """True when the local stack should run PostgreSQL itself (no DSN in the environment)."""
        return self.stack is not None and not os.environ.get(self.postgres.dsn_env)


def _absolute_uri(uri: str) -> str:
    """Cloud URIs pass through; a relative local path is anchored at the project root, not the working directory."""
    if re.match(r"^[a-z][a-z0-9+.-]*://", uri):
        return uri.rstrip("/")
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else (PROJECT_ROOT / path).resolve())


class _Interpolated(str):
    """Text that came from ${VAR} references: always a string, converted only by the type of its key."""

    variables: tuple[str, ...]
    secret: bool

    def __new__(cls, text: str, variables: tuple[str, ...], secret: bool) -> _Interpolated:
        value = super().__new__(cls, text)
        value.variables = variables
        value.secret = secret
        return value


def _secret_variables(value: Any) -> set[str]:
    """Names of the variables the config's *_env keys point at: they hold secrets wherever they are referenced."""
    if isinstance(value, dict):
        names = set()
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(item, str):
                names.add(item)
            names |= _secret_variables(item)
        return names
    if isinstance(value, list):
        return set().union(*(_secret_variables(item) for item in value))
    return set()


def _interpolate(value: Any, where: str, source: str, secrets: frozenset[str]) -> Any:
    """Substitute ${VAR} and ${VAR:-default} in strings; the result stays text, never re-parsed as YAML."""
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}" if where else k, source, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}[{i}]", source, secrets) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ and os.environ[name] != "":
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{source}: key '{where}' needs environment variable {name}, which is not set")

    names = tuple(dict.fromkeys(match.group(1) for match in _ENV_REF.finditer(value)))
    if not names:
        return value
    secret = any(name in secrets or _SECRET_NAME.search(name) for name in names)
    return _Interpolated(_ENV_REF.sub(replace, value), names, secret)


def _shown(value: Any) -> str:
    """A value for an error message: where an interpolated one came from, and never a secret's text."""
    if not isinstance(value, _Interpolated):
        return repr(value)
    origin = " and ".join(f"${name}" for name in value.variables)
    if value.secret:
        return f"the value of {origin} (not shown: that variable holds a secret)"
    return f"{str(value)!r} (from {origin})"


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        got = "text" if isinstance(data, str) else type(data).__name__
        raise ConfigError(f"{source}: key '{where or '<root>'}' must be a mapping, got {got}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"{source}: unknown key '{key}' (allowed here: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{source}: missing required key '{key}'")
            continue
        kwargs[name] = _coerce(hints[name], data[name], key, source)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is Literal:
        allowed = typing.get_args(tp)
        for option in allowed:
            if value == option or (isinstance(value, _Interpolated) and str(value) == str(option)):
                return option
        raise ConfigError(f"{source}: key '{key}' is {_shown(value)}; expected one of {', '.join(map(str, allowed))}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, source)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{source}: key '{key}' must be a list, got {_shown(value)}")
        item = typing.get_args(tp)[0]
        return tuple(_coerce(item, v, f"{key}[{i}]", source) for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, _Interpolated) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: key '{key}' must be true or false, got {_shown(value)}")
        return value
    if tp is int:
        if isinstance(value, _Interpolated) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: key '{key}' must be an integer, got {_shown(value)}")
        return value
    if tp is str:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(f"{source}: key '{key}' must be a string, got {_shown(value)}")
        return str(value)
    raise ConfigError(f"{source}: key '{key}' has an unsupported type {tp}")


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file a command uses: the argument, else $LAKEHOUSE_CONFIG, else config/local.yml."""
    return Path(path or os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG)


def run_main(main: Callable[[], int | None]) -> NoReturn:
    """A command's entry point: a config error, which names the key and the file, is printed alone as
    `error: ...` with exit code 2, as every command does; any other failure keeps its traceback, where its cause is."""
    try:
        code = main()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    raise SystemExit(code or 0)


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load and validate a config file: the argument, else $LAKEHOUSE_CONFIG, else config/local.yml."""
    chosen = config_path(path)
    if not chosen.is_file():
        raise ConfigError(f"config file {chosen} does not exist (set --config or {CONFIG_ENV_VAR})")
    source = str(chosen)
    try:
        raw = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    data = _interpolate(raw or {}, "", source, frozenset(_secret_variables(raw or {})))
    settings = _build(Settings, data, "", source)
    return dataclasses.replace(settings, source=source)
