"""The one place DAGs read config: which YAML, its airflow section, start date and default task args."""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from config.catalog import Table
from config.settings import CONFIG_DIR, CONFIG_ENV_VAR, AirflowSettings, ConfigError, Settings, load_settings
from lakehouse_dags.callbacks import TaskFailureAlert

BUNDLED_CONFIG = CONFIG_DIR / "deployed.yml"
PROJECT_DIR = CONFIG_DIR.parent


def config_path() -> str:
    """$LAKEHOUSE_CONFIG (relative to the repo root), else the bundle's config/deployed.yml, else local.yml"""
    chosen = os.environ.get(CONFIG_ENV_VAR)
    if chosen:
        return str(PROJECT_DIR / Path(chosen).expanduser())
    return str(BUNDLED_CONFIG if BUNDLED_CONFIG.is_file() else CONFIG_DIR / "local.yml")


@functools.cache
def dag_settings(path: str | None = None) -> Settings:
    """Settings with a validated airflow section, loaded once per parse."""
    settings = load_settings(path or config_path())
    airflow_settings(settings)
    start_date(settings)
    return settings


def airflow_settings(settings: Settings) -> AirflowSettings:
    if settings.airflow is None:
        raise ConfigError(
            f"{settings.source}: missing key 'airflow' (the DAGs' schedule, runner and connection ids); "
            "copy the airflow section of config/local.yml or config/*.example.yml"
        )
    return settings.airflow


def start_date(settings: Settings) -> datetime:
    """airflow.start_date as an aware UTC datetime; a naive or non-UTC value is a config error."""
    raw = airflow_settings(settings).start_date
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(
            f"{settings.source}: key 'airflow.start_date' is {raw!r}; expected an ISO 8601 UTC time such as "
            "2025-01-01T00:00:00Z"
        ) from exc
    if value.utcoffset() != timedelta(0):
        raise ConfigError(f"{settings.source}: key 'airflow.start_date' is {raw!r}; give it in UTC with a Z suffix")
    return value.astimezone(UTC)


def default_args(settings: Settings) -> dict[str, Any]:
    """Retries with exponential back-off, the failure alert, and a fallback timeout (tasks set their own)."""
    af = airflow_settings(settings)
    return {
        "owner": "lakehouse",
        "retries": af.retries,
        "retry_delay": timedelta(seconds=af.retry_delay_s),
        "retry_exponential_backoff": float(af.retry_backoff_multiplier),
        "max_retry_delay": timedelta(seconds=af.max_retry_delay_s),
        "execution_timeout": timedelta(seconds=max(vars(af.timeouts).values())),
        "on_failure_callback": TaskFailureAlert(alert_conn_id=af.alert_conn_id),
    }


def timeout(settings: Settings, task: str) -> timedelta:
    """airflow.timeouts.<task>_s as a timedelta."""
    return timedelta(seconds=getattr(airflow_settings(settings).timeouts, f"{task}_s"))


def asset_uri(settings: Settings, table: Table) -> str:
    """A Delta table's URI for Assets: cloud URIs as configured, local paths as file:// under the repo."""
    lake = settings.storage.lake_uri
    if re.match(r"^[a-z][a-z0-9+.-]*://", lake):
        return settings.storage.uri_of(table)
    return (PROJECT_DIR / Path(lake).expanduser() / table.layer / table.name).resolve().as_uri()


@contextlib.contextmanager
def project_dir() -> Iterator[None]:
    """Run with the repo root as cwd, so the config's relative local paths mean the same in every process."""
    previous = Path.cwd()
    os.chdir(PROJECT_DIR)
    try:
        yield
    finally:
        os.chdir(previous)
