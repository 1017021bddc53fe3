"""The config's lineage section as each emitter reads it: environment variables for Airflow's OpenLineage provider
and Spark conf for the openlineage-spark listener, so both write the same job namespace to the same place."""

from __future__ import annotations

import json
import os
from pathlib import Path

from config.settings import PROJECT_ROOT, ConfigError, LineageSettings, Settings

SPARK_LISTENER = "io.openlineage.spark.agent.OpenLineageSparkListener"
AIRFLOW_EVENTS = "airflow.ndjson"
LINEAGE_DIR_ENV = "LAKEHOUSE_LINEAGE_DIR"
"""The variable config/local.yml's lineage.transport.directory reads; scripts/airflow_local/run_dag.py sets it
per run."""


def _error(settings: Settings, key: str, problem: str) -> ConfigError:
    return ConfigError(f"{settings.source}: key 'lineage.transport.{key}' {problem}")


def _required(settings: Settings, key: str) -> str:
    lineage = settings.lineage
    assert lineage is not None
    value = getattr(lineage.transport, key)
    if not value:
        raise _error(settings, key, f"is required when lineage.transport.kind is {lineage.transport.kind}")
    return value


def events_dir(settings: Settings) -> Path:
    """The file transport's folder, absolute (a relative one is under the repository root)."""
    path = Path(_required(settings, "directory")).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def driver_java_options(settings: Settings) -> str:
    """JVM flags a local driver needs with the listener: it defines its extension class in every thread's class
    loader by reflection, which Java 17 refuses without this flag, and then logs an 8-line warning on each
    query plan it reads (88 times in a small silver-and-gold run, twice with it)."""
    return "--add-opens=java.base/java.security=ALL-UNNAMED" if settings.lineage else ""


def spark_file(settings: Settings, job: str) -> Path:
    """One file per Spark job: the JVM and the Airflow worker never append to the same file."""
    return events_dir(settings) / f"spark-{job}.ndjson"


def spark_conf(settings: Settings, job: str) -> dict[str, str]:
    """The listener and its transport for one Spark job; nothing without a lineage section.

    A secret (an HTTP API key) is never put in Spark conf, which spark-submit shows: the driver reads it from
    OPENLINEAGE__TRANSPORT__AUTH__API_KEY in its own environment (docs/lineage.md)."""
    lineage = settings.lineage
    if lineage is None:
        return {}
    transport = lineage.transport
    conf = {"spark.extraListeners": SPARK_LISTENER, "spark.openlineage.namespace": lineage.namespace}
    if transport.kind == "file":
        conf["spark.openlineage.transport.type"] = "file"
        conf["spark.openlineage.transport.location"] = str(spark_file(settings, job))
    elif transport.kind == "http":
        conf["spark.openlineage.transport.type"] = "http"
        conf["spark.openlineage.transport.url"] = _required(settings, "url")
        conf["spark.openlineage.transport.endpoint"] = transport.endpoint
    else:
        # The Java client's name for the Data Lineage API transport (module transports-dataplex).
        conf["spark.openlineage.transport.type"] = "dataplex"
        conf["spark.openlineage.transport.projectId"] = _required(settings, "project_id")
        conf["spark.openlineage.transport.locations"] = _required(settings, "location")
    return conf


def airflow_transport(settings: Settings, directory: Path | None = None) -> dict[str, object]:
    """The provider's [openlineage] transport: the same destination as the Spark jobs', appended as JSON lines
    (to `directory` instead of the configured one, for a run that sets LINEAGE_DIR_ENV to it)."""
    lineage: LineageSettings | None = settings.lineage
    if lineage is None:
        return {}
    transport = lineage.transport
    if transport.kind == "file":
        folder = directory or events_dir(settings)
        return {"type": "file", "log_file_path": str(folder / AIRFLOW_EVENTS), "append": True}
    if transport.kind == "http":
        config: dict[str, object] = {"type": "http", "url": _required(settings, "url"), "endpoint": transport.endpoint}
        if transport.api_key_env:
            key = os.environ.get(transport.api_key_env)
            if not key:
                raise _error(
                    settings,
                    "api_key_env",
                    f"names {transport.api_key_env}, which is not set: export the lineage endpoint's API key",
                )
            config["auth"] = {"type": "api_key", "apiKey": key}
        return config
    return {
        "type": "gcplineage",
        "project_id": _required(settings, "project_id"),
        "location": _required(settings, "location"),
    }


def airflow_env(settings: Settings, directory: Path | None = None) -> dict[str, str]:
    """AIRFLOW__OPENLINEAGE__* for a local Airflow (file events under `directory`, which the Spark jobs get as
    LINEAGE_DIR_ENV); none without a lineage section, which leaves the provider off."""
    if settings.lineage is None:
        return {}
    env = {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": settings.lineage.namespace,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(airflow_transport(settings, directory)),
    }
    if directory is not None and settings.lineage.transport.kind == "file":
        env[LINEAGE_DIR_ENV] = str(directory)
    return env
