"""The run report's numbers, computed from plain rows and Arrow tables: pure, so each is tested on a few rows."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from config.reconciliation import LEDGER_TERMS, balanced, stream_totals

BUCKET_STEPS_S = (1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400)
MAX_BUCKETS = 48
HISTOGRAM_BINS = 30
STAGE_ROWS = {
    "bronze": "bronze rows written",
    "silver": "bronze rows judged",
    "gold": "silver rows read",
    "load_serving": "serving rows written",
}
"""What a stage's row count means; a task not named here has no row count."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _value_counts(column: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    return {row["values"]: row["counts"] for row in pc.value_counts(column).to_pylist()}


def ledger(
    manifest: dict[str, Any] | None, bronze_rows: int, silver_rows: int, quarantine: pa.Table, metrics: pa.Table
) -> dict[str, Any]:
    """Produced → bronze → silver / quarantine by reason / duplicates, each term counted on its own.

    Duplicates come from the silver streams' metrics rows (re-drive rows re-judge records already in bronze);
    `expected` is the producer manifest's, when the run has one."""
    by_reason = _value_counts(quarantine.column("reason"))
    sums = stream_totals(metrics.select(["stream", *LEDGER_TERMS]).to_pylist())
    expected = manifest["expected"] if manifest else None
    terms = [
        ("bronze", manifest["delivered"] if manifest else None, bronze_rows),
        ("silver", expected["silver"] if expected else None, silver_rows),
        ("duplicates", expected["duplicates"] if expected else None, sums["duplicates"]),
    ]
    reasons = sorted(set(by_reason) | set(expected["quarantine"] if expected else ()))
    for code in reasons:
        terms.append(
            (f"quarantine: {code}", expected["quarantine"].get(code, 0) if expected else None, by_reason.get(code, 0))
        )
    return {
        "produced": manifest["delivered"] if manifest else None,
        "bronze": bronze_rows,
        "silver": silver_rows,
        "duplicates": sums["duplicates"],
        "quarantine": {code: by_reason.get(code, 0) for code in reasons},
        "metrics": sums,
        "balanced": balanced(sums, bronze_rows),
        "terms": [{"term": t, "expected": e, "found": f, "ok": None if e is None else e == f} for t, e, f in terms],
    }


def bucket_seconds(span_s: float) -> int:
    """The smallest round bucket that splits the span into at most MAX_BUCKETS buckets."""
    return next((step for step in BUCKET_STEPS_S if span_s / step < MAX_BUCKETS), BUCKET_STEPS_S[-1])


def _epoch_us(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    return pc.cast(pc.cast(column, pa.timestamp("us", tz="UTC")), pa.int64())


def quarantine_timeline(quarantine: pa.Table) -> dict[str, Any]:
    """Quarantined rows per reason per ingest-time bucket (bronze's `ingested_at`), buckets of a round size."""
    if quarantine.num_rows == 0:
        return {"bucket_s": None, "buckets": [], "series": {}}
    micros = _epoch_us(quarantine.column("ingested_at"))
    first, last = pc.min(micros).as_py(), pc.max(micros).as_py()
    size = bucket_seconds((last - first) / 1e6)
    start = pc.multiply(pc.divide(micros, size * 1_000_000), size * 1_000_000)
    grouped = (
        pa.table({"start": start, "reason": quarantine.column("reason")})
        .group_by(["start", "reason"])
        .aggregate([("reason", "count")])
        .to_pylist()
    )
    starts = list(range(first // (size * 1_000_000) * size * 1_000_000, last + 1, size * 1_000_000))
    series: dict[str, list[int]] = {}
    for row in grouped:
        series.setdefault(row["reason"], [0] * len(starts))[starts.index(row["start"])] = row["reason_count"]
    return {
        "bucket_s": size,
        "buckets": [datetime.fromtimestamp(s / 1e6, UTC).isoformat() for s in starts],
        "series": dict(sorted(series.items())),
    }


def revenue_daily(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """serving.fct_purchases_daily's days, money kept as exact decimal text."""
    days = [
        {
            "event_date": r["event_date"].isoformat(),
            "purchases": r["purchases"],
            "units": r["units"],
            "revenue_gbp": str(r["revenue_gbp"]),
            "purchasing_users": r["purchasing_users"],
        }
        for r in rows
    ]
    total = sum((Decimal(d["revenue_gbp"]) for d in days), start=Decimal("0.00"))
    return {"days": days, "revenue_gbp": str(total), "purchases": sum(d["purchases"] for d in days)}


FUNNEL_STEPS = (
    ("sessions", "sessions"),
    ("sessions_with_view", "viewed"),
    ("sessions_with_add_to_cart", "added to cart"),
    ("sessions_with_purchase", "purchased"),
)


def funnel(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """serving.fct_funnel_daily summed over its days (each session counts once, on its start day), and per day."""
    days = [
        {"event_date": r["event_date"].isoformat(), **{column: r[column] for column, _ in FUNNEL_STEPS}} for r in rows
    ]
    return {
        "days": days,
        "totals": {column: sum(d[column] for d in days) for column, _ in FUNNEL_STEPS},
        "labels": {column: label for column, label in FUNNEL_STEPS},
    }


def stages(run: dict[str, Any], tasks: list[dict[str, Any]], rows_by_task: dict[str, int]) -> dict[str, Any]:
    """Each task's wall time from its task instance, and rows per second for the stages that move rows."""
    out = []
    for t in tasks:
        duration = (t["end"] - t["start"]).total_seconds() if t["start"] and t["end"] else None
        rows = rows_by_task.get(t["task_id"])
        out.append(
            {
                "task_id": t["task_id"],
                "state": t["state"],
                "try_number": t["try_number"],
                "start": _iso(t["start"]),
                "end": _iso(t["end"]),
                "duration_s": None if duration is None else round(duration, 3),
                "rows": rows,
                "rows_meaning": STAGE_ROWS.get(t["task_id"]),
                "rows_per_s": round(rows / duration) if rows is not None and duration else None,
            }
        )
    starts = [t["start"] for t in tasks if t["start"]]
    ends = [t["end"] for t in tasks if t["end"]]
    wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    return {
        **run,
        "start": _iso(min(starts)) if starts else None,
        "end": _iso(max(ends)) if ends else None,
        "wall_s": None if wall is None else round(wall, 3),
        "tasks": out,
    }


def stage_rows(bronze_rows: int, metrics: pa.Table, silver_rows: int, loads: list[dict[str, Any]] | None) -> dict:
    """Rows each row-moving stage handled: see STAGE_ROWS."""
    streamed = metrics.filter(pc.equal(metrics.column("stream"), "silver"))
    rows = {"bronze": bronze_rows, "silver": pc.sum(streamed.column("rows_in")).as_py() or 0, "gold": silver_rows}
    if loads is not None:
        rows["load_serving"] = sum(r["rows_inserted"] + r["rows_updated"] + r["rows_deleted"] for r in loads)
    return rows


def percentiles(seconds: pa.Array | pa.ChunkedArray) -> dict[str, float | None]:
    """p50, p95 (linear interpolation, as numpy's default) and max, in seconds to the millisecond."""
    if len(seconds) == 0:
        return {"p50_s": None, "p95_s": None, "max_s": None, "count": 0}
    p50, p95 = pc.quantile(seconds, q=[0.5, 0.95], interpolation="linear").to_pylist()
    return {
        "p50_s": round(p50, 3),
        "p95_s": round(p95, 3),
        "max_s": round(pc.max(seconds).as_py(), 3),
        "count": len(seconds),
    }


def histogram(seconds: pa.Array | pa.ChunkedArray, bins: int = HISTOGRAM_BINS) -> dict[str, list]:
    """Equal-width bins from the minimum to the maximum: counts only, so a million rows stay a few numbers."""
    if len(seconds) == 0:
        return {"edges_s": [], "counts": []}
    low, high = pc.min(seconds).as_py(), pc.max(seconds).as_py()
    if high == low:
        return {"edges_s": [round(low, 3), round(high, 3)], "counts": [len(seconds)]}
    width = (high - low) / bins
    index = pc.min_element_wise(pc.cast(pc.floor(pc.divide(pc.subtract(seconds, low), width)), pa.int64()), bins - 1)
    counts = [0] * bins
    for row in pc.value_counts(index).to_pylist():
        counts[row["values"]] = row["counts"]
    return {"edges_s": [round(low + i * width, 3) for i in range(bins + 1)], "counts": counts}


def first_publish_after(commits: list[datetime], loads: list[dict[str, Any]]) -> list[datetime | None]:
    """For each silver commit, the earliest finish of a successful load that started at or after it (a lower bound
    on when serving could show the commit's rows: a gold run that pinned silver before it publishes older data)."""
    ordered = sorted(loads, key=lambda r: r["started_at"])
    starts = [r["started_at"] for r in ordered]
    earliest: list[datetime | None] = [None] * (len(ordered) + 1)
    for i in range(len(ordered) - 1, -1, -1):
        finished = ordered[i]["finished_at"]
        earliest[i] = finished if earliest[i + 1] is None else min(finished, earliest[i + 1])
    return [earliest[bisect.bisect_left(starts, c)] for c in commits]


def _lag_s(later: pa.ChunkedArray | pa.Array, earlier: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Seconds as float64: exact to the microsecond for lags under ~285 years, rounded beyond (an ancient event)."""
    return pc.divide(pc.cast(pc.subtract(_epoch_us(later), _epoch_us(earlier)), pa.float64(), safe=False), 1e6)


def freshness(silver: pa.Table, silver_commits: pa.Table, loads: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Event time → bronze ingest → silver commit (the Delta commit of its batch's silver append,
    sources.silver_commits) → PostgreSQL publish."""
    commits = silver_commits.select(["app_id", "batch_id", "committed_at"]).rename_columns(
        ["silver_app_id", "silver_batch_id", "committed_at"]
    )
    joined = silver.join(commits, keys=["silver_app_id", "silver_batch_id"], join_type="inner")
    lags = {
        "event_to_bronze": _lag_s(joined.column("ingested_at"), joined.column("event_ts")),
        "bronze_to_silver": _lag_s(joined.column("committed_at"), joined.column("ingested_at")),
        "event_to_silver": _lag_s(joined.column("committed_at"), joined.column("event_ts")),
    }
    published = None
    if loads is not None:
        batches = commits.to_pylist()
        publish = first_publish_after([b["committed_at"] for b in batches], loads)
        by_batch = pa.table(
            {
                "silver_app_id": [b["silver_app_id"] for b in batches],
                "silver_batch_id": pa.array([b["silver_batch_id"] for b in batches], pa.int64()),
                "published_at": pa.array(publish, pa.timestamp("us", tz="UTC")),
            }
        )
        with_publish = joined.join(by_batch, keys=["silver_app_id", "silver_batch_id"]).filter(
            pc.is_valid(pc.field("published_at"))
        )
        lags["silver_to_postgres"] = _lag_s(with_publish.column("published_at"), with_publish.column("committed_at"))
        lags["event_to_postgres"] = _lag_s(with_publish.column("published_at"), with_publish.column("event_ts"))
        published = with_publish.num_rows
    return {
        "rows": joined.num_rows,
        "unmatched_rows": silver.num_rows - joined.num_rows,
        "published_rows": published,
        "lags": {name: percentiles(values) for name, values in lags.items()},
        "histograms": {name: histogram(lags[name]) for name in ("event_to_silver", "bronze_to_silver")},
    }
