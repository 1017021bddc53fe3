"""Usage: python -m scripts.bench.scala [--events 1000000] [--rounds 3]

Time the Scala and the PySpark fct_purchases_daily full refresh on the same silver table, in one session.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from config.settings import Settings, load_settings, run_main
from kafka.events import NO_ANOMALIES
from scripts.bench.generated_silver import build_silver
from scripts.bench.scala_job import build_jar, submit
from spark.gold import fct_purchases_daily
from spark.gold_refresh import _overwrite
from spark.session import build_session, local_jars

OUT = Path(".local/bench/scala.json")
SEED = 20_250_601


def _with_job_jar(settings: Settings, jar: Path, scratch: Path) -> Settings:
    """Settings whose jars_dir holds the configured jars plus the job jar, so py4j can call the Scala job."""
    jars = scratch / "jars"
    jars.mkdir()
    for path in [*map(Path, local_jars(settings)), jar]:
        (jars / path.name).symlink_to(path)
    return dataclasses.replace(settings, spark=dataclasses.replace(settings.spark, jars_dir=str(jars)))


def pyspark_run(spark: SparkSession, silver: str, gold: str) -> float:
    """The PySpark gold job's full refresh of this mart: pin silver, transform, overwrite, count."""
    started = time.monotonic()
    version = DeltaTable.forPath(spark, silver).history(1).first()["version"]
    events = spark.read.format("delta").option("versionAsOf", version).load(silver)
    _overwrite(spark, events.transform(fct_purchases_daily), gold, "event_date")
    spark.read.format("delta").load(gold).count()
    return time.monotonic() - started


def scala_run(spark: SparkSession, silver: str, gold: str) -> float:
    """The Scala job's run() for --full-refresh on the same session, through py4j."""
    gateway = spark.sparkContext._gateway
    args = ["--silver", silver, "--gold", gold, "--full-refresh"]
    java_args = gateway.new_array(gateway.jvm.java.lang.String, len(args))
    for index, value in enumerate(args):
        java_args[index] = value
    started = time.monotonic()
    gateway.jvm.lakehouse.gold.PurchasesDailyJob.runWith(spark._jsparkSession, java_args)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.scala", description=__doc__.splitlines()[2])
    parser.add_argument("--events", type=int, default=1_000_000, help="generated valid events in silver")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each job, alternating")
    args = parser.parse_args(argv)
    settings = load_settings()
    jar = build_jar()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT.parent, prefix="scala-") as tmp:
        scratch = Path(tmp).resolve()
        spark = build_session(_with_job_jar(settings, jar, scratch), "bench-scala")
        try:
            started = time.monotonic()
            silver = build_silver(spark, scratch / "lake", args.events, SEED, NO_ANOMALIES)["silver"]
            rows = spark.read.format("delta").load(silver).count()
            print(f"silver: {rows:,} rows from {args.events:,} generated events in {time.monotonic() - started:.1f}s")
            samples: dict[str, list[float]] = {"scala": [], "pyspark": []}
            for index in range(args.rounds):
                for name, run in (("pyspark", pyspark_run), ("scala", scala_run)):
                    samples[name].append(run(spark, silver, str(scratch / f"gold_{name}_{index}")))
                    print(f"  round {index + 1}: {name} {samples[name][-1]:.2f}s")
            mart_rows = spark.read.format("delta").load(str(scratch / "gold_scala_0")).count()
        finally:
            spark.stop()
        _, submit_s = submit(settings, ["--silver", silver, "--gold", str(scratch / "gold_submit"), "--full-refresh"])
    scala_s, pyspark_s = min(samples["scala"]), min(samples["pyspark"])
    result = {
        "rows": rows,
        "scala_s": round(scala_s, 3),
        "pyspark_s": round(pyspark_s, 3),
        "ratio": round(scala_s / pyspark_s, 3),
        "mart_rows": mart_rows,
        "scala_samples_s": [round(s, 3) for s in samples["scala"]],
        "pyspark_samples_s": [round(s, 3) for s in samples["pyspark"]],
        "scala_median_s": round(statistics.median(samples["scala"]), 3),
        "pyspark_median_s": round(statistics.median(samples["pyspark"]), 3),
        "scala_spark_submit_wall_s": round(submit_s, 3),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"scala {scala_s:.2f}s, pyspark {pyspark_s:.2f}s (best of {args.rounds}): ratio {result['ratio']:.2f}")
    print(f"scala via spark-submit, cold JVM: {submit_s:.1f}s wall; written {OUT}")
    return 0


if __name__ == "__main__":
    run_main(main)
