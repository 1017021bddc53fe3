"""Reconcile the lake and PostgreSQL serving against a producer manifest, read with delta-rs (no JVM)."""

from __future__ import annotations

import psycopg2
from deltalake import DeltaTable

from config.settings import Settings
from kafka.manifest import ids_sha256


def lake_rows(settings: Settings, manifest: dict) -> list[tuple[str, int, int, bool]]:
    """Bronze, silver, quarantine and the metrics ledger against the manifest, read with delta-rs (no JVM)."""
    expected, hashes = manifest["expected"], manifest["expected_ids_sha256"]

    def table(layer: str, name: str, columns: list[str]):
        return DeltaTable(settings.storage.table_uri(layer, name)).to_pyarrow_table(columns=columns).to_pylist()

    bronze = len(table("bronze", "events", ["offset"]))
    silver_ids = [r["event_id"] for r in table("silver", "events", ["event_id"])]
    quarantine: dict[str, int] = {}
    for row in table("silver", "quarantine", ["reason"]):
        quarantine[row["reason"]] = quarantine.get(row["reason"], 0) + 1
    ledger = table("silver", "metrics", ["stream", "rows_in", "inserted", "quarantined", "duplicates"])
    streamed = [r for r in ledger if r["stream"] == "silver"]  # re-drive rows re-count records already in bronze
    sums = {k: sum(r[k] for r in streamed) for k in ("rows_in", "inserted", "quarantined", "duplicates")}
    rows = [
        ("bronze rows", manifest["delivered"], bronze, bronze == manifest["delivered"]),
        (
            "silver rows (ids match)",
            expected["silver"],
            len(silver_ids),
            len(silver_ids) == len(set(silver_ids)) == expected["silver"]
            and ids_sha256(silver_ids) == hashes["silver"],
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
    rows.append(("ledger: inserted = silver rows", len(silver_ids), inserted, inserted == len(silver_ids)))
    rows.append(
        (
            "ledger: quarantined = quarantine rows",
            held,
            sums["quarantined"] - moved,
            sums["quarantined"] - moved == held,
        )
    )
    return rows


def revenue_rows(settings: Settings) -> tuple[list[tuple[str, str, str, bool]], str]:
    """Revenue summed in silver, gold and PostgreSQL: exact decimals, so they must agree to the penny."""
    silver = DeltaTable(settings.storage.table_uri("silver", "events")).to_pyarrow_table(
        columns=["event_type", "price_gbp", "quantity"]
    )
    silver_revenue = sum(
        (r["price_gbp"] * r["quantity"] for r in silver.to_pylist() if r["event_type"] == "purchase"),
        start=0,
    )
    gold = DeltaTable(settings.storage.table_uri("gold", "fct_purchases_daily")).to_pyarrow_table(
        columns=["revenue_gbp"]
    )
    gold_revenue = sum((r["revenue_gbp"] for r in gold.to_pylist()), start=0)
    with psycopg2.connect(settings.postgres_dsn()) as conn, conn.cursor() as cur:
        cur.execute("select coalesce(sum(revenue_gbp), 0) from serving.fct_purchases_daily")
        pg_revenue = cur.fetchone()[0]
    ok = silver_revenue == gold_revenue == pg_revenue
    rows = [
        ("revenue_gbp: silver purchases", str(silver_revenue), str(silver_revenue), True),
        (
            "revenue_gbp: gold fct_purchases_daily",
            str(silver_revenue),
            str(gold_revenue),
            gold_revenue == silver_revenue,
        ),
        ("revenue_gbp: postgres serving", str(silver_revenue), str(pg_revenue), pg_revenue == silver_revenue),
    ]
    return rows, "agree" if ok else "DISAGREE"
