"""Shared fixtures: the default config and the local stack, started once and stopped only if we started it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from config.settings import Settings, load_settings
from scripts.stack.services import Stack, StackInfo
from tests.property_budget import examples

hypothesis_settings.register_profile("lakehouse", max_examples=examples(100), deadline=None)
hypothesis_settings.load_profile("lakehouse")

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "local.yml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The local cluster's tests last (a stable sort): its Kafka nodes and Spark daemons then never run beside
    the other tests, and its DAG test reuses the session's local DAG run (tests/e2e/conftest.py)."""
    items.sort(key=lambda item: item.get_closest_marker("cluster") is not None)


def pytest_unconfigure(config: pytest.Config) -> None:
    """py4j closes its gateway connections as the interpreter exits and says so at INFO, after pytest has closed
    the stream Airflow's import pointed the root logger at: each run then ended in a 'Logging error' traceback."""
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(DEFAULT_CONFIG)


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[StackInfo]:
    local = Stack(settings)
    info = local.up()
    yield info
    if info.started:
        local.down(info.started)
