"""Usage: python -m scripts.bench.validator [--events 40000] [--seed 1]

The contract validator alone (kafka.contract_fast.check_payload, no Spark): CPU microseconds per event for each
kind of event the generator makes, best of three on one core. A valid event takes the compiled fast path; a
rejected one also goes to the authority for its reasons, which is where a poison flood's cost lies.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from datetime import UTC, datetime

from kafka import events
from kafka.contract_fast import check_payload

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def us_per_event(values: list[bytes], runs: int = 3) -> float:
    """CPU microseconds per value of check_payload over `values`, best of `runs`."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        for value in values:
            check_payload(value, now=NOW)
        best = min(best, time.process_time() - started)
    return best / len(values) * 1e6


def by_kind(count: int, seed: int) -> dict[str, tuple[int, float]]:
    """Each generated kind's (events, microseconds per event), with the default anomaly mix."""
    values: dict[str, list[bytes]] = defaultdict(list)
    for _, value, kind, _ in events.generate(count, seed=seed, anomalies=events.DEFAULT_ANOMALIES, now=NOW):
        values[kind].append(value)
    return {kind: (len(found), us_per_event(found)) for kind, found in sorted(values.items())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    kinds = by_kind(args.events, args.seed)
    print(f"{'kind':<24}{'events':>8}{'us/event':>10}")
    for kind, (count, us) in kinds.items():
        print(f"{kind:<24}{count:>8}{us:>10.1f}")
    total = sum(count * us for count, us in kinds.values()) / sum(count for count, _ in kinds.values())
    print(f"{'the whole mix':<24}{sum(count for count, _ in kinds.values()):>8}{total:>10.1f}")


if __name__ == "__main__":
    main()
