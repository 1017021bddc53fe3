"""Usage: python -m scripts.demo [--config PATH] [--events N] [--seed N]

Runs the pipeline end to end on the local stack: produce with anomalies, run the lakehouse_pipeline DAG
for real (bronze -> silver -> gold -> PostgreSQL -> checks), then reconcile every layer against the
producer's manifest and print a verdict. Each run gets its own topic, lake and Airflow home under .local/demo/
so reruns never mix with earlier data (a rerun's assets have new URIs, which Airflow would see as inactive
next to the earlier run's assets of the same names).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg2
from confluent_kafka.admin import AdminClient
from psycopg2.extensions import make_dsn, parse_dsn

from config.reconciliation import against_manifest
from config.settings import ConfigError, Settings, load_settings
from kafka import events, produce, topic_audit
from kafka.admin import delete_topics
from kafka.client_config import client_config
from scripts.airflow_local import run_dag
from scripts.packaging import spark_archive
from scripts.reconcile import lake_rows, revenue_rows
from scripts.report.build import write_report

ROOT = Path(__file__).resolve().parents[1]
DEMO_DIR = ROOT / ".local" / "demo"
SECRET_DSN_KEYS = ("password", "sslpassword")


def isolate_run(run_id: str) -> Path:
    """Point this process and its children at a fresh topic and lake for this run."""
    run_dir = DEMO_DIR / "runs" / run_id
    os.environ.update(run_dag.isolation_env(run_dir, f"demo-{run_id}"))
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def forget_earlier_runs(settings: Settings, keep: str) -> None:
    """Delete earlier demo runs' topics and lakes so the broker and disk don't fill up across demos."""
    admin = AdminClient(client_config(settings, "admin"))
    delete_topics(
        settings, [t for t in admin.list_topics(timeout=10).topics if t.startswith("demo-") and t != f"demo-{keep}"]
    )
    for run_dir in (DEMO_DIR / "runs").glob("*"):
        if run_dir.name != keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def redacted_dsn(settings: Settings) -> str:
    """The serving DSN to show: secrets replaced by ***; an unparseable one is refused (libpq's error echoes it)."""
    dsn = settings.postgres_dsn()
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        raise ConfigError(
            f"libpq cannot parse the DSN in environment variable {settings.postgres.dsn_env} (named by "
            f"postgres.dsn_env in {settings.source}): check its %-escapes and quoting; it is not shown because it "
            "may hold a password"
        ) from None
    if not any(key in parts for key in SECRET_DSN_KEYS):
        return dsn
    return make_dsn(**{key: "***" if key in SECRET_DSN_KEYS else value for key, value in parts.items()})


def psql_command(settings: Settings, shown_dsn: str) -> str:
    """A psql line to paste: the DSN's variable, not its value, when the DSN comes from the environment."""
    query = "-c 'select * from serving.fct_purchases_daily order by event_date'"
    if settings.uses_embedded_postgres():
        return f"psql '{shown_dsn}' {query}"
    return f'psql "${settings.postgres.dsn_env}" {query}  # {shown_dsn}'


Row = tuple[str, object, object, bool]
LedgerRow = tuple[str, object, object | None, object | None, bool]


def ledger(topic: list[Row], lake: list[Row]) -> list[LedgerRow]:
    """One row per fact: (what, expected, found in the topic or None, found in the lake or None, both agree).
    config.reconciliation names a fact alike for the topic and the lake; with no lake rows (the DAG failed), the
    topic's rows alone."""
    by_name = {row[0]: row for row in topic}
    rows: list[LedgerRow] = []
    for what, expected, found, ok in lake:
        match = by_name.pop(what, None)
        topic_found = None if match is None else match[2]
        rows.append((what, expected, topic_found, found, ok and (match is None or match[3])))
    rows += [(what, expected, found, None, ok) for what, expected, found, ok in by_name.values()]
    return rows


def count(value: object | None) -> str:
    return "-" if value is None else f"{value:,}"


def money(value: object) -> str:
    """An exact decimal with thousands separators, as the counts are shown: 1,234,567.89."""
    return f"{Decimal(str(value)):,}"


def print_ledger(rows: list[LedgerRow]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n  {'conservation ledger':{width}}  {'expected':>12}  {'topic':>12}  {'lake':>12}")
    for what, expected, topic, lake, ok in rows:
        print(
            f"  {what:{width}}  {count(expected):>12}  {count(topic):>12}  {count(lake):>12}  "
            + ("ok" if ok else "MISMATCH")
        )


def print_revenue(rows: list[Row], verdict: str) -> None:
    """revenue_gbp as each layer sums it (scripts.reconcile's rows: silver is what the others must equal)."""
    labels = [what.removeprefix("revenue_gbp: ").split(" vs ")[0] for what, *_ in rows]
    width = max(len(label) for label in [*labels, "revenue_gbp"])
    print(f"\n  {'revenue_gbp':{width}}  {'sum':>16}  {verdict}")
    for label, (_, _, found, ok) in zip(labels, rows, strict=True):
        print(f"  {label:{width}}  {money(found):>16}  {'ok' if ok else 'MISMATCH'}")


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
        shown_dsn = redacted_dsn(settings)
    except ConfigError as exc:
        shutil.rmtree(run_dir, ignore_errors=True)
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
    broker = against_manifest(run.manifest, outcomes.found())
    topic_ok = all(ok for *_, ok in broker)
    print(f"topic read back: {'matches the manifest' if topic_ok else 'MISMATCH (see the ledger below)'}")

    config = Path(settings.source).resolve()
    spark_archive.build_archive(ROOT / settings.airflow.runner.artifacts.archive_uri)
    airflow_home = run_dir / "airflow"
    print(f"\nrunning the lakehouse_pipeline DAG (task logs: {airflow_home / 'logs'})")
    dag_ok = run_dag.main(["--config", str(config), "--airflow-home", str(airflow_home)]) == 0
    lake, revenue, revenue_verdict = [], [], "not reached"
    if dag_ok:
        lake = lake_rows(settings, run.manifest)
        revenue, revenue_verdict = revenue_rows(settings)
    print_ledger(ledger(broker, lake))
    if revenue:
        print_revenue(revenue, revenue_verdict)
    rows = broker + lake + revenue
    verdict = dag_ok and all(ok for *_, ok in rows)
    print(
        f"\nverdict: {'PASS' if verdict else 'FAIL'}: "
        + (
            "every event is accounted for and revenue agrees across silver, gold and PostgreSQL"
            if verdict
            else ("the DAG run failed: see the failed task's lines above" if not dag_ok else "see MISMATCH rows")
        )
    )

    summary = {
        "run_id": run_id,
        "topic": settings.kafka.topic,
        "lake": str(run_dir / "lake"),
        "manifest": str(run.manifest_path),
        "postgres": shown_dsn,
        "dag_run": "success" if dag_ok else "failed",
        "rows": [{"what": w, "expected": e, "found": f, "ok": ok} for w, e, f, ok in rows],
        "revenue": revenue_verdict,
        "verdict": "pass" if verdict else "fail",
    }
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    (DEMO_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    report = write_report(
        settings, DEMO_DIR / "report.html", summary=DEMO_DIR / "summary.json", airflow_home=airflow_home
    )
    print(f"summary:          {DEMO_DIR / 'summary.json'}")
    print(f"run report:       {report}")
    print(f"lineage events:   {run_dir / 'lineage'}")
    print(f"query the marts:  {psql_command(settings, shown_dsn)}")
    print("Airflow UI:       make airflow-ui  (this run's DAG graph, task states and logs; make airflow-ui-stop)")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
