"""Every comparison a reconciliation makes, as pure functions of counts, id hashes and exact sums.

The conservation ledger (delivered = silver + quarantine by reason + duplicates, per micro-batch and in total),
the manifest's id sets, money from silver to gold to serving, and serving against gold. Three thin readers feed
it: kafka/topic_audit.py (the topic read back), scripts/reconcile.py (the lake, read with delta-rs) and the DAG's
quality checks (dags/lakehouse_dags/checks.py, serving); the demo, the run report, the benchmarks and the tests
print or assert what it returns. It lives in config/ because every unit that reconciles ships config/: the
producer, the Spark archive and the DAG bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from config.catalog import FCT_PURCHASES_DAILY, MART_TABLES, MARTS, mart

REFERENCE = FCT_PURCHASES_DAILY
"""The mart whose revenue and purchases the other marts' totals must equal, and which equals gold's."""
LEDGER_TERMS = ("rows_in", "inserted", "quarantined", "duplicates")
"""The metrics table's ledger columns: each counted on its own, so their balance is a real check."""
SILVER_IDS = "silver (ids match)"
LEDGER_INSERTED = "ledger: inserted = silver rows"
WHOLE_SILVER = (SILVER_IDS, LEDGER_INSERTED)
"""The rows that hold all of silver to the manifest: over a silver that already held other rows (bench-scale's
history) they are off by exactly those rows, so such a reader checks silver's growth instead."""


class Comparison(NamedTuple):
    """One fact: what was expected, what a reader found, and whether they agree (counts and, where known, ids)."""

    what: str
    expected: Any
    found: Any
    ok: bool

    def __str__(self) -> str:
        off = ""
        numbers = isinstance(self.expected, int | Decimal) and isinstance(self.found, int | Decimal)
        if numbers and self.expected != self.found:
            off = f" (off by {self.found - self.expected:+})"
        return f"{self.what}: expected {self.expected}, got {self.found}{off}"


def compare(what: str, expected: Any, found: Any, *, same_ids: bool = True) -> Comparison:
    return Comparison(what, expected, found, expected == found and same_ids)


def failures(comparisons: Iterable[Comparison]) -> list[Comparison]:
    return [c for c in comparisons if not c.ok]


def ids_sha256(ids: Iterable[str]) -> str:
    """sha256 of the sorted ids joined by newlines: compares id sets without storing them."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Found:
    """What a reader counted per outcome the manifest predicts. An id hash is None where the reader cannot see
    those ids (the lake keeps no row per duplicate, and a quarantined record may have no readable id)."""

    delivered: int
    silver: int
    silver_sha256: str
    duplicates: int
    quarantine: Mapping[str, int]
    duplicates_sha256: str | None = None
    quarantine_sha256: Mapping[str, str] | None = None


def against_manifest(manifest: Mapping[str, Any], found: Found) -> list[Comparison]:
    """Delivered, silver (count and id set), duplicates and each quarantine reason against the producer's manifest;
    the same rows for the topic and the lake, so the demo prints each fact once with both findings."""
    expected, hashes = manifest["expected"], manifest["expected_ids_sha256"]
    rows = [
        compare("delivered", manifest["delivered"], found.delivered),
        compare(SILVER_IDS, expected["silver"], found.silver, same_ids=hashes["silver"] == found.silver_sha256),
        compare(
            "duplicates",
            expected["duplicates"],
            found.duplicates,
            same_ids=found.duplicates_sha256 in (None, hashes["duplicates"]),
        ),
    ]
    none = ids_sha256([])
    for code in sorted(set(expected["quarantine"]) | set(found.quarantine)):
        same = found.quarantine_sha256 is None or (
            hashes["quarantine"].get(code, none) == found.quarantine_sha256.get(code, none)
        )
        rows.append(
            compare(
                f"quarantine: {code}", expected["quarantine"].get(code, 0), found.quarantine.get(code, 0), same_ids=same
            )
        )
    return rows


def stream_totals(batches: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The ledger terms summed over the silver stream's micro-batches; re-drive batches re-judge records already
    counted, so they are left out."""
    streamed = [b for b in batches if b["stream"] == "silver"]
    return {term: sum(b[term] for b in streamed) for term in LEDGER_TERMS}


def balanced(totals: Mapping[str, int], bronze_rows: int) -> bool:
    """in = inserted + quarantined + duplicates, and in = every bronze row."""
    return totals["rows_in"] == totals["inserted"] + totals["quarantined"] + totals["duplicates"] == bronze_rows


def batch_balances(batches: Iterable[Mapping[str, Any]]) -> list[Comparison]:
    """Per micro-batch in silver's metrics: rows_in = inserted + quarantined + duplicates."""
    return [
        compare(
            f"silver metrics {b['stream']} batch {b['batch_id']} rows_in vs inserted+quarantined+duplicates",
            b["rows_in"],
            b["inserted"] + b["quarantined"] + b["duplicates"],
        )
        for b in batches
    ]


def ledger_totals(
    batches: list[Mapping[str, Any]], *, bronze_rows: int, silver_rows: int, quarantine_rows: int
) -> list[Comparison]:
    """The metrics ledger against the tables: it balances over bronze, every silver row was counted inserted (by
    the stream or a re-drive), and what it counted quarantined, less what re-drives moved out, is still there."""
    totals = stream_totals(batches)
    inserted = sum(b["inserted"] for b in batches)
    moved = sum(b["rows_in"] - b["quarantined"] for b in batches if b["stream"] == "redrive")
    return [
        Comparison(
            "ledger: in = silver + quarantine + dup", bronze_rows, totals["rows_in"], balanced(totals, bronze_rows)
        ),
        compare(LEDGER_INSERTED, silver_rows, inserted),
        compare("ledger: quarantined = quarantine rows", quarantine_rows, totals["quarantined"] - moved),
    ]


def against_reference(measure: str, reference: str, expected: Any, found: Mapping[str, Any]) -> list[Comparison]:
    """Each named total of `measure` equals the reference's: money from silver to gold to serving, and every
    serving mart's totals against the reference mart's."""
    return [compare(f"{measure}: {name} vs {reference}", expected, value) for name, value in found.items()]


def marts_agree(
    sums: Mapping[str, tuple[Decimal, int]], gold_revenue: Decimal, gold_purchases: int
) -> list[Comparison]:
    """Revenue and purchases of every serving mart with measures equal the reference mart's, which equal gold's."""
    revenue, purchases = sums[REFERENCE.name]
    gold = f"gold {REFERENCE.name}"
    others = [m for m in MART_TABLES if m.measures and m != REFERENCE]
    return [
        *against_reference("revenue_gbp", gold, gold_revenue, {REFERENCE.serving: revenue}),
        *against_reference("purchases", gold, gold_purchases, {REFERENCE.serving: purchases}),
        *against_reference("revenue_gbp", REFERENCE.serving, revenue, {m.serving: sums[m.name][0] for m in others}),
        *against_reference("purchases", REFERENCE.serving, purchases, {m.serving: sums[m.name][1] for m in others}),
    ]


def days_agree(
    silver_days: Mapping[Any, tuple[int, int, Decimal]], serving_days: Mapping[Any, tuple[int, int, Decimal]]
) -> list[Comparison]:
    """Per day: purchases, units and revenue in the reference mart equal silver's purchase events of that day."""
    zero = (0, 0, Decimal("0"))
    return [
        compare(
            f"{day} {measure} (silver vs {REFERENCE.serving})",
            silver_days.get(day, zero)[i],
            serving_days.get(day, zero)[i],
        )
        for day in sorted(set(silver_days) | set(serving_days))
        for i, measure in enumerate(("purchases", "units", "revenue_gbp"))
    ]


@dataclass(frozen=True)
class GoldMart:
    """Gold's side of one mart: its table id and version now, its rows at the version published to serving, and
    how many change-feed rows were committed after that version."""

    table_id: str
    version: int
    rows: int
    changed_since: int


def serving_matches_gold(
    audited: Mapping[str, tuple[str, int]], gold: Mapping[str, GoldMart], serving_rows: Mapping[str, int]
) -> list[Comparison]:
    """Per mart: a success is audited, at gold's current table id, with gold's row count, and gold's data has not
    changed since: a later commit that changes no data (OPTIMIZE, VACUUM, a property) is not a difference."""
    found: list[Comparison] = []
    for table in MARTS:
        if table not in audited:
            found.append(
                Comparison(
                    f"pipeline.load_audit has no successful load of {mart(table).serving}", "a row", "none", False
                )
            )
            continue
        table_id, version = audited[table]
        gold_mart = gold[table]
        found += [
            compare(f"gold {table} table id (audit vs gold)", table_id, gold_mart.table_id),
            compare(
                f"gold {table} rows changed after v{version}, the version published to serving (gold is at "
                f"v{gold_mart.version})",
                0,
                gold_mart.changed_since,
            ),
            compare(f"{mart(table).serving} rows vs gold v{version}", gold_mart.rows, serving_rows[table]),
        ]
    return found
