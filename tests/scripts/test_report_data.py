"""The run report's numbers on a few hand-made rows: each term counted on its own, buckets, lags and percentiles."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from scripts.report import compute

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def metrics_table(rows: list[tuple]) -> pa.Table:
    names = ["stream", "app_id", "batch_id", "rows_in", "inserted", "quarantined", "duplicates", "processed_at"]
    columns = list(zip(*rows, strict=True))
    types = [pa.string(), pa.string(), pa.int64(), pa.int64(), pa.int64(), pa.int64(), pa.int64(), TS]
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})


METRICS = metrics_table(
    [
        ("silver", "a", 0, 6, 3, 2, 1, at(10)),
        ("silver", "a", 1, 2, 1, 1, 0, at(20)),
        ("redrive", "r", 0, 1, 1, 0, 0, at(30)),
    ]
)
COMMITS = pa.table(
    {
        "app_id": ["a", "a", "r"],
        "batch_id": pa.array([0, 1, 0], pa.int64()),
        "committed_at": pa.array([at(10), at(20), at(30)], TS),
    }
)
"""Each silver append's commit, as sources.silver_commits reads them from silver's log."""
QUARANTINE = pa.table(
    {
        "reason": ["invalid_json", "invalid_json", "out_of_range"],
        "ingested_at": pa.array([at(0), at(1.5), at(3)], TS),
    }
)
MANIFEST = {
    "delivered": 8,
    "expected": {"silver": 5, "duplicates": 1, "quarantine": {"invalid_json": 2, "invalid_enum": 1}},
}


def test_ledger_counts_each_term_from_its_own_table_and_compares_with_the_manifest() -> None:
    out = compute.ledger(MANIFEST, bronze_rows=8, silver_rows=5, quarantine=QUARANTINE, metrics=METRICS)
    assert out["metrics"] == {"rows_in": 8, "inserted": 4, "quarantined": 3, "duplicates": 1}
    assert out["balanced"] is True
    assert out["quarantine"] == {"invalid_enum": 0, "invalid_json": 2, "out_of_range": 1}
    terms = {t["term"]: (t["expected"], t["found"], t["ok"]) for t in out["terms"]}
    assert terms == {
        "bronze": (8, 8, True),
        "silver": (5, 5, True),
        "duplicates": (1, 1, True),
        "quarantine: invalid_enum": (1, 0, False),
        "quarantine: invalid_json": (2, 2, True),
        "quarantine: out_of_range": (0, 1, False),
    }


def test_ledger_without_a_manifest_shows_what_the_lake_holds_and_judges_nothing() -> None:
    out = compute.ledger(None, bronze_rows=9, silver_rows=5, quarantine=QUARANTINE, metrics=METRICS)
    assert out["produced"] is None
    assert out["balanced"] is False  # 8 judged by the silver stream, 9 in bronze
    assert all(t["expected"] is None and t["ok"] is None for t in out["terms"])


@pytest.mark.parametrize(("span", "bucket"), [(0, 1), (47, 1), (48, 5), (600, 30), (3 * 86400, 6 * 3600)])
def test_bucket_is_the_smallest_round_size_with_at_most_48_buckets(span: float, bucket: int) -> None:
    assert compute.bucket_seconds(span) == bucket


def test_quarantine_timeline_counts_reasons_per_bucket_with_empty_buckets_kept() -> None:
    out = compute.quarantine_timeline(QUARANTINE)
    assert out["bucket_s"] == 1
    assert out["buckets"] == [at(s).isoformat() for s in range(4)]
    assert out["series"] == {"invalid_json": [1, 1, 0, 0], "out_of_range": [0, 0, 0, 1]}


def test_quarantine_timeline_of_an_empty_table_has_no_buckets() -> None:
    assert compute.quarantine_timeline(QUARANTINE.slice(0, 0))["buckets"] == []


def test_revenue_keeps_exact_decimals() -> None:
    rows = [
        {
            "event_date": date(2026, 1, 1),
            "purchases": 2,
            "units": 3,
            "revenue_gbp": Decimal("0.10"),
            "purchasing_users": 1,
        },
        {
            "event_date": date(2026, 1, 2),
            "purchases": 1,
            "units": 1,
            "revenue_gbp": Decimal("0.20"),
            "purchasing_users": 1,
        },
    ]
    out = compute.revenue_daily(rows)
    assert out["revenue_gbp"] == "0.30" and out["purchases"] == 3
    assert [d["revenue_gbp"] for d in out["days"]] == ["0.10", "0.20"]


def test_funnel_sums_each_step_over_the_days() -> None:
    day = {"sessions": 10, "sessions_with_view": 9, "sessions_with_add_to_cart": 4, "sessions_with_purchase": 2}
    out = compute.funnel([{"event_date": date(2026, 1, 1), **day}, {"event_date": date(2026, 1, 2), **day}])
    assert out["totals"] == {k: 2 * v for k, v in day.items()}


def test_stages_take_duration_from_each_task_instance_and_rows_per_second_where_rows_move() -> None:
    tasks = [
        {"task_id": "bronze", "state": "success", "try_number": 1, "start": at(0), "end": at(4)},
        {"task_id": "migrate", "state": "success", "try_number": 1, "start": at(4), "end": at(5)},
        {"task_id": "gold", "state": "running", "try_number": 2, "start": at(5), "end": None},
    ]
    out = compute.stages({"dag_id": "d", "run_id": "r", "state": "running"}, tasks, {"bronze": 1000, "gold": 7})
    by_task = {t["task_id"]: t for t in out["tasks"]}
    assert by_task["bronze"]["duration_s"] == 4 and by_task["bronze"]["rows_per_s"] == 250
    assert by_task["migrate"]["rows"] is None and by_task["migrate"]["rows_per_s"] is None
    assert by_task["gold"]["duration_s"] is None and by_task["gold"]["rows_per_s"] is None
    assert out["wall_s"] == 5 and out["start"] == at(0).isoformat()


def test_stage_rows_count_silver_stream_input_and_every_serving_row_written() -> None:
    loads = [
        {"rows_inserted": 3, "rows_updated": 2, "rows_deleted": 1},
        {"rows_inserted": 4, "rows_updated": 0, "rows_deleted": 0},
    ]
    assert compute.stage_rows(9, METRICS, 5, loads) == {"bronze": 9, "silver": 8, "gold": 5, "load_serving": 10}
    assert "load_serving" not in compute.stage_rows(9, METRICS, 5, None)


def test_percentiles_interpolate_linearly_like_numpy() -> None:
    out = compute.percentiles(pa.array([1.0, 2.0, 3.0, 4.0, 10.0]))
    assert out == {"p50_s": 3.0, "p95_s": 8.8, "max_s": 10.0, "count": 5}
    assert compute.percentiles(pa.array([], pa.float64()))["p50_s"] is None


def test_histogram_puts_the_maximum_in_the_last_bin() -> None:
    out = compute.histogram(pa.array([0.0, 1.0, 2.0, 4.0]), bins=4)
    assert out == {"edges_s": [0.0, 1.0, 2.0, 3.0, 4.0], "counts": [1, 1, 1, 1]}


def test_histogram_of_equal_values_is_one_bin() -> None:
    assert compute.histogram(pa.array([2.5, 2.5, 2.5])) == {"edges_s": [2.5, 2.5], "counts": [3]}


def test_first_publish_after_is_the_earliest_finish_of_a_load_started_at_or_after_the_commit() -> None:
    loads = [
        {"started_at": at(5), "finished_at": at(9)},
        {"started_at": at(10), "finished_at": at(30)},
        {"started_at": at(11), "finished_at": at(20)},
    ]
    assert compute.first_publish_after([at(0), at(6), at(10), at(12)], loads) == [at(9), at(20), at(20), None]


def test_freshness_joins_each_silver_row_to_its_batch_commit_and_first_publish() -> None:
    silver = pa.table(
        {
            "event_ts": pa.array([at(-60), at(-2), at(15)], TS),
            "ingested_at": pa.array([at(1), at(1), at(18)], TS),
            "silver_app_id": ["a", "a", "a"],
            "silver_batch_id": pa.array([0, 0, 1], pa.int64()),
        }
    )
    loads = [{"started_at": at(12), "finished_at": at(14)}]
    out = compute.freshness(silver, COMMITS, loads)
    assert out["rows"] == 3 and out["unmatched_rows"] == 0 and out["published_rows"] == 2
    assert out["lags"]["event_to_silver"] == {"p50_s": 12.0, "p95_s": 64.2, "max_s": 70.0, "count": 3}
    assert out["lags"]["bronze_to_silver"]["max_s"] == 9.0
    assert out["lags"]["silver_to_postgres"] == {"p50_s": 4.0, "p95_s": 4.0, "max_s": 4.0, "count": 2}
    assert out["lags"]["event_to_postgres"]["max_s"] == 74.0
    assert sum(out["histograms"]["event_to_silver"]["counts"]) == 3


def test_freshness_without_serving_has_no_publish_lags() -> None:
    silver = pa.table(
        {
            "event_ts": pa.array([at(0)], TS),
            "ingested_at": pa.array([at(1)], TS),
            "silver_app_id": ["gone"],
            "silver_batch_id": pa.array([7], pa.int64()),
        }
    )
    out = compute.freshness(silver, COMMITS, None)
    assert out["unmatched_rows"] == 1 and out["published_rows"] is None
    assert set(out["lags"]) == {"event_to_bronze", "bronze_to_silver", "event_to_silver"}


def test_freshness_of_an_event_from_year_one_is_a_rounded_lag_not_an_error() -> None:
    silver = pa.table(
        {
            "event_ts": pa.array([datetime(1, 1, 1, tzinfo=UTC)], TS),
            "ingested_at": pa.array([at(1)], TS),
            "silver_app_id": ["a"],
            "silver_batch_id": pa.array([0], pa.int64()),
        }
    )
    lag = compute.freshness(silver, COMMITS, None)["lags"]["event_to_silver"]["max_s"]
    assert lag == pytest.approx((at(10) - datetime(1, 1, 1, tzinfo=UTC)).total_seconds())


def test_silver_commits_are_the_tagged_appends_first_commit_times(tmp_path) -> None:
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    from scripts.report.sources import silver_commits
    from spark.write_tags import write_tag

    uri = str(tmp_path / "silver")
    rows = pa.table({"event_id": ["e1"]})

    def commit(user_metadata: str | None) -> None:
        custom = {"userMetadata": user_metadata} if user_metadata is not None else None
        write_deltalake(uri, rows, mode="append", commit_properties=CommitProperties(custom_metadata=custom))

    commit(write_tag("app", 0, read_version=-1))
    commit(None)
    commit("not json")
    commit(write_tag("app", 1, read_version=2, quarantine_version=3))
    commit('{"writer": "someone-else", "app_id": "app", "batch_id": 2}')
    commit('{"writer": "lakehouse-silver-append", "app_id": "app", "batch_id": "3", "read_version": 4}')
    commit('{"writer": "lakehouse-silver-append", "batch_id": 5, "read_version": 4}')
    history = {h["version"]: h["timestamp"] for h in DeltaTable(uri).history()}

    found = silver_commits(DeltaTable(uri).history()).to_pylist()
    assert sorted((r["app_id"], r["batch_id"]) for r in found) == [("app", 0), ("app", 1)], "tagged appends only"
    committed = {r["batch_id"]: r["committed_at"] for r in found}
    assert committed == {
        0: datetime.fromtimestamp(history[0] / 1000, UTC),
        1: datetime.fromtimestamp(history[3] / 1000, UTC),
    }


class LogOnly:
    """A table's history alone, newest first like delta-rs's, recording each page size asked for."""

    def __init__(self, timestamps_ms: list[int], first_version: int = 0) -> None:
        self.entries = [{"version": first_version + v, "timestamp": t} for v, t in enumerate(timestamps_ms)][::-1]
        self.limits: list[int | None] = []

    def history(self, limit: int | None = None) -> list[dict]:
        self.limits.append(limit)
        return self.entries if limit is None else self.entries[:limit]


HOUR_MS = 3_600_000


def test_a_table_younger_than_the_window_is_read_whole() -> None:
    from scripts.report.sources import Window, history_window

    log = LogOnly([0, HOUR_MS, 2 * HOUR_MS])
    entries, window = history_window(log, hours=24)
    assert window == Window(24, None) and [e["version"] for e in entries] == [2, 1, 0]


def test_an_older_table_is_read_in_growing_pages_until_the_window_starts() -> None:
    """Ten commits an hour apart and a 2.5 h window: the newest three, found by reading 2 then 8 entries, not 10."""
    from scripts.report.sources import history_window

    log = LogOnly([i * HOUR_MS for i in range(10)])
    entries, window = history_window(log, hours=2.5, first_limit=2)
    assert [e["version"] for e in entries] == [9, 8, 7]
    assert window.since == datetime.fromtimestamp((9 - 2.5) * HOUR_MS / 1000, UTC)
    assert log.limits == [2, 8]


def test_a_cleaned_log_is_never_taken_for_the_whole_table() -> None:
    """Version 0's entry was cleaned up: its rows may be older than any listed commit, so the window stays."""
    from scripts.report.sources import history_window

    entries, window = history_window(LogOnly([0, HOUR_MS], first_version=5), hours=24)
    assert window.since is not None and [e["version"] for e in entries] == [6, 5]


def test_no_window_reads_the_whole_history_at_once() -> None:
    from scripts.report.sources import Window, history_window

    log = LogOnly([i * HOUR_MS for i in range(100)])
    entries, window = history_window(log, hours=None)
    assert window == Window(None, None) and len(entries) == 100 and log.limits == [None]


def test_the_windows_silver_rows_come_only_from_files_that_can_hold_its_batches(tmp_path) -> None:
    """Three batches in three files; the window holds batch 2 of app a and batch 0 of a later app b. The files of
    the older batches are deleted from disk: the read opens none of them, or it would fail."""
    from deltalake import DeltaTable, write_deltalake

    from scripts.report.sources import Window, silver_rows_of

    uri = str(tmp_path / "silver")
    files: dict[tuple[str, int], set[str]] = {}
    for app, batch in (("a", 0), ("a", 1), ("a", 2), ("b", 0)):
        rows = {
            "event_ts": pa.array([at(batch)] * 2, TS),
            "ingested_at": pa.array([at(batch + 1)] * 2, TS),
            "silver_app_id": [app, app],
            "silver_batch_id": pa.array([batch, batch], pa.int64()),
        }
        before = set(DeltaTable(uri).file_uris()) if files else set()
        write_deltalake(uri, pa.table(rows), mode="append")
        files[(app, batch)] = set(DeltaTable(uri).file_uris()) - before
    for path in files[("a", 0)] | files[("a", 1)]:
        Path(path).unlink()
    table = DeltaTable(uri)
    commits = pa.table({"app_id": ["a", "b"], "batch_id": pa.array([2, 0], pa.int64())})
    read = silver_rows_of(table, commits, Window(24, at(0)))
    pairs = sorted(
        zip(read.column("silver_app_id").to_pylist(), read.column("silver_batch_id").to_pylist(), strict=True)
    )
    assert pairs == [("a", 2), ("a", 2), ("b", 0), ("b", 0)]
