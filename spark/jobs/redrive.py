"""Usage: python -m spark.jobs.redrive [--config PATH] [--reason CODE]

Move the quarantined records that the current contract and validator accept into silver, exactly once.
Run it after a contract or code fix: the moved records are deduplicated by event_id against silver, the rest stay
in quarantine with their recomputed reasons, and the re-drive is one row (stream 'redrive') in the metrics ledger.
"""

from __future__ import annotations

import argparse

from delta.tables import DeltaTable

from config.settings import load_settings, run_main
from kafka.contract import REASON_CODES
from spark.redrive import redrive_quarantine
from spark.session import build_session

TABLES = {"silver": "events", "quarantine": "quarantine", "metrics": "metrics"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark.jobs.redrive", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="settings YAML (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    parser.add_argument("--reason", choices=REASON_CODES, help="only quarantine rows whose primary reason is CODE")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    storage = settings.storage
    tables = {name: storage.table_uri("silver", table) for name, table in TABLES.items()}
    spark = build_session(settings, "redrive")
    try:
        for name, uri in tables.items():
            if not DeltaTable.isDeltaTable(spark, uri):
                raise SystemExit(f"no silver {name} Delta table at {uri}: run the silver job (make silver) first")
        result = redrive_quarantine(spark, **tables, reason=args.reason)
        scope = f"reason {args.reason}" if args.reason else "all reasons"
        if not result.written:
            print(f"redrive ({scope}): {result.rows_in} rows re-validated, no verdict changed; nothing written")
        else:
            print(
                f"redrive {result.redrive_id} ({scope}): rows_in {result.rows_in} = inserted {result.inserted} "
                f"+ quarantined {result.quarantined} + duplicates {result.duplicates}"
            )
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
