"""Airflow in a throwaway AIRFLOW_HOME (no database needed to parse DAGs), and configs written per runner."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dags.dag_configs import DAGS, config_data


@pytest.fixture(scope="session", autouse=True)
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point Airflow at an empty home before anything imports it; parsing DAGs needs no metadata database."""
    home = tmp_path_factory.mktemp("airflow_home")
    previous = os.environ.get("AIRFLOW_HOME")
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    if str(DAGS) not in sys.path:
        sys.path.insert(0, str(DAGS))
    yield home
    if previous is None:
        os.environ.pop("AIRFLOW_HOME", None)
    else:
        os.environ["AIRFLOW_HOME"] = previous


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config for a runner, with `edit` applied to its parsed data, and return its path."""

    def write(runner: str, edit: Callable[[dict[str, Any]], None] | None = None, name: str = "test.yml") -> Path:
        data = config_data(runner)
        if edit:
            edit(data)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write
