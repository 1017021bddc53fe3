"""Usage: python -m spark.jobs.maintenance [--config config/local.yml] [--retention-hours 168]

Set small-file properties, OPTIMIZE and VACUUM every Delta table in the lake (see docs/runbook.md, Maintenance).
"""

from __future__ import annotations

import argparse

from config.settings import load_settings, run_main
from spark.maintenance import DEFAULT_RETENTION_HOURS, check_retention, maintain
from spark.session import build_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark.jobs.maintenance", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="settings YAML (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    parser.add_argument(
        "--retention-hours",
        type=int,
        default=DEFAULT_RETENTION_HOURS,
        help=f"VACUUM keeps files unreferenced for less than this (default and minimum {DEFAULT_RETENTION_HOURS})",
    )
    args = parser.parse_args(argv)
    try:
        check_retention(args.retention_hours)
    except ValueError as exc:
        parser.error(str(exc))
    settings = load_settings(args.config)
    spark = build_session(settings, "maintenance")
    try:
        results = maintain(spark, settings.storage.table_uri("", "").rstrip("/"), args.retention_hours)
        for table in results:
            print(
                f"{table.uri}: properties set {list(table.properties_set) or 'none'}, optimize removed "
                f"{table.files_removed_by_optimize} files and added {table.files_added_by_optimize}, "
                f"vacuum deleted {table.files_vacuumed if table.files_vacuumed is not None else 'unknown'} files"
            )
        print(f"maintenance: {len(results)} tables")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
