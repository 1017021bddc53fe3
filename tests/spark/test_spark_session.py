"""The session factory: Delta, UTC, sized shuffles, and jars that do not clash with pyspark's own."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pyspark
import pytest

from config.settings import ConfigError
from spark.session import local_jars

PYSPARK_JARS = Path(pyspark.__file__).parent / "jars"


def artifact(jar: str) -> str:
    """A jar's artifact name without its version, e.g. kafka-clients for kafka-clients-3.9.1.jar."""
    return re.sub(r"-\d+(?:\.\d+)+(?:[-.]\w+)*\.jar$", "", Path(jar).name)


def test_session_has_delta_utc_and_test_sizing(spark):
    conf = spark.conf
    assert "DeltaSparkSessionExtension" in conf.get("spark.sql.extensions")
    assert conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.sql.adaptive.enabled") == "true"
    assert spark.sparkContext.master == "local[2]"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"


def test_resolved_jars_do_not_duplicate_pyspark_jars(spark_settings):
    ours = {artifact(j) for j in local_jars(spark_settings)}
    theirs = {artifact(str(j)) for j in PYSPARK_JARS.glob("*.jar")}
    assert {"delta-spark_2.13", "spark-sql-kafka-0-10_2.13", "kafka-clients"} <= ours
    assert ours & theirs == set()


def test_missing_jars_dir_names_make_jars(spark_settings, tmp_path):
    missing = dataclasses.replace(
        spark_settings, spark=dataclasses.replace(spark_settings.spark, jars_dir=str(tmp_path / "nope"))
    )
    with pytest.raises(ConfigError, match="make jars"):
        local_jars(missing)
