"""Usage: python -m spark.jobs.replay [--config PATH] [--target-lake URI | --in-place]

Rebuild silver events, quarantine and metrics from the bronze Delta table, without Kafka.
By default into a new lake next to the configured one (or --target-lake URI); --in-place replaces the configured
silver tables and the silver checkpoint together. Whatever the target already holds is moved to an archive
folder first, and the replay always starts a brand-new checkpoint (so a new app id). Stop silver before --in-place.
"""

from __future__ import annotations

import argparse

from config.catalog import BRONZE_EVENTS
from config.settings import StorageSettings, load_settings, run_main
from spark.replay import ReplayTarget, archive_stamp, replay_silver
from spark.session import build_session


def target_for(storage: StorageSettings, target_lake: str | None, in_place: bool, stamp: str) -> ReplayTarget:
    """In place: the configured lake and silver checkpoint; else a separate lake with its own _checkpoints/silver."""
    lake = storage.table_uri("", "").rstrip("/")
    if in_place:
        checkpoint = storage.checkpoint("silver")
        return ReplayTarget(lake, checkpoint, f"{lake}/_archive/{stamp}")
    root = (target_lake or f"{lake}-{stamp}").rstrip("/")
    if root == lake:
        raise SystemExit(f"--target-lake {target_lake} is the configured lake (storage.lake_uri): use --in-place")
    return ReplayTarget(root, f"{root}/_checkpoints/silver", f"{root}/_archive/{stamp}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark.jobs.replay", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="settings YAML (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--target-lake", help="lake root for the rebuilt tables (default: <lake_uri>-replay-<time>)")
    where.add_argument("--in-place", action="store_true", help="archive and replace the configured silver tables")
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    target = target_for(settings.storage, args.target_lake, args.in_place, archive_stamp())
    spark = build_session(settings, "replay")
    try:
        bronze = settings.storage.uri_of(BRONZE_EVENTS)
        result = replay_silver(spark, bronze, target, settings.spark.stream.max_files_per_trigger)
        for source, destination in result.archived.items():
            print(f"archived {source} -> {destination}")
        print(f"replay: silver rebuilt from {bronze} with app id {result.app_id} (checkpoint {target.checkpoint})")
        for name, uri in result.tables.items():
            print(f"  {name}: {uri}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
