"""Usage: python -m postgres.load [--config PATH] [--table NAME ...] [--full]

Publishes the gold Delta marts into the PostgreSQL serving schema, each exactly once per gold version:
incrementally from the Delta change data feed when it can, else in full.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg2

from config.catalog import MARTS
from config.settings import ConfigError, load_settings
from postgres.connection import PostgresConnectError
from postgres.gold_source import GoldSourceError
from postgres.mart_publish import LoadError, LoadResult, MartsNotPublished, load_marts
from postgres.migrate import MigrationError
from postgres.serving_schema import SchemaMismatchError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m postgres.load", description=__doc__.splitlines()[2])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG or config/local.yml)")
    parser.add_argument("--table", action="append", choices=MARTS, help="load only this mart (repeatable)")
    parser.add_argument("--full", action="store_true", help="reload every row, not only the changed keys")
    args = parser.parse_args(argv)
    try:
        results = load_marts(load_settings(args.config), args.table, full=args.full)
    except MartsNotPublished as exc:
        _print_results(exc.results)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (
        PostgresConnectError,
        MigrationError,
        LoadError,
        SchemaMismatchError,
        GoldSourceError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg2.Error as exc:
        print(f"error: PostgreSQL failed during the load: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    _print_results(results)
    return 0


def _print_results(results: Sequence[LoadResult]) -> None:
    """One line per published mart, also when others failed."""
    for r in results:
        why = f" ({r.reason})" if r.reason else ""
        print(
            f"serving.{r.table:<20} {r.mode:<11} gold v{r.delta_version:<5} +{r.rows_inserted} "
            f"~{r.rows_updated} -{r.rows_deleted} staged {r.rows_staged} in {r.seconds:.2f}s{why}"
        )


if __name__ == "__main__":
    sys.exit(main())
