"""The lake's and serving's side of a reconciliation, read with delta-rs (no JVM); config.reconciliation compares."""

from __future__ import annotations

import hashlib
from contextlib import closing
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

from config.catalog import BRONZE_EVENTS, FCT_PURCHASES_DAILY, QUARANTINE, SILVER_EVENTS, SILVER_METRICS, Table
from config.reconciliation import (
    LEDGER_TERMS,
    Comparison,
    Found,
    against_manifest,
    against_reference,
    ledger_totals,
    stream_totals,
)
from config.settings import Settings
from postgres.connection import connect

HASH_SLICE = 100_000
SILVER_PURCHASES = "silver purchases"


def _dataset(settings: Settings, table: Table) -> ds.Dataset:
    return DeltaTable(settings.storage.uri_of(table)).to_pyarrow_dataset()


def arrow_ids_sha256(ids: pa.ChunkedArray | pa.Array) -> str:
    """ids_sha256 (config.reconciliation) of a string column, sorted and hashed in Arrow slices: no Python list
    of every id."""
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


def lake_rows(settings: Settings, manifest: dict) -> list[Comparison]:
    """Bronze, silver, quarantine and the metrics ledger against the manifest, read with delta-rs (no JVM)."""
    bronze = _dataset(settings, BRONZE_EVENTS).count_rows()
    silver_ids = _dataset(settings, SILVER_EVENTS).to_table(columns=["event_id"]).column("event_id")
    quarantine = value_counts(_dataset(settings, QUARANTINE).to_table(columns=["reason"]).column("reason"))
    batches = _dataset(settings, SILVER_METRICS).to_table(columns=["stream", *LEDGER_TERMS]).to_pylist()
    totals = stream_totals(batches)
    found = Found(bronze, len(silver_ids), arrow_ids_sha256(silver_ids), totals["duplicates"], quarantine)
    ledger = ledger_totals(
        batches, bronze_rows=bronze, silver_rows=len(silver_ids), quarantine_rows=sum(quarantine.values())
    )
    return against_manifest(manifest, found) + ledger


def silver_revenue(settings: Settings) -> Decimal | int:
    """Exact sum of price_gbp * quantity over silver purchases: Arrow totals quantity per price, Decimal the rest."""
    purchases = _dataset(settings, SILVER_EVENTS).to_table(
        columns=["price_gbp", "quantity"], filter=ds.field("event_type") == "purchase"
    )
    by_price = purchases.group_by("price_gbp").aggregate([("quantity", "sum")])
    return sum((r["price_gbp"] * r["quantity_sum"] for r in by_price.to_pylist()), start=0)


def revenue_rows(settings: Settings) -> tuple[list[Comparison], str]:
    """Revenue summed in silver, gold and PostgreSQL: exact decimals, so they must agree to the penny."""
    silver = silver_revenue(settings)
    gold = _dataset(settings, FCT_PURCHASES_DAILY).to_table(columns=["revenue_gbp"])
    gold_revenue = sum(gold.column("revenue_gbp").to_pylist(), start=0)
    with closing(connect(settings, "lakehouse-reconcile")) as conn, conn.cursor() as cur:
        cur.execute(f"select coalesce(sum(revenue_gbp), 0) from {FCT_PURCHASES_DAILY.serving}")
        pg_revenue = cur.fetchone()[0]
    layers = {f"gold {FCT_PURCHASES_DAILY.name}": gold_revenue, FCT_PURCHASES_DAILY.serving: pg_revenue}
    rows = [Comparison(f"revenue_gbp: {SILVER_PURCHASES}", silver, silver, True)]
    rows += against_reference("revenue_gbp", SILVER_PURCHASES, silver, layers)
    return rows, "agree" if all(row.ok for row in rows) else "DISAGREE"
