"""The session factory: Delta, UTC, sized shuffles, and jars that do not clash with pyspark's own."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pyspark
import pytest

from config.local_spark import archive_path, driver_java_options
from config.settings import ConfigError
from spark.session import PARQUET_TIMESTAMPS, local_jars, session_conf

PYSPARK_JARS = Path(pyspark.__file__).parent / "jars"


def artifact(jar: str) -> str:
    """A jar's artifact name without its version, e.g. kafka-clients for kafka-clients-3.9.1.jar."""
    return re.sub(r"-\d+(?:\.\d+)+(?:[-.]\w+)*\.jar$", "", Path(jar).name)


def test_session_has_delta_utc_and_test_sizing(spark):
    conf = spark.conf
    assert "DeltaSparkSessionExtension" in conf.get("spark.sql.extensions")
    assert conf.get("spark.sql.catalog.spark_catalog").endswith("DeltaCatalog")
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.ansi.enabled") == "true"
    assert conf.get("spark.sql.legacy.timeParserPolicy") == "CORRECTED"
    assert conf.get("spark.sql.shuffle.partitions") == "2"
    assert conf.get("spark.sql.adaptive.enabled") == "true"
    assert spark.sparkContext.master == "local[2]"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"


def test_parquet_timestamps_are_micros_and_proleptic_in_pyspark_and_in_the_scala_job(spark):
    scala = (Path(__file__).parents[2] / "spark-scala/src/main/scala/lakehouse/gold/GoldSession.scala").read_text()
    for key, value in PARQUET_TIMESTAMPS.items():
        assert spark.conf.get(key) == value
        assert f'"{key}" -> "{value}"' in scala
    assert PARQUET_TIMESTAMPS["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"


def test_session_conf_is_scoped_to_its_block_even_on_error(spark):
    key = "spark.lakehouse.test.scoped"
    with session_conf(spark, key, "inner"):
        assert spark.conf.get(key) == "inner"
    assert spark.conf.get(key, None) is None
    spark.conf.set(key, "outer")
    try:
        with pytest.raises(RuntimeError), session_conf(spark, key, "inner"):
            raise RuntimeError("inside the block")
        assert spark.conf.get(key) == "outer"
    finally:
        spark.conf.unset(key)


def test_local_driver_scans_in_enough_tasks_and_caches_uncompressed(spark, spark_settings):
    assert spark.conf.get("spark.sql.files.minPartitionNum") == str(spark_settings.spark.min_scan_partitions)
    assert spark.conf.get("spark.sql.inMemoryColumnarStorage.compressed") == "false"
    files = spark_settings.spark.min_scan_partitions
    path = spark_settings.storage.table_uri("bronze", "scan-partitions")
    spark.range(0, 1_000 * files, numPartitions=files).write.format("delta").save(path)
    assert spark.read.format("delta").load(path).rdd.getNumPartitions() == files, "small files packed per core"


def test_local_driver_maps_the_class_archive_make_install_recorded(spark, spark_settings):
    jars = local_jars(spark_settings)
    archive = archive_path(spark_settings.spark.jars_dir, jars)
    assert archive.is_file(), f"no {archive}: `make install` (or `make spark35`) records it"
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert f"-XX:SharedArchiveFile={archive}" in runtime.getInputArguments()


def test_class_archive_is_keyed_by_the_jar_set_and_offered_only_once_recorded(spark_settings, tmp_path):
    jars = [str(tmp_path / "delta-spark_2.13-4.0.0.jar")]
    archive = archive_path(str(tmp_path), jars)
    assert archive.parent == tmp_path
    assert archive != archive_path(str(tmp_path), [str(tmp_path / "delta-spark_2.13-4.0.1.jar")])
    configured = spark_settings.spark.driver_java_options
    assert driver_java_options(spark_settings, str(tmp_path), jars) == configured
    archive.write_bytes(b"recorded")
    assert driver_java_options(spark_settings, str(tmp_path), jars) == f"{configured} -XX:SharedArchiveFile={archive}"
    assert archive_path(None, jars) is None
    assert driver_java_options(spark_settings, None, jars) == configured


def test_local_driver_runs_with_the_configured_jvm_flags(spark, spark_settings):
    flags = spark_settings.spark.driver_java_options.split()
    assert flags, "config/local.yml sets spark.driver_java_options for the 2-core local driver"
    runtime = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    assert set(flags) <= set(runtime.getInputArguments())


def scala_binary_version() -> str:
    """The Scala binary version pyspark was built for, from its own spark-core jar (2.13 for Spark 4, 2.12 for 3.5)."""
    (core,) = PYSPARK_JARS.glob("spark-core_*.jar")
    return re.match(r"spark-core_(\d+\.\d+)-", core.name).group(1)


def test_resolved_jars_match_pyspark_and_do_not_duplicate_its_jars(spark_settings):
    jars = local_jars(spark_settings)
    ours = {artifact(j) for j in jars}
    theirs = {artifact(str(j)) for j in PYSPARK_JARS.glob("*.jar")}
    scala = scala_binary_version()
    assert {f"delta-spark_{scala}", f"spark-sql-kafka-0-10_{scala}", "kafka-clients"} <= ours
    assert f"spark-sql-kafka-0-10_{scala}-{pyspark.__version__}.jar" in {Path(j).name for j in jars}
    assert ours & theirs == set()


def test_missing_jars_dir_names_make_jars(spark_settings, tmp_path):
    missing = dataclasses.replace(
        spark_settings, spark=dataclasses.replace(spark_settings.spark, jars_dir=str(tmp_path / "nope"))
    )
    with pytest.raises(ConfigError, match="make jars"):
        local_jars(missing)
