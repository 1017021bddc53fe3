"""Usage: python -m scripts.packaging.class_archive [--config PATH]

Records the class-data-sharing archive of config/local_spark.py: a small silver and gold run on generated events
in a JVM started with -XX:ArchiveClassesAtExit, which writes every class it loaded when it exits. Nothing to do
if the archive for this JDK and jar set exists; if the JDK cannot record one, drivers start without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from config.catalog import BRONZE_EVENTS
from config.local_spark import ARCHIVE_PREFIX, archive_path, local_jars
from config.settings import ConfigError, Settings, load_settings

TRAINING_EVENTS = 2_000


def train(settings: Settings) -> None:
    """The classes a local pipeline loads: bronze rows on Delta, the silver stream and a gold refresh.

    Its imports live here, not at the top, so the usual run (the archive exists) returns without loading pyspark."""
    from kafka import events
    from spark.bronze import BRONZE_SCHEMA
    from spark.gold_refresh import GoldPaths, refresh_gold
    from spark.jobs import silver
    from spark.session import build_session

    spark = build_session(settings, "class-archive")
    spark.sparkContext.setLogLevel("ERROR")  # its plan warnings mean nothing to someone running make install
    now = datetime.now(UTC)
    rows = [
        (key, value, "events", offset % 6, offset, now, now, now.date(), [])
        for offset, (key, value, _, _) in enumerate(events.generate(TRAINING_EVENTS, seed=1, now=now))
    ]
    bronze = settings.storage.uri_of(BRONZE_EVENTS)
    spark.createDataFrame(rows, BRONZE_SCHEMA).write.format("delta").partitionBy("ingest_date").save(bronze)
    silver.start(spark, settings, "available-now").awaitTermination()
    refresh_gold(spark, GoldPaths.from_settings(settings))
    spark.stop()


def record(settings: Settings, target: Path) -> bool:
    """Run the training in a JVM that writes its classes to a temporary file at exit; True if it became `target`."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    options = f"{settings.spark.driver_java_options} -XX:ArchiveClassesAtExit={partial} -Xlog:cds=error".strip()
    with tempfile.TemporaryDirectory(prefix="class-archive-") as lake:
        training = dataclasses.replace(
            settings,
            spark=dataclasses.replace(settings.spark, driver_java_options=options),
            storage=dataclasses.replace(settings.storage, lake_uri=lake, checkpoint_uri=f"{lake}/_checkpoints"),
        )
        train(training)
        from pyspark import SparkContext

        jvm = SparkContext._gateway.proc
        jvm.stdin.close()
        jvm.wait(timeout=600)
    if jvm.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        return False
    os.replace(partial, target)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.packaging.class_archive", description=__doc__.splitlines()[2]
    )
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    try:
        settings = load_settings(parser.parse_args(argv).config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    target = archive_path(settings.spark.jars_dir, local_jars(settings))
    if target is None or target.is_file():
        return 0
    for stale in target.parent.glob(f"{ARCHIVE_PREFIX}*.jsa"):
        stale.unlink()
    print(f"recording {target.name}, once per JDK and jar set (a small silver and gold run, ~2 minutes)", flush=True)
    try:
        recorded = record(settings, target)
    except Exception as error:  # the archive only saves start-up time: report why, never fail the install
        print(f"warning: recording {target} failed ({error}); local drivers start without it", file=sys.stderr)
        return 0
    if recorded:
        print(f"class-sharing archive: {target}")
    else:
        print(f"warning: this JDK recorded no {target}; local drivers start without it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
