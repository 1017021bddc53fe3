"""Usage: python -m scripts.bench.profile_silver_parse [--config PATH] [--bronze URI]

Where silver's parsing time goes, stage by stage, over a bronze table (default: the one `make bench-spark` left in
.local/bench/spark-lake/full): reading the payloads; every bronze column, then only the columns silver sends,
through Python and back unchanged (mapInArrow: the transfer alone); the contract's verdict in Python (silver's
path); Spark's own from_json with the contract's schema; and from_json plus the contract's id patterns as JVM
regexes. Best of two runs each. The numbers and what they mean for a JVM fast path (issue 20) are in
docs/benchmarks.md, bench-spark.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from config.settings import load_settings, run_main
from scripts.bench.spark_layers import LAKE_DIR
from spark.contract_schema import event_struct
from spark.session import build_session
from spark.silver import validated_records
from spark.validation import PASSTHROUGH

UUID = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ID = "^[A-Za-z0-9_-]{1,64}$"


def stages(bronze: DataFrame) -> dict[str, Callable[[], object]]:
    """Each stage as an action that forces it over every bronze row."""
    payload_bytes = F.sum(F.length("value"))
    kept = bronze.select(*PASSTHROUGH)
    parsed = bronze.select(F.from_json(F.col("value").cast("string"), event_struct()).alias("e"))
    ids_match = F.col("e.event_id").rlike(UUID) & F.col("e.user_id").rlike(ID) & F.col("e.session_id").rlike(ID)
    return {
        "read the payloads": lambda: bronze.agg(payload_bytes).first()[0],
        "every bronze column through Python, unchanged": lambda: (
            bronze.mapInArrow(lambda it: it, bronze.schema).agg(payload_bytes).first()[0]
        ),
        "the columns silver sends, unchanged": lambda: (
            kept.mapInArrow(lambda it: it, kept.schema).agg(payload_bytes).first()[0]
        ),
        "the contract's verdict in Python (silver)": lambda: (
            validated_records(bronze).agg(F.count(F.when(F.col("reasons").isNull(), 1))).first()[0]
        ),
        "from_json, contract schema (JVM)": lambda: parsed.agg(F.count("e.event_id")).first()[0],
        "from_json + id patterns (JVM)": lambda: parsed.where(ids_match).count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench.profile_silver_parse", description=__doc__.splitlines()[2]
    )
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--bronze", default=str(LAKE_DIR / "full" / "bronze" / "events"))
    args = parser.parse_args(argv)
    spark = build_session(load_settings(args.config), "profile-silver-parse")
    try:
        bronze = spark.read.format("delta").load(args.bronze)
        print(f"{bronze.count():,} bronze rows in {args.bronze}")
        for name, action in stages(bronze).items():
            best = float("inf")
            for _ in range(2):
                started = time.perf_counter()
                action()
                best = min(best, time.perf_counter() - started)
            print(f"  {name:45} {best:7.2f}s", flush=True)
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
