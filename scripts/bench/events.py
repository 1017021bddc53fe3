"""Usage: python -m scripts.bench.events [--events N] [--runs R]

Measures kafka.events.generate alone (no Kafka), in events per wall second and per CPU second, for a clean
stream and for the default anomaly mix; CPU seconds stay meaningful when other processes share the cores.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from kafka.events import DEFAULT_ANOMALIES, NO_ANOMALIES, AnomalyMix, generate

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def measure(count: int, seed: int, anomalies: AnomalyMix) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and payload bytes for one run of `count` events."""
    wall, cpu, size = time.perf_counter(), time.process_time(), 0
    for _, value, _, _ in generate(count, seed=seed, anomalies=anomalies, now=NOW):
        size += len(value)
    return time.perf_counter() - wall, time.process_time() - cpu, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the seeded event generator on one core.")
    parser.add_argument("--events", type=int, default=1_000_000, help="events per run (default 1,000,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per mix; the best is reported (default 3)")
    args = parser.parse_args(argv)
    if args.events <= 0 or args.runs <= 0:
        parser.error("--events and --runs must be positive")
    measure(10, 0, NO_ANOMALIES)
    for name, mix in (("valid only", NO_ANOMALIES), ("default anomalies", DEFAULT_ANOMALIES)):
        results = [measure(args.events, seed, mix) for seed in range(args.runs)]
        wall = min(r[0] for r in results)
        cpu = min(r[1] for r in results)
        size = results[0][2] / args.events
        rates = f"{args.events / wall:>10,.0f} events/s wall  {args.events / cpu:>10,.0f} events/s cpu"
        print(f"{name:18s} {rates}  {size:.0f} bytes/event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
