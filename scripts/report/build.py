"""Usage: python -m scripts.report.build [--config PATH] [--summary PATH] [--airflow-home DIR] [--out PATH]

Builds the run report, one self-contained HTML page (opens offline): the conservation ledger, quarantine reasons
over ingest time, daily revenue and the funnel from PostgreSQL serving, each stage's duration and throughput, and
freshness. Defaults: .local/demo/summary.json if it exists, and its lake unless LAKEHOUSE_LAKE_URI names one (a
summary of another lake is ignored); the config's DSN; the Airflow home beside the lake, else the latest
.local/demo/runs/*/airflow; and .local/demo/report.html. A missing input leaves its sections saying why.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.settings import ConfigError, Settings, load_settings
from scripts.report import compute, render
from scripts.report.sources import Unavailable, read_airflow, read_lake, read_serving, read_summary

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = ROOT / ".local" / "demo"
LAKE_ENV = "LAKEHOUSE_LAKE_URI"
WINDOW_HOURS = 24.0
"""Freshness covers silver's last day of commits and the quarantine timeline the rows ingested since that day's
start (sources.Window); the counts cover every row."""


def _missing(why: str) -> dict[str, Any]:
    return {"available": False, "why": why}


def _attempt(read: Any, *args: Any) -> tuple[Any, str | None]:
    try:
        return read(*args), None
    except Unavailable as exc:
        return None, str(exc)


def gather(
    settings: Settings, summary: Path | None, airflow_home: Path | None, window_hours: float | None = WINDOW_HOURS
) -> dict[str, Any]:
    """Every number the page shows, as plain JSON-ready data; a section whose input is missing says why."""
    lake_uri = lake_of(settings)
    lake, lake_why = _attempt(read_lake, settings, window_hours)
    demo, summary_why = _attempt(read_summary, summary)
    if demo and demo[0].get("lake") != lake_uri:
        demo, summary_why = None, f"{summary} describes the lake {demo[0].get('lake')}, not this one"
    serving, serving_why = _attempt(read_serving, settings, list(lake.gold_table_ids.values()) if lake else [])
    airflow, airflow_why = _attempt(read_airflow, airflow_home)
    summary_data, manifest = demo if demo else ({}, None)
    data: dict[str, Any] = {
        "run": summary_data.get("run_id") or settings.storage.lake_uri,
        "lake": lake_uri,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "verdict": summary_data.get("verdict"),
        "summary_why": summary_why,
    }
    if lake:
        ledger = compute.ledger(manifest, lake.bronze_rows, lake.silver_rows, lake.quarantine_reasons, lake.metrics)
        data["ledger"] = {"available": True, **ledger, "manifest_why": summary_why}
        window = {"hours": lake.window.hours, "since": lake.window.since and lake.window.since.isoformat()}
        timeline = compute.quarantine_timeline(lake.quarantine)
        data["quarantine_timeline"] = {"available": True, **timeline, "window": window}
        fresh = compute.freshness(lake.silver, lake.silver_commits, serving.loads if serving else None)
        data["freshness"] = {"available": True, **fresh, "publish_why": serving_why, "window": window}
    else:
        for key in ("ledger", "quarantine_timeline", "freshness"):
            data[key] = _missing(lake_why)
    if serving:
        data["serving"] = {
            "available": True,
            "revenue": compute.revenue_daily(serving.purchases_daily),
            "funnel": compute.funnel(serving.funnel_daily),
            "revenue_verdict": summary_data.get("revenue"),
            "from_this_lake": serving.from_this_lake,
        }
    else:
        data["serving"] = _missing(serving_why)
    if airflow:
        rows = (
            compute.stage_rows(lake.bronze_rows, lake.metrics, lake.silver_rows, serving.loads if serving else None)
            if lake
            else {}
        )
        data["stages"] = {"available": True, **compute.stages(airflow.run, airflow.tasks, rows)}
    else:
        data["stages"] = _missing(airflow_why)
    return data


def lake_of(settings: Settings) -> str:
    """The lake's absolute URI, as the demo's summary.json names it."""
    return settings.storage.root_uri()


def default_airflow_home(settings: Settings, demo_dir: Path = DEMO_DIR) -> Path | None:
    """The Airflow home beside the lake (a demo run's layout), else the newest demo run's."""
    beside = Path(lake_of(settings)).parent / "airflow"
    if beside.is_dir():
        return beside
    homes = sorted(p for p in (demo_dir / "runs").glob("*/airflow") if p.is_dir())
    return homes[-1] if homes else None


def demo_lake(summary: Path) -> str | None:
    """The lake a demo summary describes, or None if the file is unreadable (the report then says why)."""
    try:
        return json.loads(summary.read_text(encoding="utf-8")).get("lake")
    except (OSError, ValueError):
        return None


def write_report(
    settings: Settings,
    out: Path,
    *,
    summary: Path | None = None,
    airflow_home: Path | None = None,
    window_hours: float | None = WINDOW_HOURS,
) -> Path:
    """Write the report for this lake and database to `out` and return its path."""
    page = render.render(gather(settings, summary, airflow_home, window_hours))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the run report (self-contained HTML).")
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--summary", type=Path, help="the demo's summary.json (default: .local/demo/summary.json)")
    parser.add_argument("--airflow-home", type=Path, help="a local run's AIRFLOW_HOME (default: the latest demo's)")
    parser.add_argument("--out", type=Path, default=DEMO_DIR / "report.html")
    parser.add_argument(
        "--window-hours",
        type=float,
        default=WINDOW_HOURS,
        help="freshness covers silver's commits of the H hours before its newest, the quarantine timeline the rows "
        f"ingested since then (default {WINDOW_HOURS:g}; 0: the whole tables, read in full); the ledger counts all",
    )
    args = parser.parse_args(argv)
    if not math.isfinite(args.window_hours) or args.window_hours < 0:
        parser.error(
            f"--window-hours must be 0 (the whole table) or a positive number of hours, not {args.window_hours:g}"
        )
    default_summary = DEMO_DIR / "summary.json"
    summary = args.summary or (default_summary if default_summary.is_file() else None)
    if summary and LAKE_ENV not in os.environ and (lake := demo_lake(summary)):
        os.environ[LAKE_ENV] = lake  # no lake chosen: report on the demo's, as scripts.demo isolates it
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    airflow_home = args.airflow_home or default_airflow_home(settings)
    window = args.window_hours or None
    path = write_report(settings, args.out, summary=summary, airflow_home=airflow_home, window_hours=window)
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
