"""A fresh database per test module on the stack's PostgreSQL server, and settings that point at it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from config.settings import Settings, StorageSettings
from postgres.migrate import apply_migrations
from scripts.stack.postgres_server import scratch_database
from scripts.stack.services import StackInfo


@pytest.fixture(scope="module")
def fresh_db(stack: StackInfo) -> Iterator[str]:
    """An empty database for this module."""
    with scratch_database(stack.postgres_dsn, "test") as dsn:
        yield dsn


@pytest.fixture
def empty_db(stack: StackInfo) -> Iterator[str]:
    """An empty database for one test."""
    with scratch_database(stack.postgres_dsn, "test") as dsn:
        yield dsn


@pytest.fixture(scope="module")
def migrated_db(fresh_db: str) -> str:
    conn = psycopg2.connect(fresh_db)
    try:
        apply_migrations(conn)
    finally:
        conn.close()
    return fresh_db


@pytest.fixture(scope="module")
def db_settings(settings: Settings, migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The default config, its DSN variable renamed to one only this module sets, and a throwaway lake."""
    lake = tmp_path_factory.mktemp("lake")
    dsn_env = f"LAKEHOUSE_TEST_DSN_{uuid.uuid4().hex[:8].upper()}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(dsn_env, migrated_db)
        yield settings_for(settings, dsn_env, str(lake))


@pytest.fixture
def db(migrated_db: str) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(migrated_db)
    yield conn
    conn.close()


@pytest.fixture
def serving_db(empty_db: str) -> str:
    """A migrated database for one test."""
    conn = psycopg2.connect(empty_db)
    try:
        apply_migrations(conn)
    finally:
        conn.close()
    return empty_db


def settings_for(settings: Settings, dsn_env: str, lake: str) -> Settings:
    """`settings` reading its DSN from `dsn_env` and its lake from `lake`."""
    return dataclasses.replace(
        settings,
        postgres=dataclasses.replace(settings.postgres, dsn_env=dsn_env),
        storage=StorageSettings(lake_uri=lake, checkpoint_uri=f"{lake}/_checkpoints"),
    )


@pytest.fixture
def load_settings_for(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Settings]:
    """Settings for a DSN: a DSN variable only this test sets, and this test's tmp lake."""

    def make(dsn: str) -> Settings:
        dsn_env = f"LAKEHOUSE_TEST_DSN_{uuid.uuid4().hex[:8].upper()}"
        monkeypatch.setenv(dsn_env, dsn)
        return settings_for(settings, dsn_env, str(tmp_path / "lake"))

    return make
