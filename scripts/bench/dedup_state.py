"""Usage: python -m scripts.bench.dedup_state [--config PATH] [--history 20000000] [--batch 100000]
                                           [--mode restart|continuous] [--changelog]

The measurement behind the dedup choice in docs/data_model.md: what a RocksDB state store keyed by event_id
(Spark's streaming dropDuplicates, the same get-and-put per id a registry operator does) costs per batch of
--batch new random UUIDs with --history ids already in its state, against the same batch with an empty state.
--mode restart starts the query anew for each batch (available-now, as the batch DAG runs silver: the state is
loaded from the checkpoint each time); --mode continuous keeps one query running and feeds it batch after batch
(the streaming shape). Seconds per batch are Spark's own triggerExecution. Scratch files under .local/bench/.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from config.settings import load_settings, run_main
from scripts.bench.spark_layers import BENCH_DIR
from spark.session import build_session

WORK = BENCH_DIR / "dedup-state"
ROCKSDB = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
CHANGELOG = "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled"
BATCHES = 3


def write_ids(spark: SparkSession, folder: Path, count: int, seed: int) -> None:
    """`count` random UUIDs as one more set of Parquet files in `folder` (the stream's source). uuid(seed) seeds
    each partition with seed + its index, so callers space their seeds by more than the partition count."""
    ids = spark.range(count).select(F.expr(f"uuid({seed})").alias("event_id"))
    ids.repartition(max(1, count // 2_000_000)).write.mode("append").parquet(str(folder))


class DedupStream:
    """dropDuplicates on event_id over the Parquet files of `source`, its state under `checkpoint`."""

    def __init__(self, spark: SparkSession, source: Path, checkpoint: Path):
        self.spark, self.source, self.checkpoint = spark, source, checkpoint
        source.mkdir(parents=True, exist_ok=True)

    def start(self, continuous: bool) -> StreamingQuery:
        source = self.spark.readStream.schema("event_id string").option("maxFilesPerTrigger", 10**6)
        writer = (
            source.parquet(str(self.source))
            .dropDuplicates(["event_id"])
            .writeStream.foreachBatch(lambda batch, _: batch.count())
            .option("checkpointLocation", str(self.checkpoint))
        )
        if continuous:
            return writer.trigger(processingTime="1 second").start()
        return writer.trigger(availableNow=True).start()


def batch_seconds(query: StreamingQuery) -> list[float]:
    return [p["durationMs"]["triggerExecution"] / 1000 for p in query.recentProgress if p["numInputRows"]]


def restart_runs(stream: DedupStream, seed: int, batch: int) -> list[float]:
    """Each batch in a query of its own: the state is loaded from the checkpoint every time."""
    seconds = []
    for i in range(BATCHES):
        write_ids(stream.spark, stream.source, batch, seed + 10 * i)
        query = stream.start(continuous=False)
        query.awaitTermination()
        seconds += batch_seconds(query)[-1:]
    return seconds


def continuous_runs(stream: DedupStream, seed: int, batch: int, history: int) -> list[float]:
    """One query: the history's batch first, then each new batch as the query finds it."""
    query = stream.start(continuous=True)
    try:
        for i in range(BATCHES + 1):
            while len(batch_seconds(query)) < i + (1 if history else 0):
                time.sleep(0.5)
            if i < BATCHES:
                write_ids(stream.spark, stream.source, batch, seed + 10 * i)
        return batch_seconds(query)[-BATCHES:]
    finally:
        query.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.dedup_state", description=__doc__.splitlines()[3])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--history", type=int, default=20_000_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--mode", choices=("restart", "continuous"), default="restart")
    parser.add_argument("--changelog", action="store_true", help="RocksDB changelog checkpointing on")
    args = parser.parse_args(argv)
    shutil.rmtree(WORK, ignore_errors=True)
    spark = build_session(load_settings(args.config), "bench-dedup-state")
    spark.conf.set("spark.sql.streaming.stateStore.providerClass", ROCKSDB)
    spark.conf.set(CHANGELOG, str(args.changelog).lower())
    results = {}
    try:
        for label, history in (("history", args.history), ("empty", 0)):
            stream = DedupStream(spark, WORK / label / "source", WORK / label / "checkpoint")
            if history:
                started = time.perf_counter()
                write_ids(spark, stream.source, history, 1)
                if args.mode == "restart":
                    stream.start(continuous=False).awaitTermination()
                    print(f"state of {history:,} ids built in {time.perf_counter() - started:.0f}s", flush=True)
            if args.mode == "restart":
                results[label] = restart_runs(stream, 1000, args.batch)
            else:
                results[label] = continuous_runs(stream, 1000, args.batch, history)
            print(f"{label}: {', '.join(f'{s:.2f}s' for s in results[label])}", flush=True)
    finally:
        spark.stop()
    on_history, on_empty = min(results["history"]), min(results["empty"])
    print(
        f"{args.batch:,} new ids per batch ({args.mode}, changelog {'on' if args.changelog else 'off'}): best "
        f"{on_history:.2f}s on {args.history:,} ids of state, {on_empty:.2f}s on none; "
        f"ratio {on_history / on_empty:.2f}"
    )
    return 0


if __name__ == "__main__":
    run_main(main)
