"""Usage: python -m scripts.bench.load [--rows 1000000] [--config PATH]

Loads a dim_users-shaped gold Delta table into PostgreSQL with the loader (full load, publish included),
loads the same rows with psql's \\copy into an identical table as the reference, then changes 10% of the
gold rows and loads them incrementally (incremental_ratio: its rows/s against the full load's). Runs in a
throwaway database; writes .local/bench/load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from config.settings import Settings, load_settings, run_main
from postgres.connection import check_dsn, connect_params, dsn_origin
from postgres.copy_arrow import csv_batches
from postgres.mart_publish import load_table
from postgres.migrate import apply_migrations

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / ".local" / "bench"
PSQL = "/usr/bin/psql"
TS = pa.timestamp("us", tz="UTC")


def dim_users(rows: int, seed: int = 7) -> pa.Table:
    """`rows` users with dim_users' gold types; user_id ends in 0 for exactly every tenth row."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    first = start + rng.integers(0, 90 * 86_400 * 10**6, rows)
    cents = pa.array(rng.integers(0, 10**8, rows)).cast(pa.decimal128(20, 0))
    return pa.table(
        {
            "user_id": pa.array(np.char.add("u", np.char.zfill(np.arange(rows).astype(str), 9))),
            "first_seen_at": pa.array(first).cast(TS),
            "last_seen_at": pa.array(first + rng.integers(0, 30 * 86_400 * 10**6, rows)).cast(TS),
            "events": pa.array(rng.integers(1, 500, rows)),
            "sessions": pa.array(rng.integers(1, 40, rows)),
            "purchases": pa.array(rng.integers(0, 20, rows)),
            "revenue_gbp": pc.divide(cents, pa.scalar(100, pa.decimal128(3, 0))).cast(pa.decimal128(18, 2)),
        }
    )


def _reference_copy(dsn: str, table: str, csv_path: Path) -> float:
    """Seconds psql's \\copy takes to load csv_path into `table` (an identical, empty table)."""
    command = [PSQL, dsn, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", f"\\copy {table} from '{csv_path}' csv"]
    env = {**os.environ, "PGOPTIONS": "-c timezone=UTC"}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.load", description=__doc__.splitlines()[2])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    server_dsn = settings.postgres_dsn()
    check_dsn(server_dsn, dsn_origin(settings))
    database = f"bench_load_{uuid.uuid4().hex[:8]}"
    dsn = make_dsn(server_dsn, dbname=database)
    work = BENCH_DIR / database
    admin = psycopg2.connect(server_dsn, **connect_params(settings))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    try:
        return _run(args.rows, dsn, work, settings)
    finally:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))
        admin.close()
        shutil.rmtree(work, ignore_errors=True)


def _run(rows: int, dsn: str, work: Path, settings: Settings) -> int:
    conn = psycopg2.connect(dsn, application_name="lakehouse-bench-load", **connect_params(settings))
    apply_migrations(conn)
    uri = str(work / "gold" / "dim_users")
    data = dim_users(rows)
    write_deltalake(uri, data, configuration={"delta.enableChangeDataFeed": "true"})

    full = load_table(conn, "dim_users", uri)
    assert full.mode == "full" and full.rows_inserted == rows, full

    csv_path = work / "dim_users.csv"
    with csv_path.open("wb") as sink:
        for chunk in csv_batches(data):
            sink.write(chunk)
    with conn, conn.cursor() as cur:
        cur.execute("create table public.reference_dim_users (like serving.dim_users including all)")
    reference_s = _reference_copy(dsn, "public.reference_dim_users", csv_path)

    DeltaTable(uri).update(
        predicate="user_id LIKE '%0'",
        updates={"purchases": "purchases + 1", "revenue_gbp": "revenue_gbp + CAST(1.00 AS DECIMAL(18,2))"},
    )
    incremental = load_table(conn, "dim_users", uri)
    changed = rows // 10
    assert incremental.mode == "incremental" and incremental.rows_updated == changed, incremental
    conn.close()

    result = {
        "rows": rows,
        "rows_per_s": round(rows / full.seconds),
        "reference_rows_per_s": round(rows / reference_s),
        "ratio": round(reference_s / full.seconds, 3),
        "incremental_rows_per_s": round(changed / incremental.seconds),
        "incremental_ratio": round((changed / incremental.seconds) / (rows / full.seconds), 3),
        "full_load_s": round(full.seconds, 3),
        "reference_s": round(reference_s, 3),
        "incremental_rows": changed,
        "incremental_s": round(incremental.seconds, 3),
        "nproc": os.cpu_count(),
    }
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    (BENCH_DIR / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"loader full load: {rows:,} rows in {full.seconds:.2f}s = {result['rows_per_s']:,} rows/s "
        "(publish included)\n"
        f"psql \\copy:       {rows:,} rows in {reference_s:.2f}s = "
        f"{result['reference_rows_per_s']:,} rows/s\n"
        f"ratio:            {result['ratio']:.2f} (target >= 0.5)\n"
        f"incremental:      {changed:,} changed rows in {incremental.seconds:.2f}s = "
        f"{result['incremental_rows_per_s']:,} rows/s = {result['incremental_ratio']:.2f}x the full load's "
        "(target >= 0.5)\n"
        f"wrote {BENCH_DIR.relative_to(REPO_ROOT) / 'load.json'}"
    )
    return 0


if __name__ == "__main__":
    run_main(main)
