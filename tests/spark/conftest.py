"""One SparkSession for the whole spark test suite, built by the project's own factory with a test config."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from config.settings import Settings
from spark.session import build_session


@pytest.fixture(scope="session")
def spark_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The default config with a small local master, two shuffle partitions and a throwaway lake."""
    lake = tmp_path_factory.mktemp("lake")
    return dataclasses.replace(
        settings,
        spark=dataclasses.replace(settings.spark, master="local[2]", driver_memory="2g", shuffle_partitions=2),
        storage=dataclasses.replace(settings.storage, lake_uri=str(lake), checkpoint_uri=str(lake / "_checkpoints")),
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Iterator[SparkSession]:
    session = build_session(spark_settings, "lakehouse-tests")
    yield session
    session.stop()
