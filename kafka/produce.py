"""Usage: python -m kafka.produce [--config PATH] (--events N | --rate R --duration S) [--seed N]
                                 [--anomalies] [--manifest PATH] [--no-progress]

Sends seeded synthetic events to the configured topic and writes the manifest reconciliation checks against.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm import tqdm

from config.settings import ConfigError, Settings, load_settings
from kafka import contract, events
from kafka.admin import KafkaUnavailable, ensure_topic
from kafka.delivery import DeliveryResult, EventProducer
from kafka.manifest import KindTally, build_manifest, write_manifest

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNS_DIR = REPO_ROOT / ".local" / "runs"
PROGRESS_EVERY = 10_000
NO_ANOMALIES = events.AnomalyMix(**{kind: 0.0 for kind in events.KINDS if kind != "valid"})


@dataclass(frozen=True)
class ProduceRun:
    """One run's delivery outcome and the manifest written for it."""

    result: DeliveryResult
    manifest: dict[str, Any]
    manifest_path: Path


def produce_events(
    settings: Settings,
    *,
    count: int,
    seed: int,
    anomalies: events.AnomalyMix = NO_ANOMALIES,
    rate: float | None = None,
    manifest_path: Path | None = None,
    progress: bool = False,
) -> ProduceRun:
    """Ensure the topic, generate `count` events, deliver them (paced if `rate`), and write the manifest."""
    ensure_topic(settings)
    started_at = datetime.now(UTC)
    path = manifest_path or RUNS_DIR / f"{started_at:%Y%m%dT%H%M%S.%f}Z-seed{seed}" / "manifest.json"
    tally = KindTally(events.KINDS)
    records = tally.wrap(events.generate(count, seed=seed, anomalies=anomalies, now=started_at))
    with (
        tqdm(total=count, unit="ev", unit_scale=True, file=sys.stderr, disable=not progress) as bar,
        EventProducer(settings) as producer,
    ):
        last = [0]

        def advance(sent: int) -> None:
            if sent - last[0] >= PROGRESS_EVERY or sent == count:
                bar.update(sent - last[0])
                last[0] = sent

        result = producer.send(records, rate=rate, on_progress=advance)
    manifest = build_manifest(
        tally=tally,
        outcome_of=events.EXPECTED_OUTCOME,
        result=result,
        seed=seed,
        count=count,
        topic=settings.kafka.topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        config_source=settings.source,
        contract_version=contract.contract_version(),
        anomalies=anomalies,
        generated_now=started_at,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
    return ProduceRun(result, manifest, write_manifest(manifest, path))


def summary(result: DeliveryResult) -> str:
    """The closing line: counts, throughput and time."""
    return (
        f"sent {result.sent:,} | delivered {result.delivered:,} | failed {result.failed:,} | "
        f"{result.events_per_s:,.0f} events/s | {result.mb_per_s:.1f} MB/s | {result.elapsed_s:.2f} s"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kafka.produce", description=__doc__.split("\n\n")[1])
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    parser.add_argument("--events", type=int, help="send this many events as fast as possible")
    parser.add_argument("--rate", type=float, help="send this many events per second ...")
    parser.add_argument("--duration", type=float, help="... for this many seconds")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--anomalies", action="store_true", help="mix in the default share of bad events")
    parser.add_argument("--manifest", type=Path, help="manifest path (default .local/runs/<UTC>-seed<N>/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print the summary and the manifest path; 0 only if every event was delivered."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.events is None) == (args.rate is None and args.duration is None):
        parser.error("give either --events N or --rate R --duration S")
    if args.events is None and (args.rate is None or args.duration is None):
        parser.error("--rate and --duration go together")
    count = args.events if args.events is not None else int(args.rate * args.duration)
    if count <= 0 or (args.rate is not None and args.rate <= 0):
        parser.error("the number of events and the rate must be positive")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        settings = load_settings(args.config)
        run = produce_events(
            settings,
            count=count,
            seed=args.seed,
            anomalies=events.DEFAULT_ANOMALIES if args.anomalies else NO_ANOMALIES,
            rate=args.rate,
            manifest_path=args.manifest,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    except (ConfigError, KafkaUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run.result
    print(summary(result))
    print(f"manifest: {run.manifest_path}")
    if result.ok:
        return 0
    for error in result.event_errors[:10]:
        print(f"error: event {error.event_id}: {error.code}: {error.error}", file=sys.stderr)
    print(
        f"error: {result.failed:,} of {result.sent:,} events sent were not delivered to "
        f"{settings.kafka.topic} "
        f"on {settings.kafka.bootstrap_servers} ({count - result.sent:,} of {count:,} never sent); "
        f"first error: {result.first_error}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
