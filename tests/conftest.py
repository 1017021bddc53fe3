"""Shared fixtures: the default config and the local stack, started once and stopped only if we started it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from config.settings import Settings, load_settings
from scripts.stack.services import Stack, StackInfo
from tests.property_budget import examples
from tests.shared_stack import shared_stack
from tests.xdist_lanes import LaneScheduling

hypothesis_settings.register_profile("lakehouse", max_examples=examples(100), deadline=None)
hypothesis_settings.load_profile("lakehouse")

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "config" / "local.yml"


E2E = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The end-to-end tests first, so that under `make test` one worker starts on them at once while the others
    take the modules one by one (tests/xdist_lanes.py); the local cluster's tests last (a stable sort), on the
    end-to-end lane, where its DAG test reuses the session's local DAG run (tests/e2e/conftest.py)."""
    items.sort(key=lambda item: (item.get_closest_marker("cluster") is not None, not item.path.is_relative_to(E2E)))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: absent under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> LaneScheduling:
    return LaneScheduling(config, log)


def pytest_unconfigure(config: pytest.Config) -> None:
    """py4j closes its gateway connections as the interpreter exits and says so at INFO, after pytest has closed
    the stream Airflow's import pointed the root logger at: each run then ended in a 'Logging error' traceback."""
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(DEFAULT_CONFIG)


@pytest.fixture(scope="session")
def stack(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # one of pytest-xdist's workers: the stack is shared by the run's workers (tests/shared_stack.py)
        with shared_stack(settings, tmp_path_factory.getbasetemp().parent, worker) as info:
            yield info
        return
    local = Stack(settings)
    info = local.up()
    yield info
    if info.started:
        local.down(info.started)
