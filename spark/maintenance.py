"""Keep lake tables few-filed and bounded: small-file properties, OPTIMIZE, VACUUM (choices: docs/runbook.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from spark.session import session_conf

DEFAULT_RETENTION_HOURS = 168
SMALL_FILE_PROPERTIES: Mapping[str, str] = {
    "delta.autoOptimize.optimizeWrite": "true",
    "delta.autoOptimize.autoCompact": "true",
}
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
"""VACUUM lists files with 10,000 tasks by default, minutes of overhead on a laptop: sized to the cluster instead."""


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table."""

    uri: str
    properties_set: tuple[str, ...]
    files_removed_by_optimize: int
    files_added_by_optimize: int
    files_vacuumed: int | None


def lake_tables(spark: SparkSession, lake_uri: str) -> list[str]:
    """Every Delta table one layer below the lake root (<lake>/<layer>/<table>/_delta_log), sorted."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(lake_uri)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        return []
    tables = []
    for layer in fs.listStatus(root):
        if not layer.isDirectory() or layer.getPath().getName().startswith(("_", ".")):
            continue
        for table in fs.listStatus(layer.getPath()):
            if table.isDirectory() and fs.exists(jvm.org.apache.hadoop.fs.Path(table.getPath(), "_delta_log")):
                tables.append(table.getPath().toString())
    return sorted(tables)


def ensure_properties(spark: SparkSession, uri: str, properties: Mapping[str, str]) -> tuple[str, ...]:
    """Set the table properties that are missing or different; no commit when all are already right."""
    current = DeltaTable.forPath(spark, uri).detail().select("properties").first()["properties"] or {}
    missing = {key: value for key, value in properties.items() if current.get(key) != value}
    if missing:
        assignments = ", ".join(f"'{key}' = '{value}'" for key, value in sorted(missing.items()))
        spark.sql(f"ALTER TABLE delta.`{uri}` SET TBLPROPERTIES ({assignments})")
    return tuple(sorted(missing))


def optimize(spark: SparkSession, uri: str) -> tuple[int, int]:
    """Bin-pack small files; returns (files removed, files added), (0, 0) when already compact."""
    metrics = DeltaTable.forPath(spark, uri).optimize().executeCompaction().select("metrics").first()["metrics"]
    return int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])


def vacuum(spark: SparkSession, uri: str, retention_hours: int) -> int | None:
    """Delete files unreferenced for longer than the retention; how many, from the VACUUM END commit if logged."""
    check_retention(retention_hours)
    with session_conf(spark, LISTING_PARALLELISM, str(max(spark.sparkContext.defaultParallelism * 4, 8))):
        spark.sql(f"VACUUM delta.`{uri}` RETAIN {retention_hours} HOURS").collect()
    last = DeltaTable.forPath(spark, uri).history(1).select("operation", "operationMetrics").first()
    if last is None or last["operation"] != "VACUUM END":
        return None
    return int(last["operationMetrics"].get("numDeletedFiles", 0))


def check_retention(retention_hours: int) -> None:
    """Refuse retentions shorter than Delta's default deleted-file retention (7 days)."""
    if retention_hours < DEFAULT_RETENTION_HOURS:
        raise ValueError(
            f"VACUUM retention {retention_hours} h is below {DEFAULT_RETENTION_HOURS} h (7 days): lagging "
            "streaming readers and gold's change-feed reads could lose files; pass --retention-hours >= 168"
        )


def maintain(
    spark: SparkSession, lake_uri: str, retention_hours: int = DEFAULT_RETENTION_HOURS
) -> list[TableMaintenance]:
    """Properties, OPTIMIZE and VACUUM for every table in the lake, one table at a time."""
    check_retention(retention_hours)
    results = []
    for uri in lake_tables(spark, lake_uri):
        properties_set = ensure_properties(spark, uri, SMALL_FILE_PROPERTIES)
        removed, added = optimize(spark, uri)
        vacuumed = vacuum(spark, uri, retention_hours)
        results.append(TableMaintenance(uri, properties_set, removed, added, vacuumed))
    return results
