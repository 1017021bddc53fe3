"""The PostgreSQL tasks: apply migrations and load gold into serving, as the configured Airflow connection."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from typing import Any

from config.catalog import MART_TABLES
from config.settings import Settings, load_settings
from lakehouse_dags.defaults import airflow_settings, asset_uri, config_path, project_dir, timeout

log = logging.getLogger(__name__)


def serving_assets(settings: Settings) -> list[Any]:
    """One Asset per serving table, under airflow.serving_asset_uri (host and database, never credentials)."""
    from airflow.sdk import Asset

    base = airflow_settings(settings).serving_asset_uri.rstrip("/")
    return [
        Asset(name=mart.serving, uri=f"{base}/{mart.serving.replace('.', '/')}") for mart in MART_TABLES if mart.serving
    ]


def gold_assets(settings: Settings) -> list[Any]:
    """One Asset per gold mart the loader reads: its inlets, so lineage joins each mart to its serving table."""
    from airflow.sdk import Asset

    return [Asset(name=mart.qualified, uri=asset_uri(settings, mart)) for mart in MART_TABLES]


def connection_dsn(conn_id: str, default_database: str) -> str:
    """A libpq DSN from an Airflow connection, so the password lives only in Airflow's secrets."""
    from airflow.sdk import BaseHook
    from psycopg2.extensions import make_dsn

    conn = BaseHook.get_connection(conn_id)
    return make_dsn(
        host=conn.host or None,
        port=conn.port or None,
        user=conn.login or None,
        password=conn.password or None,
        dbname=conn.schema or default_database,
    )


@contextlib.contextmanager
def dsn_from_connection(settings: Settings, conn_id: str) -> Iterator[None]:
    """Expose the connection's DSN as postgres.dsn_env for the loader, for this task process only."""
    name = settings.postgres.dsn_env
    previous = os.environ.get(name)
    os.environ[name] = connection_dsn(conn_id, settings.postgres.database)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@project_dir()
def migrate_serving(conn_id: str) -> list[str]:
    """Apply pending migrations (each once, under the migrator's advisory lock)."""
    from postgres.connection import connect
    from postgres.migrate import apply_migrations

    settings = load_settings(config_path())
    with dsn_from_connection(settings, conn_id):
        conn = connect(settings, "lakehouse-airflow-migrate")
    try:
        applied = [m.file_name for m in apply_migrations(conn)]
    finally:
        conn.close()
    log.info("migrations applied: %s", ", ".join(applied) or "none pending")
    return applied


@project_dir()
def load_serving(conn_id: str) -> list[dict[str, Any]]:
    """Publish every gold mart into serving once per gold version; a published version is skipped. One mart's
    failure fails the task after the others are published, each logged either way."""
    from postgres.mart_publish import MartsNotPublished, load_marts

    settings = load_settings(config_path())
    try:
        with dsn_from_connection(settings, conn_id):
            results = load_marts(settings)
    except MartsNotPublished as exc:
        _log_results(exc.results)
        raise
    _log_results(results)
    return [dataclasses.asdict(r) for r in results]


def _log_results(results: list[Any]) -> None:
    for r in results:
        log.info(
            "serving.%s %s gold v%s +%s ~%s -%s %s",
            r.table,
            r.mode,
            r.delta_version,
            r.rows_inserted,
            r.rows_updated,
            r.rows_deleted,
            r.reason,
        )


def migrate_task(settings: Settings) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator

    return PythonOperator(
        task_id="migrate",
        python_callable=migrate_serving,
        op_kwargs={"conn_id": airflow_settings(settings).postgres_conn_id},
        execution_timeout=timeout(settings, "load"),
    )


def load_task(settings: Settings) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator

    return PythonOperator(
        task_id="load_serving",
        python_callable=load_serving,
        op_kwargs={"conn_id": airflow_settings(settings).postgres_conn_id},
        execution_timeout=timeout(settings, "load"),
        inlets=gold_assets(settings),
        outlets=serving_assets(settings),
    )
