"""Usage: python -m scripts.bench.produce [--events 1000000] [--config PATH]

Times our producer (generation included) against Kafka's own ProducerPerformance on the same broker, record
count, record size and batching settings; writes .local/bench/produce.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from config.settings import ConfigError, Settings, load_settings
from kafka import events
from kafka.admin import KafkaUnavailable, delete_topics, ensure_topic
from kafka.produce import produce_events, summary

REPO_ROOT = Path(__file__).resolve().parents[2]
JARS = REPO_ROOT / ".local" / "jars" / "kafka"
OUT = REPO_ROOT / ".local" / "bench" / "produce.json"
TARGET_EVENTS_PER_S = 150_000
TARGET_RATIO = 0.5
_SUMMARY = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max"
)


def on_topic(settings: Settings, topic: str) -> Settings:
    return dataclasses.replace(settings, kafka=dataclasses.replace(settings.kafka, topic=topic))


def reference_run(settings: Settings, records: int, record_bytes: int) -> dict[str, float]:
    """Kafka's ProducerPerformance with our acks, compression, linger and batch size; its summary line."""
    if settings.kafka.security.protocol != "PLAINTEXT":
        raise ConfigError(f"{settings.source}: the benchmark runs against the local PLAINTEXT listener only")
    if not list(JARS.glob("kafka-tools-*.jar")):
        raise FileNotFoundError(f"no kafka-tools jar under {JARS}: run `make jars`")
    producer = settings.kafka.producer
    props = {
        "bootstrap.servers": settings.kafka.bootstrap_servers,
        "acks": "all",
        "enable.idempotence": "true",
        "compression.type": producer.compression,
        "linger.ms": producer.linger_ms,
        "batch.size": producer.batch_bytes,
        "max.request.size": producer.message_max_bytes,
    }
    command = [
        "java", "-Xmx512m", "-cp", f"{JARS}/*", "org.apache.kafka.tools.ProducerPerformance",
        "--topic", settings.kafka.topic, "--num-records", str(records), "--record-size", str(record_bytes),
        "--throughput", "-1", "--producer-props", *(f"{k}={v}" for k, v in props.items()),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    match = next(reversed(list(_SUMMARY.finditer(done.stdout))), None)
    if done.returncode != 0 or match is None:
        raise RuntimeError(
            f"ProducerPerformance failed (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}"
        )
    return {
        "records": int(match.group(1)),
        "events_per_s": float(match.group(2)),
        "mb_per_s": float(match.group(3)),
        "avg_latency_ms": float(match.group(4)),
        "max_latency_ms": float(match.group(5)),
    }


def machine() -> dict[str, float | int]:
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    return {
        "nproc": os.cpu_count() or 0,
        "mem_gib": round(total_kib / 2**20, 1),
        "load_1m": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench.produce", description=__doc__.split("\n\n")[1])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--config", help="config file (default: $LAKEHOUSE_CONFIG, else config/local.yml)")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    try:
        settings = load_settings(args.config)
        ours = on_topic(settings, f"bench-produce-{stamp}")
        reference = on_topic(settings, f"bench-reference-{stamp}")
        ensure_topic(reference)
        host = machine()
        started, thread_cpu, process_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        run = produce_events(
            ours, count=args.events, seed=1, anomalies=events.DEFAULT_ANOMALIES,
            manifest_path=OUT.parent / "produce-manifest.json",
        )  # fmt: skip
        wall_s = time.perf_counter() - started
        thread_cpu, process_cpu = time.thread_time() - thread_cpu, time.process_time() - process_cpu
        result = run.result
        print(f"ours:      {summary(result)}")
        if not result.ok:
            print(f"error: the benchmark run did not deliver everything: {result.first_error}", file=sys.stderr)
            return 1
        record_bytes = round(result.bytes / result.sent)
        ref = reference_run(reference, args.events, record_bytes)
        delete_topics(settings, [ours.kafka.topic, reference.kafka.topic])
    except (ConfigError, KafkaUnavailable, RuntimeError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"reference: {ref['records']:,} records | {ref['events_per_s']:,.0f} events/s | {ref['mb_per_s']:.1f} MB/s")
    producer = settings.kafka.producer
    report = {
        "events": result.sent,
        "events_per_s": round(result.events_per_s),
        "mb_per_s": round(result.mb_per_s, 1),
        "reference_events_per_s": round(ref["events_per_s"]),
        "reference_mb_per_s": round(ref["mb_per_s"], 1),
        "ratio": round(result.events_per_s / ref["events_per_s"], 3),
        "record_bytes": record_bytes,
        "elapsed_s": round(result.elapsed_s, 2),
        "wall_s_with_manifest": round(wall_s, 2),
        "main_thread_cpu_s": round(thread_cpu, 2),
        "process_cpu_s": round(process_cpu, 2),
        "load_1m_after": os.getloadavg()[0],
        "reference_avg_latency_ms": ref["avg_latency_ms"],
        "compression": producer.compression,
        "linger_ms": producer.linger_ms,
        "batch_bytes": producer.batch_bytes,
        "partitions": settings.kafka.partitions,
        "bootstrap_servers": settings.kafka.bootstrap_servers,
        "finished_at": datetime.now(UTC).isoformat(),
        **host,
    }
    report["meets_targets"] = report["events_per_s"] >= TARGET_EVENTS_PER_S and report["ratio"] >= TARGET_RATIO
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"ratio {report['ratio']:.2f} (targets: >= {TARGET_EVENTS_PER_S:,} events/s, "
        f"ratio >= {TARGET_RATIO}); "
        f"{'met' if report['meets_targets'] else 'NOT met'}; wrote {OUT}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
