"""Usage: python -m spark.jobs.gold [--config config/local.yml] [--full-refresh] [--skip fct_purchases_daily]

Refresh the gold marts from silver's change data feed since the last successful run (or rebuild them all).
"""

from __future__ import annotations

import argparse
import time

from config.settings import load_settings, run_main
from spark.gold_refresh import SKIPPABLE, GoldPaths, refresh_gold
from spark.session import build_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark.jobs.gold", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="settings YAML (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    parser.add_argument(
        "--full-refresh", action="store_true", help="rebuild every mart from the whole of silver, ignoring state"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=SKIPPABLE,
        help="a mart another job builds: the Scala job (spark-scala/) when the DAG's runner names its jar",
    )
    args = parser.parse_args(argv)
    settings = load_settings(args.config)
    spark = build_session(settings, "gold")
    try:
        started = time.monotonic()
        paths = GoldPaths.from_settings(settings)
        result = refresh_gold(spark, paths, full_refresh=args.full_refresh, skip=args.skip)
        plan = result.plan
        versions = f"{plan.start_version}..{plan.end_version}" if plan.start_version is not None else plan.end_version
        print(f"gold: {plan.mode} run to silver version {versions} in {time.monotonic() - started:.1f}s")
        for name, keys in sorted(result.recomputed.items()):
            print(f"  {name}: {keys} keys recomputed")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
