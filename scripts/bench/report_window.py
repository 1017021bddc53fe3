"""Usage: python -m scripts.bench.report_window [--rows 20000000] [--batches 200] [--hours-apart 1] [--rebuild]

What `make report` costs on a long-lived silver. Writes a lake whose silver holds --rows rows in --batches tagged
micro-batch appends, the newest committed now and each earlier one --hours-apart hours before it (the commit times
in the Delta log are set so: delta-rs cannot date a commit), plus bronze, quarantine and metrics tables that
balance it; then builds the report twice in a child process, with the default 24 h window and with --window-hours 0
(the whole table, as every report did before the window), and prints each one's seconds and peak memory. Writes
.local/bench/report_window.json. The lake stays under .local/bench/report-lake and is reused (--rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

from scripts.bench.spark_layers import BENCH_DIR
from scripts.report.sources import row_count
from spark.write_tags import write_tag

ROOT = Path(__file__).resolve().parents[2]
LAKE = BENCH_DIR / "report-lake"
TS = pa.timestamp("us", tz="UTC")
APP = "bench-report-window"
QUARANTINED = 10


def _silver_batch(batch: int, rows: int, at: datetime) -> pa.Table:
    first = batch * rows
    moments = pa.array([at] * rows, TS)
    return pa.table(
        {
            "event_id": pa.array([f"{i:032x}" for i in range(first, first + rows)], pa.string()),
            "event_ts": moments,
            "ingested_at": moments,
            "silver_app_id": pa.array([APP] * rows, pa.string()),
            "silver_batch_id": pa.array([batch] * rows, pa.int64()),
        }
    )


def _date_commits(table_uri: str, times_ms: list[int]) -> None:
    """Give commit `version` the time times_ms[version] (its commitInfo timestamp, which delta-rs's history reads)."""
    log = Path(table_uri) / "_delta_log"
    for version, ms in enumerate(times_ms):
        path = log / f"{version:020d}.json"
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r'("commitInfo":\{"timestamp":)\d+', rf"\g<1>{ms}", text, count=1), encoding="utf-8")


def build_lake(rows: int, batches: int, hours_apart: float, lake: Path = LAKE) -> None:
    per_batch = rows // batches
    flagged = min(QUARANTINED, batches)
    newest = datetime.now(UTC)
    times = [newest - timedelta(hours=hours_apart * (batches - 1 - b)) for b in range(batches)]
    silver = str(lake / "silver" / "events")
    for batch, at in enumerate(times):
        tag = write_tag(APP, batch, read_version=batch - 1)
        props = CommitProperties(custom_metadata={"userMetadata": tag})
        write_deltalake(silver, _silver_batch(batch, per_batch, at), mode="append", commit_properties=props)
        if batch % 20 == 0:
            print(f"silver: batch {batch + 1}/{batches}", flush=True)
    _date_commits(silver, [int(t.timestamp() * 1000) for t in times])
    # The ledger balances, as a real run's does: every bronze row is in silver or quarantine, and each of the last
    # `flagged` batches quarantined one of them.
    quarantined = [1 if b >= batches - flagged else 0 for b in range(batches)]
    bronze = pa.table({"kafka_offset": pa.array(np.arange(per_batch * batches + flagged), pa.int64())})
    write_deltalake(str(lake / "bronze" / "events"), bronze)
    quarantine = {"reason": ["invalid_json"] * flagged, "ingested_at": pa.array(times[-flagged:], TS)}
    write_deltalake(str(lake / "silver" / "quarantine"), pa.table(quarantine))
    metrics = {
        "stream": ["silver"] * batches,
        "app_id": [APP] * batches,
        "batch_id": pa.array(range(batches), pa.int64()),
        "rows_in": pa.array([per_batch + q for q in quarantined], pa.int64()),
        "inserted": pa.array([per_batch] * batches, pa.int64()),
        "quarantined": pa.array(quarantined, pa.int64()),
        "duplicates": pa.array([0] * batches, pa.int64()),
        "processed_at": pa.array(times, TS),
    }
    write_deltalake(str(lake / "silver" / "metrics"), pa.table(metrics))


def _lake_is(rows: int, batches: int) -> bool:
    """Whether the lake left by an earlier run has this many silver batches and the bronze rows that balance them."""
    silver, bronze = LAKE / "silver" / "events", LAKE / "bronze" / "events"
    if not (silver.exists() and bronze.exists()):
        return False
    if len(DeltaTable(str(silver)).history()) != batches:
        return False
    return row_count(DeltaTable(str(bronze))) == rows // batches * batches + min(QUARANTINED, batches)


def timed_report(window_hours: float, out: Path) -> dict[str, float]:
    """One report build in a child process: its wall seconds and peak resident memory (the largest of any child
    so far: main measures the windowed report first)."""
    env = {**os.environ, "LAKEHOUSE_LAKE_URI": str(LAKE), "LAKEHOUSE_POSTGRES_DSN": "postgresql://nobody@127.0.0.1:1/x"}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "scripts.report.build", "--window-hours", str(window_hours), "--out", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": round(seconds, 2), "peak_rss_mib": round(peak_kib / 1024, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--hours-apart", type=float, default=1.0)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args(argv)
    if args.rebuild or not _lake_is(args.rows, args.batches):
        subprocess.run(["rm", "-rf", str(LAKE)], check=True)
        build_lake(args.rows, args.batches, args.hours_apart)
    windowed = timed_report(24, BENCH_DIR / "report-window.html")
    whole = timed_report(0, BENCH_DIR / "report-whole.html")
    for page in ("report-window.html", "report-whole.html"):
        if ">MISMATCH<" in (BENCH_DIR / page).read_text(encoding="utf-8"):
            print(
                f"error: {BENCH_DIR / page} shows a ledger MISMATCH: the bench lake does not balance", file=sys.stderr
            )
            return 1
    result = {
        "silver_rows": args.rows,
        "batches": args.batches,
        "hours_apart": args.hours_apart,
        "window_24h": windowed,
        "whole_table": whole,
    }
    (BENCH_DIR / "report_window.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
