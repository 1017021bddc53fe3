"""Usage: python -m scripts.bench.scale [--config PATH] [--big-rows 20000000] [--extra 100000] [--seed 11] [--rebuild]

Silver's per-batch cost against its history. Builds a silver table of --big-rows events from the seeded generator
(valid events only, parsed by Spark's from_json with the contract's schema and appended under silver's own
constraints: the history only has to be silver-shaped, and its event_id column is what dedup reads), then times
the silver stream over --extra new events from Kafka into that table and into an empty silver (after an untimed
warm-up run into a third), and checks both batches' ledgers. Writes .local/bench/scale.json with big_rows,
on_big_s, on_empty_s and ratio (target <= 1.5). The big table stays under .local/bench/scale-lake/big and is
reused while it has --big-rows rows (--rebuild).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from delta.tables import DeltaTable as DeltaTables
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from config.catalog import BRONZE_EVENTS, QUARANTINE, SILVER_EVENTS, SILVER_METRICS
from config.reconciliation import WHOLE_SILVER
from config.settings import Settings, load_settings, run_main
from kafka.admin import delete_topics
from kafka.produce import NO_ANOMALIES
from scripts.bench.generated_silver import write_bronze
from scripts.bench.spark_layers import BENCH_DIR, isolated, produce, reconciled, timed_stream
from scripts.reconcile import lake_rows
from spark.contract_schema import event_struct
from spark.jobs import bronze, silver
from spark.session import build_session
from spark.silver_tables import ensure_silver_tables, silver_schema

LAKE_DIR = BENCH_DIR / "scale-lake"
RESULT = BENCH_DIR / "scale.json"
TARGET_BIG_ROWS, TARGET_RATIO = 20_000_000, 1.5
BUILD_CHUNK = 2_000_000
HISTORY_APP_ID = "bench-scale-history"


def history_rows(spark: SparkSession, bronze_file: Path, batch_id: int) -> DataFrame:
    """Generated bronze rows as silver rows: the contract's fields by from_json, then silver's lineage columns."""
    parsed = spark.read.parquet(str(bronze_file)).select(
        F.from_json(F.col("value").cast("string"), event_struct()).alias("e"),
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("ingested_at"),
    )
    contract = set(event_struct().names)
    columns = {
        "event_date": F.to_date("e.event_ts"),
        "silver_batch_id": F.lit(batch_id).cast("long"),
        "silver_app_id": F.lit(HISTORY_APP_ID),
    }
    return parsed.select(
        *[
            columns.get(field.name, F.col(f"e.{field.name}") if field.name in contract else F.col(field.name))
            .cast(field.dataType)
            .alias(field.name)
            for field in silver_schema().fields
        ]
    )


def build_history(spark: SparkSession, lake: Settings, rows: int, seed: int) -> float:
    """Append `rows` generated events to the lake's silver in chunks (offsets per chunk partition); seconds taken."""
    started = time.perf_counter()
    uri = lake.storage.uri_of
    ensure_silver_tables(spark, silver=uri(SILVER_EVENTS), quarantine=uri(QUARANTINE), metrics=uri(SILVER_METRICS))
    scratch = Path(lake.storage.lake_uri) / "_generated"
    scratch.mkdir(parents=True, exist_ok=True)
    for batch_id, first in enumerate(range(0, rows, BUILD_CHUNK)):
        count = min(BUILD_CHUNK, rows - first)
        chunk = scratch / f"bronze-{batch_id}.parquet"
        write_bronze(chunk, count, seed * 1_000 + batch_id, NO_ANOMALIES)
        frame = history_rows(spark, chunk, batch_id).withColumn("kafka_partition", F.lit(1_000 + batch_id))
        frame.write.format("delta").mode("append").save(uri(SILVER_EVENTS))
        chunk.unlink()
        print(f"history: {first + count:,} / {rows:,} silver rows ({time.perf_counter() - started:.0f} s)", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return time.perf_counter() - started


@contextlib.contextmanager
def restored_afterwards(spark: SparkSession, lake: Settings) -> Iterator[None]:
    """RESTORE silver, quarantine and metrics to their versions before the block, so the next run times the same
    history (and its ledger sums only its own batch)."""
    uris = [lake.storage.uri_of(table) for table in (SILVER_EVENTS, QUARANTINE, SILVER_METRICS)]
    versions = {uri: DeltaTable(uri).version() for uri in uris}
    try:
        yield
    finally:
        for uri, version in versions.items():
            if DeltaTable(uri).version() != version:
                DeltaTables.forPath(spark, uri).restoreToVersion(version)


def silver_rows(lake: Settings) -> int:
    try:
        return DeltaTable(lake.storage.uri_of(SILVER_EVENTS)).to_pyarrow_dataset().count_rows()
    except Exception:  # noqa: BLE001 - no table (or a broken one) is rebuilt
        return -1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.scale", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--big-rows", type=int, default=TARGET_BIG_ROWS, help="silver history rows (default 20M)")
    parser.add_argument("--extra", type=int, default=100_000, help="new events timed on each table")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the history even if it has --big-rows")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    topic = f"bench-scale-{run_id}"
    history = isolated(settings, topic, LAKE_DIR / "big", LAKE_DIR / "big" / f"_checkpoints-{run_id}")
    empty = isolated(settings, topic, LAKE_DIR / "empty")
    for fresh in ("empty", "warmup"):
        shutil.rmtree(LAKE_DIR / fresh, ignore_errors=True)
    spark = build_session(settings, "bench-scale")
    try:
        build_s = None
        if args.rebuild or silver_rows(history) != args.big_rows:
            shutil.rmtree(LAKE_DIR / "big", ignore_errors=True)
            build_s = build_history(spark, history, args.big_rows, args.seed)
        big_rows = silver_rows(history)
        run = produce(empty, args.extra, args.seed + 1)
        warmup = isolated(settings, topic, LAKE_DIR / "warmup")
        timed_stream(spark, bronze, warmup)
        timed_stream(spark, silver, warmup)  # the session's first silver batch pays the JIT: time neither table with it
        timed_stream(spark, bronze, empty)
        on_empty_s = timed_stream(spark, silver, empty)
        reconciled(empty, run.manifest)
        shutil.rmtree(Path(history.storage.uri_of(BRONZE_EVENTS)), ignore_errors=True)
        timed_stream(spark, bronze, history)
        with restored_afterwards(spark, history):
            on_big_s = timed_stream(spark, silver, history)
            balanced(history, run.manifest, big_rows)
    finally:
        spark.stop()
        delete_topics(settings, [topic])
        shutil.rmtree(history.storage.checkpoint_uri, ignore_errors=True)
    result = {
        "big_rows": big_rows,
        "extra_events": run.result.sent,
        "on_big_s": round(on_big_s, 2),
        "on_empty_s": round(on_empty_s, 2),
        "ratio": round(on_big_s / on_empty_s, 2),
        "history_build_s": None if build_s is None else round(build_s, 1),
        "meets_target": on_big_s / on_empty_s <= TARGET_RATIO if big_rows >= TARGET_BIG_ROWS else None,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    verdict = {None: f"not judged below {TARGET_BIG_ROWS:,} rows", True: "met", False: "NOT met"}[
        result["meets_target"]
    ]
    print(
        f"silver over {result['extra_events']:,} new events: {on_big_s:.1f}s on {big_rows:,} rows of history, "
        f"{on_empty_s:.1f}s on an empty silver; ratio {result['ratio']} (target <= {TARGET_RATIO}: {verdict})\n"
        f"results: {RESULT}"
    )
    return 0


def balanced(lake: Settings, manifest: dict, history: int) -> None:
    """The new events' ledger on the big table: silver grew by exactly the manifest's silver count and every other
    row check (bronze, quarantine, duplicates, ledger) holds; a time is only worth reporting for an exact run."""
    wrong = [
        f"{what}: expected {want}, found {found}"
        for what, want, found, ok in lake_rows(lake, manifest)
        if not ok and what not in WHOLE_SILVER
    ]
    grown = silver_rows(lake) - history
    if grown != manifest["expected"]["silver"]:
        wrong.append(f"silver grew by {grown:,}, expected {manifest['expected']['silver']:,}")
    if wrong:
        raise SystemExit("error: the run over the big silver is not exact:\n  " + "\n  ".join(wrong))


if __name__ == "__main__":
    run_main(main)
