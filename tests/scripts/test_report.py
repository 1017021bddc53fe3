"""The run report on a tiny delta-rs lake: every section renders or says why not, and the page fetches nothing."""

from __future__ import annotations

import contextlib
import html
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake

from config.settings import Settings, load_settings
from scripts.report import build
from spark.write_tags import write_tag
from tests.scripts.report_page import read_page, remote

CONFIG = Path(__file__).resolve().parents[2] / "config" / "local.yml"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")
CLOSED_PORT_DSN = "postgresql://nobody@127.0.0.1:1/none"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def settings_for(lake: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("LAKEHOUSE_LAKE_URI", str(lake))
    monkeypatch.setenv("LAKEHOUSE_POSTGRES_DSN", CLOSED_PORT_DSN)
    return load_settings(CONFIG)


def write_lake(lake: Path) -> None:
    write_deltalake(str(lake / "bronze" / "events"), pa.table({"kafka_offset": pa.array(range(6), pa.int64())}))
    write_deltalake(
        str(lake / "silver" / "events"),
        pa.table(
            {
                "event_ts": pa.array([at(-30), at(-20), at(-10)], TS),
                "ingested_at": pa.array([at(0), at(0), at(1)], TS),
                "silver_app_id": ["a", "a", "a"],
                "silver_batch_id": pa.array([0, 0, 0], pa.int64()),
            }
        ),
        commit_properties=CommitProperties(custom_metadata={"userMetadata": write_tag("a", 0, read_version=-1)}),
    )
    write_deltalake(
        str(lake / "silver" / "quarantine"),
        pa.table({"reason": ["invalid_json", "out_of_range"], "ingested_at": pa.array([at(0), at(1)], TS)}),
    )
    write_deltalake(
        str(lake / "silver" / "metrics"),
        pa.table(
            {
                "stream": ["silver"],
                "app_id": ["a"],
                "batch_id": pa.array([0], pa.int64()),
                "rows_in": pa.array([6], pa.int64()),
                "inserted": pa.array([3], pa.int64()),
                "quarantined": pa.array([2], pa.int64()),
                "duplicates": pa.array([1], pa.int64()),
                "processed_at": pa.array([at(5)], TS),
            }
        ),
    )


def write_airflow_db(home: Path) -> None:
    home.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db, db:
        db.execute("create table dag_run (id integer, dag_id text, run_id text, state text, run_after text)")
        db.execute(
            "create table task_instance (dag_id text, run_id text, task_id text, state text, try_number integer, "
            "start_date text, end_date text)"
        )
        db.execute("insert into dag_run values (1, 'lakehouse_pipeline', 'old', 'failed', '2026-01-01 00:00:00')")
        db.execute("insert into dag_run values (2, 'lakehouse_pipeline', 'new', 'success', '2026-01-02 00:00:00')")
        db.executemany(
            "insert into task_instance values ('lakehouse_pipeline', ?, ?, 'success', 1, ?, ?)",
            [
                ("old", "bronze", "2026-01-01 00:00:00", "2026-01-01 00:01:00"),
                ("new", "bronze", "2026-01-02 00:00:00", "2026-01-02 00:00:03"),
                ("new", "silver", "2026-01-02 00:00:03", "2026-01-02 00:00:09"),
            ],
        )


def write_summary(tmp_path: Path, lake: Path) -> Path:
    manifest = tmp_path / "manifest.json"
    expected = {"silver": 3, "duplicates": 1, "quarantine": {"invalid_json": 1, "out_of_range": 1}}
    manifest.write_text(json.dumps({"delivered": 6, "expected": expected}), encoding="utf-8")
    summary = tmp_path / "summary.json"
    summary.write_text(
        json.dumps({"run_id": "r1", "lake": str(lake), "manifest": str(manifest), "verdict": "pass"}),
        encoding="utf-8",
    )
    return summary


def test_report_of_a_demo_lake_without_postgres_renders_every_section_and_fetches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, home = tmp_path / "lake", tmp_path / "airflow"
    write_lake(lake)
    write_airflow_db(home)
    settings = settings_for(lake, monkeypatch)
    out = build.write_report(
        settings, tmp_path / "out" / "build.html", summary=write_summary(tmp_path, lake), airflow_home=home
    )

    data, fetched = read_page(out)
    assert remote(fetched) == []
    page = out.read_text(encoding="utf-8")
    assert page.count("<script") == page.count("</script>")
    assert page.count("* plotly.js v") == 1, "plotly.js must be inlined exactly once"
    assert data["run"] == "r1" and data["verdict"] == "pass"
    assert {t["term"]: t["ok"] for t in data["ledger"]["terms"]} == {
        "bronze": True,
        "silver": True,
        "duplicates": True,
        "quarantine: invalid_json": True,
        "quarantine: out_of_range": True,
    }
    assert data["ledger"]["balanced"] is True
    assert data["quarantine_timeline"]["series"] == {"invalid_json": [1, 0], "out_of_range": [0, 1]}
    committed_s = DeltaTable(str(lake / "silver" / "events")).history()[0]["timestamp"] / 1000
    lag = data["freshness"]["lags"]["event_to_silver"]["max_s"]
    assert lag == pytest.approx(committed_s - at(-30).timestamp(), abs=1e-3), "silver's commit, not the metrics row"
    assert "silver_to_postgres" not in data["freshness"]["lags"]
    assert data["serving"]["available"] is False and "127.0.0.1:1" in data["serving"]["why"]
    assert "not available: PostgreSQL cannot be reached" in page
    assert data["stages"]["run_id"] == "new"
    assert [(t["task_id"], t["duration_s"], t["rows"]) for t in data["stages"]["tasks"]] == [
        ("bronze", 3.0, 6),
        ("silver", 6.0, 6),
    ]


def test_a_window_limits_freshness_and_the_timeline_to_silvers_newest_commits_and_the_ledger_counts_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second silver batch committed 1.5 s after the first, and a 1 s window: freshness reads the second batch's
    rows alone, the timeline the one row quarantined now, and the page says so; the ledger counts every row."""
    lake = tmp_path / "lake"
    write_lake(lake)
    time.sleep(1.5)
    later = {
        "event_ts": pa.array([at(-5), at(-4)], TS),
        "ingested_at": pa.array([at(2), at(2)], TS),
        "silver_app_id": ["a", "a"],
        "silver_batch_id": pa.array([1, 1], pa.int64()),
    }
    tag = write_tag("a", 1, read_version=0)
    write_deltalake(
        str(lake / "silver" / "events"),
        pa.table(later),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={"userMetadata": tag}),
    )
    recent = {"reason": ["invalid_json"], "ingested_at": pa.array([datetime.now(UTC)], TS)}
    write_deltalake(str(lake / "silver" / "quarantine"), pa.table(recent), mode="append")
    out = build.write_report(settings_for(lake, monkeypatch), tmp_path / "w.html", window_hours=1 / 3600)

    data, _ = read_page(out)
    assert data["freshness"]["rows"] == 2 and data["freshness"]["unmatched_rows"] == 0
    assert data["freshness"]["lags"]["event_to_silver"]["count"] == 2
    assert data["ledger"]["silver"] == 5 and data["ledger"]["quarantine"] == {"invalid_json": 2, "out_of_range": 1}
    series = data["quarantine_timeline"]["series"]
    assert {reason: sum(counts) for reason, counts in series.items()} == {"invalid_json": 1}, "the recent row alone"
    since = data["freshness"]["window"]["since"]
    assert since is not None and data["quarantine_timeline"]["window"]["since"] == since
    assert html.escape(f"silver's batches committed since {since}") in out.read_text(encoding="utf-8")
    whole, _ = read_page(build.write_report(settings_for(lake, monkeypatch), tmp_path / "all.html", window_hours=None))
    assert whole["freshness"]["rows"] == 5 and whole["freshness"]["window"]["since"] is None


def test_report_with_no_lake_no_summary_and_no_airflow_home_says_why_for_each_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "nothing", monkeypatch)
    out = build.write_report(settings, tmp_path / "build.html")
    data, fetched = read_page(out)
    assert remote(fetched) == []
    for section in ("ledger", "quarantine_timeline", "serving", "stages", "freshness"):
        assert data[section]["available"] is False, section
    assert "no Delta table at" in data["ledger"]["why"]
    assert "--airflow-home" in data["stages"]["why"]
    assert "PostgreSQL cannot be reached" in data["serving"]["why"], "serving is read even without a lake"
    assert "not available: no Delta table at" in out.read_text(encoding="utf-8")


def test_a_summary_of_another_lake_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lake = tmp_path / "lake"
    write_lake(lake)
    summary = write_summary(tmp_path, tmp_path / "other-lake")
    out = build.write_report(settings_for(lake, monkeypatch), tmp_path / "build.html", summary=summary)
    data, _ = read_page(out)
    assert data["verdict"] is None and data["ledger"]["produced"] is None
    assert "no producer manifest to compare with:" in out.read_text(encoding="utf-8")
    assert "describes the lake" in data["ledger"]["manifest_why"]


def test_cli_reports_on_the_demo_summary_lake_when_no_lake_is_chosen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "runs" / "r1" / "lake"
    write_lake(lake)
    write_airflow_db(lake.parent / "airflow")
    summary = write_summary(tmp_path, lake)
    monkeypatch.setenv("LAKEHOUSE_LAKE_URI", "set only so that the test's undo removes what main sets")
    monkeypatch.delenv("LAKEHOUSE_LAKE_URI")
    monkeypatch.setenv("LAKEHOUSE_POSTGRES_DSN", CLOSED_PORT_DSN)
    out = tmp_path / "build.html"
    assert build.main(["--config", str(CONFIG), "--summary", str(summary), "--out", str(out)]) == 0
    data, _ = read_page(out)
    assert data["lake"] == str(lake) and data["ledger"]["produced"] == 6
    assert data["stages"]["run_id"] == "new"


@pytest.mark.parametrize("hours", ["-1", "nan", "inf"])
def test_a_window_that_is_not_a_finite_number_of_hours_is_refused_by_name(hours: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        build.main(["--window-hours", hours])
    assert exit_.value.code == 2 and "--window-hours must be 0" in capsys.readouterr().err
