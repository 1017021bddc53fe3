"""Reconcile the lake and PostgreSQL serving against a producer manifest, read with delta-rs (no JVM)."""

from __future__ import annotations

import hashlib
from contextlib import closing
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from config.catalog import BRONZE_EVENTS, FCT_PURCHASES_DAILY, QUARANTINE, SILVER_EVENTS, SILVER_METRICS, Table
from config.settings import Settings
from postgres.connection import connect

HASH_SLICE = 100_000


def _dataset(settings: Settings, table: Table) -> ds.Dataset:
    return DeltaTable(settings.storage.uri_of(table)).to_pyarrow_dataset()


def arrow_ids_sha256(ids: pa.ChunkedArray | pa.Array) -> str:
    """kafka.manifest.ids_sha256 of a string column, sorted and hashed in Arrow slices: no Python list of every id."""
    present = pc.drop_null(ids)
    ordered = present.take(pc.sort_indices(present))
    digest = hashlib.sha256()
    for start in range(0, len(ordered), HASH_SLICE):
        if start:
            digest.update(b"\n")
        digest.update("\n".join(ordered.slice(start, HASH_SLICE).to_pylist()).encode("utf-8"))
    return digest.hexdigest()


def value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    return {row["values"]: row["counts"] for row in pc.value_counts(column).to_pylist()}


def lake_rows(settings: Settings, manifest: dict) -> list[tuple[str, int, int, bool]]:
    """Bronze, silver, quarantine and the metrics ledger against the manifest, read with delta-rs (no JVM)."""
    expected, hashes = manifest["expected"], manifest["expected_ids_sha256"]
    bronze = _dataset(settings, BRONZE_EVENTS).count_rows()
    silver_ids = _dataset(settings, SILVER_EVENTS).to_table(columns=["event_id"]).column("event_id")
    silver_count = len(silver_ids)
    quarantine = value_counts(_dataset(settings, QUARANTINE).to_table(columns=["reason"]).column("reason"))
    columns = ["stream", "rows_in", "inserted", "quarantined", "duplicates"]
    ledger = _dataset(settings, SILVER_METRICS).to_table(columns=columns).to_pylist()
    streamed = [r for r in ledger if r["stream"] == "silver"]  # re-drive rows re-count records already in bronze
    sums = {k: sum(r[k] for r in streamed) for k in ("rows_in", "inserted", "quarantined", "duplicates")}
    rows = [
        ("bronze rows", manifest["delivered"], bronze, bronze == manifest["delivered"]),
        (
            "silver rows (ids match)",
            expected["silver"],
            silver_count,
            silver_count == pc.count_distinct(silver_ids, mode="all").as_py() == expected["silver"]
            and arrow_ids_sha256(silver_ids) == hashes["silver"],
        ),
        (
            "duplicates skipped",
            expected["duplicates"],
            sums["duplicates"],
            sums["duplicates"] == expected["duplicates"],
        ),
    ]
    for code in sorted(set(expected["quarantine"]) | set(quarantine)):
        want, got = expected["quarantine"].get(code, 0), quarantine.get(code, 0)
        rows.append((f"quarantined: {code}", want, got, want == got))
    balanced = sums["rows_in"] == sums["inserted"] + sums["quarantined"] + sums["duplicates"] == bronze
    rows.append(("ledger: in = silver + quarantine + dup", bronze, sums["rows_in"], balanced))
    inserted = sum(r["inserted"] for r in ledger)  # a re-drive's inserts are silver rows too
    moved = sum(r["rows_in"] - r["quarantined"] for r in ledger if r["stream"] == "redrive")
    held = sum(quarantine.values())
    rows.append(("ledger: inserted = silver rows", silver_count, inserted, inserted == silver_count))
    rows.append(
        (
            "ledger: quarantined = quarantine rows",
            held,
            sums["quarantined"] - moved,
            sums["quarantined"] - moved == held,
        )
    )
    return rows


def silver_revenue(settings: Settings) -> Decimal | int:
    """Exact sum of price_gbp * quantity over silver purchases: Arrow totals quantity per price, Decimal the rest."""
    purchases = _dataset(settings, SILVER_EVENTS).to_table(
        columns=["price_gbp", "quantity"], filter=ds.field("event_type") == "purchase"
    )
    by_price = purchases.group_by("price_gbp").aggregate([("quantity", "sum")])
    return sum((r["price_gbp"] * r["quantity_sum"] for r in by_price.to_pylist()), start=0)


def revenue_rows(settings: Settings) -> tuple[list[tuple[str, str, str, bool]], str]:
    """Revenue summed in silver, gold and PostgreSQL: exact decimals, so they must agree to the penny."""
    silver = silver_revenue(settings)
    gold = _dataset(settings, FCT_PURCHASES_DAILY).to_table(columns=["revenue_gbp"])
    gold_revenue = sum(gold.column("revenue_gbp").to_pylist(), start=0)
    with closing(connect(settings, "lakehouse-reconcile")) as conn, conn.cursor() as cur:
        cur.execute("select coalesce(sum(revenue_gbp), 0) from serving.fct_purchases_daily")
        pg_revenue = cur.fetchone()[0]
    ok = silver == gold_revenue == pg_revenue
    rows = [
        ("revenue_gbp: silver purchases", str(silver), str(silver), True),
        ("revenue_gbp: gold fct_purchases_daily", str(silver), str(gold_revenue), gold_revenue == silver),
        ("revenue_gbp: postgres serving", str(silver), str(pg_revenue), pg_revenue == silver),
    ]
    return rows, "agree" if ok else "DISAGREE"
