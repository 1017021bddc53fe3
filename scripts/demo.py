"""Usage: python -m scripts.demo [--config PATH] [--events N] [--seed N]

Runs the pipeline end to end on the local stack and prints a reconciliation table with a verdict.
Each run gets its own topic and lake under .local/demo/ so reruns never mix with earlier data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka.admin import AdminClient

from config.settings import ConfigError, Settings, load_settings
from kafka import events, produce, topic_audit
from kafka.client_config import client_config

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".local" / "demo"


def isolate_run(run_id: str) -> Path:
    """Point this process and its children at a fresh topic and lake for this run."""
    run_dir = DEMO_DIR / "runs" / run_id
    os.environ["LAKEHOUSE_TOPIC"] = f"demo-{run_id}"
    os.environ["LAKEHOUSE_LAKE_URI"] = str(run_dir / "lake")
    os.environ["LAKEHOUSE_CHECKPOINT_URI"] = str(run_dir / "lake" / "_checkpoints")
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def forget_earlier_runs(settings: Settings, keep: str) -> None:
    """Delete earlier demo runs' topics and lakes so the broker and disk don't fill up across demos."""
    admin = AdminClient(client_config(settings, "admin"))
    stale = [t for t in admin.list_topics(timeout=10).topics if t.startswith("demo-") and t != f"demo-{keep}"]
    if stale:
        for future in admin.delete_topics(stale, operation_timeout=30).values():
            future.result()
    for run_dir in (DEMO_DIR / "runs").glob("*"):
        if run_dir.name != keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def print_table(rows: list[tuple[str, int, int, bool]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n  {'':{width}}  {'expected':>10}  {'found':>10}")
    for what, expected, found, ok in rows:
        print(f"  {what:{width}}  {expected:>10,}  {found:>10,}  {'ok' if ok else 'MISMATCH'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the pipeline end to end and reconcile it.")
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = isolate_run(run_id)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    forget_earlier_runs(settings, keep=run_id)

    print(f"demo run {run_id}: topic {settings.kafka.topic}, lake {run_dir / 'lake'}")
    run = produce.produce_events(
        settings,
        count=args.events,
        seed=args.seed,
        anomalies=events.DEFAULT_ANOMALIES,
        manifest_path=run_dir / "manifest.json",
        progress=sys.stderr.isatty(),
    )
    if not run.result.ok:
        print(
            f"error: {run.result.failed} events not delivered; first error: {run.result.first_error}", file=sys.stderr
        )
        return 1
    print(
        f"produced {run.result.sent:,} events ({run.result.events_per_s:,.0f} events/s); manifest {run.manifest_path}"
    )

    outcomes = topic_audit.classify(topic_audit.read_topic(settings), now=datetime.now(UTC))
    rows = topic_audit.reconcile(run.manifest, outcomes)
    print_table(rows)
    verdict = all(ok for *_, ok in rows)
    holds = "exactly" if verdict else "NOT"
    print(f"\nverdict: {'PASS' if verdict else 'FAIL'}: the broker holds {holds} what the manifest says")

    summary = {
        "run_id": run_id,
        "topic": settings.kafka.topic,
        "manifest": str(run.manifest_path),
        "rows": [{"what": w, "expected": e, "found": f, "ok": ok} for w, e, f, ok in rows],
        "verdict": "pass" if verdict else "fail",
    }
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    (DEMO_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"summary: {DEMO_DIR / 'summary.json'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
